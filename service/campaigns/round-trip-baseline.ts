// The round trip of a sender's path to Meta without delays: how long an answer takes when nothing on the way is slow.
// The limiter charges a send for every ms its round trip took beyond this (see SenderLimiter). Time comes from the
// caller.

/**
 * The baseline climbs only this slowly (ms per second of answers) until the path has settled: the first answers of a
 * run are slow (new connections, cold code on both sides), and a baseline learnt from them would wrongly credit the
 * faster sends that follow as early.
 */
const RISE_MS_PER_S = 2;
/** Seconds in a row whose fastest answers must agree before the baseline may jump to them. */
const SETTLED_SECONDS = 3;
/** How closely those seconds must agree: within this share of the fastest, or 2 ms. */
const SETTLED_SPREAD = 0.05;

/** Starts at 0 (no credit), follows the fastest answers down at once, and up only as described above. */
export class RoundTripBaseline {
  private value = 0;
  private lastSampleAtMs: number | null = null;
  /** The fastest answer of each of the last few whole seconds, newest last. */
  private readonly fastestPerSecond: { second: number; rttMs: number }[] = [];

  get rttMs(): number {
    return this.value;
  }

  /** An ordinary answer `rttMs` after its request left, read at `nowMs`. */
  sample(rttMs: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const newest = this.fastestPerSecond.at(-1);
    if (newest?.second === second) newest.rttMs = Math.min(newest.rttMs, rttMs);
    else {
      this.fastestPerSecond.push({ second, rttMs });
      if (this.fastestPerSecond.length > SETTLED_SECONDS) this.fastestPerSecond.shift();
    }
    const settled = this.settledRtt();
    if (settled !== null) this.value = settled;
    else if (this.lastSampleAtMs !== null) {
      // At most 1 s of climb per answer: after an idle hour the first (slow, cold) answer does not set the baseline.
      const elapsedMs = Math.min(1000, Math.max(0, nowMs - this.lastSampleAtMs));
      this.value += (RISE_MS_PER_S * elapsedMs) / 1000;
    }
    this.value = Math.min(this.value, rttMs);
    this.lastSampleAtMs = nowMs;
  }

  /** The fastest round trip of the last few seconds when they were consecutive and agree, else null. */
  private settledRtt(): number | null {
    const seconds = this.fastestPerSecond;
    if (seconds.length < SETTLED_SECONDS) return null;
    if ((seconds.at(-1) as { second: number }).second - (seconds[0] as { second: number }).second !== SETTLED_SECONDS - 1) return null;
    let fastest = Infinity;
    let slowest = 0;
    for (const { rttMs } of seconds) {
      fastest = Math.min(fastest, rttMs);
      slowest = Math.max(slowest, rttMs);
    }
    return slowest - fastest <= Math.max(2, fastest * SETTLED_SPREAD) ? fastest : null;
  }
}
