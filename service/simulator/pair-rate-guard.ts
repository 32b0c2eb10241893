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
  /**
   * Number → recipient → GCRA "theoretical arrival time": the pair is fully rested once it is in the past. Keyed in
   * two steps rather than by a joined "number:recipient" string, which cost a new string and its hash twice a send.
   */
  private readonly nextFreeAt = new Map<string, Map<string, number>>();
  /** Pairs stored, over all numbers. */
  private size = 0;
  private sweepAt = SWEEP_THRESHOLD;
  intervalMs: number;
  burst: number;

  constructor(options: PairRateOptions = {}) {
    this.intervalMs = options.intervalMs ?? 6000;
    this.burst = Math.max(1, options.burst ?? 1);
  }

  /** True when `phoneNumberId` may message `waId` at `nowMs`; does not consume quota. */
  allows(phoneNumberId: string, waId: string, nowMs: number): boolean {
    const tat = this.nextFreeAt.get(phoneNumberId)?.get(waId);
    return tat === undefined || nowMs >= tat - (this.burst - 1) * this.intervalMs;
  }

  /** Consumes quota for an accepted message (rejected attempts do not count, as with Meta's "retry after"). */
  record(phoneNumberId: string, waId: string, nowMs: number): void {
    let pairs = this.nextFreeAt.get(phoneNumberId);
    if (!pairs) this.nextFreeAt.set(phoneNumberId, (pairs = new Map()));
    const tat = pairs.get(waId);
    if (tat === undefined) this.size++;
    pairs.set(waId, Math.max(tat ?? 0, nowMs) + this.intervalMs);
    if (this.size >= this.sweepAt) this.sweep(nowMs);
  }

  clear(): void {
    this.nextFreeAt.clear();
    this.size = 0;
  }

  private sweep(nowMs: number): void {
    for (const pairs of this.nextFreeAt.values()) {
      for (const [waId, tat] of pairs) {
        if (tat > nowMs) continue;
        pairs.delete(waId);
        this.size--;
      }
    }
    // Pairs still inside their interval are live; grow the threshold so a large live set is not rescanned per send.
    this.sweepAt = Math.max(SWEEP_THRESHOLD, this.size * 2);
  }
}
