// SenderLimiter under random load at fake times (no timers): the strict window, the even-spacing throughput,
// and the slow-down after a throughput error (130429) with its recovery.
import { describe, expect, it } from 'vitest';
import { SenderLimiter } from '../../../service/campaigns/sender-limiter';
import { seededRandom } from '../../fakes/seeded-random';
import { maxInAnyWindow } from './busiest-window';


/** Asks for a start at random times: clusters of attempts at one instant, small gaps, and idle pauses. */
function randomAttempts(rate: number, attempts: number, seed: number, throttleShare = 0): number[] {
  const random = seededRandom(seed);
  const limiter = new SenderLimiter(rate);
  const starts: number[] = [];
  let now = 1_700_000_000_000;
  for (let i = 0; i < attempts; i++) {
    const roll = random();
    if (roll < 0.3) now += 0; // another attempt at the same instant
    else if (roll < 0.95) now += random() * (2000 / rate);
    else now += random() * 3000;
    if (throttleShare > 0 && random() < throttleShare) limiter.throttled(now);
    if (limiter.tryAcquire(now)) starts.push(now);
  }
  return starts;
}

describe('SenderLimiter', () => {
  for (const rate of [1, 80, 1000]) {
    it(`never lets more than ${rate} sends start in any 1-second window, over thousands of random attempts`, () => {
      for (const seed of [1, 2, 3]) {
        const starts = randomAttempts(rate, 20_000, seed * 7919 + rate);
        expect(starts.length).toBeGreaterThan(rate);
        expect(maxInAnyWindow(starts)).toBeLessThanOrEqual(rate);
      }
    });

    it(`keeps the ${rate}/s window also while throughput errors come and go`, () => {
      const starts = randomAttempts(rate, 20_000, rate + 17, 0.002);
      expect(starts.length).toBeGreaterThan(rate);
      expect(maxInAnyWindow(starts)).toBeLessThanOrEqual(rate);
    });

    it(`sustains at least 99% of ${rate}/s when asked continuously`, () => {
      const limiter = new SenderLimiter(rate);
      let now = 0;
      const starts: number[] = [];
      const durationMs = rate === 1 ? 120_000 : 10_000;
      while (now < durationMs) {
        now = limiter.nextFreeAtMs(now);
        // The time the limiter names as free must really be free.
        expect(limiter.tryAcquire(now)).toBe(true);
        starts.push(now);
      }
      const spanMs = (starts.at(-1) as number) - (starts[0] as number);
      const perSecond = ((starts.length - 1) * 1000) / spanMs;
      expect(perSecond).toBeGreaterThanOrEqual(rate * 0.99);
      expect(maxInAnyWindow(starts)).toBeLessThanOrEqual(rate);
    });
  }

  for (const rate of [80, 1000]) {
    it(`spreads ${rate}/s evenly: no 100 ms holds more than a tenth of the rate plus the 5% burst allowance`, () => {
      const limiter = new SenderLimiter(rate);
      let now = 0;
      const starts: number[] = [];
      while (now < 10_000) {
        now = limiter.nextFreeAtMs(now);
        limiter.tryAcquire(now);
        starts.push(now);
      }
      const burst = Math.max(1, Math.floor(rate * 0.05));
      expect(maxInAnyWindow(starts, 100)).toBeLessThanOrEqual(rate / 10 + burst);
      // Never a whole second's worth in one instant.
      expect(maxInAnyWindow(starts, 1)).toBeLessThanOrEqual(burst + 1);
    });
  }

  for (const rate of [80, 1000]) {
    it(`counts a ${rate}/s send from when it really starts, after its commit, not from when it was allowed`, () => {
      // As in the pipeline: a pump acquires a few sends, they start 0-4 ms later when their rows are committed,
      // and pumps may overlap with an earlier pump's commit still pending.
      const random = seededRandom(rate);
      // No margin: the margin is for network jitter, and would hide a late start counted early.
      const limiter = new SenderLimiter(rate, { windowMarginMs: 0, maxWindowMarginMs: 0 });
      const waiting: { count: number; startAt: number }[] = [];
      const realStarts: number[] = [];
      let now = 0;
      while (now < 20_000) {
        now += 1 + Math.floor(random() * 5);
        while (waiting.length > 0 && (waiting[0] as { startAt: number }).startAt <= now) {
          const group = waiting.shift() as { count: number; startAt: number };
          limiter.started(group.count, group.startAt);
          for (let i = 0; i < group.count; i++) realStarts.push(group.startAt);
        }
        let count = 0;
        while (limiter.tryAcquire(now)) count++;
        if (count > 0) waiting.push({ count, startAt: now + Math.floor(random() * 5) });
      }
      expect(realStarts.length).toBeGreaterThan(rate * 15);
      expect(maxInAnyWindow(realStarts.sort((x, y) => x - y))).toBeLessThanOrEqual(rate);
    });
  }

  it('drops the rate when throughput errors are a real share of the last second, and climbs back over time', () => {
    const limiter = new SenderLimiter(1000);
    let now = 0;
    while (now < 5000) {
      now = limiter.nextFreeAtMs(now);
      limiter.tryAcquire(now);
    }
    const throttledAt = now;
    // 1% of the ~1,000 sends of the last second is jitter; 2% is the signal.
    for (let i = 0; i < 10; i++) limiter.throttled(throttledAt);
    expect(limiter.rate(throttledAt)).toBe(1000);
    for (let i = 0; i < 15; i++) limiter.throttled(throttledAt);
    const slowed = limiter.rate(throttledAt);
    expect(slowed).toBeLessThan(1000);
    expect(slowed).toBeGreaterThanOrEqual(500);

    // Asked continuously, the second after the error holds no more than the lowered rate.
    const after: number[] = [];
    for (;;) {
      now = limiter.nextFreeAtMs(now);
      if (now >= throttledAt + 1000) break;
      limiter.tryAcquire(now);
      after.push(now);
    }
    expect(after.length).toBeLessThanOrEqual(slowed);
    expect(after.length).toBeGreaterThan(slowed * 0.9);

    // Without another error the rate climbs back step by step, up to the maximum and never past it.
    const rates = [0, 2000, 4000, 6000, 10_000, 60_000].map((dt) => limiter.rate(throttledAt + dt));
    expect(rates[1]).toBeGreaterThan(slowed);
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeGreaterThanOrEqual(rates[i - 1] as number);
    expect(rates.at(-1)).toBe(1000);
    expect(Math.max(...rates)).toBe(1000);
  });

  it('does not slow down for a stray throughput error at the full rate (jitter at the receiver)', () => {
    const limiter = new SenderLimiter(1000);
    let now = 0;
    const starts: number[] = [];
    while (now < 10_000) {
      now = limiter.nextFreeAtMs(now);
      limiter.tryAcquire(now);
      starts.push(now);
      // One 130429 every 200 ms: 0.5% of the sends.
      if (now >= 5000 && Math.floor(now / 200) !== Math.floor((now - 1) / 200)) limiter.throttled(now);
    }
    expect(limiter.rate(now)).toBe(1000);
    // Instead the window's margin widened (25 errors, 1 ms each, up to 24 ms): about 2% of the rate, not 5-10%.
    expect(limiter.margin(now)).toBe(24);
    expect(starts.filter((t) => t >= 5000 && t < 10_000).length).toBeGreaterThanOrEqual(4850);
    // Quiet time narrows it back, 1 ms per 5 s, down to the starting 4 ms.
    expect(limiter.margin(now + 50_000)).toBe(14);
    expect(limiter.margin(now + 1_000_000)).toBe(4);
  });

  it('counts repeated throughput errors within one second as one signal', () => {
    const stray = new SenderLimiter(80);
    stray.throttled(10_000);
    expect(stray.rate(10_000)).toBe(80);

    const once = new SenderLimiter(80);
    once.throttled(10_000);
    once.throttled(10_000);
    const slowed = once.rate(10_000);
    expect(slowed).toBeLessThan(80);

    const limiter = new SenderLimiter(80);
    limiter.throttled(10_000);
    limiter.throttled(10_001);
    limiter.throttled(10_500);
    limiter.throttled(10_999);
    expect(limiter.rate(10_999)).toBe(slowed);
    // A second later it is a new signal.
    limiter.throttled(11_000);
    limiter.throttled(11_001);
    expect(limiter.rate(11_001)).toBeLessThan(slowed);
  });

  it('never drops the rate below one message a second', () => {
    const limiter = new SenderLimiter(1);
    for (const at of [0, 0, 1000, 1000]) limiter.throttled(at);
    expect(limiter.rate(1000)).toBe(1);
  });

  it('refuses a rate that is not a positive whole number', () => {
    expect(() => new SenderLimiter(0)).toThrow(RangeError);
    expect(() => new SenderLimiter(2.5)).toThrow(RangeError);
  });
});
