// Group commit: the writes every sender and the webhook intake ask for within a few milliseconds share one
// transaction. A commit costs far more than the row updates in it (the WAL frames of every touched page, or a
// round trip and an fsync on PostgreSQL), so one commit per few ms instead of one per pump, per flush and per
// webhook is most of the store's cost. Writes are data (BatchWrite), so no store transaction is ever held open
// across an await of anything else; each write is undone alone if it fails.
import type { Clock } from './clock';
import type { BatchItemResult, BatchWrite, BatchWriteResults } from './ports';

export interface GroupCommitStore {
  writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]>;
}

interface Job {
  /** Built when the batch starts, so a write can take what accumulated while it waited. */
  write: BatchWrite | (() => BatchWrite);
  /** After the commit; never before, so nothing acts on a write that could still be lost. */
  done(result: unknown): void;
  /** The write failed, or the transaction did not commit: none of this job's writes happened. */
  failed(error: unknown): void;
}

export class GroupCommit {
  private jobs: Job[] = [];
  private cancelTimer: (() => void) | null = null;
  /** The batch being committed: one at a time, so commits land in the order they were asked for. */
  private inFlight: Promise<void> | null = null;
  /** When the oldest waiting write was asked for: it waits `delayMs` from then, however long a commit in flight takes. */
  private firstJobAtMs = 0;

  constructor(
    private readonly store: GroupCommitStore,
    private readonly clock: Clock,
    /** How long the first write waits for company. Sends wait this long after their `sending` row is queued. */
    readonly delayMs: number,
    private readonly onCallbackError: (error: unknown) => void,
  ) {}

  /**
   * Runs `write` in the next group transaction, then `done` with its result once committed, or `failed`. A function
   * is called when the batch starts (synchronously, before anything is sent to the store) to build the write then.
   */
  add<W extends BatchWrite>(
    write: W | (() => W), done: (result: BatchWriteResults[W['kind']]) => void, failed: (error: unknown) => void,
  ): void {
    if (this.jobs.length === 0) this.firstJobAtMs = this.clock.now();
    this.jobs.push({ write, done: done as (result: unknown) => void, failed });
    this.schedule();
  }

  private schedule(): void {
    if (this.cancelTimer || this.inFlight || this.jobs.length === 0) return;
    const delayMs = Math.max(0, this.firstJobAtMs + this.delayMs - this.clock.now());
    this.cancelTimer = this.clock.setTimer(delayMs, () => {
      this.cancelTimer = null;
      void this.commit();
    });
  }

  /** The same as `add`, as a promise of the committed result (rejects when the write or the commit failed). */
  run<W extends BatchWrite>(write: W): Promise<BatchWriteResults[W['kind']]> {
    return new Promise((resolve, reject) => this.add(write, resolve, reject));
  }

  get pending(): number {
    return this.jobs.length;
  }

  /**
   * Commits what is waiting now (shutdown, or a caller that cannot wait), after the batch in flight. Resolves when
   * everything asked before the call is committed and its callbacks have run.
   */
  async commit(): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = null;
    if (this.inFlight) {
      await this.inFlight;
      return this.commit();
    }
    const jobs = this.jobs;
    this.jobs = [];
    if (jobs.length === 0) return;
    this.inFlight = this.commitJobs(jobs);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    // Writes asked for while this batch was committing go in the next one (at once when a caller awaits commit()).
    this.schedule();
  }

  private async commitJobs(jobs: readonly Job[]): Promise<void> {
    let results: BatchItemResult[];
    try {
      results = await this.store.writeBatch(jobs.map((job) => (typeof job.write === 'function' ? job.write() : job.write)));
    } catch (error) {
      // The commit itself failed (disk full, I/O error, connection lost): nothing of the group is durable.
      for (const job of jobs) this.call(() => job.failed(error));
      return;
    }
    jobs.forEach((job, i) => {
      const result = results[i] as BatchItemResult;
      this.call(() => (result.ok ? job.done(result.value) : job.failed(result.error)));
    });
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.onCallbackError(error);
    }
  }
}
