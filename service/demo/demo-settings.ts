// What the demo sends demo/contacts.csv as: the compose choices a marketer would make in the sidebar, and the number
// that unsubscribed by e-mail before the campaign (so the funnel shows a skipped row).
import type { ComposeConfig } from '../../addon/core/column-mapping';

/** summer_sale (sandbox catalog): {{1}} first name, {{2}} discount, URL button suffix = coupon code. */
export const DEMO_COMPOSE: ComposeConfig = {
  sheetName: 'contacts',
  phoneColumn: 'Phone',
  defaultCountry: 'IN',
  template: { name: 'summer_sale', language: 'en_US' },
  params: {
    '1': { kind: 'column', column: 'First name' },
    '2': { kind: 'column', column: 'Discount' },
    'button:0': { kind: 'column', column: 'Coupon' },
  },
  selection: 'all',
  campaignName: 'Summer sale (demo)',
};

/** Already on the opt-out list before the send; row "Nandini Rao" in contacts.csv has this number. */
export const DEMO_OPTED_OUT: readonly string[] = ['+91 98200 00077'];

/** Meta's default throughput tier; `--mps` raises it (the sandbox accepts up to 1,000). */
export const DEMO_MESSAGES_PER_SECOND = 80;
