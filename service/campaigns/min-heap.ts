// A binary min-heap keyed by a number: the dispatcher's list of rows waiting for a retry time.

export class MinHeap<T> {
  private readonly keys: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: number, value: T): void {
    this.keys.push(key);
    this.values.push(value);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.keys[parent] as number) <= key) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** The smallest key, or undefined when empty. */
  peekKey(): number | undefined {
    return this.keys[0];
  }

  pop(): T | undefined {
    if (this.keys.length === 0) return undefined;
    const top = this.values[0] as T;
    const lastKey = this.keys.pop() as number;
    const lastValue = this.values.pop() as T;
    if (this.keys.length > 0) {
      this.keys[0] = lastKey;
      this.values[0] = lastValue;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.keys.length && (this.keys[left] as number) < (this.keys[smallest] as number)) smallest = left;
        if (right < this.keys.length && (this.keys[right] as number) < (this.keys[smallest] as number)) smallest = right;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  /** Removes every value `keep` rejects. */
  filter(keep: (value: T) => boolean): void {
    const kept: [number, T][] = [];
    for (let i = 0; i < this.keys.length; i++) {
      if (keep(this.values[i] as T)) kept.push([this.keys[i] as number, this.values[i] as T]);
    }
    this.keys.length = 0;
    this.values.length = 0;
    for (const [key, value] of kept) this.push(key, value);
  }

  private swap(a: number, b: number): void {
    [this.keys[a], this.keys[b]] = [this.keys[b] as number, this.keys[a] as number];
    [this.values[a], this.values[b]] = [this.values[b] as T, this.values[a] as T];
  }
}
