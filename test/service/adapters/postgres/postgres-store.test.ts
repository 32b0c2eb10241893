// PostgresStore's PostgreSQL-specific behaviour, on a real server with several pools standing for several service
// instances: migrations racing, the lease fence, claims racing, the changes feed under concurrent writers, a batch
// whose connection dies, SKIP LOCKED inbox claims, the export's snapshot, and erasure leaving nothing behind.
// The assertions every store must pass (SQLite and PostgreSQL alike) belong to the shared contract suite instead.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, MIGRATIONS } from '../../../../service/adapters/postgres/migrations';
import { checkFence } from '../../../../service/adapters/postgres/postgres-locks';
import { createPool } from '../../../../service/adapters/postgres/postgres-sql';
import { PostgresStore } from '../../../../service/adapters/postgres/postgres-store';
import type { MessageStatus } from '../../../../service/campaigns/message-status';
import {
  LeaseLostError, type Account, type BatchItemResult, type BatchWrite, type Campaign, type SenderFence,
} from '../../../../service/campaigns/ports';
import type { TemplateDefinition } from '../../../../service/campaigns/template';
import { seededRandom } from '../../../fakes/seeded-random';
import { hasPostgres, scratchDatabase } from '../../../support/postgres-url';

const plainCipher = { encrypt: (s: string) => `sealed:${s}`, decrypt: (s: string) => s.replace(/^sealed:/, '') };
const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}!', footerText: null, buttons: [],
  parameters: [{ key: '1', component: 'body', example: 'Ann' }],
};

function account(id: string, phoneNumberId = `pn-${id}`): Account {
  return {
    id, name: id, isSandbox: false, phoneNumberId, wabaId: `waba-${id}`, messagesPerSecond: 80, dailyLimit: null,
    defaultCountry: null, retentionDays: 30, optOutWords: [], marketingMessagesApi: false, createdAt: 0,
  };
}

function campaign(id: string, accountId: string, state: Campaign['state'] = 'running'): Campaign {
  return {
    id, accountId, name: id, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
    sendAt: null, defaultCountry: null, sheet: null, state, stateReason: null, createdAt: 0, startedAt: 0, finishedAt: null,
  };
}

async function seedAccount(
  store: PostgresStore, accountId: string, campaignId: string, rows: number, phonePrefix = '+1555',
): Promise<number[]> {
  await store.insertAccount({
    account: account(accountId), secrets: { accessToken: 'token', appSecret: 'secret', verifyToken: 'verify' },
    apiKeyHash: `hash-${accountId}`,
  });
  await store.insertCampaign(campaign(campaignId, accountId));
  if (rows > 0) {
    const added = await store.addMessages(campaignId, accountId, Array.from({ length: rows }, (_, i) => ({
      key: `k${i}`, to: `${phonePrefix}${String(1_000_000 + i)}`, params: { 1: `p${i}` }, headerMedia: null,
    })), ['running'], 1);
    expect(added?.every((r) => r === 'inserted')).toBe(true);
  }
  return (await store.loadQueued(campaignId, 0, rows)).map((m) => m.id);
}

function valueOf<T>(result: BatchItemResult | undefined): T {
  if (!result?.ok) throw (result as { error: unknown } | undefined)?.error ?? new Error('no result');
  return result.value as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(hasPostgres)('PostgresStore on PostgreSQL', () => {
  let url: string;
  /** Raw access for what the ports do not show: row counts, locks, backends. */
  let admin: pg.Pool;
  const stores: PostgresStore[] = [];
  const open = async (): Promise<PostgresStore> => {
    const store = await PostgresStore.open(url, plainCipher, { poolSize: 4 });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    url = await scratchDatabase('postgres_store_test');
    admin = new pg.Pool({ connectionString: url, max: 3 });
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await admin?.end();
  });

  const count = async (text: string, params: unknown[] = []): Promise<number> =>
    Number((await admin.query(text, params)).rows[0].n);

  it('migrates once when instances start together on a fresh database', async () => {
    const fresh = await scratchDatabase('postgres_store_migrate');
    const pools = Array.from({ length: 4 }, () => createPool(fresh, { size: 2 }));
    try {
      const applied = await Promise.all(pools.map((p) => applyMigrations(p)));
      // Every version applied by exactly one of the racers; the others found it done.
      expect(applied.flat().sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
      const { rows } = await pools[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      // And through the public door: two opens racing, both usable.
      const [a, b] = await Promise.all([
        PostgresStore.open(fresh, plainCipher, { poolSize: 2 }), PostgresStore.open(fresh, plainCipher, { poolSize: 2 }),
      ]);
      await a.insertAccount({ account: account('m1'), secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: 'h' });
      expect((await b.getAccount('m1'))?.id).toBe('m1');
      await Promise.all([a.close(), b.close(), a.close()]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('keeps secrets sealed and the API key only as its hash', async () => {
    const store = await open();
    await store.insertAccount({
      account: account('sealed'), secrets: { accessToken: 'tok-plain', appSecret: 'app-plain', verifyToken: 'ver-plain' },
      apiKeyHash: 'sha256-of-key',
    });
    const { rows } = await admin.query('SELECT * FROM accounts WHERE id = $1', ['sealed']);
    expect(rows[0].access_token_enc).toBe('sealed:tok-plain');
    expect(rows[0].app_secret_enc).toBe('sealed:app-plain');
    expect(await store.getAccountSecrets('sealed')).toEqual({ accessToken: 'tok-plain', appSecret: 'app-plain', verifyToken: 'ver-plain' });
    expect((await store.getAccountByApiKeyHash('sha256-of-key'))?.id).toBe('sealed');
  });

  it('grants, renews, takes over and releases leases by the database clock', async () => {
    const store = await open();
    const first = await store.acquireSenderLease('lease-acct', 'A', 10_000);
    expect(first).toEqual({ accountId: 'lease-acct', token: 1, validForMs: 10_000 });
    expect(await store.acquireSenderLease('lease-acct', 'B', 10_000)).toBeNull();
    expect((await store.acquireSenderLease('lease-acct', 'A', 10_000))?.token).toBe(1);
    // Releasing leaves it unclaimable for the quiet time, even for the same holder; then a new token.
    await store.releaseSenderLease({ accountId: 'lease-acct', token: 1 }, 'A', 150);
    expect(await store.acquireSenderLease('lease-acct', 'A', 10_000)).toBeNull();
    await sleep(200);
    expect((await store.acquireSenderLease('lease-acct', 'B', 60))?.token).toBe(2);
    await sleep(100);
    // B's lease ran out: B itself comes back with a new token, as anyone would.
    expect((await store.acquireSenderLease('lease-acct', 'B', 10_000))?.token).toBe(3);
    // A release by a holder that does not hold it changes nothing.
    await store.releaseSenderLease({ accountId: 'lease-acct', token: 3 }, 'A', 0);
    expect(await store.acquireSenderLease('lease-acct', 'C', 10_000)).toBeNull();

    expect(await store.acquireJobLease('retention', 'A', 60)).toBe(true);
    expect(await store.acquireJobLease('retention', 'B', 60)).toBe(false);
    expect(await store.acquireJobLease('retention', 'A', 60)).toBe(true);
    await sleep(100);
    expect(await store.acquireJobLease('retention', 'B', 60_000)).toBe(true);
  });

  it('refuses a fenced write with a stale token, changing nothing, while the rest of the batch commits', async () => {
    const store = await open();
    const ids = await seedAccount(store, 'fence-acct', 'fence-c', 6);
    const old = await store.acquireSenderLease('fence-acct', 'old', 50);
    await sleep(100);
    const current = await store.acquireSenderLease('fence-acct', 'new', 60_000);
    expect(current?.token).toBe(old!.token + 1);
    const stale: SenderFence = { accountId: 'fence-acct', token: old!.token };
    const fresh: SenderFence = { accountId: 'fence-acct', token: current!.token };
    const before = (await admin.query('SELECT id, status, seq, updated_at FROM messages WHERE campaign_id = $1 ORDER BY id', ['fence-c'])).rows;
    const seqBefore = await count('SELECT last_value AS n FROM message_seq');

    const results = await store.writeBatch([
      { kind: 'claim', fence: stale, ids: ids.slice(0, 3), nowMs: 5 },
      { kind: 'outcomes', fence: stale, outcomes: [{ id: ids[0]!, kind: 'skipped' }], nowMs: 5 },
      { kind: 'claim', fence: fresh, ids: [ids[3]!], nowMs: 5 },
    ]);
    expect(results[0]).toMatchObject({ ok: false });
    expect((results[0] as { error: unknown }).error).toBeInstanceOf(LeaseLostError);
    expect((results[1] as { error: unknown }).error).toBeInstanceOf(LeaseLostError);
    expect(valueOf<number[]>(results[2])).toEqual([ids[3]]);

    const after = (await admin.query('SELECT id, status, seq, updated_at FROM messages WHERE campaign_id = $1 ORDER BY id', ['fence-c'])).rows;
    expect(after.filter((r) => r.id !== String(ids[3]))).toEqual(before.filter((r) => r.id !== String(ids[3])));
    // Only the good claim drew a number: the fenced-off writes stopped before touching anything.
    expect(await count('SELECT last_value AS n FROM message_seq')).toBe(seqBefore + 1);

    // The current holder's lease expiring stops its claims, not its outcomes (a send in flight still settles).
    const short = await store.acquireSenderLease('fence-acct', 'new', 10);
    await sleep(50);
    const late = await store.writeBatch([
      { kind: 'claim', fence: fresh, ids: [ids[4]!], nowMs: 6 },
      { kind: 'outcomes', fence: { accountId: 'fence-acct', token: short!.token }, outcomes: [{ id: ids[3]!, kind: 'sent', wamid: 'w3' }], nowMs: 6 },
    ]);
    expect((late[0] as { error: unknown }).error).toBeInstanceOf(LeaseLostError);
    expect(late[1]).toEqual({ ok: true, value: null });
    expect((await admin.query('SELECT status FROM messages WHERE id = $1', [ids[4]])).rows[0].status).toBe('queued');
    expect((await admin.query('SELECT status, wamid FROM messages WHERE id = $1', [ids[3]])).rows[0]).toEqual({ status: 'sent', wamid: 'w3' });
  });

  it('holds a takeover, an opt-out and a pause until the fenced transaction in flight has committed', async () => {
    const store = await open();
    const ids = await seedAccount(store, 'order-acct', 'order-c', 2);
    const lease = await store.acquireSenderLease('order-acct', 'old', 300);
    // A sender's group commit, stopped between its fence and its COMMIT.
    const pool = createPool(url, { size: 1 });
    const session = await pool.connect();
    try {
      await session.query('BEGIN');
      await checkFence(session, { accountId: 'order-acct', token: lease!.token }, true);
      await session.query(`UPDATE messages SET status = 'sending', seq = nextval('message_seq') WHERE id = $1`, [ids[0]]);
      await sleep(400); // the lease has expired meanwhile
      const done: string[] = [];
      const takeover = store.acquireSenderLease('order-acct', 'new', 60_000).then((l) => (done.push('takeover'), l));
      const optOut = store.addSuppression('order-acct', '+15551000001', 'keyword', 9).then(() => done.push('opt-out'));
      const pause = store.transitionCampaign({ campaignId: 'order-c', from: ['running'], to: 'paused', reason: null, nowMs: 9 })
        .then(() => done.push('pause'));
      await sleep(300);
      expect(done).toEqual([]);
      await session.query('COMMIT');
      await Promise.all([takeover, optOut, pause]);
      expect((await takeover)?.token).toBe(lease!.token + 1);
      // The new holder's first look sees the old holder's committed claim.
      expect((await admin.query('SELECT status FROM messages WHERE id = $1', [ids[0]])).rows[0].status).toBe('sending');
    } finally {
      session.release();
      await pool.end();
    }
  });

  it('moves each id once when two instances claim the same ids at the same time', async () => {
    const [a, b] = [await open(), await open()];
    const ids = await seedAccount(a, 'race-acct', 'race-c', 240);
    const lease = await a.acquireSenderLease('race-acct', 'holder', 60_000);
    const fence: SenderFence = { accountId: 'race-acct', token: lease!.token };
    const claimedBy: number[][] = [[], []];
    for (let round = 0; round < 12; round++) {
      const slice = ids.slice(round * 20, round * 20 + 20);
      const [ra, rb] = await Promise.all([
        a.writeBatch([{ kind: 'claim', fence, ids: slice, nowMs: 10 }]),
        b.writeBatch([{ kind: 'claim', fence, ids: [...slice].reverse(), nowMs: 10 }]),
      ]);
      claimedBy[0]!.push(...valueOf<number[]>(ra![0]));
      claimedBy[1]!.push(...valueOf<number[]>(rb![0]));
    }
    const all = [...claimedBy[0]!, ...claimedBy[1]!];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    expect(await count(`SELECT count(*) AS n FROM messages WHERE campaign_id = 'race-c' AND status = 'sending'`)).toBe(240);
  });

  it('feeds every change once, in seq order, to a reader paging while two instances write', async () => {
    const random = seededRandom(7);
    const [writerA, writerB, reader] = [await open(), await open(), await open()];
    const rows = 200;
    const ids = await seedAccount(writerA, 'feed-acct', 'feed-c', rows);
    const lease = await writerA.acquireSenderLease('feed-acct', 'holder', 600_000);
    const fence: SenderFence = { accountId: 'feed-acct', token: lease!.token };
    const stale: SenderFence = { accountId: 'feed-acct', token: lease!.token - 1 };
    // Each row goes queued → sending → queued a few times; its last change lands somewhere in the run, so a change
    // the reader skipped would show as a row whose final state it never saw.
    const cyclesLeft = new Map(ids.map((id) => [id, 1 + Math.floor(random() * 4)]));
    const free = [...ids];
    let isWriting = true;
    let isDone = false;
    let added = 0;

    const writerLoop = async (store: PostgresStore): Promise<void> => {
      while (free.length > 0) {
        const take = Math.min(free.length, 1 + Math.floor(random() * 6));
        const batch = free.splice(Math.floor(random() * (free.length - take + 1)), take);
        const withNoise = random() < 0.3;
        // Now and then a write fails (a stale fence) in the same transaction: undone alone, the claim after it commits.
        const claim = await store.writeBatch([
          ...(withNoise ? [{ kind: 'claim' as const, fence: stale, ids: batch, nowMs: 20 }] : []),
          { kind: 'claim', fence, ids: batch, nowMs: 20 },
        ]);
        expect(valueOf<number[]>(claim.at(-1)).sort()).toEqual([...batch].sort());
        await store.writeBatch([{ kind: 'outcomes', fence, outcomes: batch.map((id) => ({ id, kind: 'requeue' as const })), nowMs: 21 }]);
        for (const id of batch) {
          const left = cyclesLeft.get(id)! - 1;
          cyclesLeft.set(id, left);
          if (left > 0) free.push(id);
        }
      }
    };
    const intakeLoop = async (): Promise<void> => {
      while (isWriting) {
        const batch = Array.from({ length: 3 }, (_, i) => ({
          key: `n${added + i}`, to: `+1666${String(1_000_000 + added + i)}`, params: { 1: 'x' }, headerMedia: null,
        }));
        added += batch.length;
        await writerB.addMessages('feed-c', 'feed-acct', batch, ['running'], 22);
      }
    };

    const seen: { seq: number; key: string; status: MessageStatus }[] = [];
    let pages = 0;
    const readPage = async (): Promise<number> => {
      const page = await reader.listMessagesChangedAfter('feed-c', seen.at(-1)?.seq ?? 0, 5);
      pages++;
      seen.push(...page.map((m) => ({ seq: m.seq, key: m.key, status: m.status })));
      return page.length;
    };
    const readerLoop = async (): Promise<void> => {
      while (!isDone) await readPage();
      while ((await readPage()) > 0);
    };

    const reading = readerLoop();
    const intake = intakeLoop();
    await Promise.all([writerLoop(writerA), writerLoop(writerA), writerLoop(writerB), writerLoop(writerB)]);
    isWriting = false;
    await intake;
    isDone = true;
    await reading;

    expect(pages).toBeGreaterThan(50);
    // Strictly increasing: never a seq twice, never one out of order.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
    // What the reader saw last of each row is the row as stored: no final change was skipped.
    const lastSeen = new Map(seen.map((s) => [s.key, s]));
    const stored = (await admin.query(`SELECT row_key, seq, status FROM messages WHERE campaign_id = 'feed-c'`)).rows;
    expect(stored).toHaveLength(rows + added);
    for (const row of stored) {
      expect(lastSeen.get(row.row_key), row.row_key).toEqual({ seq: Number(row.seq), key: row.row_key, status: row.status });
    }
    expect(stored.filter((r) => r.status !== 'queued')).toEqual([]);
  });

  it('rejects a batch whose connection dies before COMMIT, with nothing of it written', async () => {
    const store = await open();
    const ids = await seedAccount(store, 'dies-acct', 'dies-c', 3);
    const lease = await store.acquireSenderLease('dies-acct', 'holder', 60_000);
    const fence: SenderFence = { accountId: 'dies-acct', token: lease!.token };
    // Another transaction holds the account's lock row: the batch waits on it, and is killed while waiting. Once
    // with several writes (savepoints), once with a lone claim (no savepoint).
    const shapes: BatchWrite[][] = [
      [{ kind: 'save_webhook', accountId: 'dies-acct', body: Buffer.from('{}'), nowMs: 1 }, { kind: 'claim', fence, ids, nowMs: 1 }],
      [{ kind: 'claim', fence, ids, nowMs: 1 }],
    ];
    for (const writes of shapes) {
      const blocker = await admin.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM account_locks WHERE account_id = 'dies-acct' FOR UPDATE`);
        const outcome = store.writeBatch(writes).then(() => 'resolved', (error: Error) => error.message);
        for (let i = 0; i < 100; i++) {
          const killed = await admin.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%account_locks%'`);
          if (killed.rowCount) break;
          await sleep(20);
        }
        expect(await outcome).toMatch(/terminat|connection/i);
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      expect(await count(`SELECT count(*) AS n FROM webhook_inbox WHERE account_id = 'dies-acct'`)).toBe(0);
      expect(await count(`SELECT count(*) AS n FROM messages WHERE campaign_id = 'dies-c' AND status <> 'queued'`)).toBe(0);
    }
    // The pool threw the dead connection away: the store works on.
    expect(valueOf<number[]>((await store.writeBatch([{ kind: 'claim', fence, ids, nowMs: 2 }]))[0])).toHaveLength(3);
  });

  it('hands each stored webhook to one of two instances claiming at once, and again after its claim ran out', async () => {
    const [a, b] = [await open(), await open()];
    await a.insertAccount({ account: account('inbox-acct'), secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: 'h-inbox' });
    const saved = await a.writeBatch(Array.from({ length: 30 }, (_, i) => (
      { kind: 'save_webhook' as const, accountId: 'inbox-acct', body: Buffer.from(`{"n":${i}}`), nowMs: i })));
    const inboxIds = saved.map((r) => valueOf<number>(r));
    const [fromA, fromB] = await Promise.all([a.claimPendingWebhooks(20, 150), b.claimPendingWebhooks(20, 150)]);
    const claimed = [...fromA, ...fromB].map((w) => w.id);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect([...claimed].sort((x, y) => x - y)).toEqual(inboxIds);
    for (const list of [fromA, fromB]) expect(list.map((w) => w.id)).toEqual([...list.map((w) => w.id)].sort((x, y) => x - y));
    expect(fromA.find((w) => w.id === inboxIds[0]) ?? fromB.find((w) => w.id === inboxIds[0]))
      .toEqual({ id: inboxIds[0], accountId: 'inbox-acct', body: Buffer.from('{"n":0}') });
    expect(await a.claimPendingWebhooks(50, 150)).toEqual([]);
    // Applied bodies leave the inbox; the others come back once their claim has run out.
    await a.writeBatch(inboxIds.slice(0, 10).map((inboxId) => ({
      kind: 'apply_webhook' as const, inboxId, accountId: 'inbox-acct', effects: { statuses: [], replies: [], preferences: [], identities: [], identityChanges: [] }, nowMs: 50,
    })));
    await sleep(200);
    expect((await b.claimPendingWebhooks(50, 150)).map((w) => w.id)).toEqual(inboxIds.slice(10));
  });

  it('exports one consistent moment through cursors while writers go on, and closes twice', async () => {
    const store = await open();
    const ids = await seedAccount(store, 'export-acct', 'export-c', 1_203);
    await store.addSuppression('export-acct', '+15550000001', 'keyword', 3);
    const snapshot = await store.privacy.openSnapshot('export-acct');
    expect(snapshot?.account.id).toBe('export-acct');
    // Written after the snapshot began: not in the export.
    await store.insertCampaign(campaign('export-c2', 'export-acct'));
    await store.addSuppression('export-acct', '+15550000002', 'keyword', 4);
    await store.writeBatch([{ kind: 'save_webhook', accountId: 'export-acct', body: Buffer.from('late'), nowMs: 5 }]);
    await store.privacy.deleteAccountMessages('export-acct', 100);

    const campaigns = [];
    for await (const c of snapshot!.campaigns()) campaigns.push(c.id);
    expect(campaigns).toEqual(['export-c']);
    const keys: string[] = [];
    for await (const m of snapshot!.messages()) keys.push(m.key);
    expect(keys).toHaveLength(ids.length);
    expect(keys).toEqual([...keys].sort());
    const suppressions = [];
    for await (const s of snapshot!.suppressions()) suppressions.push(s.to);
    expect(suppressions).toEqual(['+15550000001']);
    const webhooks = [];
    for await (const w of snapshot!.pendingWebhooks()) webhooks.push(w);
    expect(webhooks).toEqual([]);
    await Promise.all([snapshot!.close(), snapshot!.close()]);
    await snapshot!.close();

    // An export abandoned half-way gives its connection back on close.
    const abandoned = await store.privacy.openSnapshot('export-acct');
    const iterator = abandoned!.messages()[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await abandoned!.close();
    expect(await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`)).toBe(0);
    expect(await store.privacy.openSnapshot('no-such-account')).toBeNull();
  });

  it('erases an account so that no table keeps a row of it, and leaves the other accounts alone', async () => {
    const store = await open();
    const ids = await seedAccount(store, 'erase-acct', 'erase-c', 25, '+1777');
    await seedAccount(store, 'keep-acct', 'keep-c', 5);
    const lease = await store.acquireSenderLease('erase-acct', 'holder', 60_000);
    const fence: SenderFence = { accountId: 'erase-acct', token: lease!.token };
    await store.writeBatch([
      { kind: 'claim', fence, ids: ids.slice(0, 5), nowMs: 10 },
      { kind: 'save_webhook', accountId: 'erase-acct', body: Buffer.from('erase-acct body'), nowMs: 10 },
    ]);
    await store.writeBatch([{ kind: 'outcomes', fence, outcomes: ids.slice(0, 5).map((id) => ({ id, kind: 'sent' as const, wamid: `wamid-${id}` })), nowMs: 11 }]);
    await store.addSuppression('erase-acct', '+17779990001', 'keyword', 12);
    await store.privacy.purgeMessageContent('erase-acct', 1_000, 100);
    expect(await count(`SELECT count(*) AS n FROM retention_marks WHERE campaign_id = 'erase-c'`)).toBe(1);

    let deleted = 0;
    for (let step; (step = await store.privacy.deleteAccountMessages('erase-acct', 10)) > 0;) deleted += step;
    expect(deleted).toBe(25);
    expect(await store.privacy.deleteAccount('erase-acct')).toEqual({ campaigns: 1, messages: 0, suppressions: 1, webhooks: 1 });
    await store.privacy.flushDeleted();
    expect(await store.privacy.compact()).toBe(true);

    // Every table of the schema, every column: nothing names the account, its campaign, its numbers or its body.
    const { rows: tables } = await admin.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    expect(tables.length).toBeGreaterThanOrEqual(10);
    for (const { table_name: table } of tables) {
      const leftover = await count(
        `SELECT count(*) AS n FROM ${pg.escapeIdentifier(table)} t
         WHERE row_to_json(t)::text ~ 'erase-acct|erase-c|wamid-|\\+1777|hash-erase' OR row_to_json(t)::text LIKE $1`,
        [`%${Buffer.from('erase-acct body').toString('hex')}%`]);
      expect(leftover, table).toBe(0);
    }
    expect(await count(`SELECT count(*) AS n FROM messages WHERE campaign_id = 'keep-c'`)).toBe(5);
    expect((await store.getAccount('keep-acct'))?.id).toBe('keep-acct');
    // The erased account's old sender is fenced off: its lease is gone with the account.
    const after = await store.writeBatch([{ kind: 'outcomes', fence, outcomes: [], nowMs: 13 }]);
    expect((after[0] as { error: unknown }).error).toBeInstanceOf(LeaseLostError);
  });
});
