// The real clock for production. Node timers overflow past 2^31-1 ms (about 24.8 days), so long waits are chained.
import type { Clock } from '../../campaigns/clock';

const MAX_TIMER_MS = 2_147_483_647;

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimer(ms: number, fn: () => void): () => void {
    let handle: NodeJS.Timeout;
    const arm = (remainingMs: number): void => {
      handle = setTimeout(() => {
        if (remainingMs > MAX_TIMER_MS) arm(remainingMs - MAX_TIMER_MS);
        else fn();
      }, Math.min(Math.max(0, remainingMs), MAX_TIMER_MS));
    };
    arm(ms);
    return () => clearTimeout(handle);
  }
}
