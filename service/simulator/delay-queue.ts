// Holds webhook events until they are due. Events are pushed with one of a few fixed delays (sent, delivered,
// read, reply), so one FIFO per delay keeps due order at O(1) a push instead of a heap's O(log n). No timers here.

/** A FIFO whose items were pushed in due order (same delay ⇒ monotonic due times). */
class Lane<T> {
  dueAts: number[] = [];
  items: T[] = [];
  head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  compact(): void {
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.dueAts = this.dueAts.slice(this.head);
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class DelayQueue<T> {
  private readonly lanes = new Map<number, Lane<T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Earliest due time in epoch ms, or undefined when empty. */
  peekDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const lane of this.lanes.values()) {
      if (lane.size === 0) continue;
      const dueAt = lane.dueAts[lane.head]!;
      if (earliest === undefined || dueAt < earliest) earliest = dueAt;
    }
    return earliest;
  }

  /**
   * Queues `item` for `nowMs + delayMs`. Items with the same `delayMs` come out in push order; callers pass a
   * non-decreasing `nowMs`, which keeps each lane sorted.
   */
  push(delayMs: number, nowMs: number, item: T): void {
    let lane = this.lanes.get(delayMs);
    if (!lane) this.lanes.set(delayMs, (lane = new Lane<T>()));
    lane.dueAts.push(nowMs + delayMs);
    lane.items.push(item);
    this.count++;
  }

  /** Removes and returns every item due at or before `nowMs`; within a lane in push order. */
  drainDue(nowMs: number, into: T[] = []): T[] {
    for (const [delay, lane] of this.lanes) {
      while (lane.head < lane.items.length && lane.dueAts[lane.head]! <= nowMs) {
        into.push(lane.items[lane.head]!);
        lane.items[lane.head] = undefined as T;
        lane.head++;
        this.count--;
      }
      if (lane.size === 0) this.lanes.delete(delay);
      else lane.compact();
    }
    return into;
  }

  clear(): void {
    this.lanes.clear();
    this.count = 0;
  }
}
