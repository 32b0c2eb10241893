// Applies Meta's status events to message rows: idempotent and monotonic, so duplicates and any arrival order
// leave the same result. Finds the row by the callback data it was sent with, else by wamid.
import type { DeliveryStatus } from '../campaigns/message-status';
import { isForwardMove } from '../campaigns/message-status';
import type { CampaignStore, TrackedMessage } from '../campaigns/ports';
import type { StatusEvent } from './meta-events';

const DELIVERY_STATUSES: Readonly<Record<string, DeliveryStatus>> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  // A played voice message has been opened: the same as read for a campaign.
  played: 'read',
  failed: 'failed',
};

export interface StatusApplyResult {
  applied: number;
  ignored: number;
  unmatched: number;
  /** Campaigns with a row that changed: the engine checks whether they are finished. */
  campaignIds: Set<string>;
  /** Rows that failed because the person stopped marketing messages (131050): to be suppressed. */
  optedOut: TrackedMessage[];
  /** Rows that moved to `failed`, with Meta's code: they count against the campaign's error budget. */
  failed: { campaignId: string; code: string }[];
}

/** Parses `"<campaignId>.<rowId>"`, the callback data every send carries. */
export function parseCallbackData(data: string | null): { campaignId: string; messageId: number } | null {
  if (!data) return null;
  const dot = data.lastIndexOf('.');
  if (dot <= 0) return null;
  const messageId = Number(data.slice(dot + 1));
  return Number.isSafeInteger(messageId) && messageId > 0 ? { campaignId: data.slice(0, dot), messageId } : null;
}

/** Applies the events inside the caller's transaction. */
export function applyStatusEvents(
  store: CampaignStore,
  accountId: string,
  events: readonly StatusEvent[],
  nowMs: number,
): StatusApplyResult {
  const result: StatusApplyResult = { applied: 0, ignored: 0, unmatched: 0, campaignIds: new Set(), optedOut: [], failed: [] };
  for (const event of events) {
    const next = DELIVERY_STATUSES[event.status];
    if (!next) {
      result.ignored++;
      continue;
    }
    const message = locate(store, accountId, event);
    if (!message) {
      result.unmatched++;
      continue;
    }
    if (!isForwardMove(message.status, next)) {
      result.ignored++;
      continue;
    }
    const error = next === 'failed' ? event.error ?? { code: 'unknown', message: 'Delivery failed.' } : null;
    store.applyDeliveryStatus(message.id, next, event.wamid, error, nowMs);
    result.applied++;
    if (error) result.failed.push({ campaignId: message.campaignId, code: error.code });
    result.campaignIds.add(message.campaignId);
    if (next === 'failed' && event.error?.code === '131050') result.optedOut.push(message);
  }
  return result;
}

function locate(store: CampaignStore, accountId: string, event: StatusEvent): TrackedMessage | null {
  const callback = parseCallbackData(event.callbackData);
  if (callback) {
    const byId = store.findMessageById(accountId, callback.messageId);
    if (byId && byId.campaignId === callback.campaignId) return byId;
  }
  return store.findMessageByWamid(accountId, event.wamid);
}
