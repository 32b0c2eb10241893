// AccountErasure's order of work on a real SQLite file with a fake clock: open campaigns are cancelled and the
// sender stopped before anything is deleted, messages go in steps between which the event loop turns, and the
// caches are forgotten in the same turn as the final delete.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Account, Campaign } from '../../../service/campaigns/ports';
import { AccountErasure } from '../../../service/privacy/account-erasure';
import { FakeClock } from '../../fakes/fake-clock';
import { openStoreFixture, type StoreFixture } from './store-fixture';

let fx: StoreFixture;
let clock: FakeClock;
let log: string[];
let account: Account;

function count(table: string): number {
  return (fx.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}

beforeEach(() => {
  fx = openStoreFixture();
  clock = new FakeClock();
  log = [];
  account = fx.addAccount('a1', 30, clock.now());
  fx.addAccount('a2', 30, clock.now());
  fx.addCampaign('a1', 'running', clock.now(), 'running');
  fx.addCampaign('a1', 'done', clock.now(), 'finished');
  fx.addCampaign('a2', 'theirs', clock.now(), 'running');
  for (let i = 0; i < 23; i++) fx.addRow('a1', i % 2 ? 'running' : 'done', `+9198765${40000 + i}`, `P${i}`, clock.now());
  fx.addRow('a2', 'theirs', '+919876540000', 'THEIRS', clock.now());
  fx.store.addSuppression('a1', '+919876540003', 'keyword', clock.now());
  fx.store.addSuppression('a2', '+919876540003', 'keyword', clock.now());
  fx.store.saveWebhook('a1', Buffer.from('{}'), clock.now());
});

afterEach(() => {
  fx.close();
});

function erasure(batchRows: number): AccountErasure {
  return new AccountErasure({
    store: {
      deleteAccountMessages: (id, limit) => {
        log.push('delete-messages');
        return fx.privacy.deleteAccountMessages(id, limit);
      },
      deleteAccount: (id) => {
        log.push('delete-account');
        return fx.privacy.deleteAccount(id);
      },
      deleteContact: (id, to) => fx.privacy.deleteContact(id, to),
      flushDeleted: () => {
        log.push('flush');
        fx.privacy.flushDeleted();
      },
    },
    campaigns: {
      list: (a: Account) => fx.store.listCampaigns(a.id),
      cancel: (_a: Account, id: string) => {
        log.push(`cancel ${id}`);
        fx.store.updateCampaignState(id, 'cancelled', null, clock.now());
        return 'cancelled';
      },
    } as { list(a: Account): Campaign[]; cancel(a: Account, id: string): 'cancelled' },
    engine: {
      forgetAccount: async (id: string) => {
        log.push(`stop sender ${id}`);
      },
    },
    compactor: {
      compactNow: () => {
        log.push('compact');
        return fx.privacy.compact();
      },
    },
    clock,
    forget: [(a) => log.push(`forget ${a.id}`)],
    batchRows,
  });
}

describe('AccountErasure', () => {
  it('cancels open campaigns, stops the sender, deletes in steps, then the account, and forgets it at once', async () => {
    const done = erasure(10).erase(account);
    await clock.advance(0);
    // A webhook body accepted just before the delete and committed just after it is swept a moment later.
    fx.store.saveWebhook('a1', Buffer.from('{"late":true}'), clock.now());
    await clock.advance(100);
    const result = await done;

    expect(result).toEqual({ cancelledCampaigns: 1, campaigns: 2, messages: 23, suppressions: 1, webhooks: 2 });
    expect(log).toEqual([
      'cancel running', 'stop sender a1',
      'delete-messages', 'delete-messages', 'delete-messages',
      'delete-account', 'forget a1', 'flush', 'delete-account', 'compact', 'stop sender a1',
    ]);
    expect(fx.store.getAccount('a1')).toBeNull();
    expect(fx.store.getAccountSecrets('a1')).toBeNull();
    expect(fx.store.listCampaigns('a1')).toEqual([]);
    expect(count('messages')).toBe(1);
    expect(count('webhook_inbox')).toBe(0);
    expect(fx.store.listSuppressions('a1')).toEqual([]);
    // The other account keeps everything, its suppression of the same number included.
    expect(fx.store.getAccount('a2')).not.toBeNull();
    expect(fx.store.isSuppressed('a2', '+919876540003')).toBe(true);
    expect(fx.store.countByStatus('theirs').queued).toBe(1);
  });

  it('erases nothing more, and does not fail, when called again', async () => {
    await Promise.all([erasure(100).erase(account), clock.advance(100)]);
    const [again] = await Promise.all([erasure(100).erase(account), clock.advance(100)]);
    expect(again).toEqual({ cancelledCampaigns: 0, campaigns: 0, messages: 0, suppressions: 0, webhooks: 0 });
  });
});
