// Campaign funnel for the sidebar: how many rows reached each step, from the service's per-status counts.
// Pure; a row counts at every step it has passed (a read message was also sent and delivered).
import type { Campaign } from './service-contract';

export interface Funnel {
  total: number;
  /** Rows not yet settled: queued, sending, or in doubt. */
  waiting: number;
  sent: number;
  delivered: number;
  read: number;
  replied: number;
  failed: number;
  skipped: number;
  cancelled: number;
  /** Share of rows settled (anything but queued/sending), 0–1. */
  progress: number;
}

/** Builds the funnel from `counts` (status word → rows, plus `replied`). */
export function funnelFrom(counts: Campaign['counts']): Funnel {
  const n = (k: keyof Campaign['counts']): number => counts[k] ?? 0;
  const read = n('read');
  const delivered = n('delivered') + read;
  const sent = n('sent') + delivered;
  const waiting = n('queued') + n('sending');
  const total = waiting + sent + n('failed') + n('skipped') + n('cancelled') + n('unknown');
  return {
    total,
    waiting: waiting + n('unknown'),
    sent,
    delivered,
    read,
    replied: n('replied'),
    failed: n('failed'),
    skipped: n('skipped'),
    cancelled: n('cancelled'),
    progress: total === 0 ? 0 : (total - waiting) / total,
  };
}
