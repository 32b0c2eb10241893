// Rewrites the database files so deleted and purged content leaves no stale copy behind. Deletes alone are not
// enough: when a page splits or merges, old copies of rows can stay in its unused bytes until the file is rebuilt.
import type { Clock } from '../campaigns/clock';

/** What compaction needs from storage. */
export interface CompactableStore {
  /**
   * Rebuilds the database (SQLite VACUUM) and empties the write-ahead log; about 2 s per million messages (the
   * SQLite adapter blocks the event loop meanwhile). Resolves false when it could not finish (a reader held the
   * file, e.g. an export).
   */
  compact(): Promise<boolean>;
}

export interface CompactorOptions {
  /** Least time between compactions asked for by retention purges (erasures do not wait). */
  afterPurgeEveryMs: number;
}

export class Compactor {
  private isDue = false;
  private lastCompactedAtMs = Number.NEGATIVE_INFINITY;
  /** The compaction in progress or queued last: compactions run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: CompactableStore,
    private readonly clock: Clock,
    private readonly options: CompactorOptions,
  ) {}

  /**
   * Compacts now, after any compaction already running (that one may have begun before the caller's deletes were
   * committed, so it is not joined). When it cannot finish, or fails, it stays due and the next retention pass
   * tries again; a request() made while it runs stays due too. Rejects with the store's error.
   */
  compactNow(): Promise<boolean> {
    const run = this.queue.then(() => this.compactOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async compactOnce(): Promise<boolean> {
    // Cleared before the store is asked: a request() arriving meanwhile sets it again and is kept.
    this.isDue = false;
    let isDone = false;
    try {
      isDone = await this.store.compact();
    } finally {
      if (!isDone) this.isDue = true;
    }
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
   * the last compaction is at least `afterPurgeEveryMs` old. Resolves with whether it compacted.
   */
  async afterRetentionPass(hasPurged: boolean): Promise<boolean> {
    const isPurgeDue = hasPurged && this.clock.now() - this.lastCompactedAtMs >= this.options.afterPurgeEveryMs;
    if (!this.isDue && !isPurgeDue) return false;
    return this.compactNow();
  }
}
