// The group commit's durability on SQLite: its transactions commit at synchronous = NORMAL and are on disk only once
// WalSync's fsync of the WAL completed, off the event loop. Nothing may act on a write before that: writeBatch
// resolves after the fsync, a fsync started before a commit does not count for it, and a reader of the changes feed
// does not see a change that a power cut could still undo. The fsync here is a fake the test completes by hand.
import { fstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../../service/adapters/sqlite/sqlite-store';
import { WalSync, WalSyncFailed } from '../../../../service/adapters/sqlite/wal-sync';
import { addRows, newAccount, newCampaign, newRow, NOW, plainCipher, takeLease, writeOne } from '../../store-contract/store-contract';

/** An fsync the test finishes: each call waits until `finish` (or `fail`) is called for it, in order. */
function manualSync() {
  const calls: { fd: number; finish: () => void; fail: (error: Error) => void }[] = [];
  let onCall: (() => void) | null = null;
  return {
    calls,
    syncFile: (fd: number) => new Promise<void>((finish, fail) => {
      calls.push({ fd, finish, fail });
      onCall?.();
    }),
    /** Resolves once `count` fsyncs have been asked for. */
    async called(count: number): Promise<void> {
      while (calls.length < count) await new Promise<void>((resolve) => { onCall = resolve; });
      onCall = null;
    },
  };
}

/** Whether the promise has settled by the time pending I/O callbacks and microtasks ran. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function tempFile(name: string): string {
  dir ||= mkdtempSync(join(tmpdir(), 'wal-sync-'));
  const path = join(dir, name);
  writeFileSync(path, '');
  return path;
}

describe('WalSync', () => {
  it('resolves a commit only after an fsync that started after it', async () => {
    const sync = manualSync();
    const wal = new WalSync(tempFile('a-wal'), sync.syncFile);
    wal.written();
    const first = wal.durable();
    await sync.called(1);
    // A second commit lands while the first fsync runs: that fsync may not have covered it.
    wal.written();
    const second = wal.durable();
    expect(await isSettled(first)).toBe(false);
    sync.calls[0]!.finish();
    expect(await isSettled(first)).toBe(true);
    expect(await isSettled(second)).toBe(false);
    await sync.called(2);
    sync.calls[1]!.finish();
    await second;
    // Everything written is synced: a further call needs no fsync.
    await wal.durable();
    expect(sync.calls).toHaveLength(2);
    await wal.close();
  });

  it('covers every commit written before it with one fsync', async () => {
    const sync = manualSync();
    const wal = new WalSync(tempFile('b-wal'), sync.syncFile);
    for (let i = 0; i < 5; i++) wal.written();
    const waits = [wal.durable(), wal.durable(), wal.durable()];
    await sync.called(1);
    sync.calls[0]!.finish();
    await Promise.all(waits);
    expect(sync.calls).toHaveLength(1);
    // Nothing new written: nothing more to sync.
    await wal.durable();
    expect(sync.calls).toHaveLength(1);
    await wal.close();
  });

  it('a failed fsync is final: this and every later call reject with it, and no fsync is tried again', async () => {
    const sync = manualSync();
    const failures: WalSyncFailed[] = [];
    const wal = new WalSync(tempFile('c-wal'), sync.syncFile, (error) => failures.push(error));
    wal.written();
    const failing = wal.durable();
    await sync.called(1);
    // A commit written while the failing fsync runs waits for it, and shares its failure.
    wal.written();
    const waiting = wal.durable();
    sync.calls[0]!.fail(new Error('EIO'));
    await expect(failing).rejects.toThrow(/could not be synced.*EIO/);
    await expect(waiting).rejects.toBeInstanceOf(WalSyncFailed);
    // Linux may have dropped the pages the failed fsync did not write: a later fsync saying 0 proves nothing.
    wal.written();
    await expect(wal.durable()).rejects.toBe(failures[0]);
    expect(sync.calls).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(wal.failed).toBe(failures[0]);
    await wal.close();
  });

  it('rejects when the WAL file cannot be opened', async () => {
    const wal = new WalSync(join(tmpdir(), `absent-${process.pid}-${Date.now()}`, 'x-wal'), manualSync().syncFile);
    wal.written();
    await expect(wal.durable()).rejects.toThrow(/ENOENT/);
  });

  it('after close, waits for the fsync in flight and refuses commits not yet synced', async () => {
    const sync = manualSync();
    const wal = new WalSync(tempFile('d-wal'), sync.syncFile);
    wal.written();
    const first = wal.durable();
    await sync.called(1);
    const closed = wal.close();
    expect(await isSettled(closed)).toBe(false);
    sync.calls[0]!.finish();
    await first;
    await closed;
    wal.written();
    await expect(wal.durable()).rejects.toThrow(/closed/);
    expect(sync.calls).toHaveLength(1);
  });
});

describe('SqliteStore group commit on a file', () => {
  it('commits the batch before the fsync and resolves writeBatch only after it', async () => {
    const sync = manualSync();
    const path = tempFile('campaigns.db');
    const store = new SqliteStore(path, plainCipher, Date.now, { file: sync.syncFile });
    // The level each top-level transaction starts at (a spy on the connection's transaction wrapper): the group
    // commit's must be NORMAL (1), or SQLite would fsync inside COMMIT, on the event loop, as before.
    const levels: unknown[] = [];
    const transaction = store.db.transaction.bind(store.db);
    store.db.transaction = ((fn: (...args: unknown[]) => unknown) => {
      const wrapped = transaction(fn);
      return Object.assign((...args: unknown[]) => {
        if (!store.db.inTransaction) levels.push(store.db.pragma('synchronous', { simple: true }));
        return wrapped(...args);
      }, wrapped);
    }) as typeof store.db.transaction;
    const saved = writeOne(store, { kind: 'save_webhook', accountId: 'acct', body: Buffer.from('{"a":1}'), nowMs: NOW });
    await sync.called(1);
    // The fsync runs after COMMIT: another connection already reads the body, and the fd is the WAL's.
    expect(fstatSync(sync.calls[0]!.fd).ino).toBe(statSync(`${path}-wal`).ino);
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT COUNT(*) AS n FROM webhook_inbox').get()).toEqual({ n: 1 });
    other.close();
    // Only the group commit's own transaction ran at NORMAL: the connection is back at FULL for everything else.
    expect(levels).toEqual([1]);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(await isSettled(saved)).toBe(false);
    sync.calls[0]!.finish();
    expect(await saved).toBeGreaterThan(0);
    await store.close();
  });

  it('holds a changes-feed read back until the change it returns is on disk', async () => {
    const sync = manualSync();
    const store = new SqliteStore(tempFile('feed.db'), plainCipher, Date.now, { file: sync.syncFile });
    await store.insertAccount(newAccount('acct'));
    const campaign = newCampaign('acct', 'c1');
    await store.insertCampaign(campaign);
    const ids = await addRows(store, 'acct', 'c1', [newRow('+15550100001')]);
    const fence = await takeLease(store, 'acct');
    const claim = writeOne(store, { kind: 'claim', fence, ids: [...ids.values()], nowMs: NOW });
    await sync.called(1);
    // Both readers of the feed: the API's and the sheet write-back's.
    const read = store.listMessagesChangedAfter('c1', 0, 10);
    const sheetRead = store.listChanges('c1', 0, 10);
    expect(await isSettled(read)).toBe(false);
    expect(await isSettled(sheetRead)).toBe(false);
    sync.calls[0]!.finish();
    await claim;
    expect((await read).map((m) => m.status)).toEqual(['sending']);
    expect((await sheetRead).map((m) => m.status)).toEqual(['sending']);
    // With nothing left to sync, a read answers at once.
    expect(await isSettled(store.listMessagesChangedAfter('c1', 0, 10))).toBe(true);
    await store.close();
  });

  it('after a failed fsync refuses every group commit before it runs, and says so once', async () => {
    const sync = manualSync();
    const failures: WalSyncFailed[] = [];
    const path = tempFile('failing.db');
    const store = new SqliteStore(path, plainCipher, Date.now, { file: sync.syncFile, onFailure: (error) => failures.push(error) });
    const save = (text: string) => writeOne(store, { kind: 'save_webhook', accountId: 'acct', body: Buffer.from(text), nowMs: NOW });
    const first = save('{"n":1}');
    await sync.called(1);
    sync.calls[0]!.fail(new Error('EIO'));
    await expect(first).rejects.toBeInstanceOf(WalSyncFailed);
    await expect(save('{"n":2}')).rejects.toBe(failures[0]);
    expect(failures).toHaveLength(1);
    // The first batch's transaction had committed; the second never ran.
    const other = new Database(path, { readonly: true });
    expect(other.prepare('SELECT body FROM webhook_inbox').all().map((r) => String((r as { body: Buffer }).body))).toEqual(['{"n":1}']);
    other.close();
    await store.close();
  });
});
