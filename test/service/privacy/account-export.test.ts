// The export writer pulls rows only as fast as its reader takes the text (a million messages never sit in memory),
// and the SQLite snapshot is one consistent moment read on its own connection, so writes go on while it streams.
import { afterEach, describe, expect, it } from 'vitest';
import type { Account } from '../../../service/campaigns/ports';
import { writeAccountExport, type ExportSink } from '../../../service/privacy/account-export';
import type { AccountSnapshot, ExportedMessage } from '../../../service/privacy/privacy-ports';
import { openStoreFixture, type StoreFixture } from './store-fixture';

const NOW = Date.UTC(2025, 0, 1);
const ACCOUNT: Account = {
  id: 'a1', name: 'Acme', isSandbox: true, phoneNumberId: 'p1', wabaId: 'w1', messagesPerSecond: 80, dailyLimit: null,
  defaultCountry: 'IN', retentionDays: 30, optOutWords: [], marketingMessagesApi: false, createdAt: NOW,
};

function message(i: number): ExportedMessage {
  return {
    campaignId: 'c1', key: `k${i}`, to: `+9198765${String(40000 + i).padStart(5, '0')}`, status: 'delivered',
    params: { 1: `Name ${i}` }, headerMedia: null, wamid: `wamid.${i}`, error: null, attempts: 1, sentAt: NOW,
    reply: null, updatedAt: NOW,
  };
}

async function* rowsOf<T>(rows: readonly T[]): AsyncGenerator<T> {
  yield* rows;
}

/** Drains an async iterable (a small one: the snapshot tests' tables). */
async function all<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

/** A snapshot of `count` generated messages that counts how many were pulled and whether it was closed. */
function countingSnapshot(count: number) {
  const state = { pulled: 0, closed: 0, returned: false };
  const snapshot: AccountSnapshot = {
    account: ACCOUNT,
    campaigns: () => rowsOf([]),
    async *messages() {
      try {
        for (let i = 0; i < count; i++) {
          state.pulled++;
          yield message(i);
        }
      } finally {
        if (state.pulled < count) state.returned = true;
      }
    },
    suppressions: () => rowsOf([{ to: '+919876540003', userId: null, source: 'keyword', createdAt: NOW }]),
    recipientIds: () => rowsOf([]),
    pendingWebhooks: () => rowsOf([]),
    close: async () => {
      state.closed++;
    },
  };
  return { snapshot, state };
}

/** A sink whose writes stay pending until `release` is called, like a socket whose buffer is full. */
function gatedSink() {
  const chunks: string[] = [];
  let release: (() => void) | null = null;
  const sink: ExportSink = {
    write: (chunk) => {
      chunks.push(chunk);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  };
  return {
    sink, chunks,
    releaseOne: () => {
      const r = release;
      release = null;
      r?.();
    },
    get isWaiting() {
      return release !== null;
    },
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('writeAccountExport', () => {
  it('reads rows only as fast as the sink takes the text', async () => {
    const { snapshot, state } = countingSnapshot(100_000);
    const gate = gatedSink();
    const done = writeAccountExport(snapshot, gate.sink, NOW, { chunkChars: 16 * 1024 });
    await turn();
    // One chunk is out and unread: the writer waits, having pulled only the rows of that chunk.
    expect(gate.isWaiting).toBe(true);
    const pulledAtFirstWait = state.pulled;
    expect(pulledAtFirstWait).toBeGreaterThan(0);
    expect(pulledAtFirstWait).toBeLessThan(200);
    await turn();
    expect(state.pulled).toBe(pulledAtFirstWait);

    while (gate.isWaiting || state.pulled < 100_000) {
      gate.releaseOne();
      await turn();
    }
    gate.releaseOne();
    await done;
    expect(Math.max(...gate.chunks.map((c) => c.length))).toBeLessThan(17 * 1024);
    const doc = JSON.parse(gate.chunks.join(''));
    expect(doc.messages).toHaveLength(100_000);
    expect(doc.messages[99_999]).toMatchObject({ key: 'k99999', params: { 1: 'Name 99999' }, sentAt: new Date(NOW).toISOString() });
    expect(doc.account).toEqual({
      id: 'a1', name: 'Acme', sandbox: true, phoneNumberId: 'p1', wabaId: 'w1', messagesPerSecond: 80, dailyLimit: null,
      defaultCountry: 'IN', retentionDays: 30, optOutWords: [], createdAt: new Date(NOW).toISOString(),
    });
    expect(doc.suppressions).toEqual([{ to: '+919876540003', source: 'keyword', createdAt: new Date(NOW).toISOString() }]);
    expect(state.closed).toBe(1);
  });

  it('stops reading and closes the snapshot when the reader goes away', async () => {
    const { snapshot, state } = countingSnapshot(100_000);
    let writes = 0;
    const sink: ExportSink = {
      write: async () => {
        if (++writes === 3) throw new Error('client gone');
      },
    };
    await expect(writeAccountExport(snapshot, sink, NOW, { chunkChars: 4096 })).rejects.toThrow('client gone');
    expect(state.pulled).toBeLessThan(200);
    expect(state.returned).toBe(true);
    expect(state.closed).toBe(1);
  });

  it('passes on the sink\'s rejection even when closing the snapshot fails too', async () => {
    const { snapshot, state } = countingSnapshot(10_000);
    const failing: AccountSnapshot = {
      ...snapshot,
      messages: () => snapshot.messages(),
      close: async () => {
        await snapshot.close();
        throw new Error('close failed');
      },
    };
    const sink: ExportSink = {
      write: async () => {
        throw new Error('client gone');
      },
    };
    await expect(writeAccountExport(failing, sink, NOW, { chunkChars: 4096 })).rejects.toThrow('client gone');
    expect(state.returned).toBe(true);
    expect(state.closed).toBe(1);
  });
});

describe('SqlitePrivacyStore snapshots', () => {
  let fx: StoreFixture;

  afterEach(async () => {
    await fx?.close();
  });

  it('stream one consistent moment while the main connection keeps writing', async () => {
    fx = openStoreFixture();
    await fx.addAccount('a1', 30, NOW);
    await fx.addAccount('a2', 30, NOW);
    await fx.addCampaign('a1', 'c1', NOW);
    await fx.addCampaign('a2', 'c2', NOW);
    const rowsToAdd = Array.from({ length: 3000 }, (_, i) => ({
      key: `k${i}`, to: `+9198765${40000 + i}`, params: { 1: `P${i}` }, headerMedia: null,
    }));
    expect(await fx.store.addMessages('c1', 'a1', rowsToAdd, ['running'], NOW)).toEqual(rowsToAdd.map(() => 'inserted'));
    await fx.addRow('a2', 'c2', '+919876599999', 'OTHER', NOW);
    await fx.saveWebhook('a1', '{"entry":[]}', NOW);

    const snapshot = await fx.privacy.openSnapshot('a1');
    if (!snapshot) throw new Error('no snapshot');
    expect(snapshot.account).toMatchObject({ id: 'a1', name: 'Account a1', retentionDays: 30 });
    expect((await all(snapshot.campaigns())).map((c) => c.id)).toEqual(['c1']);
    const rows = snapshot.messages()[Symbol.asyncIterator]();
    const firstTen: ExportedMessage[] = [];
    for (let i = 0; i < 10; i++) firstTen.push((await rows.next()).value as ExportedMessage);
    expect(firstTen[0]).toMatchObject({ campaignId: 'c1', params: { 1: expect.any(String) }, status: 'queued' });

    // Mid-stream, the service's own connection writes as usual.
    await fx.addRow('a1', 'c1', '+919876549999', 'WRITTEN-DURING-EXPORT', NOW + 1);
    await fx.store.addSuppression('a1', '+919876540001', 'api', NOW + 1);
    // Row 1000 (key k999) comes last in key order: its send is after the snapshot, so the export shows it queued.
    await fx.send(1000, NOW + 1);

    let rest = 0;
    for (let next = await rows.next(); !next.done; next = await rows.next()) {
      rest++;
      expect((next.value as ExportedMessage).params).not.toEqual({ 1: 'WRITTEN-DURING-EXPORT' });
      expect((next.value as ExportedMessage).status).toBe('queued');
    }
    expect(10 + rest).toBe(3000);
    expect(await all(snapshot.suppressions())).toEqual([]);
    expect(await all(snapshot.pendingWebhooks())).toEqual([{ receivedAt: NOW, body: '{"entry":[]}' }]);
    await snapshot.close();
    await snapshot.close();
    // The reader is gone: a flush empties the log.
    await fx.privacy.flushDeleted();
    expect(fx.walBytes()).toBe(0);

    expect(await fx.privacy.openSnapshot('nobody')).toBeNull();
  });

  it('close ends iterations left half-way, so the read connection can close', async () => {
    fx = openStoreFixture();
    await fx.addAccount('a1', 30, NOW);
    await fx.addCampaign('a1', 'c1', NOW);
    for (let i = 0; i < 5; i++) await fx.addRow('a1', 'c1', `+9198765${40000 + i}`, `P${i}`, NOW);
    const snapshot = await fx.privacy.openSnapshot('a1');
    if (!snapshot) throw new Error('no snapshot');
    const rows = snapshot.messages()[Symbol.asyncIterator]();
    await rows.next();
    // Never started: closing must not open its statement either.
    const campaigns = snapshot.campaigns()[Symbol.asyncIterator]();
    // Called twice at once: both wait for the one closing.
    await Promise.all([snapshot.close(), snapshot.close()]);
    expect((await rows.next()).done).toBe(true);
    expect((await campaigns.next()).done).toBe(true);
    // The reader's snapshot is released: a checkpoint can empty the log.
    await fx.privacy.flushDeleted();
    expect(fx.walBytes()).toBe(0);
  });
});
