// Where the six status columns live in a sheet: found by header (case-insensitive, wherever the user moved them)
// or planned right after the data when absent. Pure layout arithmetic: reads no sheet.

import { STATUS_HEADERS, type StatusField } from '../../contract/status-headers';

/** The status fields, in the order they are created. */
export const STATUS_FIELDS: readonly StatusField[] = ['key', 'status', 'wamid', 'error', 'reply', 'updated'];

/** 0-based column index of each status field. */
export type StatusLayout = Readonly<Record<StatusField, number>>;

export interface StatusLayoutPlan {
  layout: StatusLayout;
  /** Headers to write, as `{column (0-based), text}`, for fields that were absent; empty when all exist. */
  headersToAdd: { column: number; text: string }[];
}

/** True when a header cell names one of the status columns. */
export function isStatusHeader(header: unknown): boolean {
  const h = normaliseHeader(header);
  return STATUS_FIELDS.some((f) => STATUS_HEADERS[f].toLowerCase() === h);
}

/**
 * Finds every status column in `headers`; the absent ones are placed after the last non-empty header, in field
 * order, so a fresh sheet gets six adjacent columns (which later lets one setValues cover all of them).
 */
export function planStatusLayout(headers: readonly unknown[]): StatusLayoutPlan {
  const found = new Map<StatusField, number>();
  headers.forEach((header, index) => {
    const h = normaliseHeader(header);
    for (const field of STATUS_FIELDS) {
      // The first match wins so a stray duplicate header further right is left alone.
      if (!found.has(field) && STATUS_HEADERS[field].toLowerCase() === h) found.set(field, index);
    }
  });
  let lastUsed = -1;
  headers.forEach((header, index) => {
    if (normaliseHeader(header) !== '') lastUsed = index;
  });
  const headersToAdd: { column: number; text: string }[] = [];
  const layout = {} as Record<StatusField, number>;
  let next = lastUsed + 1;
  for (const field of STATUS_FIELDS) {
    const at = found.get(field);
    if (at !== undefined) {
      layout[field] = at;
    } else {
      layout[field] = next;
      headersToAdd.push({ column: next, text: STATUS_HEADERS[field] });
      next += 1;
    }
  }
  return { layout, headersToAdd };
}

/**
 * Groups the given 0-based columns into runs of adjacent columns, so each run can be written with one setValues.
 * Returns runs sorted left to right; each run lists its columns in order.
 */
export function adjacentRuns(columns: readonly number[]): number[][] {
  const sorted = [...new Set(columns)].sort((a, b) => a - b);
  const runs: number[][] = [];
  for (const c of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === c - 1) last.push(c);
    else runs.push([c]);
  }
  return runs;
}

function normaliseHeader(header: unknown): string {
  return String(header ?? '').trim().toLowerCase();
}
