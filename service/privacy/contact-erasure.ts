// Erasing one contact from an account: its messages, their parameters and its replies go; an opt-out stays.
// The number itself is the least an opt-out can keep and still be honoured at intake and at send.
import { normalisePhoneNumber } from '../campaigns/phone-number';
import type { Account } from '../campaigns/ports';
import { AppError } from '../errors';
import type { Compactor } from './compactor';
import type { ContactErasureCounts, ErasureStore } from './privacy-ports';

export interface ContactErasureResult extends ContactErasureCounts {
  /** The number as erased, in E.164. */
  to: string;
}

export class ContactErasure {
  constructor(private readonly store: ErasureStore, private readonly compactor: Pick<Compactor, 'request'>) {}

  /**
   * Normalises `rawNumber` with the account's default country and erases that contact: the rows at once, stale
   * copies in page slack at the next compaction (the next retention pass, within the hour; not inline, so a burst
   * of requests cannot stall the service). Idempotent: a second call erases nothing and says so.
   * Rejects with AppError('invalid_phone') for a number that cannot be one.
   */
  async erase(account: Account, rawNumber: string): Promise<ContactErasureResult> {
    const phone = normalisePhoneNumber(rawNumber, account.defaultCountry);
    if (!phone.ok) throw new AppError('invalid_phone', phone.message);
    const counts = await this.store.deleteContact(account.id, phone.e164);
    // Asked for before the flush: should the flush fail, the deleted rows still get their compaction.
    if (counts.messages > 0) this.compactor.request();
    await this.store.flushDeleted();
    return { to: phone.e164, ...counts };
  }
}
