// Counts calls into the Apps Script fakes by "Service.method", so tests can assert what an operation costs (e.g. a
// 10,000-row send is a few range calls, not thousands). Shared by the tests and the playground (devtools/playground);
// never bundled into the add-on.

export class CallCounter {
  private readonly counts = new Map<string, number>();

  /** Records one call of `name` ("Range.setValues", "UrlFetchApp.fetchAll", ...). */
  hit(name: string, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  /** Calls of `name`, or of every name starting with `name` when it ends in ".". */
  get(name: string): number {
    if (!name.endsWith('.')) return this.counts.get(name) ?? 0;
    let n = 0;
    for (const [k, v] of this.counts) if (k.startsWith(name)) n += v;
    return n;
  }

  /** Reads and writes of cell values through Range objects (the calls that cost quota and time). */
  rangeValueCalls(): number {
    return ['Range.getValues', 'Range.setValues', 'Range.getValue', 'Range.setValue', 'Range.getDisplayValues', 'Range.getDisplayValue']
      .reduce((n, k) => n + this.get(k), 0);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }

  reset(): void {
    this.counts.clear();
  }
}
