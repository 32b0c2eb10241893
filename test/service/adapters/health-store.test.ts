// The account health store on both adapters (SqliteHealthStore, PostgresHealthStore), reached as ServiceStore.health:
// latest values move only forward in Meta's time, events are kept once and trimmed to the last 20, the account's
// limits move in the same step, and export and erasure cover it. PostgreSQL runs when the run has a server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../service/adapters/postgres/postgres-store';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { writeAccountExport } from '../../../service/privacy/account-export';
import type { ServiceStore } from '../../../service/service-store';
import { HEALTH_EVENTS_KEPT } from '../../../service/webhooks/account-health';
import { hasPostgres, scratchDatabase } from '../../support/postgres-url';
import { NOW, newAccount, plainCipher } from '../store-contract/store-contract';

function describeHealthStore(name: string, open: () => Promise<{ store: ServiceStore; close(): Promise<void> }>): void {
  describe(`account health store: ${name}`, () => {
    let store: ServiceStore;
    let close: () => Promise<void>;

    beforeEach(async () => {
      ({ store, close } = await open());
      await store.insertAccount(newAccount('a1'));
    });
    afterEach(async () => {
      await close();
    });

    it('is empty until Meta says something', async () => {
      expect(await store.health.getHealth('a1')).toEqual({ quality: null, messagingLimit: null, restriction: null, events: [] });
    });

    it('keeps the latest of each part by Meta time, each event once, and moves the account limits with it', async () => {
      await store.health.recordHealth({
        accountId: 'a1',
        events: [{ key: 'k1', type: 'phone_number_quality_update', detail: 'FLAGGED', atMs: NOW + 2000 }],
        quality: { rating: 'FLAGGED', atMs: NOW + 2000 },
        messagingLimit: { tier: 'TIER_250', dailyLimit: 250, atMs: NOW + 2000 },
        restriction: { value: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', detail: 'r', expiresAtMs: NOW + 9000 }, atMs: NOW + 2000 },
        limits: { dailyLimit: 250, messagesPerSecond: 1000 },
      });
      // Older news, and the same event again: neither changes what is kept.
      await store.health.recordHealth({
        accountId: 'a1',
        events: [{ key: 'k1', type: 'phone_number_quality_update', detail: 'FLAGGED', atMs: NOW + 2000 }],
        quality: { rating: 'UNFLAGGED', atMs: NOW + 1000 },
        restriction: { value: null, atMs: NOW + 1000 },
      });
      const health = await store.health.getHealth('a1');
      expect(health).toEqual({
        quality: { rating: 'FLAGGED', atMs: NOW + 2000 },
        messagingLimit: { tier: 'TIER_250', dailyLimit: 250, atMs: NOW + 2000 },
        restriction: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', detail: 'r', expiresAtMs: NOW + 9000, atMs: NOW + 2000 },
        events: [{ type: 'phone_number_quality_update', detail: 'FLAGGED', atMs: NOW + 2000 }],
      });
      expect(await store.getAccount('a1')).toMatchObject({ dailyLimit: 250, messagesPerSecond: 1000 });

      // Lifted later: the restriction is gone; an unlimited tier is null.
      await store.health.recordHealth({
        accountId: 'a1', events: [],
        restriction: { value: null, atMs: NOW + 3000 },
        messagingLimit: { tier: 'UNLIMITED', dailyLimit: null, atMs: NOW + 3000 },
        limits: { dailyLimit: null },
      });
      expect(await store.health.getHealth('a1')).toMatchObject({ restriction: null, messagingLimit: { tier: 'UNLIMITED', dailyLimit: null } });
      expect((await store.getAccount('a1'))?.dailyLimit).toBeNull();
    });

    it(`keeps the last ${HEALTH_EVENTS_KEPT} events, newest first`, async () => {
      for (let i = 0; i < 25; i++) {
        await store.health.recordHealth({ accountId: 'a1', events: [{ key: `k${i}`, type: 't', detail: `e${i}`, atMs: NOW + i }] });
      }
      const { events } = await store.health.getHealth('a1');
      expect(events).toHaveLength(HEALTH_EVENTS_KEPT);
      expect(events[0]?.detail).toBe('e24');
      expect(events.at(-1)?.detail).toBe('e5');
    });

    it('keeps nothing for an unknown account; the export carries the health and erasure removes it', async () => {
      await store.health.recordHealth({ accountId: 'nobody', events: [{ key: 'k', type: 't', detail: 'd', atMs: NOW }] });
      expect((await store.health.getHealth('nobody')).events).toEqual([]);

      await store.health.recordHealth({
        accountId: 'a1', events: [{ key: 'k', type: 'account_update', detail: 'Account ACCOUNT_VIOLATION', atMs: NOW }],
        restriction: { value: { type: 'SCAM', detail: 'd', expiresAtMs: null }, atMs: NOW },
      });
      const snapshot = await store.privacy.openSnapshot('a1');
      expect(snapshot).not.toBeNull();
      let text = '';
      await writeAccountExport(snapshot!, { write: async (chunk) => { text += chunk; } }, NOW);
      expect(JSON.parse(text).health).toMatchObject({
        restriction: { type: 'SCAM', at: new Date(NOW).toISOString() },
        events: [{ type: 'account_update', detail: 'Account ACCOUNT_VIOLATION' }],
      });

      await store.privacy.deleteAccount('a1');
      await store.insertAccount(newAccount('a1'));
      expect(await store.health.getHealth('a1')).toEqual({ quality: null, messagingLimit: null, restriction: null, events: [] });
    });
  });
}

describeHealthStore('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'health-store-'));
  const store = new SqliteStore(join(dir, 'campaigns.db'), plainCipher);
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

if (hasPostgres) {
  let databases = 0;
  describeHealthStore('PostgreSQL', async () => {
    const store = await PostgresStore.open(await scratchDatabase(`health_store_${process.pid}_${++databases}`), plainCipher);
    return { store, close: () => store.close() };
  });
} else {
  describe('account health store: PostgreSQL', () => {
    it.skip('skipped: PostgreSQL is not installed', () => {});
  });
}
