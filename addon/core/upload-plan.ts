// The upload plan: rows split into chunks of at most 5,000 (API.md's per-request cap), sent a few chunks per
// UrlFetchApp.fetchAll round, with a time budget so one Apps Script execution stops well inside its 6 minutes and
// leaves the rest to the next run. Pure arithmetic; the server keeps the plan's progress in document properties.
import type { ComposeConfig } from './column-mapping';
import type { StatusLayout } from './status-columns';

/** API.md: at most 5,000 rows per `POST /v1/campaigns/:id/rows`. */
export const MAX_ROWS_PER_REQUEST = 5000;

/** Requests per fetchAll round: enough parallelism to hide latency without tripping the service's limits. */
export const CHUNKS_PER_ROUND = 4;

/**
 * Apps Script stops an execution at 6 minutes. Stop starting new work after 4.5 so the last round, the status
 * write and saving the plan all finish in time.
 */
export const EXECUTION_BUDGET_MS = 270_000;

/** Splits `items` into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size = MAX_ROWS_PER_REQUEST): T[][] {
  if (size < 1) throw new RangeError('chunk size must be at least 1');
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Groups chunks into fetchAll rounds. */
export function rounds<T>(chunks: readonly T[], perRound = CHUNKS_PER_ROUND): T[][] {
  return chunk(chunks, perRound);
}

/**
 * True when another round fits in the budget: the time used so far plus 1.5× the slowest round seen (or a cautious
 * 30 s before any round ran) stays under `budgetMs`.
 */
export function hasTimeForRound(startedAtMs: number, nowMs: number, slowestRoundMs: number | null, budgetMs = EXECUTION_BUDGET_MS): boolean {
  const estimate = slowestRoundMs === null ? 30_000 : slowestRoundMs * 1.5;
  return nowMs - startedAtMs + estimate <= budgetMs;
}

/** A send in progress, kept in document properties between executions. Small: row data stays in the sheet. */
export interface SendJob {
  campaignId: string;
  spreadsheetId: string;
  sheetName: string;
  config: ComposeConfig;
  /** `uploading`: rows marked pending in the sheet still need posting; `starting`: all posted, start not yet confirmed. */
  phase: 'uploading' | 'starting';
  total: number;
  uploaded: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Executions that worked on this job so far (for the progress text and to stop runaway resumes). */
  runs: number;
  createdAt: string;
}

/** The status word written into rows that are selected but not yet posted; a resumed run posts exactly these. */
export const PENDING_STATUS = 'pending';
/** The status word for rows the service refused at upload (the reason goes into the error column). */
export const REJECTED_STATUS = 'rejected';

/**
 * The cells that mark selected rows as pending before any is posted: each row's key and `pending`, the other status
 * columns emptied. Row index → (column index → value).
 */
export function pendingMarks(
  layout: StatusLayout, rows: readonly number[], keys: ReadonlyMap<number, string>,
): Map<number, Map<number, unknown>> {
  const marks = new Map<number, Map<number, unknown>>();
  for (const r of rows) {
    marks.set(r, new Map<number, unknown>([
      [layout.key, keys.get(r)], [layout.status, PENDING_STATUS], [layout.wamid, ''], [layout.error, ''],
      [layout.reply, ''], [layout.updated, ''],
    ]));
  }
  return marks;
}
