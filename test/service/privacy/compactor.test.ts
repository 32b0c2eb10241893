// Why erasure compacts: after a page split, stale copies of deleted rows can survive in page slack even with
// secure_delete; a compaction removes them. And when it cannot run (an export is reading), it stays due.
import { afterEach, describe, expect, it } from 'vitest';
import { Compactor } from '../../../service/privacy/compactor';
import { FakeClock } from '../../fakes/fake-clock';
import { openStoreFixture, type StoreFixture } from './store-fixture';

const DAY_MS = 24 * 60 * 60 * 1000;
let fx: StoreFixture;

afterEach(async () => {
  await fx?.close();
});

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('SqlitePrivacyStore.compact', () => {
  it('leaves no stale copy of an erased account that deletes alone left behind', async () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    await fx.addAccount('gone', 30, clock.now());
    await fx.addAccount('kept', 30, clock.now());
    await fx.addCampaign('gone', 'CAMPAIGN-GONE-XYZ', clock.now());
    await fx.addCampaign('kept', 'campaign-kept', clock.now());
    // Replies on any row, sent or not: the webhook path only attaches them to sent rows, so raw SQL (test-only).
    const setReply = fx.store.db.prepare('UPDATE messages SET reply_text = ?, reply_at = ?, updated_at = ? WHERE id = ?');
    // Interleaved rows of both accounts whose statuses change, so pages split and merge as in a real run.
    const ids: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const isGone = i % 3 === 0;
      ids.push(await fx.addRow(isGone ? 'gone' : 'kept', isGone ? 'CAMPAIGN-GONE-XYZ' : 'campaign-kept',
        `+9198765${String(i).padStart(5, '0')}`, `${isGone ? 'GONE' : 'kept'}-param-${i}`, clock.now()));
      if (i % 2 === 0) await fx.send(ids[Math.floor(i / 2)] as number, clock.now());
      // Replies of varying length grow rows in place, moving cells between pages.
      const earlier = ids[(i * 7919) % ids.length] as number;
      setReply.run('r'.repeat((i * 31) % 90), clock.now(), clock.now(), earlier);
    }
    await fx.privacy.deleteAccount('gone');
    await fx.privacy.flushDeleted();
    expect(fx.walBytes()).toBe(0);
    const afterDelete = fx.rawFiles();

    expect(await fx.privacy.compact()).toBe(true);
    const afterCompact = fx.rawFiles();
    expect(occurrences(afterCompact, 'CAMPAIGN-GONE-XYZ')).toBe(0);
    expect(occurrences(afterCompact, 'GONE-param-')).toBe(0);
    expect(occurrences(afterCompact, 'kept-param-3998')).toBe(1);
    const kept = await fx.store.countByStatus('campaign-kept');
    expect(kept.queued + kept.sent).toBe(2666);
    // The deletes alone (secure_delete on, log truncated) left stale copies in page slack: compaction removed them.
    // Should this ever fail, SQLite clears page slack itself and erasure might no longer need to compact.
    expect(occurrences(afterDelete, 'CAMPAIGN-GONE-XYZ') + occurrences(afterDelete, 'GONE-param-')).toBeGreaterThan(0);
  });
});

describe('Compactor', () => {
  it('stays due while an export holds the file, and compacts at the next retention pass', async () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    await fx.addAccount('a1', 30, clock.now());
    const compactor = new Compactor(fx.privacy, clock, { afterPurgeEveryMs: DAY_MS });
    const snapshot = await fx.privacy.openSnapshot('a1');
    expect(snapshot).not.toBeNull();
    expect(await compactor.compactNow()).toBe(false);
    expect(compactor.isCompactionDue).toBe(true);
    await snapshot?.close();
    expect(await compactor.afterRetentionPass(false)).toBe(true);
    expect(compactor.isCompactionDue).toBe(false);
  });

  it('compacts after purges at most once per interval, and at once when an erasure asks', async () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    let compactions = 0;
    const compactor = new Compactor({ compact: async () => ++compactions > 0 }, clock, { afterPurgeEveryMs: DAY_MS });
    expect(await compactor.afterRetentionPass(false)).toBe(false);
    expect(await compactor.afterRetentionPass(true)).toBe(true);
    await clock.advance(DAY_MS - 1);
    expect(await compactor.afterRetentionPass(true)).toBe(false);
    compactor.request();
    expect(await compactor.afterRetentionPass(false)).toBe(true);
    await clock.advance(DAY_MS);
    expect(await compactor.afterRetentionPass(true)).toBe(true);
    expect(compactions).toBe(3);
  });

  it('runs one compaction at a time, and keeps a request made while one runs', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const finishes: ((isDone: boolean) => void)[] = [];
    const compactor = new Compactor({
      compact: () => {
        log.push(`compact ${log.length}`);
        return new Promise<boolean>((resolve) => finishes.push(resolve));
      },
    }, clock, { afterPurgeEveryMs: DAY_MS });
    const first = compactor.compactNow();
    const second = compactor.compactNow();
    await clock.advance(0);
    // The second waits for the first: that one may have begun before the second caller's deletes were committed.
    expect(log).toEqual(['compact 0']);
    compactor.request();
    finishes[0]?.(true);
    expect(await first).toBe(true);
    await clock.advance(0);
    expect(log).toEqual(['compact 0', 'compact 1']);
    // A request made while a compaction runs stays due if that compaction cannot finish...
    finishes[1]?.(false);
    expect(await second).toBe(false);
    expect(compactor.isCompactionDue).toBe(true);
    // ...and also when it does: the request may name deletes the compaction did not see.
    const third = compactor.afterRetentionPass(false);
    await clock.advance(0);
    compactor.request();
    finishes[2]?.(true);
    expect(await third).toBe(true);
    expect(compactor.isCompactionDue).toBe(true);
    // A failing store leaves it due as well, and the error reaches the caller.
    const failing = new Compactor({ compact: async () => { throw new Error('disk full'); } }, clock, { afterPurgeEveryMs: DAY_MS });
    await expect(failing.compactNow()).rejects.toThrow('disk full');
    expect(failing.isCompactionDue).toBe(true);
  });
});
