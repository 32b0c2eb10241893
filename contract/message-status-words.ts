// The per-row message status words of API.md, shared by the service (which sets them) and the add-on (which shows
// them). Pure and import-free, so the Apps Script bundle, the sidebar and the service can all use it.

/** Status of one row's message. `sending` means the HTTP call may have left; its outcome is not yet known. */
export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'failed'
  | 'skipped'
  | 'cancelled'
  | 'unknown';

export const MESSAGE_STATUSES: readonly MessageStatus[] = [
  'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped', 'cancelled', 'unknown',
];
