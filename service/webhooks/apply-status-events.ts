// Turns Meta's status events into row changes: idempotent and monotonic, so duplicates and any arrival order leave
// the same result. The store finds the row by the callback data it was sent with, else by wamid, and moves it only
// forward, in the same statement.
import type { DeliveryStatus, MessageStatus } from '../campaigns/message-status';
import { isForwardMove, MESSAGE_STATUSES } from '../campaigns/message-status';
import { FREQUENCY_CAP_CODE, NEVER_RETRIED_PREFIXES, type FrequencyCapPolicy } from '../campaigns/frequency-cap';
import type { StatusChange } from '../campaigns/ports';
import type { StatusEvent } from './meta-events';

const DELIVERY_STATUSES: Readonly<Record<string, DeliveryStatus>> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'read',
  // A played voice message has been opened: the same as read for a campaign.
  played: 'read',
  failed: 'failed',
};

/** Parses `"<campaignId>.<rowId>"`, the callback data every send carries. */
export function parseCallbackData(data: string | null): { campaignId: string; messageId: number } | null {
  if (!data) return null;
  const dot = data.lastIndexOf('.');
  if (dot <= 0) return null;
  const messageId = Number(data.slice(dot + 1));
  return Number.isSafeInteger(messageId) && messageId > 0 ? { campaignId: data.slice(0, dot), messageId } : null;
}

/**
 * Meta's status events as forward-only row changes for the store to apply in one step. Events of a status we do not
 * track (e.g. `deleted`) are counted in `ignored`. With `frequencyCap`, a 131049 failure is a retry `waitMs` after
 * it happened (its timestamp, else `nowMs`), as CLOUD_API.md §13 asks; without, it fails the row.
 */
export function statusChangesFor(
  events: readonly StatusEvent[], frequencyCap?: { policy: FrequencyCapPolicy; nowMs: number },
): { changes: StatusChange[]; ignored: number } {
  const changes: StatusChange[] = [];
  let ignored = 0;
  for (const event of events) {
    const next = DELIVERY_STATUSES[event.status];
    if (!next) {
      ignored++;
      continue;
    }
    changes.push({
      callback: parseCallbackData(event.callbackData),
      wamid: event.wamid,
      status: next,
      from: FORWARD_FROM[next],
      error: next === 'failed' ? event.error ?? { code: 'unknown', message: 'Delivery failed.' } : null,
      // 131050: the person stopped marketing messages; they are never messaged again.
      suppressAs: next === 'failed' && event.error?.code === '131050' ? 'user_preferences' : null,
      retry: next === 'failed' && event.error?.code === FREQUENCY_CAP_CODE && frequencyCap ? {
        atMs: (event.timestampMs ?? frequencyCap.nowMs) + frequencyCap.policy.waitMs,
        // The first send plus its retries.
        maxAttempts: 1 + frequencyCap.policy.maxRetries,
        exceptPrefixes: NEVER_RETRIED_PREFIXES,
      } : null,
    });
  }
  return { changes, ignored };
}

/** For each status Meta reports, the statuses a row may move to it from. */
const FORWARD_FROM: Readonly<Record<DeliveryStatus, readonly MessageStatus[]>> = Object.fromEntries(
  (['sent', 'delivered', 'read', 'failed'] as const).map((next) => [next, MESSAGE_STATUSES.filter((s) => isForwardMove(s, next))]),
) as unknown as Record<DeliveryStatus, readonly MessageStatus[]>;
