// Meta's pair rate: at most one message from a business number to the same person every 6 s (error 131056).
// Remembers when each recipient was last sent to, for as long as it matters, per sender.

export const PAIR_INTERVAL_MS = 6000;

export class PairRateGuard {
  private readonly lastSentAtMs = new Map<string, number>();
  private lastPruneAtMs = 0;

  constructor(private readonly intervalMs = PAIR_INTERVAL_MS) {}

  /** When a message to `to` may next start (nowMs when it may start now). */
  nextAllowedAtMs(to: string, nowMs: number): number {
    const last = this.lastSentAtMs.get(to);
    return last === undefined ? nowMs : Math.max(nowMs, last + this.intervalMs);
  }

  /** Records a send to `to` at `nowMs`. */
  record(to: string, nowMs: number): void {
    this.lastSentAtMs.delete(to);
    this.lastSentAtMs.set(to, nowMs);
    // Insertion order is send order (delete-then-set keeps it so), so pruning stops at the first fresh entry.
    if (nowMs - this.lastPruneAtMs >= this.intervalMs) this.prune(nowMs);
  }

  private prune(nowMs: number): void {
    this.lastPruneAtMs = nowMs;
    for (const [to, at] of this.lastSentAtMs) {
      if (nowMs - at < this.intervalMs) break;
      this.lastSentAtMs.delete(to);
    }
  }

  get size(): number {
    return this.lastSentAtMs.size;
  }
}
