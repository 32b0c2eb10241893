// The demo's closing table: how many rows reached each step of the funnel, from the CSV's rows down to the replies.
// Pure: builds text from numbers the run gathered.
import type { Funnel } from '../../addon/core/funnel';
import { renderBar } from './progress-bar';

export interface FunnelReport {
  /** Data rows in the CSV (below the header). */
  rows: number;
  /** Rows with an empty phone cell: the add-on never selects them. */
  withoutPhone: number;
  /** Rows the service refused at intake, by error code (`invalid_phone`, `duplicate_recipient`, …). */
  rejectedByCode: ReadonlyMap<string, number>;
  funnel: Funnel;
  /** Failed rows by Meta's (or the service's) error code. */
  failedByCode?: ReadonlyMap<string, number>;
}

/**
 * The funnel as aligned lines. `queued` is every row the service accepted; `sent`, `delivered` and `read` count a row
 * at every step it passed (a read message was also delivered and sent), shares are of `queued`.
 */
export function renderFunnel(r: FunnelReport, barWidth = 20): string {
  const f = r.funnel;
  const rejected = [...r.rejectedByCode.values()].reduce((a, b) => a + b, 0);
  const lines: [string, number, string][] = [
    ['rows in the CSV', r.rows, ''],
    ['no phone number', r.withoutPhone, 'not selected, as in the add-on'],
    ['rejected at intake', rejected, breakdown(r.rejectedByCode)],
  ];
  const steps: [string, number, string][] = [
    ['queued', f.total, ''],
    ['sent', f.sent, ''],
    ['delivered', f.delivered, ''],
    ['read', f.read, ''],
    ['replied', f.replied, ''],
    ['failed', f.failed, breakdown(r.failedByCode ?? new Map())],
    ['skipped', f.skipped, 'on the opt-out list'],
  ];
  if (f.cancelled > 0) steps.push(['cancelled', f.cancelled, '']);
  if (f.waiting > 0) {
    steps.push(['not settled', f.waiting, 'queued (e.g. held back by WhatsApp\'s frequency cap, 131049: tried again in 24 h), sending or unknown when the demo stopped']);
  }
  const labelWidth = Math.max(...[...lines, ...steps].map(([label]) => label.length));
  const numberWidth = Math.max(...[...lines, ...steps].map(([, value]) => count(value).length));
  const out = lines.map(([label, value, note]) => `  ${label.padEnd(labelWidth)}  ${count(value).padStart(numberWidth)}${note ? `   ${note}` : ''}`);
  out.push('');
  for (const [label, value, note] of steps) {
    const share = f.total === 0 ? 0 : value / f.total;
    const percent = `${(share * 100).toFixed(1)}%`.padStart(6);
    out.push(`  ${label.padEnd(labelWidth)}  ${count(value).padStart(numberWidth)}  ${percent}  ${renderBar(share, barWidth)}${note ? `  ${note}` : ''}`.trimEnd());
  }
  return out.join('\n');
}

/** "invalid_phone ×5 · duplicate_recipient ×1", largest first; empty when there is nothing to break down. */
function breakdown(byCode: ReadonlyMap<string, number>): string {
  return [...byCode].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([code, v]) => `${code} ×${count(v)}`).join(' · ');
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}
