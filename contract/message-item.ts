// One row's message as `GET /v1/campaigns/:id/messages` returns it (API.md): the service presents it, the add-on
// merges it into the sheet. Types only.
import type { MessageStatus } from './message-status-words';

export interface MessageItem {
  /** The row key the add-on sent. */
  key: string;
  to: string;
  status: MessageStatus;
  wamid: string | null;
  error: { code: string; message: string } | null;
  reply: { text: string; at: string } | null;
  /** ISO 8601. */
  updatedAt: string;
  /** ISO 8601: a `queued` row waiting for a retry (e.g. 131049, frequency-capped) is tried again then. */
  nextAttemptAt?: string;
  /** The recipient's WhatsApp business-scoped user id, where known. */
  userId?: string;
}
