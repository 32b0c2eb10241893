// Why erasure compacts: after a page split, stale copies of deleted rows can survive in page slack even with
// secure_delete; a compaction removes them. And when it cannot run (an export is reading), it stays due.
import { afterEach, describe, expect, it } from 'vitest';
import { Compactor } from '../../../service/privacy/compactor';
import { FakeClock } from '../../fakes/fake-clock';
import { openStoreFixture, type StoreFixture } from './store-fixture';

const DAY_MS = 24 * 60 * 60 * 1000;
let fx: StoreFixture;

afterEach(() => {
  fx?.close();
});

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('SqlitePrivacyStore.compact', () => {
  it('leaves no stale copy of an erased account that deletes alone left behind', () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    fx.addAccount('gone', 30, clock.now());
    fx.addAccount('kept', 30, clock.now());
    fx.addCampaign('gone', 'CAMPAIGN-GONE-XYZ', clock.now());
    fx.addCampaign('kept', 'campaign-kept', clock.now());
    // Interleaved rows of both accounts whose statuses change, so pages split and merge as in a real run.
    const ids: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const isGone = i % 3 === 0;
      ids.push(fx.addRow(isGone ? 'gone' : 'kept', isGone ? 'CAMPAIGN-GONE-XYZ' : 'campaign-kept',
        `+9198765${String(i).padStart(5, '0')}`, `${isGone ? 'GONE' : 'kept'}-param-${i}`, clock.now()));
      if (i % 2 === 0) fx.send(ids[Math.floor(i / 2)] as number, clock.now());
      // Replies of varying length grow rows in place, moving cells between pages.
      const earlier = ids[(i * 7919) % ids.length] as number;
      fx.store.setReply(earlier, 'r'.repeat((i * 31) % 90), clock.now(), clock.now());
    }
    fx.privacy.deleteAccount('gone');
    expect(fx.privacy.flushDeleted()).toBe(true);
    const afterDelete = fx.rawFiles();

    expect(fx.privacy.compact()).toBe(true);
    const afterCompact = fx.rawFiles();
    expect(occurrences(afterCompact, 'CAMPAIGN-GONE-XYZ')).toBe(0);
    expect(occurrences(afterCompact, 'GONE-param-')).toBe(0);
    expect(occurrences(afterCompact, 'kept-param-3998')).toBe(1);
    expect(fx.store.countByStatus('campaign-kept').queued + fx.store.countByStatus('campaign-kept').sent).toBe(2666);
    // The deletes alone (secure_delete on, log truncated) left stale copies in page slack: compaction removed them.
    // Should this ever fail, SQLite clears page slack itself and erasure might no longer need to compact.
    expect(occurrences(afterDelete, 'CAMPAIGN-GONE-XYZ') + occurrences(afterDelete, 'GONE-param-')).toBeGreaterThan(0);
  });
});

describe('Compactor', () => {
  it('stays due while an export holds the file, and compacts at the next retention pass', () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    fx.addAccount('a1', 30, clock.now());
    const compactor = new Compactor(fx.privacy, clock, { afterPurgeEveryMs: DAY_MS });
    const snapshot = fx.privacy.openSnapshot('a1');
    expect(compactor.compactNow()).toBe(false);
    expect(compactor.isCompactionDue).toBe(true);
    snapshot?.close();
    expect(compactor.afterRetentionPass(false)).toBe(true);
    expect(compactor.isCompactionDue).toBe(false);
  });

  it('compacts after purges at most once per interval, and at once when an erasure asks', async () => {
    fx = openStoreFixture();
    const clock = new FakeClock();
    let compactions = 0;
    const compactor = new Compactor({ compact: () => ++compactions > 0 }, clock, { afterPurgeEveryMs: DAY_MS });
    expect(compactor.afterRetentionPass(false)).toBe(false);
    expect(compactor.afterRetentionPass(true)).toBe(true);
    await clock.advance(DAY_MS - 1);
    expect(compactor.afterRetentionPass(true)).toBe(false);
    compactor.request();
    expect(compactor.afterRetentionPass(false)).toBe(true);
    await clock.advance(DAY_MS);
    expect(compactor.afterRetentionPass(true)).toBe(true);
    expect(compactions).toBe(3);
  });
});
