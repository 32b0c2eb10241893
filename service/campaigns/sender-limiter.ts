// Rate limit for one sender (phone number id): never more than `ratePerSecond` sends reach Meta in any 1-second
// window, and they start evenly spread rather than in bursts. Time comes from the caller (a Clock), never Date.now.

import { RoundTripBaseline } from './round-trip-baseline';

const WINDOW_MS = 1000;
export interface SenderLimiterOptions {
  /**
   * Extra time added to the 1-second window: Meta stamps arrivals in whole milliseconds, and the answer-based bound
   * on an arrival (see SenderLimiter) is a bound only up to the path's variation between its fastest requests. Each ms
   * costs 0.1% of the rate, so it starts small; every 130429 still widens it, quiet time narrows it again.
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
  windowMarginMs: 2, maxWindowMarginMs: 24, marginStepMs: 1, marginDecayEveryMs: 5_000,
  burstShare: 0.05, recoverEveryMs: 2000, throttleShare: 0.02,
};

/**
 * Two rules, both must allow a start:
 * - a strict sliding window (p-queue's `strict` mode) over *arrivals at Meta*: the send `rate` places back must
 *   have reached Meta at least 1 s (+ margin) ago, so any window of 1 s holds at most `rate` arrivals;
 * - even spacing (GCRA): starts are `1000 / rate` ms apart, with a small burst allowance, so Meta sees a steady
 *   stream instead of a burst at the start of each second.
 *
 * Meta counts a message when it arrives, and we cannot see that instant, only bound it. A request delayed on its way
 * (a busy event loop on either side, a congested link) arrives late, and a window that starts just after the delay
 * would see the delayed ones plus a full second of punctual ones. Its answer is delayed as much, so each send holds
 * its place from `answeredAt - baseline round trip` (never before it started): its start, moved later by however
 * much longer than the path's baseline its round trip took. Arrivals then keep the strict window whatever the delays
 * on the way there, and a punctual path costs nothing. Until its answer comes, a send's place is not known, so it is
 * not given back.
 *
 * Every throughput error (130429) widens the window's margin a little; on many, the rate drops by 5%, at most once a
 * second (one burst of errors is one signal), and climbs back 10% every `recoverEveryMs` without another one. A
 * stray error is not a signal: slowing the whole sender for seconds costs far more than the one retried message.
 * Only errors that are a real share of the last second's sends (`throttleShare`) mean the number's throughput is
 * lower than configured.
 */
export class SenderLimiter {
  /** Per place in the ring: when its send counts as having reached Meta (its start until the answer refines it). */
  private readonly stamps: Float64Array;
  /** Per place: 1 once its send's answer came (or it never left), so its stamp is final. */
  private readonly isSettled: Uint8Array;
  /** Tickets handed out so far; ticket n lives in place n % size while it is among the last `size`. */
  private issued = 0;
  private currentRate: number;
  private theoreticalAtMs = -Infinity;
  private lastThrottleAtMs = -Infinity;
  private lastRecoveryAtMs = -Infinity;
  /** Times of the throughput errors of the last second. */
  private recentThrottles: number[] = [];
  private marginMs: number;
  private lastMarginChangeAtMs = -Infinity;
  private readonly baseline = new RoundTripBaseline();
  private readonly options: SenderLimiterOptions;

  constructor(private readonly maxRatePerSecond: number, options: Partial<SenderLimiterOptions> = {}) {
    if (!Number.isInteger(maxRatePerSecond) || maxRatePerSecond < 1) {
      throw new RangeError(`ratePerSecond must be a positive integer, got ${maxRatePerSecond}`);
    }
    this.options = { ...DEFAULT_LIMITER_OPTIONS, ...options };
    this.stamps = new Float64Array(maxRatePerSecond);
    this.isSettled = new Uint8Array(maxRatePerSecond);
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

  /**
   * Takes a place for a send starting now and returns its ticket, or null when a rule says wait. The caller reports
   * the send's answer with `settle`, or `release`s the ticket if the send never leaves.
   */
  acquire(nowMs: number): number | null {
    if (this.nextFreeAtMs(nowMs) > nowMs) return null;
    const ticket = this.issued++;
    const place = ticket % this.stamps.length;
    this.stamps[place] = nowMs;
    this.isSettled[place] = 0;
    this.theoreticalAtMs = Math.max(this.theoreticalAtMs, nowMs) + WINDOW_MS / this.currentRate;
    return ticket;
  }

  /**
   * The send of `ticket` left at `startedAtMs` and was answered (or gave up) at `answeredAtMs`. `isRttSample`: an
   * ordinary answer whose round trip may set the path's baseline (not an early error or a timeout).
   */
  settle(ticket: number, startedAtMs: number, answeredAtMs: number, isRttSample: boolean): void {
    if (isRttSample) this.baseline.sample(answeredAtMs - startedAtMs, answeredAtMs);
    const place = this.placeOf(ticket);
    if (place === null) return;
    this.stamps[place] = Math.max(startedAtMs, answeredAtMs - this.baseline.rttMs);
    this.isSettled[place] = 1;
  }

  /** The send of `ticket` never left: its place keeps the time it was taken. */
  release(ticket: number): void {
    const place = this.placeOf(ticket);
    if (place !== null) this.isSettled[place] = 1;
  }

  /** The earliest time a send may start (nowMs when one may start now; Infinity until an answer frees a place). */
  nextFreeAtMs(nowMs: number): number {
    const rate = this.rate(nowMs);
    const gapMs = WINDOW_MS / rate;
    const burst = Math.max(1, Math.floor(rate * this.options.burstShare));
    let at = Math.max(nowMs, this.theoreticalAtMs - burst * gapMs);
    if (this.issued >= rate) {
      const place = (this.issued - rate) % this.stamps.length;
      if (this.isSettled[place] === 0) return Infinity;
      at = Math.max(at, (this.stamps[place] as number) + WINDOW_MS + this.margin(nowMs));
    }
    return at;
  }

  private placeOf(ticket: number): number | null {
    return ticket >= 0 && ticket < this.issued && this.issued - ticket <= this.stamps.length
      ? ticket % this.stamps.length
      : null;
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
    const held = Math.min(this.issued, this.stamps.length);
    for (let i = 1; i <= held; i++) {
      if ((this.stamps[(this.issued - i) % this.stamps.length] as number) < sinceMs) break;
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
