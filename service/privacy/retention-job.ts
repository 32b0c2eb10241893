// Message content retention: once at start and then periodically, clears what recipients were sent and what they
// answered after each account's retention period, keeping statuses and counts. Never touches suppressions.
import type { Clock } from '../campaigns/clock';
import type { Logger } from '../campaigns/ports';
import type { Compactor } from './compactor';
import type { RetentionStore } from './privacy-ports';

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface RetentionJobOptions {
  /** Time between passes. */
  intervalMs: number;
  /** Rows looked at per step; the job yields to the event loop between steps so sends are not held up. */
  batchRows: number;
  /**
   * Asked before each scheduled pass: with several instances only the one that takes the retention lease runs it,
   * so a pass (and the compaction after it) runs once per interval across them.
   */
  isLeader: () => Promise<boolean>;
}

export const DEFAULT_RETENTION_OPTIONS: RetentionJobOptions = {
  intervalMs: 60 * 60 * 1000,
  batchRows: 2000,
  isLeader: async () => true,
};

export interface RetentionPassResult {
  purgedMessages: number;
  deletedWebhooks: number;
  /** The database files were rebuilt after the pass (see Compactor). */
  isCompacted: boolean;
}

/**
 * What "older than the retention period" means, per message: its last activity, the later of its last status change
 * and its latest reply, is more than `retentionDays` days before now. A row that is still queued or sending is kept
 * whole, however old, because it may still be sent; a cancelled campaign lets its rows age out from the cancel.
 */
export function retentionCutoffMs(nowMs: number, retentionDays: number): number {
  return nowMs - retentionDays * DAY_MS;
}

export class RetentionJob {
  private readonly options: RetentionJobOptions;
  private cancelTimer: (() => void) | null = null;
  private running: Promise<RetentionPassResult> | null = null;
  private isStopped = true;
  /** Set by stop(): a pass in progress ends at its next step. */
  private isClosing = false;
  /** Ends the wait between two steps of a pass at once (stop must not wait for a timer). */
  private resumeNow: (() => void) | null = null;

  constructor(
    private readonly store: RetentionStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly compactor: Pick<Compactor, 'afterRetentionPass'> | null,
    options: Partial<RetentionJobOptions> = {},
  ) {
    this.options = { ...DEFAULT_RETENTION_OPTIONS, ...options };
  }

  /** Runs a pass now, then one every `intervalMs` until stopped. */
  start(): void {
    this.isStopped = false;
    this.isClosing = false;
    this.tick();
  }

  /** Stops scheduling passes and waits for the one in progress (it finishes its current step and ends). */
  async stop(): Promise<void> {
    this.isStopped = true;
    this.isClosing = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.resumeNow?.();
    await this.running?.catch(() => undefined);
  }

  /**
   * One pass over every account. Safe to call at any time; a call while a pass is running joins that pass.
   * Resolves with what it removed.
   */
  runOnce(): Promise<RetentionPassResult> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private tick(): void {
    if (this.isStopped) return;
    this.options.isLeader().then((isLeader) => (isLeader ? this.runOnce() : null)).then(
      (result) => {
        if (result && (result.purgedMessages > 0 || result.deletedWebhooks > 0 || result.isCompacted)) {
          this.logger.info({ ...result }, 'retention pass');
        }
      },
      (error: unknown) => this.logger.error({ error: String(error) }, 'retention pass failed'),
    ).finally(() => {
      if (!this.isStopped) this.cancelTimer = this.clock.setTimer(this.options.intervalMs, () => this.tick());
    });
  }

  private async pass(): Promise<RetentionPassResult> {
    const result: RetentionPassResult = { purgedMessages: 0, deletedWebhooks: await this.store.deleteOrphanWebhooks(), isCompacted: false };
    accounts: for (const { accountId, retentionDays } of await this.store.listRetentionPolicies()) {
      // The cutoff is fixed per account for the whole pass; rows that age meanwhile wait for the next pass.
      const cutoffMs = retentionCutoffMs(this.clock.now(), retentionDays);
      for (;;) {
        const step = await this.store.purgeMessageContent(accountId, cutoffMs, this.options.batchRows);
        result.purgedMessages += step.purged;
        if (step.isDone) break;
        await this.yieldTurn();
        if (this.isClosing) break accounts;
      }
      result.deletedWebhooks += await this.store.deleteStaleWebhooks(accountId, cutoffMs);
    }
    // Every pass, not only after a purge: bytes deleted since the last one (applied webhook bodies, erasures whose
    // own flush met a reader) leave the write-ahead log within one interval.
    await this.store.flushDeleted();
    if (!this.isClosing && this.compactor) {
      result.isCompacted = await this.compactor.afterRetentionPass(result.purgedMessages > 0 || result.deletedWebhooks > 0);
    }
    return result;
  }

  private yieldTurn(): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.clock.setTimer(0, () => {
        this.resumeNow = null;
        resolve();
      });
      this.resumeNow = () => {
        cancel();
        this.resumeNow = null;
        resolve();
      };
    });
  }
}
