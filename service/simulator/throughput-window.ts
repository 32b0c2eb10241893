// The per-number throughput limit: a strict sliding one-second window, and the busiest window seen.
// It decides 130429; it does not know about HTTP or pair rates.

/** Width of Meta's throughput window (messages per *second*, CLOUD_API.md §3.1). */
export const WINDOW_MS = 1000;

/** Arrival times within the last `WINDOW_MS`, as an amortised O(1) queue. */
class TimestampQueue {
  private times: number[] = [];
  private head = 0;

  /** Drops entries that left the window ending at `now`; returns how many remain. */
  prune(now: number): number {
    const floor = now - WINDOW_MS;
    while (this.head < this.times.length && this.times[this.head]! <= floor) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  push(now: number): number {
    this.times.push(now);
    return this.times.length - this.head;
  }
}

/**
 * One number's window. An arrival is admitted when fewer than `limitPerSecond` arrivals were admitted in the
 * preceding 1000 ms (the window is (now - 1000, now]); admitted arrivals are the accepted ones plus those
 * rejected for other reasons (validation, pair rate), since Meta counts every message it processes.
 * Throttled arrivals are not admitted, so a client is blocked only "until you are back under the limit"
 * (CLOUD_API.md §3.1) rather than forever while it keeps retrying.
 */
export class ThroughputWindow {
  private readonly admitted = new TimestampQueue();
  private readonly arrivals = new TimestampQueue();
  /** Most arrivals (throttled included) in any one-second sliding window: > limit means the client overshot. */
  busiestArrivals = 0;
  /** Most admitted arrivals in any one-second window; never above the limit in force at the time. */
  busiestAdmitted = 0;

  constructor(public limitPerSecond: number) {}

  /** Records an arrival at `nowMs`; returns false when it must be refused with 130429. */
  tryAdmit(nowMs: number): boolean {
    this.arrivals.prune(nowMs);
    const arrivals = this.arrivals.push(nowMs);
    if (arrivals > this.busiestArrivals) this.busiestArrivals = arrivals;
    if (this.admitted.prune(nowMs) >= this.limitPerSecond) return false;
    const admitted = this.admitted.push(nowMs);
    if (admitted > this.busiestAdmitted) this.busiestAdmitted = admitted;
    return true;
  }

  resetStats(): void {
    this.busiestArrivals = 0;
    this.busiestAdmitted = 0;
  }
}
