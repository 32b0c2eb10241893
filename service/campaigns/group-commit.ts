// Group commit: the writes every sender and the webhook intake ask for within a few milliseconds share one
// transaction. A commit costs far more than the row updates in it (the WAL frames of every touched page), so at
// thousands of messages a second one commit per few ms instead of one per pump, per flush and per webhook is most
// of the store's CPU. Each write still runs in its own savepoint, so one failing write undoes only itself.
import type { Clock } from './clock';

export interface GroupCommitStore {
  /** Runs `fn` atomically; nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T;
  /** Runs `fn` inside the current transaction so that, if it throws, only its own writes are undone. */
  savepoint<T>(fn: () => T): T;
}

interface Job {
  write(): unknown;
  /** After the commit; never before, so nothing acts on a write that could still be lost. */
  done(result: unknown): void;
  /** The write threw, or the transaction did not commit: none of this job's writes happened. */
  failed(error: unknown): void;
}

export class GroupCommit {
  private jobs: Job[] = [];
  private cancelTimer: (() => void) | null = null;

  constructor(
    private readonly store: GroupCommitStore,
    private readonly clock: Clock,
    /** How long the first write waits for company. Sends wait this long after their `sending` row is queued. */
    readonly delayMs: number,
    private readonly onCallbackError: (error: unknown) => void,
  ) {}

  /** Runs `write` in the next group transaction, then `done` with its result once committed, or `failed`. */
  add<T>(write: () => T, done: (result: T) => void, failed: (error: unknown) => void): void {
    this.jobs.push({ write, done: done as (result: unknown) => void, failed });
    if (!this.cancelTimer) {
      this.cancelTimer = this.clock.setTimer(this.delayMs, () => {
        this.cancelTimer = null;
        this.commit();
      });
    }
  }

  get pending(): number {
    return this.jobs.length;
  }

  /** Commits what is waiting now (shutdown, or a caller that cannot wait). Callbacks may add new jobs. */
  commit(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    const jobs = this.jobs;
    this.jobs = [];
    if (jobs.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.store.transaction(() => {
        for (const job of jobs) {
          try {
            outcomes.push({ ok: true, value: this.store.savepoint(() => job.write()) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the group is durable.
      for (const job of jobs) this.call(() => job.failed(error));
      return;
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i] as { ok: true; value: unknown } | { ok: false; error: unknown };
      this.call(() => (outcome.ok ? job.done(outcome.value) : job.failed(outcome.error)));
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
