// Rate limit for one sender (phone number id): never more than `ratePerSecond` sends start in any 1-second
// window, and they start evenly spread rather than in bursts. Time comes from the caller (a Clock), never Date.now.

const WINDOW_MS = 1000;

export interface SenderLimiterOptions {
  /**
   * Extra time added to the 1-second window. Meta counts arrivals, not our starts: with a few ms of network
   * jitter, sends started exactly 1 s apart can land inside one of Meta's windows. Each ms costs 0.1% of the rate,
   * so it starts small and learns the path's jitter: every 130429 widens it, quiet time narrows it again.
   */
  windowMarginMs: number;
  /** The widest the margin grows. */
  maxWindowMarginMs: number;
  /** Added to the margin per throughput error. */
  marginStepMs: number;
  /** The margin narrows by 1 ms per this much time without a throughput error. */
  marginDecayEveryMs: number;
  /** Sends that may start back to back before even spacing applies, as a share of the rate. */
  burstShare: number;
  /** After a throughput error the rate climbs back 10% each period without another one. */
  recoverEveryMs: number;
  /** Share of the last second's sends that must be 130429s before the rate drops (at least two errors). */
  throttleShare: number;
}

export const DEFAULT_LIMITER_OPTIONS: SenderLimiterOptions = {
  windowMarginMs: 4, maxWindowMarginMs: 24, marginStepMs: 1, marginDecayEveryMs: 5_000,
  burstShare: 0.05, recoverEveryMs: 2000, throttleShare: 0.02,
};

/**
 * Two rules, both must allow a start:
 * - a strict sliding window (p-queue's `strict` mode): the send `rate` places back started at least
 *   1 s (+ margin) ago, so any window of 1 s holds at most `rate` starts whatever the timer jitter;
 * - even spacing (GCRA): starts are `1000 / rate` ms apart, with a small burst allowance, so Meta sees a steady
 *   stream instead of a burst at the start of each second.
 *
 * Every throughput error (130429) widens the window's margin a little (jitter is learnt); on many, the rate drops by 5%, at most once a second (one burst of errors is one signal),
 * and climbs back 10% every `recoverEveryMs` without another one. A stray error is not a signal: at the full rate a
 * few ms of network or server jitter make Meta see a window a little over the limit now and then, and slowing the
 * whole sender for seconds costs far more than the one retried message. Only errors that are a real share of the
 * last second's sends (`throttleShare`) mean the number's throughput is lower than configured.
 */
export class SenderLimiter {
  private readonly starts: Float64Array;
  private head = 0;
  private count = 0;
  /** Newest stamps whose sends have not started yet (their `sending` rows await the group commit). */
  private unstarted = 0;
  private currentRate: number;
  private theoreticalAtMs = -Infinity;
  private lastThrottleAtMs = -Infinity;
  private lastRecoveryAtMs = -Infinity;
  /** Times of the throughput errors of the last second. */
  private recentThrottles: number[] = [];
  private marginMs: number;
  private lastMarginChangeAtMs = -Infinity;
  private readonly options: SenderLimiterOptions;

  constructor(private readonly maxRatePerSecond: number, options: Partial<SenderLimiterOptions> = {}) {
    if (!Number.isInteger(maxRatePerSecond) || maxRatePerSecond < 1) {
      throw new RangeError(`ratePerSecond must be a positive integer, got ${maxRatePerSecond}`);
    }
    this.options = { ...DEFAULT_LIMITER_OPTIONS, ...options };
    this.starts = new Float64Array(maxRatePerSecond);
    this.currentRate = maxRatePerSecond;
    this.marginMs = this.options.windowMarginMs;
  }

  /** The margin in force now on top of the 1-second window. */
  margin(nowMs: number): number {
    if (this.marginMs > this.options.windowMarginMs) {
      const steps = Math.floor((nowMs - this.lastMarginChangeAtMs) / this.options.marginDecayEveryMs);
      if (steps > 0) {
        this.marginMs = Math.max(this.options.windowMarginMs, this.marginMs - steps);
        this.lastMarginChangeAtMs += steps * this.options.marginDecayEveryMs;
      }
    }
    return this.marginMs;
  }

  /** The rate in force now (below the maximum after a throttle). */
  rate(nowMs: number): number {
    this.recover(nowMs);
    return this.currentRate;
  }

  /** Records a start at `nowMs` and returns true, or returns false when a rule says wait. */
  tryAcquire(nowMs: number): boolean {
    if (this.nextFreeAtMs(nowMs) > nowMs) return false;
    this.starts[this.head] = nowMs;
    this.head = (this.head + 1) % this.starts.length;
    if (this.count < this.starts.length) this.count++;
    this.unstarted = Math.min(this.unstarted + 1, this.count);
    this.theoreticalAtMs = Math.max(this.theoreticalAtMs, nowMs) + WINDOW_MS / this.currentRate;
    return true;
  }

  /**
   * `count` of the acquired sends start now, a few ms after they were acquired (their rows had to be committed as
   * `sending` first). Every not-yet-started stamp moves up to `atMs`: a stamp may be late, never early, so the
   * window still holds whatever Meta's clock sees of the real starts.
   */
  started(count: number, atMs: number): void {
    for (let i = 1; i <= this.unstarted; i++) {
      const index = (this.head - i + this.starts.length) % this.starts.length;
      if ((this.starts[index] as number) < atMs) this.starts[index] = atMs;
    }
    this.unstarted = Math.max(0, this.unstarted - count);
  }

  /** The earliest time a send may start (nowMs when one may start now). */
  nextFreeAtMs(nowMs: number): number {
    const rate = this.rate(nowMs);
    const gapMs = WINDOW_MS / rate;
    const burst = Math.max(1, Math.floor(rate * this.options.burstShare));
    let at = Math.max(nowMs, this.theoreticalAtMs - burst * gapMs);
    if (this.count >= rate) {
      const index = (this.head - rate + this.starts.length) % this.starts.length;
      at = Math.max(at, (this.starts[index] as number) + WINDOW_MS + this.margin(nowMs));
    }
    return at;
  }

  /** Meta said 130429: slow down if such errors are a real share of what was sent in the last second. */
  throttled(nowMs: number): void {
    this.marginMs = Math.min(this.options.maxWindowMarginMs, this.margin(nowMs) + this.options.marginStepMs);
    this.lastMarginChangeAtMs = nowMs;
    this.recentThrottles = this.recentThrottles.filter((at) => nowMs - at < WINDOW_MS);
    this.recentThrottles.push(nowMs);
    const threshold = Math.max(2, this.startsSince(nowMs - WINDOW_MS) * this.options.throttleShare);
    if (this.recentThrottles.length < threshold) return;
    if (nowMs - this.lastThrottleAtMs < WINDOW_MS) return;
    this.currentRate = Math.max(1, Math.floor(this.currentRate * 0.95));
    this.lastThrottleAtMs = nowMs;
    this.lastRecoveryAtMs = nowMs;
  }

  private startsSince(sinceMs: number): number {
    let n = 0;
    for (let i = 1; i <= this.count; i++) {
      const at = this.starts[(this.head - i + this.starts.length) % this.starts.length] as number;
      if (at < sinceMs) break;
      n++;
    }
    return n;
  }

  private recover(nowMs: number): void {
    if (this.currentRate >= this.maxRatePerSecond) return;
    const steps = Math.floor((nowMs - this.lastRecoveryAtMs) / this.options.recoverEveryMs);
    if (steps <= 0) return;
    for (let i = 0; i < steps && this.currentRate < this.maxRatePerSecond; i++) {
      this.currentRate = Math.min(this.maxRatePerSecond, Math.ceil(this.currentRate * 1.1));
    }
    this.lastRecoveryAtMs += steps * this.options.recoverEveryMs;
  }
}
