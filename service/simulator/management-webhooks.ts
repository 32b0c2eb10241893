// The `value` of Meta's management webhooks (template status and category, phone-number quality, account
// updates), built from typed requests (CLOUD_API.md §12). Shapes only; the simulator applies their effects.

import type { MessageTemplate } from './template-catalog';

/** `event` of `message_template_status_update` [M:webhooks/reference/message_template_status_update]. */
export type TemplateStatusEvent =
  | 'APPROVED'
  | 'PENDING'
  | 'REJECTED'
  | 'PAUSED'
  | 'DISABLED'
  | 'FLAGGED'
  | 'REINSTATED'
  | 'LIMIT_EXCEEDED'
  | 'ARCHIVED'
  | 'UNARCHIVED'
  | 'DELETED'
  | 'PENDING_DELETION'
  | 'IN_APPEAL'
  | 'LOCKED'
  | 'UNLOCKED';

export interface TemplateStatusUpdate {
  name: string;
  language: string;
  event: TemplateStatusEvent;
  /** Default `"NONE"`. */
  reason?: string;
  /** `other_info`; defaults to FIRST_PAUSE for PAUSED, DISABLED for DISABLED, UNPAUSE for REINSTATED. */
  otherInfo?: { title: string; description: string };
}

export interface TemplateCategoryUpdate {
  name: string;
  language: string;
  newCategory: MessageTemplate['category'];
  /** `impending` announces the change (nothing changes yet); `completed` (default) applies it. */
  stage?: 'impending' | 'completed';
  /** Epoch seconds of the impending change. Default: 24 h from now. */
  categoryUpdateTimestamp?: number;
}

/** `event` of `phone_number_quality_update`: current ones, then the legacy quality events. */
export type PhoneQualityEvent = 'ONBOARDING' | 'THROUGHPUT_UPGRADE' | 'FLAGGED' | 'UNFLAGGED' | 'UPGRADE' | 'DOWNGRADE';
export type MessagingLimitTier = 'TIER_50' | 'TIER_250' | 'TIER_2K' | 'TIER_10K' | 'TIER_100K' | 'TIER_UNLIMITED' | 'UNLIMITED' | 'NOT_SET';

export interface PhoneNumberQualityUpdate {
  event: PhoneQualityEvent;
  /** Default `TIER_2K`. */
  currentLimit?: MessagingLimitTier;
  /** Only sent for limit changes, as Meta does. */
  oldLimit?: MessagingLimitTier;
  /** The field replacing `current_limit`. Default: `currentLimit`. */
  maxDailyConversationsPerBusiness?: string;
}

/** `account_update`, in Meta's own field names (passed through). */
export interface AccountUpdate {
  /** e.g. ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, DISABLED_UPDATE, ACCOUNT_DELETED. */
  event: string;
  ban_info?: { waba_ban_state: string; waba_ban_date: string };
  violation_info?: { violation_type: string };
  restriction_info?: { restriction_type: string; expiration: number | string }[];
}

const DEFAULT_OTHER_INFO: Partial<Record<TemplateStatusEvent, { title: string; description: string }>> = {
  PAUSED: { title: 'FIRST_PAUSE', description: 'Your message template has been paused for 3 hours due to low quality.' },
  DISABLED: { title: 'DISABLED', description: 'Your message template has been disabled due to continued low quality.' },
  REINSTATED: { title: 'UNPAUSE', description: 'Your message template has been unpaused.' },
};

/** The catalog status a template has after the event; undefined when the event does not change it. */
export function statusAfter(event: TemplateStatusEvent): MessageTemplate['status'] | undefined {
  switch (event) {
    case 'APPROVED':
    case 'REINSTATED':
    case 'UNARCHIVED':
      return 'APPROVED';
    case 'PAUSED':
    case 'DISABLED':
    case 'REJECTED':
    case 'PENDING':
      return event;
    default:
      return undefined;
  }
}

/** Meta sends template ids as JSON numbers here; the simulator's 16-digit ids stay below 2^53. */
function templateIdOf(template: MessageTemplate): number | string {
  const id = Number(template.id);
  return Number.isSafeInteger(id) ? id : (template.id ?? '');
}

export function templateStatusValue(template: MessageTemplate, update: TemplateStatusUpdate, nowSeconds: number): Record<string, unknown> {
  const value: Record<string, unknown> = {
    event: update.event,
    message_template_id: templateIdOf(template),
    message_template_name: template.name,
    message_template_language: template.language,
    reason: update.reason ?? 'NONE',
    message_template_category: template.category,
  };
  if (update.event === 'DISABLED') value.disable_info = { disable_date: String(nowSeconds) };
  const otherInfo = update.otherInfo ?? DEFAULT_OTHER_INFO[update.event];
  if (otherInfo) value.other_info = otherInfo;
  return value;
}

/** The impending form names the coming category `correct_category` and the current one `new_category`, as Meta does. */
export function templateCategoryValue(
  template: MessageTemplate,
  previousCategory: MessageTemplate['category'],
  update: TemplateCategoryUpdate,
  nowSeconds: number,
): Record<string, unknown> {
  const head = { message_template_id: templateIdOf(template), message_template_name: template.name, message_template_language: template.language };
  if (update.stage === 'impending') {
    return {
      ...head,
      correct_category: update.newCategory,
      new_category: previousCategory,
      category_update_timestamp: update.categoryUpdateTimestamp ?? nowSeconds + 24 * 3600,
    };
  }
  return { ...head, previous_category: previousCategory, new_category: update.newCategory };
}

export function phoneQualityValue(displayPhoneNumber: string, update: PhoneNumberQualityUpdate): Record<string, unknown> {
  const currentLimit = update.currentLimit ?? 'TIER_2K';
  const value: Record<string, unknown> = { display_phone_number: displayPhoneNumber, event: update.event };
  if (update.oldLimit) value.old_limit = update.oldLimit;
  value.current_limit = currentLimit;
  value.max_daily_conversations_per_business = update.maxDailyConversationsPerBusiness ?? currentLimit;
  return value;
}

export function accountUpdateValue(displayPhoneNumber: string, update: AccountUpdate): Record<string, unknown> {
  const value: Record<string, unknown> = { phone_number: displayPhoneNumber, event: update.event };
  if (update.ban_info) value.ban_info = update.ban_info;
  if (update.violation_info) value.violation_info = update.violation_info;
  if (update.restriction_info) value.restriction_info = update.restriction_info;
  return value;
}
