// Makes the group commit's transactions durable off the event loop. Those commit with `synchronous = NORMAL` (the
// WAL frames are written, not yet synced) and then wait here for an fsync of the WAL on libuv's thread pool. Until
// it completes, nothing acts on them: no send leaves, no webhook is answered. With FULL the same fsync ran inside
// COMMIT, on the event loop: when the disk stalled (100–150 ms seen on this machine's shared disk) every committed
// send waiting for its time, every webhook and every timer stalled with it.
//
// One fsync covers every frame written before it started, so callers that arrive while one runs share the next.
//
// A failed fsync is final. The transactions before it are committed (unlike a failed COMMIT under FULL), and Linux
// may have marked their unwritten pages clean, so a later fsync could return 0 without them on disk. From then on
// nothing is known durable: every call rejects with the first failure, and the owner stops (PostgreSQL panics alike).
import { close, fsync, open } from 'node:fs';

export type SyncFile = (fd: number) => Promise<void>;

export const fsyncFile: SyncFile = (fd) => new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

const ended = (): void => undefined;

export class WalSyncFailed extends Error {
  constructor(walPath: string, override readonly cause: unknown) {
    super(`the WAL ${walPath} could not be synced to disk (${String(cause)}): nothing written since the last sync is known durable; restart to recover from what is on disk`);
    this.name = 'WalSyncFailed';
  }
}

export class WalSync {
  private fd: Promise<number> | null = null;
  /** Commits counted by `written`; the most of them the last completed fsync is known to cover. */
  private writtenCount = 0;
  private syncedCount = 0;
  /** The fsync in flight; it never rejects (its caller gets the failure), so waiters only learn it ended. */
  private running: Promise<void> | null = null;
  private failure: WalSyncFailed | null = null;
  private isClosed = false;

  constructor(
    private readonly walPath: string,
    private readonly syncFile: SyncFile = fsyncFile,
    /** Told once, at the first failed fsync. */
    private readonly onFailure: (error: WalSyncFailed) => void = ended,
  ) {}

  /** A transaction committed without its sync: the next `durable()` waits for one. */
  written(): void {
    this.writtenCount++;
  }

  /** The first failed fsync, if one failed: from then on nothing may be written that waits for a sync. */
  get failed(): WalSyncFailed | null {
    return this.failure;
  }

  /** Resolves once every commit counted before the call is on disk; rejects for good once an fsync failed. */
  async durable(): Promise<void> {
    const target = this.writtenCount;
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.syncedCount >= target) return;
      if (this.isClosed) throw new Error(`${this.walPath}: closed with commits not yet synced`);
      if (this.running) {
        await this.running;
        continue;
      }
      // Commits counted by now are written: this fsync covers them, and only them.
      const covers = this.writtenCount;
      const run = this.syncOnce().then(
        () => {
          this.syncedCount = Math.max(this.syncedCount, covers);
        },
        (error: unknown) => {
          if (!this.failure) {
            this.failure = new WalSyncFailed(this.walPath, error);
            this.onFailure(this.failure);
          }
          throw this.failure;
        },
      );
      this.running = run.then(ended, ended).then(() => {
        this.running = null;
      });
      await run;
    }
  }

  /** After the fsync in flight; later calls to `durable()` with commits to sync reject. */
  async close(): Promise<void> {
    this.isClosed = true;
    while (this.running) await this.running;
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.then((n) => new Promise<void>((resolve) => close(n, () => resolve())), () => undefined);
  }

  private async syncOnce(): Promise<void> {
    // Opened at the first sync, not at start: SQLite creates the WAL with the first write. It is the same file for
    // the life of the connection (a checkpoint restarts or truncates it in place, only the last close deletes it).
    this.fd ??= new Promise<number>((resolve, reject) => open(this.walPath, 'r+', (error, fd) => (error ? reject(error) : resolve(fd))));
    await this.syncFile(await this.fd);
  }
}
