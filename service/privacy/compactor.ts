// Rewrites the database files so deleted and purged content leaves no stale copy behind. Deletes alone are not
// enough: when a page splits or merges, old copies of rows can stay in its unused bytes until the file is rebuilt.
import type { Clock } from '../campaigns/clock';

/** What compaction needs from storage. */
export interface CompactableStore {
  /**
   * Rebuilds the database (SQLite VACUUM) and empties the write-ahead log. Blocks while it runs (about 2 s per
   * million messages). Returns false when it could not finish (a reader held the file, e.g. an export).
   */
  compact(): boolean;
}

export interface CompactorOptions {
  /** Least time between compactions asked for by retention purges (erasures do not wait). */
  afterPurgeEveryMs: number;
}

export class Compactor {
  private isDue = false;
  private lastCompactedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: CompactableStore,
    private readonly clock: Clock,
    private readonly options: CompactorOptions,
  ) {}

  /** Compacts now. When it cannot finish, it stays due and the next retention pass tries again. */
  compactNow(): boolean {
    const isDone = this.store.compact();
    this.isDue = !isDone;
    if (isDone) this.lastCompactedAtMs = this.clock.now();
    return isDone;
  }

  /** Asks for a compaction at the next retention pass (within its interval), without blocking now. */
  request(): void {
    this.isDue = true;
  }

  get isCompactionDue(): boolean {
    return this.isDue;
  }

  /**
   * Called after each retention pass: compacts when an erasure asked for it, or when the pass purged content and
   * the last compaction is at least `afterPurgeEveryMs` old. Returns whether it compacted.
   */
  afterRetentionPass(hasPurged: boolean): boolean {
    const isPurgeDue = hasPurged && this.clock.now() - this.lastCompactedAtMs >= this.options.afterPurgeEveryMs;
    if (!this.isDue && !isPurgeDue) return false;
    return this.compactNow();
  }
}
