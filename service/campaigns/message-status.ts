// The per-row message status words of API.md (defined in contract/, shared with the add-on) and the one rule they
// obey: a status only moves forward. Pure: no I/O. Used by the dispatcher and by webhook application.
import type { MessageStatus } from '../../contract/message-status-words';

export type { MessageStatus } from '../../contract/message-status-words';
export { MESSAGE_STATUSES } from '../../contract/message-status-words';

/** Statuses reported by Meta's status webhooks that we track (`played` is folded into `read`). */
export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';

/**
 * Rank of each status on the road a message travels. A webhook may move a row to a status of higher rank only:
 * a late `delivered` never replaces `read`, and `failed` is terminal. `unknown` shares `sending`'s rank because a
 * webhook that finally arrives must still settle it.
 */
export const STATUS_RANK: Readonly<Record<MessageStatus, number>> = {
  queued: 0,
  sending: 1,
  unknown: 1,
  sent: 2,
  delivered: 3,
  read: 4,
  failed: 5,
  skipped: 6,
  cancelled: 6,
};

/** True when a webhook reporting `next` should replace `current`. */
export function isForwardMove(current: MessageStatus, next: DeliveryStatus): boolean {
  if (current === 'skipped' || current === 'cancelled') return false;
  return STATUS_RANK[next] > STATUS_RANK[current];
}

/** Statuses after which the dispatcher has nothing more to do for the row. */
export function isSettled(status: MessageStatus): boolean {
  return status !== 'queued' && status !== 'sending';
}
