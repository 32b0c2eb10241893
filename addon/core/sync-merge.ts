// Folds pulled message changes into status-column cell updates, keyed by row key so a sorted sheet still gets each
// result on its own row. Pure; never moves a row back to an older change than the one already shown.
import type { MessageItem } from './service-contract';
import type { StatusLayout } from './status-columns';

export interface MergeResult {
  /** data-row index → column index → value, only for cells whose value changes. */
  updates: Map<number, Map<number, unknown>>;
  /** Rows that received at least one new value. */
  rowsChanged: number;
  /** Keys the sheet does not have (row deleted, or key cell cleared). */
  unknownKeys: number;
  /** Changes older than what the row already shows (e.g. the service's own write-back got there first). */
  staleSkipped: number;
}

/** Status-column cell values for one message, in the words the sheet shows. */
export function statusCells(item: MessageItem): { status: string; wamid: string; error: string; reply: string; updated: string } {
  return {
    status: item.status,
    wamid: item.wamid ?? '',
    error: item.error ? `${item.error.message} (${item.error.code})` : '',
    reply: item.reply?.text ?? '',
    updated: item.updatedAt,
  };
}

/**
 * Merges `items` (in the service's change order; a later item for a key supersedes an earlier one) into `rows`
 * (the data rows as read). `layout.key` locates each row by its key.
 */
export function mergeMessageItems(
  items: readonly MessageItem[],
  rows: readonly (readonly unknown[])[],
  layout: StatusLayout,
): MergeResult {
  const latest = new Map<string, MessageItem>();
  for (const item of items) latest.set(item.key, item);
  const rowByKey = new Map<string, number>();
  rows.forEach((row, i) => {
    const k = String(row[layout.key] ?? '').trim();
    if (k !== '' && !rowByKey.has(k)) rowByKey.set(k, i);
  });
  const updates = new Map<number, Map<number, unknown>>();
  let unknownKeys = 0;
  let staleSkipped = 0;
  for (const [key, item] of latest) {
    const r = rowByKey.get(key);
    if (r === undefined) {
      unknownKeys += 1;
      continue;
    }
    const row = rows[r]!;
    const shown = timeOf(row[layout.updated]);
    const incoming = timeOf(item.updatedAt);
    if (shown !== null && incoming !== null && incoming < shown) {
      staleSkipped += 1;
      continue;
    }
    const cells = statusCells(item);
    const change = new Map<number, unknown>();
    const put = (column: number, value: string): void => {
      if (String(row[column] ?? '') !== value) change.set(column, value);
    };
    put(layout.status, cells.status);
    put(layout.wamid, cells.wamid);
    put(layout.error, cells.error);
    put(layout.reply, cells.reply);
    if (change.size > 0) put(layout.updated, cells.updated);
    if (change.size > 0) updates.set(r, change);
  }
  return { updates, rowsChanged: updates.size, unknownKeys, staleSkipped };
}

/** A cell's time in ms: Sheets may have turned an ISO string into a Date; anything unparseable is unknown. */
function timeOf(value: unknown): number | null {
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string' || value.trim() === '') return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}
