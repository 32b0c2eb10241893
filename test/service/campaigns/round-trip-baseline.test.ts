// RoundTripBaseline: the delay-free round trip the limiter charges sends against, learnt from answers at fake times.
import { describe, expect, it } from 'vitest';
import { RoundTripBaseline } from '../../../service/campaigns/round-trip-baseline';

/** One answer every `everyMs` from `fromMs` to `toMs`, each with the round trip `rtt(t)`. */
function feed(baseline: RoundTripBaseline, fromMs: number, toMs: number, everyMs: number, rtt: (t: number) => number): void {
  for (let t = fromMs; t < toMs; t += everyMs) baseline.sample(rtt(t), t);
}

describe('RoundTripBaseline', () => {
  it('gives no credit before a path has settled: it starts at 0 and climbs 2 ms per second of answers', () => {
    const baseline = new RoundTripBaseline();
    expect(baseline.rttMs).toBe(0);
    // Warming up: each second faster than the one before, so the seconds never agree.
    feed(baseline, 0, 3000, 10, (t) => 60 - t / 100);
    expect(baseline.rttMs).toBeGreaterThan(5.5);
    expect(baseline.rttMs).toBeLessThanOrEqual(6);
  });

  it('jumps to the fastest answer once three whole seconds in a row agree', () => {
    const baseline = new RoundTripBaseline();
    feed(baseline, 0, 4000, 10, (t) => 150 + (t % 7) / 7);
    expect(baseline.rttMs).toBe(150);
  });

  it('follows a faster answer down at once, and after an idle hour climbs at most 2 ms on the first answer', () => {
    const baseline = new RoundTripBaseline();
    feed(baseline, 0, 4000, 10, () => 150);
    baseline.sample(140, 4000);
    expect(baseline.rttMs).toBe(140);
    baseline.sample(400, 3_600_000);
    expect(baseline.rttMs).toBeLessThanOrEqual(142);
  });
});
