// SenderLimiter at fake times (no timers): the strict window over arrivals at Meta, also when the way there is
// delayed now and then; the even-spacing throughput; the slow-down after a throughput error (130429) and its recovery.
import { describe, expect, it } from 'vitest';
import { SenderLimiter } from '../../../service/campaigns/sender-limiter';
import { seededRandom } from '../../fakes/seeded-random';
import { maxInAnyWindow } from './busiest-window';

/** Takes a place at `now` and, as if the send were answered at once, settles it: a path with no delay. */
function sendNow(limiter: SenderLimiter, now: number): boolean {
  const ticket = limiter.acquire(now);
  if (ticket === null) return false;
  limiter.settle(ticket, now, now, true);
  return true;
}

/**
 * Sends at every time the limiter names as free, from `fromMs` until `untilMs`, calling `each` after every send;
 * returns the send times. The time named as free must really be free: a refused send fails the test.
 */
function sendContinuously(limiter: SenderLimiter, fromMs: number, untilMs: number, each?: (now: number) => void): number[] {
  const starts: number[] = [];
  let now = fromMs;
  while (now < untilMs) {
    now = limiter.nextFreeAtMs(now);
    expect(sendNow(limiter, now)).toBe(true);
    starts.push(now);
    each?.(now);
  }
  return starts;
}

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
    if (sendNow(limiter, now)) starts.push(now);
  }
  return starts;
}

interface PathModel {
  /** Delay from the start of a send to its arrival at Meta, for a send starting at `startMs`. */
  forwardMs(startMs: number): number;
  /** Delay from arrival to the answer being read. */
  backMs(arrivalMs: number): number;
}

/**
 * A pipeline in miniature over a modelled network path: pumps every 1-3 ms take every place the limiter gives, the
 * sends start 0-3 ms later (their commit), arrive after the path's forward delay and are answered after its way back.
 * Returns the arrival times at Meta and the number of sends.
 */
function sendOverPath(rate: number, path: PathModel, durationMs: number, seed: number): number[] {
  const random = seededRandom(seed);
  const limiter = new SenderLimiter(rate);
  const answers: { atMs: number; ticket: number; startedAtMs: number }[] = [];
  const arrivals: number[] = [];
  let now = 0;
  while (now < durationMs) {
    now += 1 + Math.floor(random() * 3);
    answers.sort((x, y) => x.atMs - y.atMs);
    while (answers.length > 0 && (answers[0] as { atMs: number }).atMs <= now) {
      const answer = answers.shift() as { atMs: number; ticket: number; startedAtMs: number };
      limiter.settle(answer.ticket, answer.startedAtMs, answer.atMs, true);
    }
    const startAt = now + Math.floor(random() * 4);
    for (let ticket = limiter.acquire(now); ticket !== null; ticket = limiter.acquire(now)) {
      const arrival = startAt + path.forwardMs(startAt);
      arrivals.push(arrival);
      answers.push({ atMs: arrival + path.backMs(arrival), ticket, startedAtMs: startAt });
    }
  }
  return arrivals;
}

/** Meta's side stalls now and then: whatever was on its way during a stall arrives when the stall ends. */
function stallingPath(seed: number, baseMs: number): PathModel {
  const random = seededRandom(seed);
  const stalls: { fromMs: number; toMs: number }[] = [];
  for (let at = 300; at < 60_000; at += 100 + random() * 900) stalls.push({ fromMs: at, toMs: at + 5 + random() * 45 });
  const stallEnd = (t: number): number => stalls.find((s) => t >= s.fromMs && t < s.toMs)?.toMs ?? t;
  return {
    forwardMs: (start) => {
      const arrival = start + baseMs + random() * 2;
      return stallEnd(arrival) - start;
    },
    backMs: (arrival) => baseMs + random() * 2,
  };
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
      const starts = sendContinuously(new SenderLimiter(rate), 0, rate === 1 ? 120_000 : 10_000);
      const spanMs = (starts.at(-1) as number) - (starts[0] as number);
      const perSecond = ((starts.length - 1) * 1000) / spanMs;
      expect(perSecond).toBeGreaterThanOrEqual(rate * 0.99);
      expect(maxInAnyWindow(starts)).toBeLessThanOrEqual(rate);
    });
  }

  for (const rate of [80, 1000]) {
    it(`spreads ${rate}/s evenly: no 100 ms holds more than a tenth of the rate plus the 5% burst allowance`, () => {
      const starts = sendContinuously(new SenderLimiter(rate), 0, 10_000);
      const burst = Math.max(1, Math.floor(rate * 0.05));
      expect(maxInAnyWindow(starts, 100)).toBeLessThanOrEqual(rate / 10 + burst);
      // Never a whole second's worth in one instant.
      expect(maxInAnyWindow(starts, 1)).toBeLessThanOrEqual(burst + 1);
    });
  }

  for (const rate of [80, 1000]) {
    it(`keeps ${rate}/s at Meta's end while Meta stalls now and then, bunching what was on its way`, () => {
      for (const seed of [5, 6]) {
        const arrivals = sendOverPath(rate, stallingPath(seed * 31 + rate, 0.5), 20_000, seed);
        expect(arrivals.length).toBeGreaterThan(rate * 15);
        expect(maxInAnyWindow(arrivals)).toBeLessThanOrEqual(rate);
      }
    });

    it(`keeps ${rate}/s at Meta's end over a slow path whose first answers are slower still (cold connections)`, () => {
      // 150 ms each way once warm; the first 2 s add up to 40 ms on the way there.
      const random = seededRandom(rate);
      const path: PathModel = {
        forwardMs: (start) => 150 + random() * 3 + (start < 2000 ? 40 * (1 - start / 2000) : 0),
        backMs: () => 150 + random() * 3,
      };
      const arrivals = sendOverPath(rate, path, 20_000, 9);
      expect(maxInAnyWindow(arrivals)).toBeLessThanOrEqual(rate);
      // Once the baseline is learnt, the slow path costs little: the last 5 s run at 98% of the rate or more.
      expect(arrivals.filter((t) => t >= 15_000 && t < 20_000).length).toBeGreaterThanOrEqual(rate * 5 * 0.98);
    });
  }

  it('keeps a place until its send is answered: a send whose arrival is unknown is not given back', () => {
    const limiter = new SenderLimiter(80);
    const tickets: number[] = [];
    let now = 0;
    while (tickets.length < 80) {
      now = limiter.nextFreeAtMs(now);
      tickets.push(limiter.acquire(now) as number);
    }
    for (const ticket of tickets.slice(1)) limiter.settle(ticket, 0, 5, true);
    // The first send is still unanswered a minute later: no place is free.
    expect(limiter.nextFreeAtMs(60_000)).toBe(Infinity);
    expect(limiter.acquire(60_000)).toBeNull();
    // Answered after 30 s (a timeout): it may have arrived just before that, so its place frees a second later.
    limiter.settle(tickets[0] as number, 0, 30_000, false);
    expect(limiter.nextFreeAtMs(60_000)).toBe(60_000);
    const other = new SenderLimiter(1);
    const ticket = other.acquire(0) as number;
    other.settle(ticket, 0, 30_000, false);
    expect(other.nextFreeAtMs(30_000)).toBeGreaterThanOrEqual(31_000);
    // A send that never left gives its place back from when it was taken.
    const released = new SenderLimiter(1);
    released.release(released.acquire(0) as number);
    expect(released.nextFreeAtMs(500)).toBeLessThanOrEqual(1000 + released.margin(500));
  });

  it('drops the rate when throughput errors are a real share of the last second, and climbs back over time', () => {
    const limiter = new SenderLimiter(1000);
    let now = sendContinuously(limiter, 0, 5000).at(-1) as number;
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
      sendNow(limiter, now);
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
    // One 130429 every 200 ms after the first 5 s: 0.5% of the sends.
    const starts = sendContinuously(limiter, 0, 10_000, (at) => {
      if (at >= 5000 && Math.floor(at / 200) !== Math.floor((at - 1) / 200)) limiter.throttled(at);
    });
    const now = starts.at(-1) as number;
    expect(limiter.rate(now)).toBe(1000);
    // Instead the window's margin widened (25 errors, 1 ms each, up to 24 ms): about 2% of the rate, not 5-10%.
    expect(limiter.margin(now)).toBe(24);
    expect(starts.filter((t) => t >= 5000 && t < 10_000).length).toBeGreaterThanOrEqual(4850);
    // Quiet time narrows it back, 1 ms per 5 s, down to the starting 2 ms.
    expect(limiter.margin(now + 50_000)).toBe(14);
    expect(limiter.margin(now + 1_000_000)).toBe(2);
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
