// Meta's pair rate limit (one number to one recipient): decides 131056. Knows nothing of HTTP.
// Modelled as GCRA (a token bucket stored as one timestamp per pair) so millions of pairs stay cheap.

/** Pair-rate settings; Meta's documented rate is one message per 6 s per pair (CLOUD_API.md §3.2). */
export interface PairRateOptions {
  /** Spacing the pair earns back one message, in ms. Default 6000. */
  intervalMs?: number;
  /**
   * Messages a quiet pair may send back-to-back before the spacing applies. Default 1: strictly one per
   * `intervalMs`, which is what tests can predict. Meta allows bursts of up to 45 that borrow future quota;
   * set e.g. 45 to model that (each extra message still costs `intervalMs` of future quota).
   */
  burst?: number;
}

/** How many pairs may be stored before expired ones are swept. */
const SWEEP_THRESHOLD = 100_000;

export class PairRateGuard {
  /** Pair key → GCRA "theoretical arrival time": the pair is fully rested once it is in the past. */
  private readonly nextFreeAt = new Map<string, number>();
  private sweepAt = SWEEP_THRESHOLD;
  intervalMs: number;
  burst: number;

  constructor(options: PairRateOptions = {}) {
    this.intervalMs = options.intervalMs ?? 6000;
    this.burst = Math.max(1, options.burst ?? 1);
  }

  /** True when `phoneNumberId` may message `waId` at `nowMs`; does not consume quota. */
  allows(phoneNumberId: string, waId: string, nowMs: number): boolean {
    const tat = this.nextFreeAt.get(`${phoneNumberId}:${waId}`);
    return tat === undefined || nowMs >= tat - (this.burst - 1) * this.intervalMs;
  }

  /** Consumes quota for an accepted message (rejected attempts do not count, as with Meta's "retry after"). */
  record(phoneNumberId: string, waId: string, nowMs: number): void {
    const key = `${phoneNumberId}:${waId}`;
    const tat = this.nextFreeAt.get(key);
    this.nextFreeAt.set(key, Math.max(tat ?? 0, nowMs) + this.intervalMs);
    if (this.nextFreeAt.size >= this.sweepAt) this.sweep(nowMs);
  }

  clear(): void {
    this.nextFreeAt.clear();
  }

  private sweep(nowMs: number): void {
    for (const [key, tat] of this.nextFreeAt) if (tat <= nowMs) this.nextFreeAt.delete(key);
    // Pairs still inside their interval are live; grow the threshold so a large live set is not rescanned per send.
    this.sweepAt = Math.max(SWEEP_THRESHOLD, this.nextFreeAt.size * 2);
  }
}
