// A min-heap of items keyed by due time, FIFO among equal times: holds webhook events until they are due.
// No timers here; the dispatcher decides when to drain it.

export class DelayQueue<T> {
  private dueAts: number[] = [];
  private seqs: number[] = [];
  private items: T[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.items.length;
  }

  /** Earliest due time in epoch ms, or undefined when empty. */
  peekDueAt(): number | undefined {
    return this.dueAts[0];
  }

  push(dueAt: number, item: T): void {
    this.dueAts.push(dueAt);
    this.seqs.push(this.nextSeq++);
    this.items.push(item);
    this.up(this.items.length - 1);
  }

  /** Removes and returns every item due at or before `nowMs`, in due order. */
  drainDue(nowMs: number, into: T[] = []): T[] {
    while (this.items.length && this.dueAts[0]! <= nowMs) into.push(this.pop());
    return into;
  }

  /** Removes and returns everything, in due order. */
  drainAll(into: T[] = []): T[] {
    while (this.items.length) into.push(this.pop());
    return into;
  }

  clear(): void {
    this.dueAts = [];
    this.seqs = [];
    this.items = [];
  }

  private pop(): T {
    const top = this.items[0]!;
    const last = this.items.length - 1;
    this.swap(0, last);
    this.dueAts.pop();
    this.seqs.pop();
    this.items.pop();
    this.down(0);
    return top;
  }

  private before(a: number, b: number): boolean {
    const da = this.dueAts[a]!;
    const db = this.dueAts[b]!;
    return da < db || (da === db && this.seqs[a]! < this.seqs[b]!);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.before(left, smallest)) smallest = left;
      if (right < n && this.before(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private swap(a: number, b: number): void {
    [this.dueAts[a], this.dueAts[b]] = [this.dueAts[b]!, this.dueAts[a]!];
    [this.seqs[a], this.seqs[b]] = [this.seqs[b]!, this.seqs[a]!];
    [this.items[a], this.items[b]] = [this.items[b]!, this.items[a]!];
  }
}
