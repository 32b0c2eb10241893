// Makes the group commit's transactions durable off the event loop. Those commit with `synchronous = NORMAL` (the
// WAL frames are written, not yet synced) and then wait here for an fsync of the WAL on libuv's thread pool. Until
// it completes, nothing acts on them: no send leaves, no webhook is answered. With FULL the same fsync ran inside
// COMMIT, on the event loop: when the disk stalled (100–150 ms seen on this machine's shared disk) every committed
// send waiting for its time, every webhook and every timer stalled with it.
//
// One fsync covers every frame written before it started, so callers that arrive while one runs share the next.
import { close, fsync, open } from 'node:fs';

export type SyncFile = (fd: number) => Promise<void>;

export const fsyncFile: SyncFile = (fd) => new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

const ended = (): void => undefined;

export class WalSync {
  private fd: Promise<number> | null = null;
  /** Commits counted by `written`; the most of them the last completed fsync is known to cover. */
  private writtenCount = 0;
  private syncedCount = 0;
  /** The fsync in flight; it never rejects (its caller gets the failure), so waiters only learn it ended. */
  private running: Promise<void> | null = null;

  constructor(private readonly walPath: string, private readonly syncFile: SyncFile = fsyncFile) {}

  /** A transaction committed without its sync: the next `durable()` waits for one. */
  written(): void {
    this.writtenCount++;
  }

  /** Whether every commit counted so far is known to be on disk. */
  get isDurable(): boolean {
    return this.syncedCount >= this.writtenCount;
  }

  /**
   * Resolves once every commit counted before the call is on disk; rejects when the fsync failed (the disk is
   * failing: the caller treats its writes as not durable, and the next call tries again).
   */
  async durable(): Promise<void> {
    const target = this.writtenCount;
    while (this.syncedCount < target) {
      if (this.running) {
        await this.running;
        continue;
      }
      // Commits counted by now are written: this fsync covers them, and only them.
      const covers = this.writtenCount;
      const run = this.syncOnce().then(() => {
        this.syncedCount = Math.max(this.syncedCount, covers);
      });
      this.running = run.then(ended, ended).then(() => {
        this.running = null;
      });
      await run;
    }
  }

  async close(): Promise<void> {
    await this.running;
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.then((n) => new Promise<void>((resolve) => close(n, () => resolve())), () => undefined);
  }

  private async syncOnce(): Promise<void> {
    // Opened at the first sync, not at start: SQLite creates the WAL with the first write. It is the same file for
    // the life of the connection (a checkpoint restarts or truncates it in place, only the last close deletes it).
    this.fd ??= new Promise<number>((resolve, reject) => open(this.walPath, 'r', (error, fd) => (error ? reject(error) : resolve(fd))));
    let fd: number;
    try {
      fd = await this.fd;
    } catch (error) {
      this.fd = null;
      throw error;
    }
    await this.syncFile(fd);
  }
}
