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
}
