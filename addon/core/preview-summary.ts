// Counts what a send would do before anything is sent: valid, invalid, duplicate and opted-out numbers, plus the
// first rows rendered as the recipient will read them. Pure: works on the service's preview answer.
import type { PreviewRow } from './service-contract';

export interface PreviewSample {
  key: string;
  to: string;
  ok: boolean;
  text: string;
  problem: string | null;
}

export interface PreviewSummary {
  total: number;
  valid: number;
  invalid: number;
  duplicate: number;
  optedOut: number;
  /** Rows refused for another reason (e.g. a template parameter too long). */
  otherProblems: number;
  samples: PreviewSample[];
  /** The first problem rows, for the marketer to fix. */
  problems: { key: string; to: string; reason: string }[];
}

const OPT_OUT_CODES = new Set(['opted_out', 'suppressed', 'skipped', 'unsubscribed']);

/**
 * Summarises preview rows. A row counts once, in this order: opted out (its normalised number is in `suppressed`
 * or the service said so), invalid number, duplicate (the service said so, or an earlier valid row has the same
 * normalised number), other problem, valid.
 */
export function summarisePreview(
  rows: readonly PreviewRow[],
  suppressed: ReadonlySet<string>,
  sampleSize = 3,
  problemLimit = 20,
): PreviewSummary {
  const summary: PreviewSummary = {
    total: rows.length, valid: 0, invalid: 0, duplicate: 0, optedOut: 0, otherProblems: 0, samples: [], problems: [],
  };
  const seen = new Set<string>();
  for (const row of rows) {
    const { code, message } = errorOf(row);
    let reason: string | null = null;
    if (suppressed.has(row.to) || (code !== null && OPT_OUT_CODES.has(code))) {
      summary.optedOut += 1;
      reason = 'opted out: this number asked not to receive messages';
    } else if (code === 'invalid_phone') {
      summary.invalid += 1;
      reason = message || 'not a valid phone number';
    } else if (code === 'duplicate_recipient' || (row.ok && seen.has(row.to))) {
      summary.duplicate += 1;
      reason = 'the same number appears on an earlier row';
    } else if (!row.ok) {
      summary.otherProblems += 1;
      reason = message || code || 'refused by the service';
    } else {
      summary.valid += 1;
    }
    if (row.ok) seen.add(row.to);
    if (summary.samples.length < sampleSize) {
      summary.samples.push({ key: row.key, to: row.to, ok: row.ok && reason === null, text: row.text ?? '', problem: reason });
    }
    if (reason !== null && summary.problems.length < problemLimit) summary.problems.push({ key: row.key, to: row.to, reason });
  }
  return summary;
}

function errorOf(row: PreviewRow): { code: string | null; message: string } {
  const e = row.error;
  if (e === undefined || e === null) return { code: row.ok ? null : 'refused', message: '' };
  if (typeof e === 'string') return { code: e, message: e };
  return { code: e.code, message: e.message };
}
