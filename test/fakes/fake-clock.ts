// An in-memory Clock for deterministic tests: time moves only when a test calls advance().
// It must never read the real clock or schedule real timers.
import type { Clock } from '../../service/campaigns/clock';

interface PendingTimer {
  id: number;
  dueAt: number;
  fn: () => void;
}

/** A Clock whose time only moves on `advance`, running due timers in due order (ties in creation order). */
export class FakeClock implements Clock {
  private nowMs: number;
  private nextId = 1;
  private timers: PendingTimer[] = [];

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer = { id: this.nextId++, dueAt: this.nowMs + Math.max(0, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t.id !== timer.id);
    };
  }

  /** Number of timers not yet run or cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `ms`, running each timer when its due time is reached. Between timers it lets
   * pending promise callbacks run, so async work started by a timer settles before later timers fire.
   */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    for (;;) {
      await flushMicrotasks();
      const next = this.earliestDue(target);
      if (!next) break;
      this.timers = this.timers.filter((t) => t.id !== next.id);
      this.nowMs = next.dueAt;
      next.fn();
    }
    this.nowMs = target;
    await flushMicrotasks();
  }

  private earliestDue(limitMs: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.dueAt > limitMs) continue;
      if (!best || t.dueAt < best.dueAt || (t.dueAt === best.dueAt && t.id < best.id)) best = t;
    }
    return best;
  }
}

/** Lets every queued promise callback run (a macrotask turn drains the microtask queue) without moving time. */
async function flushMicrotasks(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
}
