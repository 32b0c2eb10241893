// Which data rows a send covers: all, only those visible through the filter, the user's selection, or the rows
// added since the last run. Pure: rows are 0-based indexes into the data rows (sheet row = index + header row + 1).
import type { SelectionMode } from './column-mapping';
import { hasKey } from './row-key';

export interface SelectionInput {
  mode: SelectionMode;
  /** Number of data rows (below the header) in the range read. */
  rowCount: number;
  /** Phone cell per data row; rows with an empty phone are never selected. */
  phones: readonly unknown[];
  /** Key cell per data row (used by `new`). */
  keys: readonly unknown[];
  /** Data-row indexes hidden by a filter or by the user (used by `visible`). */
  hidden?: ReadonlySet<number>;
  /** Selected ranges as inclusive data-row index spans (used by `selected`). */
  selectedSpans?: readonly { from: number; to: number }[];
}

/** Returns the selected data-row indexes in sheet order. */
export function selectRows(input: SelectionInput): number[] {
  const rows: number[] = [];
  const inSelection = spansToSet(input.selectedSpans ?? [], input.rowCount);
  for (let i = 0; i < input.rowCount; i += 1) {
    if (String(input.phones[i] ?? '').trim() === '') continue;
    if (input.mode === 'visible' && input.hidden?.has(i)) continue;
    if (input.mode === 'selected' && !inSelection.has(i)) continue;
    if (input.mode === 'new' && hasKey(input.keys[i])) continue;
    rows.push(i);
  }
  return rows;
}

function spansToSet(spans: readonly { from: number; to: number }[], rowCount: number): Set<number> {
  const set = new Set<number>();
  for (const { from, to } of spans) {
    for (let i = Math.max(0, from); i <= Math.min(rowCount - 1, to); i += 1) set.add(i);
  }
  return set;
}
