// AccountErasure's order of work on a real SQLite file with a fake clock: open campaigns are cancelled and the
// sender stopped before anything is deleted, messages go in steps between which the event loop turns, and the
// caches are forgotten as soon as the final delete is done (and again after the second sweep).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertTransition } from '../../../service/campaigns/campaign';
import type { Account, Campaign } from '../../../service/campaigns/ports';
import { AppError } from '../../../service/errors';
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

const OPEN_STATES = ['draft', 'scheduled', 'running', 'paused'] as const;

beforeEach(async () => {
  fx = openStoreFixture();
  clock = new FakeClock();
  log = [];
  account = await fx.addAccount('a1', 30, clock.now());
  await fx.addAccount('a2', 30, clock.now());
  await fx.addCampaign('a1', 'running', clock.now(), 'running');
  await fx.addCampaign('a1', 'done', clock.now(), 'running');
  await fx.addCampaign('a2', 'theirs', clock.now(), 'running');
  for (let i = 0; i < 23; i++) await fx.addRow('a1', i % 2 ? 'running' : 'done', `+9198765${40000 + i}`, `P${i}`, clock.now());
  // 'done' took its rows while open and has finished since.
  expect(await fx.store.transitionCampaign({ campaignId: 'done', from: ['running'], to: 'finished', reason: null, nowMs: clock.now() }))
    .toBe(true);
  await fx.addRow('a2', 'theirs', '+919876540000', 'THEIRS', clock.now());
  await fx.store.addSuppression('a1', '+919876540003', 'keyword', clock.now());
  await fx.store.addSuppression('a2', '+919876540003', 'keyword', clock.now());
  await fx.saveWebhook('a1', '{}', clock.now());
});

afterEach(async () => {
  await fx.close();
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
        return fx.privacy.flushDeleted();
      },
    },
    campaigns: {
      list: (a: Account) => fx.store.listCampaigns(a.id),
      cancel: async (_a: Account, id: string) => {
        log.push(`cancel ${id}`);
        await fx.store.transitionCampaign({ campaignId: id, from: OPEN_STATES, to: 'cancelled', reason: null, nowMs: clock.now() });
        return 'cancelled';
      },
    } satisfies { list(a: Account): Promise<Campaign[]>; cancel(a: Account, id: string): Promise<'cancelled'> },
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
    await fx.saveWebhook('a1', '{"late":true}', clock.now());
    await clock.advance(100);
    const result = await done;

    expect(result).toEqual({ cancelledCampaigns: 1, campaigns: 2, messages: 23, suppressions: 1, webhooks: 2 });
    expect(log).toEqual([
      'cancel running', 'stop sender a1',
      'delete-messages', 'delete-messages', 'delete-messages',
      'delete-account', 'forget a1', 'flush', 'delete-account', 'forget a1', 'compact', 'stop sender a1',
    ]);
    expect(await fx.store.getAccount('a1')).toBeNull();
    expect(await fx.store.getAccountSecrets('a1')).toBeNull();
    expect(await fx.store.listCampaigns('a1')).toEqual([]);
    expect(count('messages')).toBe(1);
    expect(count('webhook_inbox')).toBe(0);
    expect(await fx.store.listSuppressions('a1')).toEqual([]);
    // The other account keeps everything, its suppression of the same number included.
    expect(await fx.store.getAccount('a2')).not.toBeNull();
    expect(await fx.isSuppressed('a2', '+919876540003')).toBe(true);
    expect((await fx.store.countByStatus('theirs')).queued).toBe(1);
  });

  it('erases nothing more, and does not fail, when called again', async () => {
    await Promise.all([erasure(100).erase(account), clock.advance(100)]);
    const [again] = await Promise.all([erasure(100).erase(account), clock.advance(100)]);
    expect(again).toEqual({ cancelledCampaigns: 0, campaigns: 0, messages: 0, suppressions: 0, webhooks: 0 });
  });
});

describe('AccountErasure cancelling open campaigns', () => {
  /** CampaignService.cancel's shape: a compare-and-set from the state it reads, refused when that state moved on. */
  function racingErasure(raceOnce: (id: string) => Promise<void>): { erasure: AccountErasure; cancels: string[] } {
    const cancels: string[] = [];
    const raced = new Set<string>();
    const erasure = new AccountErasure({
      store: fx.privacy,
      campaigns: {
        list: (a: Account) => fx.store.listCampaigns(a.id),
        cancel: async (a: Account, id: string) => {
          const campaign = await fx.store.getCampaign(a.id, id);
          if (!campaign) throw new AppError('not_found', 'No such campaign.');
          const next = assertTransition(campaign.state, 'cancel');
          if (!raced.has(id)) {
            raced.add(id);
            await raceOnce(id);
          }
          const isMoved = await fx.store.transitionCampaign({
            campaignId: id, from: [campaign.state], to: next, reason: null, nowMs: clock.now(), cancelQueuedRows: true,
          });
          if (!isMoved) throw new AppError('campaign_state', 'The campaign changed meanwhile.');
          cancels.push(id);
          return next;
        },
      },
      engine: { forgetAccount: async () => undefined },
      compactor: { compactNow: () => fx.privacy.compact() },
      clock,
      forget: [],
      settleMs: 0,
    });
    return { erasure, cancels };
  }

  it('reads the campaigns again when one changed state between the read and its cancel, and cancels it', async () => {
    // A request pauses the campaign between cancel's read and its compare-and-set: the cancel is refused once.
    const { erasure, cancels } = racingErasure(async (id) => {
      await fx.store.transitionCampaign({ campaignId: id, from: ['running'], to: 'paused', reason: null, nowMs: clock.now() });
    });
    const [result] = await Promise.all([erasure.erase(account), clock.advance(10)]);
    expect(cancels).toEqual(['running']);
    expect(result).toMatchObject({ cancelledCampaigns: 1, campaigns: 2, messages: 23 });
  });

  it('leaves a campaign that ended meanwhile as it is', async () => {
    const { erasure, cancels } = racingErasure(async (id) => {
      await fx.store.transitionCampaign({ campaignId: id, from: ['running'], to: 'finished', reason: null, nowMs: clock.now() });
    });
    const [result] = await Promise.all([erasure.erase(account), clock.advance(10)]);
    expect(cancels).toEqual([]);
    expect(result).toMatchObject({ cancelledCampaigns: 0, campaigns: 2, messages: 23 });
  });

  it('passes on any other failure of a cancel, before anything is deleted', async () => {
    const erasure = new AccountErasure({
      store: fx.privacy,
      campaigns: {
        list: (a: Account) => fx.store.listCampaigns(a.id),
        cancel: async () => {
          throw new Error('store down');
        },
      },
      engine: { forgetAccount: async () => undefined },
      compactor: { compactNow: () => fx.privacy.compact() },
      clock,
      forget: [],
    });
    await expect(erasure.erase(account)).rejects.toThrow('store down');
    expect(await fx.store.getAccount('a1')).not.toBeNull();
    expect(count('messages')).toBe(24);
  });
});
