// The store contract: what every ServiceStore (SqliteStore, PostgresStore) must do, written against the ports only
// (no SQL), so one file runs on each store. sqlite.test.ts and postgres.test.ts call describeStoreContract.
//
// The races are real where the store allows them: the operations are started together (Promise.all) and the
// assertions accept exactly the outcomes some serial order of them would give. On SQLite every port call runs
// synchronously inside, so the races resolve serially; the invariants are asserted all the same.
//
// Also exported: small builders (accounts, campaigns, sent rows, webhook effects applied through writeBatch) used by
// the SQLite tests of the webhook appliers and of the changes feed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CampaignState } from '../../../service/campaigns/campaign';
import type { MessageStatus } from '../../../service/campaigns/message-status';
import {
  LeaseLostError,
  type Account, type BatchItemResult, type BatchWrite, type BatchWriteResults, type Campaign, type CampaignStore,
  type CampaignTransition, type MessageView, type NewMessage, type ReplyChange, type SenderFence,
  type StatusChange, type WebhookApplied, type WebhookEffects,
} from '../../../service/campaigns/ports';
import { callbackDataFor } from '../../../service/campaigns/sender-pipeline';
import type { TemplateDefinition } from '../../../service/campaigns/template';
import type { NewAccount, SecretCipher, ServiceStore } from '../../../service/service-store';
import { statusChangesFor } from '../../../service/webhooks/apply-status-events';
import type { StatusEvent } from '../../../service/webhooks/meta-events';
import { seededRandom } from '../../fakes/seeded-random';

// ---- builders

/** The domain's time in these tests (what writes carry as nowMs); the stores' own clocks run in real time. */
export const NOW = Date.UTC(2026, 0, 1);

export const plainCipher: SecretCipher = { encrypt: (s) => s, decrypt: (s) => s };

export const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}!', footerText: null, buttons: [],
  parameters: [{ key: '1', component: 'body', example: 'Ann' }],
};

export function newAccount(id: string, overrides: Partial<Account> = {}): NewAccount {
  return {
    account: {
      id, name: `Account ${id}`, isSandbox: true, phoneNumberId: `p-${id}`, wabaId: `w-${id}`, messagesPerSecond: 80,
      dailyLimit: null, defaultCountry: null, retentionDays: 30, optOutWords: [], marketingMessagesApi: false, createdAt: NOW, ...overrides,
    },
    secrets: { accessToken: `token-${id}`, appSecret: `secret-${id}`, verifyToken: `verify-${id}` },
    apiKeyHash: `hash-${id}`,
  };
}

export function newCampaign(accountId: string, id: string, state: CampaignState = 'running', createdAt = NOW): Campaign {
  return {
    id, accountId, name: `Campaign ${id}`, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
    sendAt: null, defaultCountry: null, sheet: null, state, stateReason: null, createdAt,
    startedAt: state === 'running' ? createdAt : null, finishedAt: null,
  };
}

export function newRow(to: string, key = `k${to}`): NewMessage {
  return { key, to, params: { 1: 'Ann' }, headerMedia: null };
}

/** One write through writeBatch; its result, or its error thrown. */
export async function writeOne<W extends BatchWrite>(store: CampaignStore, write: W): Promise<BatchWriteResults[W['kind']]> {
  const [result, ...rest] = await store.writeBatch([write]);
  if (!result || rest.length > 0) throw new Error(`writeBatch gave ${rest.length + (result ? 1 : 0)} results for 1 write`);
  if (!result.ok) throw result.error;
  return result.value as BatchWriteResults[W['kind']];
}

/** The error of a failed batch item (fails the test when the item succeeded). */
export function errorOf(result: BatchItemResult | undefined): unknown {
  expect(result?.ok, 'the write should have failed').toBe(false);
  return (result as { error: unknown }).error;
}

/** The account's sender lease for `holder` (60 s, renewed when held): the fence of claims and outcomes. */
export async function takeLease(store: ServiceStore, accountId: string, holder = 'test'): Promise<SenderFence> {
  const lease = await store.acquireSenderLease(accountId, holder, 60_000);
  if (!lease) throw new Error(`the sender lease of ${accountId} is held by another holder`);
  return { accountId: lease.accountId, token: lease.token };
}

/** Adds rows (all must be inserted) and gives the ids of those queued, by number. */
export async function addRows(
  store: ServiceStore, accountId: string, campaignId: string, rows: readonly NewMessage[], nowMs = NOW,
): Promise<Map<string, number>> {
  const results = await store.addMessages(campaignId, accountId, rows, ['draft', 'scheduled', 'running', 'paused'], nowMs);
  expect(results).toEqual(rows.map(() => 'inserted'));
  return queuedIds(store, campaignId);
}

/** The campaign's queued rows' ids, by number. */
export async function queuedIds(store: CampaignStore, campaignId: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (let page = await store.loadQueued(campaignId, 0, 500); page.length > 0;
    page = await store.loadQueued(campaignId, page.at(-1)?.id ?? 0, 500)) {
    for (const row of page) ids.set(row.to, row.id);
  }
  return ids;
}

/** Claims the rows and records them sent with the given wamids (every claim must move). */
export async function sendRows(
  store: CampaignStore, fence: SenderFence, sends: readonly { id: number; wamid: string }[], nowMs = NOW,
): Promise<void> {
  const ids = sends.map((s) => s.id);
  expect(await writeOne(store, { kind: 'claim', fence, ids, nowMs })).toEqual(ids);
  await writeOne(store, { kind: 'outcomes', fence, outcomes: sends.map((s) => ({ id: s.id, kind: 'sent' as const, wamid: s.wamid })), nowMs });
}

/** Keeps a webhook body and applies `effects` as its changes, as the webhook processor does: two group commits. */
export async function applyEffects(
  store: CampaignStore, accountId: string, effects: Partial<WebhookEffects>, nowMs = NOW,
): Promise<WebhookApplied> {
  const inboxId = await writeOne(store, { kind: 'save_webhook', accountId, body: Buffer.from('{}'), nowMs });
  return writeOne(store, {
    kind: 'apply_webhook', inboxId, accountId, nowMs,
    effects: {
      statuses: effects.statuses ?? [], replies: effects.replies ?? [], preferences: effects.preferences ?? [],
      identities: effects.identities ?? [], identityChanges: effects.identityChanges ?? [],
    },
  });
}

/** A status event as meta-events.ts reads it; `callback` is the send's callback data when given. */
export function statusEvent(
  wamid: string, status: string, callback: { campaignId: string; id: number } | null = null, errorCode?: string,
): StatusEvent {
  return {
    kind: 'status', phoneNumberId: null, wamid, status, timestampMs: NOW, recipientId: null, recipientUserId: null,
    callbackData: callback ? callbackDataFor(callback.campaignId, callback.id) : null,
    error: errorCode ? { code: errorCode, message: `Failed with ${errorCode}.` } : null,
  };
}

/** The status changes of events (statusChangesFor), failing the test if any was a status word not tracked. */
export function statusChanges(...events: StatusEvent[]): StatusChange[] {
  const { changes, ignored } = statusChangesFor(events);
  expect(ignored).toBe(0);
  return changes;
}

/** The whole changes feed of a campaign, paged (each row once, at its latest change). */
export async function feedOf(store: CampaignStore, campaignId: string): Promise<MessageView[]> {
  const all: MessageView[] = [];
  for (let page = await store.listMessagesChangedAfter(campaignId, 0, 500); page.length > 0;
    page = await store.listMessagesChangedAfter(campaignId, page.at(-1)?.seq ?? 0, 500)) {
    all.push(...page);
  }
  return all;
}

export async function viewsByKey(store: CampaignStore, campaignId: string): Promise<Map<string, MessageView>> {
  return new Map((await feedOf(store, campaignId)).map((view) => [view.key, view]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ids unique per run (and per store: a PostgreSQL database may outlive a run when TEST_DATABASE_URL is given). */
const RUN = Math.random().toString(36).slice(2, 8);
let lastId = 0;
export function uniqueId(prefix: string): string {
  return `${prefix}_${RUN}_${++lastId}`;
}

// ---- the changes feed under concurrent writers

export interface FeedRunOptions {
  seed: number;
  rows: number;
  writers: number;
  turnsPerWriter: number;
  pageSize: number;
  /** The share of turns whose fenced writes carry a wrong lease token: they fail, the turn's webhook commits. */
  undoShare: number;
}

export interface FeedRunReport {
  /** Row changes that committed. */
  committedChanges: number;
  /** Fenced writes refused with LeaseLostError (their rows did not move). */
  refusedWrites: number;
  /** Times the reader found nothing new while writers were still at work. */
  caughtUpWhileWriting: number;
}

/** The road a row travels in runFeedUnderConcurrentWriters; after `read` each turn on the row is a new reply. */
const STAGES: readonly MessageStatus[] = ['queued', 'sending', 'sent', 'delivered', 'read'];

/**
 * A reader pages one campaign's changes feed (`pageSize` at a time, keeping its cursor) while `writers` writers
 * each take turns: one writeBatch moving a few rows one step on (claim, send outcome, delivered or read by webhook,
 * or a reply). A turn's fenced writes are sometimes refused (wrong token) while its webhook in the same batch
 * commits. Checks that the reader sees every change once, in order, only forward, and ends on the stored state;
 * and that the stored state is what the committed writes made.
 * The writers never plan on a row another writer has in flight: the expected state stays exact on any store.
 */
export async function runFeedUnderConcurrentWriters(store: ServiceStore, options: FeedRunOptions): Promise<FeedRunReport> {
  const random = seededRandom(options.seed);
  const accountId = uniqueId('feed');
  const campaignId = uniqueId('feed_c');
  await store.insertAccount(newAccount(accountId));
  await store.insertCampaign(newCampaign(accountId, campaignId));
  const rows = Array.from({ length: options.rows }, (_, i) => newRow(`+1555${String(1_000_000 + i)}`, `k${i}`));
  const byNumber = await addRows(store, accountId, campaignId, rows);
  const ids = rows.map((row) => byNumber.get(row.to) as number);
  const keyOf = new Map(rows.map((row, i) => [ids[i] as number, row.key]));
  const numberOf = new Map(rows.map((row, i) => [ids[i] as number, row.to]));
  const fence = await takeLease(store, accountId);
  const wrongFence: SenderFence = { accountId, token: fence.token + 1000 };

  const stage = new Map<number, number>(ids.map((id) => [id, 0]));
  const reply = new Map<number, string | null>(ids.map((id) => [id, null]));
  const busy = new Set<number>();
  const report: FeedRunReport = { committedChanges: 0, refusedWrites: 0, caughtUpWhileWriting: 0 };
  let tick = 0;

  const writerTurn = async (): Promise<void> => {
    const nowMs = NOW + ++tick;
    const isUndone = random() < options.undoShare;
    const picked = new Set<number>();
    const count = 1 + Math.floor(random() * 8);
    for (let i = 0; i < count; i++) {
      const id = ids[Math.floor(random() * ids.length)] as number;
      if (!busy.has(id)) picked.add(id);
    }
    for (const id of picked) busy.add(id);
    try {
      const claims: number[] = [];
      const sent: number[] = [];
      const statuses: StatusChange[] = [];
      const statusRows: number[] = [];
      const replies: ReplyChange[] = [];
      const replyRows: { id: number; text: string }[] = [];
      for (const id of picked) {
        const at = stage.get(id) as number;
        if (at === 0) claims.push(id);
        else if (at === 1) sent.push(id);
        else if (at < STAGES.length - 1) {
          statuses.push(...statusChanges(statusEvent(`wamid.${id}`, STAGES[at + 1] as string, { campaignId, id })));
          statusRows.push(id);
        } else {
          const text = `reply ${nowMs}`;
          replies.push({ contextWamid: `wamid.${id}`, recipients: [numberOf.get(id) as string], text, atMs: nowMs, isOptOut: false, userId: null });
          replyRows.push({ id, text });
        }
      }
      const writes: BatchWrite[] = [];
      const senderFence = isUndone ? wrongFence : fence;
      if (claims.length > 0) writes.push({ kind: 'claim', fence: senderFence, ids: claims, nowMs });
      if (sent.length > 0) {
        writes.push({ kind: 'outcomes', fence: senderFence, nowMs, outcomes: sent.map((id) => ({ id, kind: 'sent' as const, wamid: `wamid.${id}` })) });
      }
      if (statuses.length + replies.length > 0) {
        const inboxId = await writeOne(store, { kind: 'save_webhook', accountId, body: Buffer.from(`turn ${nowMs}`), nowMs });
        writes.push({ kind: 'apply_webhook', inboxId, accountId, nowMs, effects: { statuses, replies, preferences: [], identities: [], identityChanges: [] } });
      }
      if (writes.length === 0) return;
      const results = await store.writeBatch(writes);
      expect(results).toHaveLength(writes.length);
      writes.forEach((write, i) => {
        const result = results[i];
        if (write.kind === 'claim' || write.kind === 'outcomes') {
          if (isUndone) {
            expect(errorOf(result)).toBeInstanceOf(LeaseLostError);
            report.refusedWrites++;
            return;
          }
          expect(result).toEqual({ ok: true, value: write.kind === 'claim' ? claims : null });
          for (const id of write.kind === 'claim' ? claims : sent) stage.set(id, (stage.get(id) as number) + 1);
          report.committedChanges += write.kind === 'claim' ? claims.length : sent.length;
        } else if (write.kind === 'apply_webhook') {
          expect(result?.ok).toBe(true);
          const applied = (result as { value: WebhookApplied }).value;
          expect(applied.statuses).toEqual({ applied: statuses.length, ignored: 0, unmatched: 0 });
          expect(applied.touchedCampaignIds).toEqual([campaignId]);
          for (const id of statusRows) stage.set(id, (stage.get(id) as number) + 1);
          for (const r of replyRows) reply.set(r.id, r.text);
          report.committedChanges += statuses.length + replies.length;
        }
      });
    } finally {
      for (const id of picked) busy.delete(id);
    }
    if (random() < 0.3) await new Promise<void>((resolve) => setImmediate(resolve));
  };

  interface Seen { seq: number; key: string; status: MessageStatus; reply: string | null; updatedAt: number }
  const seen: Seen[] = [];
  let cursor = 0;
  const readPage = async (): Promise<number> => {
    const page = await store.listMessagesChangedAfter(campaignId, cursor, options.pageSize);
    expect(page.length).toBeLessThanOrEqual(options.pageSize);
    for (const item of page) {
      expect(item.seq).toBeGreaterThan(cursor);
      seen.push({ seq: item.seq, key: item.key, status: item.status, reply: item.reply?.text ?? null, updatedAt: item.updatedAt });
      cursor = item.seq;
    }
    return page.length;
  };

  let isWriting = true;
  const reader = async (): Promise<void> => {
    while (isWriting) {
      if ((await readPage()) === 0) {
        report.caughtUpWhileWriting++;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    // The writers are done: catch up.
    while ((await readPage()) > 0) { /* next page */ }
  };
  const writers = Promise.all(Array.from({ length: options.writers }, async () => {
    for (let turn = 0; turn < options.turnsPerWriter; turn++) await writerTurn();
  })).finally(() => {
    isWriting = false;
  });
  await Promise.all([writers, reader()]);

  // Never the same change twice (the seq is strictly increasing above, so no version can come back).
  expect(new Set(seen.map((s) => s.seq)).size).toBe(seen.length);
  // The reader's last view of each row is the stored one: no change was skipped.
  const truth = await feedOf(store, campaignId);
  expect(truth).toHaveLength(options.rows);
  const lastSeen = new Map(seen.map((s) => [s.key, s]));
  for (const row of truth) {
    expect(lastSeen.get(row.key)).toEqual({ seq: row.seq, key: row.key, status: row.status, reply: row.reply?.text ?? null, updatedAt: row.updatedAt });
  }
  // A row's statuses, as the reader saw them, only move forward.
  const ranks = new Map<string, number[]>();
  for (const s of seen) ranks.set(s.key, [...(ranks.get(s.key) ?? []), STAGES.indexOf(s.status)]);
  for (const list of ranks.values()) {
    expect(list.every((rank) => rank >= 0)).toBe(true);
    for (let i = 1; i < list.length; i++) expect(list[i]).toBeGreaterThanOrEqual(list[i - 1] as number);
  }
  // The stored state is what the committed writes made: refused writes left no trace.
  const byKey = new Map(truth.map((row) => [row.key, row]));
  for (const id of ids) {
    const row = byKey.get(keyOf.get(id) as string);
    expect({ status: row?.status, reply: row?.reply?.text ?? null })
      .toEqual({ status: STAGES[stage.get(id) as number], reply: reply.get(id) });
  }
  return report;
}

// ---- the contract

export interface ContractStore {
  store: ServiceStore;
  /**
   * Moves the store's own clock (lease expiry, webhook claims) `ms` on. Absent: the test waits `ms` of real time,
   * as it must for PostgreSQL, whose clock is the database server's.
   */
  clock?: { advance(ms: number): Promise<void> };
  close(): Promise<void>;
}

/** Short enough to wait out in real time. */
const SHORT_TTL_MS = 200;
/** Added to a real-time wait: the database's clock and ours are read at slightly different moments. */
const REAL_TIME_MARGIN_MS = 100;

/** Every port promise of the contract, on the store `makeStore` opens (a fresh one per test). */
export function describeStoreContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`store contract: ${name}`, () => {
    let opened: ContractStore;
    let store: ServiceStore;

    beforeEach(async () => {
      opened = await makeStore();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.close();
    });

    /** Lets the store's clock pass `ms`. */
    const passTime = async (ms: number): Promise<void> => {
      if (opened.clock) await opened.clock.advance(ms);
      else await sleep(ms + REAL_TIME_MARGIN_MS);
    };

    /** A fresh account with one campaign in `state`. */
    const seed = async (state: CampaignState = 'running'): Promise<{ accountId: string; campaignId: string }> => {
      const accountId = uniqueId('acct');
      const campaignId = uniqueId('camp');
      await store.insertAccount(newAccount(accountId));
      await store.insertCampaign(newCampaign(accountId, campaignId, state));
      return { accountId, campaignId };
    };

    const numbers = (count: number, base = 0): string[] =>
      Array.from({ length: count }, (_, i) => `+1555${String(2_000_000 + base + i)}`);

    describe('account option marketingMessagesApi', () => {
      it('is false by default, kept as inserted, set and cleared per account, and false for an unknown account', async () => {
        const [a, b, c] = [uniqueId('acct'), uniqueId('acct'), uniqueId('acct')];
        await store.insertAccount(newAccount(a));
        await store.insertAccount(newAccount(b));
        await store.insertAccount(newAccount(c, { marketingMessagesApi: true }));
        expect((await store.getAccount(a))?.marketingMessagesApi).toBe(false);
        expect((await store.getAccount(c))?.marketingMessagesApi).toBe(true);

        expect(await store.setMarketingMessagesApi(a, true)).toBe(true);
        expect((await store.getAccount(a))?.marketingMessagesApi).toBe(true);
        expect((await store.findAccountByPhoneNumberId(`p-${a}`))?.marketingMessagesApi).toBe(true);
        expect((await store.getAccountByApiKeyHash(`hash-${a}`))?.marketingMessagesApi).toBe(true);
        expect((await store.getAccount(b))?.marketingMessagesApi).toBe(false);
        expect((await store.listAccounts()).find((x) => x.id === a)?.marketingMessagesApi).toBe(true);

        expect(await store.setMarketingMessagesApi(a, false)).toBe(true);
        expect((await store.getAccount(a))?.marketingMessagesApi).toBe(false);
        expect(await store.setMarketingMessagesApi(uniqueId('acct'), true)).toBe(false);
      });
    });

    describe('template categories', () => {
      it("moves the campaigns of the account that use the template and have not ended to Meta's new category", async () => {
        const { accountId, campaignId: running } = await seed('running');
        const [paused, finished, scheduled, other, otherLanguage] = ['p', 'f', 's', 'o', 'l'].map((x) => uniqueId(`camp-${x}`)) as string[];
        await store.insertCampaign(newCampaign(accountId, paused as string, 'paused'));
        await store.insertCampaign(newCampaign(accountId, finished as string, 'finished'));
        await store.insertCampaign(newCampaign(accountId, scheduled as string, 'scheduled'));
        await store.insertCampaign({ ...newCampaign(accountId, other as string), template: { name: 'other', language: 'en_US' },
          templateDefinition: { ...TEMPLATE, name: 'other' } });
        await store.insertCampaign({ ...newCampaign(accountId, otherLanguage as string), template: { name: 'hello', language: 'pt_BR' },
          templateDefinition: { ...TEMPLATE, language: 'pt_BR' } });
        const elsewhere = await seed('running');

        const moved = await store.recategoriseTemplate(accountId, { name: 'hello', language: 'en_US' }, 'UTILITY');
        expect(moved.sort()).toEqual([running, paused, scheduled].sort());
        for (const id of [running, paused, scheduled]) {
          expect((await store.getCampaignById(id as string))?.templateDefinition).toEqual({ ...TEMPLATE, category: 'UTILITY' });
        }
        for (const id of [finished, other, otherLanguage, elsewhere.campaignId]) {
          expect((await store.getCampaignById(id as string))?.templateDefinition.category).toBe('MARKETING');
        }
        expect(await store.recategoriseTemplate(uniqueId('acct'), { name: 'hello', language: 'en_US' }, 'UTILITY')).toEqual([]);
      });
    });

    describe('claims', () => {
      it('moves queued rows of a running campaign to sending, skips suppressed ones, and leaves other campaigns alone', async () => {
        const { accountId, campaignId } = await seed();
        const paused = uniqueId('camp');
        await store.insertCampaign(newCampaign(accountId, paused, 'paused'));
        const tos = numbers(4);
        const ids = await addRows(store, accountId, campaignId, tos.map((to) => newRow(to)));
        const pausedIds = await addRows(store, accountId, paused, tos.map((to) => newRow(to)));
        await store.addSuppression(accountId, tos[3] as string, 'keyword', NOW);
        const fence = await takeLease(store, accountId);

        const all = tos.map((to) => ids.get(to) as number);
        expect(await writeOne(store, { kind: 'claim', fence, ids: all, nowMs: NOW + 1 })).toEqual(all.slice(0, 3));
        const views = await viewsByKey(store, campaignId);
        expect(tos.map((to) => views.get(`k${to}`)?.status)).toEqual(['sending', 'sending', 'sending', 'skipped']);
        // The paused campaign's rows stay queued: the check and the move are one step.
        const pausedAll = tos.map((to) => pausedIds.get(to) as number);
        expect(await writeOne(store, { kind: 'claim', fence, ids: pausedAll, nowMs: NOW + 1 })).toEqual([]);
        const stillQueued = await queuedIds(store, paused);
        expect(tos.slice(0, 3).map((to) => stillQueued.get(to))).toEqual(pausedAll.slice(0, 3));
        expect(await store.countOpen(campaignId)).toBe(3);
        expect(await store.hasOpenRows(campaignId)).toBe(true);
      });

      it('concurrent claims of the same rows: each row moves exactly once', async () => {
        const { accountId, campaignId } = await seed();
        const ids = [...(await addRows(store, accountId, campaignId, numbers(40).map((to) => newRow(to)))).values()];
        const fence = await takeLease(store, accountId);
        const random = seededRandom(11);
        // Eight claimers, each over an overlapping slice of the rows in its own order; two batches carry two claims.
        const claimers = Array.from({ length: 8 }, (_, c) => {
          const slice = ids.filter((_, i) => (i + c) % 3 !== 0);
          const shuffled = [...slice].sort(() => random() - 0.5);
          const writes: BatchWrite[] = [{ kind: 'claim', fence, ids: shuffled, nowMs: NOW + c }];
          if (c % 4 === 0) writes.push({ kind: 'claim', fence, ids: [...shuffled].reverse(), nowMs: NOW + c });
          return store.writeBatch(writes);
        });
        const results = (await Promise.all(claimers)).flat();
        const moved = results.flatMap((result) => {
          expect(result.ok).toBe(true);
          return (result as { value: number[] }).value;
        });
        expect([...moved].sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
        expect((await feedOf(store, campaignId)).map((view) => view.status)).toEqual(ids.map(() => 'sending'));
        expect(await store.loadQueued(campaignId, 0, 100)).toEqual([]);
      });

      it('an opt-out racing a claim: the row ends sending (opted out after) or skipped, never sending when the opt-out committed first', async () => {
        const { accountId, campaignId } = await seed();
        const tos = numbers(40);
        const ids = await addRows(store, accountId, campaignId, tos.map((to) => newRow(to)));
        const fence = await takeLease(store, accountId);
        const random = seededRandom(5);
        // A logical clock over the whole race: an operation started after another's promise resolved came after it.
        let tick = 0;
        const trials = await Promise.all(tos.map(async (to, i) => {
          const id = ids.get(to) as number;
          // Half of the opt-outs are an API suppression, half a "STOP" reply applied from the webhook inbox.
          const inboxId = i % 2 === 1
            ? await writeOne(store, { kind: 'save_webhook', accountId, body: Buffer.from('stop'), nowMs: NOW })
            : null;
          const optOutDelay = random() * 8;
          const claimDelay = random() * 8;
          const optOut = (async () => {
            await sleep(optOutDelay);
            const startedAt = ++tick;
            if (inboxId === null) await store.addSuppression(accountId, to, 'api', NOW);
            else {
              await writeOne(store, {
                kind: 'apply_webhook', inboxId, accountId, nowMs: NOW,
                effects: { statuses: [], preferences: [], identities: [], identityChanges: [], replies: [{ contextWamid: null, recipients: [to], text: 'STOP', atMs: NOW, isOptOut: true, userId: null }] },
              });
            }
            return { startedAt, doneAt: ++tick };
          })();
          const claim = (async () => {
            await sleep(claimDelay);
            const startedAt = ++tick;
            const moved = await writeOne(store, { kind: 'claim', fence, ids: [id], nowMs: NOW + 1 });
            return { startedAt, doneAt: ++tick, isMoved: moved.includes(id) };
          })();
          const [o, c] = await Promise.all([optOut, claim]);
          return { to, o, c };
        }));
        const views = await viewsByKey(store, campaignId);
        const outcomes = { sending: 0, skipped: 0 };
        for (const { to, o, c } of trials) {
          const status = views.get(`k${to}`)?.status;
          expect(['sending', 'skipped']).toContain(status);
          expect(status === 'sending').toBe(c.isMoved);
          if (o.doneAt < c.startedAt) expect(status, `${to}: opted out before the claim started`).toBe('skipped');
          if (c.doneAt < o.startedAt) expect(status, `${to}: claimed before the opt-out started`).toBe('sending');
          outcomes[status as 'sending' | 'skipped']++;
        }
        expect(outcomes.sending).toBeGreaterThan(0);
        expect(outcomes.skipped).toBeGreaterThan(0);
        expect(await store.suppressedAmong(accountId, tos)).toEqual(new Set(tos));
      });
    });

    describe('campaign transitions', () => {
      /** Whether `results` and `finalState` are what the transitions give in some serial order. */
      const isSerializable = (
        initial: CampaignState, openRows: number, transitions: readonly CampaignTransition[], results: boolean[], finalState: CampaignState,
      ): boolean => {
        const orders = permutations(transitions.map((_, i) => i));
        return orders.some((order) => {
          let state = initial;
          let open = openRows;
          const expected = transitions.map(() => false);
          for (const i of order) {
            const t = transitions[i] as CampaignTransition;
            if (!t.from.includes(state) || (t.onlyIfNoOpenRows && open > 0)) continue;
            state = t.to;
            if (t.cancelQueuedRows) open = 0;
            expected[i] = true;
          }
          return state === finalState && expected.every((e, i) => e === results[i]);
        });
      };

      const race = async (campaignId: string, transitions: readonly CampaignTransition[]) => {
        const results = await Promise.all(transitions.map((t) => store.transitionCampaign(t)));
        const campaign = await store.getCampaignById(campaignId);
        return { results, state: campaign?.state as CampaignState };
      };

      const t = (campaignId: string, from: CampaignState[], to: CampaignState, extra: Partial<CampaignTransition> = {}): CampaignTransition =>
        ({ campaignId, from, to, reason: null, nowMs: NOW + 5, ...extra });

      it('pause and cancel of a running campaign at once: exactly one wins', async () => {
        for (let trial = 0; trial < 5; trial++) {
          const { campaignId } = await seed();
          const { results, state } = await race(campaignId, [t(campaignId, ['running'], 'paused'), t(campaignId, ['running'], 'cancelled')]);
          expect(results.filter(Boolean)).toHaveLength(1);
          expect(state).toBe(results[0] ? 'paused' : 'cancelled');
        }
      });

      it('the same transition asked ten times at once moves the campaign once', async () => {
        const { campaignId } = await seed();
        const { results, state } = await race(campaignId, Array.from({ length: 10 }, () => t(campaignId, ['running'], 'paused')));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(state).toBe('paused');
      });

      it('pause, resume, cancel (with its rows) and finish at once: the results are those of some serial order', async () => {
        for (let trial = 0; trial < 5; trial++) {
          const { accountId, campaignId } = await seed();
          await addRows(store, accountId, campaignId, numbers(3, trial * 10).map((to) => newRow(to)));
          const transitions = [
            t(campaignId, ['running', 'scheduled'], 'paused'),
            t(campaignId, ['paused'], 'running'),
            t(campaignId, ['draft', 'scheduled', 'running', 'paused'], 'cancelled', { cancelQueuedRows: true }),
            t(campaignId, ['running'], 'finished', { onlyIfNoOpenRows: true }),
          ];
          // Started in a different order each trial.
          const order = [trial % 4, (trial + 1) % 4, (trial + 2) % 4, (trial + 3) % 4];
          const shuffled = order.map((i) => transitions[i] as CampaignTransition);
          const { results, state } = await race(campaignId, shuffled);
          expect(isSerializable('running', 3, shuffled, results, state), `results ${results} ending ${state}`).toBe(true);
          // Three queued rows: finish can never have won.
          expect(state).not.toBe('finished');
          const counts = await store.countByStatus(campaignId);
          if (state === 'cancelled') expect([counts.queued, counts.cancelled]).toEqual([0, 3]);
          else expect([counts.queued, counts.cancelled]).toEqual([3, 0]);
          const campaign = await store.getCampaignById(campaignId);
          expect(campaign?.finishedAt).toBe(state === 'cancelled' ? NOW + 5 : null);
        }
      });

      it('finish racing new rows: never a finished campaign with a queued row', async () => {
        for (let trial = 0; trial < 5; trial++) {
          const { accountId, campaignId } = await seed();
          const [finished, added] = await Promise.all([
            store.transitionCampaign(t(campaignId, ['running'], 'finished', { onlyIfNoOpenRows: true })),
            store.addMessages(campaignId, accountId, [newRow('+15553000000')], ['draft', 'scheduled', 'running', 'paused'], NOW),
          ]);
          const campaign = await store.getCampaignById(campaignId);
          const open = await store.countOpen(campaignId);
          if (finished) {
            expect(campaign?.state).toBe('finished');
            expect(added).toBeNull();
            expect(open).toBe(0);
          } else {
            expect(campaign?.state).toBe('running');
            expect(added).toEqual(['inserted']);
            expect(open).toBe(1);
          }
        }
      });
    });

    describe('row intake', () => {
      it('is idempotent per key: the same keys again are duplicate_key, a number already in the campaign duplicate_recipient', async () => {
        const { accountId, campaignId } = await seed('draft');
        const tos = numbers(5);
        const accepting: CampaignState[] = ['draft', 'scheduled', 'running', 'paused'];
        await store.addSuppression(accountId, tos[4] as string, 'keyword', NOW);
        expect(await store.addMessages(campaignId, accountId, tos.map((to) => newRow(to)), accepting, NOW)).toEqual(tos.map(() => 'inserted'));
        const before = await feedOf(store, campaignId);
        expect(await store.addMessages(campaignId, accountId, tos.map((to) => newRow(to)), accepting, NOW + 1)).toEqual(tos.map(() => 'duplicate_key'));
        expect(await store.addMessages(campaignId, accountId, [newRow(tos[0] as string, 'another key')], accepting, NOW + 1)).toEqual(['duplicate_recipient']);
        // Nothing changed: not even a new change in the feed.
        expect(await feedOf(store, campaignId)).toEqual(before);
        const counts = await store.countByStatus(campaignId);
        expect([counts.queued, counts.skipped]).toEqual([4, 1]);
        // A campaign in a state that does not accept rows stores nothing.
        expect(await store.addMessages(campaignId, accountId, [newRow('+15553999999')], ['running'], NOW)).toBeNull();
        expect(await feedOf(store, campaignId)).toHaveLength(5);
      });

      it('the same rows added concurrently: one row per key, every other result duplicate_key', async () => {
        const { accountId, campaignId } = await seed();
        const rows = numbers(30).map((to) => newRow(to));
        const calls = await Promise.all(Array.from({ length: 6 }, (_, i) =>
          store.addMessages(campaignId, accountId, rows, ['running'], NOW + i)));
        rows.forEach((row, r) => {
          const results = calls.map((call) => call?.[r]);
          expect(results.filter((x) => x === 'inserted'), row.key).toHaveLength(1);
          expect(results.filter((x) => x === 'duplicate_key'), row.key).toHaveLength(calls.length - 1);
        });
        const feed = await feedOf(store, campaignId);
        expect(feed.map((view) => view.key).sort()).toEqual(rows.map((row) => row.key).sort());
        expect((await store.countByStatus(campaignId)).queued).toBe(30);
      });
    });

    describe('statuses', () => {
      it('only move forward: delivered after read changes nothing, failed is final, a repeat is applied once', async () => {
        const { accountId, campaignId } = await seed();
        const ids = await addRows(store, accountId, campaignId, numbers(2).map((to) => newRow(to)));
        const [a, b] = [...ids.values()] as [number, number];
        const fence = await takeLease(store, accountId);
        await sendRows(store, fence, [{ id: a, wamid: 'wamid.a' }, { id: b, wamid: 'wamid.b' }]);

        const read = await applyEffects(store, accountId, { statuses: statusChanges(statusEvent('wamid.a', 'read')) }, NOW + 1);
        expect(read).toEqual({ statuses: { applied: 1, ignored: 0, unmatched: 0 }, touchedCampaignIds: [campaignId], failed: [], requeuedCampaignIds: [] });
        const afterRead = await feedOf(store, campaignId);
        const late = await applyEffects(store, accountId, {
          statuses: statusChanges(statusEvent('wamid.a', 'delivered'), statusEvent('wamid.a', 'read'), statusEvent('wamid.nobody', 'read')),
        }, NOW + 2);
        expect(late).toEqual({ statuses: { applied: 0, ignored: 2, unmatched: 1 }, touchedCampaignIds: [], failed: [], requeuedCampaignIds: [] });
        expect(await feedOf(store, campaignId)).toEqual(afterRead);

        const failed = await applyEffects(store, accountId, { statuses: statusChanges(statusEvent('wamid.b', 'failed', { campaignId, id: b }, '131026')) }, NOW + 3);
        expect(failed.failed).toEqual([{ campaignId, code: '131026' }]);
        const again = await applyEffects(store, accountId, {
          statuses: statusChanges(statusEvent('wamid.b', 'delivered'), statusEvent('wamid.b', 'read'), statusEvent('wamid.b', 'failed', null, '131026')),
        }, NOW + 4);
        expect(again).toEqual({ statuses: { applied: 0, ignored: 3, unmatched: 0 }, touchedCampaignIds: [], failed: [], requeuedCampaignIds: [] });
        const views = await feedOf(store, campaignId);
        expect(views.map((v) => [v.wamid, v.status, v.error])).toEqual([
          ['wamid.a', 'read', null],
          ['wamid.b', 'failed', { code: '131026', message: 'Failed with 131026.' }],
        ]);
      });

      it('a status settles a row still `sending` (its HTTP answer lost) by its callback data, and keeps its wamid', async () => {
        const { accountId, campaignId } = await seed();
        const [to] = numbers(1, 70) as [string];
        const ids = await addRows(store, accountId, campaignId, [newRow(to)]);
        const id = ids.get(to) as number;
        const fence = await takeLease(store, accountId);
        expect(await writeOne(store, { kind: 'claim', fence, ids: [id], nowMs: NOW })).toEqual([id]);
        const settled = await applyEffects(store, accountId, { statuses: statusChanges(statusEvent('wamid.late', 'delivered', { campaignId, id })) }, NOW + 1);
        expect(settled.statuses).toEqual({ applied: 1, ignored: 0, unmatched: 0 });
        expect((await viewsByKey(store, campaignId)).get(`k${to}`)).toMatchObject({ status: 'delivered', wamid: 'wamid.late' });
      });

      it('statuses of the same rows applied concurrently, in any order, end on the furthest', async () => {
        const { accountId, campaignId } = await seed();
        const tos = numbers(12);
        const ids = await addRows(store, accountId, campaignId, tos.map((to) => newRow(to)));
        const fence = await takeLease(store, accountId);
        await sendRows(store, fence, tos.map((to) => ({ id: ids.get(to) as number, wamid: `wamid.${to}` })));
        const words = ['delivered', 'read', 'sent', 'delivered', 'read'];
        const applies = tos.flatMap((to, r) => words.map((word, w) => applyEffects(store, accountId, {
          statuses: statusChanges(statusEvent(`wamid.${to}`, words[(w + r) % words.length] as string, { campaignId, id: ids.get(to) as number })),
        }, NOW + 1 + w)));
        const results = await Promise.all(applies);
        // Per row: sent→delivered and delivered→read, or sent→read directly, were applied; nothing else.
        const applied = results.reduce((sum, r) => sum + r.statuses.applied, 0);
        expect(applied).toBeGreaterThanOrEqual(tos.length);
        expect(applied).toBeLessThanOrEqual(2 * tos.length);
        expect((await feedOf(store, campaignId)).map((v) => v.status)).toEqual(tos.map(() => 'read'));
      });

      it('a body naming rows many times, by callback or by wamid, ends as its statuses applied one body each would', async () => {
        // Two accounts with the same rows: one gets the whole body at once, the other each status as its own body.
        const random = seededRandom(11);
        const tos = numbers(8);
        const words = ['sent', 'delivered', 'read', 'failed', 'failed', 'delivered'];
        const whole = await seed();
        const oneByOne = await seed();
        const sides = await Promise.all([whole, oneByOne].map(async (side) => {
          const ids = await addRows(store, side.accountId, side.campaignId, tos.map((to) => newRow(to)));
          const fence = await takeLease(store, side.accountId);
          await sendRows(store, fence, tos.map((to) => ({ id: ids.get(to) as number, wamid: `wamid.${to}` })));
          return { ...side, ids };
        }));
        const plan = Array.from({ length: 40 }, () => ({
          to: tos[Math.floor(random() * tos.length)] as string,
          word: words[Math.floor(random() * words.length)] as string,
          byCallback: random() < 0.5,
          // 131050: the person stopped marketing messages; the row's recipient is suppressed as it moves.
          code: random() < 0.5 ? '131050' : '131026',
          isStranger: random() < 0.1,
        }));
        const eventsOf = (side: (typeof sides)[number]): StatusEvent[] => plan.map((p) => statusEvent(
          p.isStranger ? `wamid.stranger.${p.to}` : `wamid.${p.to}`, p.word,
          p.byCallback && !p.isStranger ? { campaignId: side.campaignId, id: side.ids.get(p.to) as number } : null,
          p.word === 'failed' ? p.code : undefined,
        ));
        const [wholeSide, oneSide] = sides as [(typeof sides)[number], (typeof sides)[number]];
        const atOnce = await applyEffects(store, wholeSide.accountId, { statuses: statusChanges(...eventsOf(wholeSide)) }, NOW + 1);
        const each: WebhookApplied[] = [];
        for (const event of eventsOf(oneSide)) each.push(await applyEffects(store, oneSide.accountId, { statuses: statusChanges(event) }, NOW + 1));

        const sum = (key: 'applied' | 'ignored' | 'unmatched'): number => each.reduce((n, r) => n + r.statuses[key], 0);
        expect(atOnce.statuses).toEqual({ applied: sum('applied'), ignored: sum('ignored'), unmatched: sum('unmatched') });
        expect(atOnce.statuses.unmatched).toBeGreaterThan(0);
        expect(atOnce.failed.map((f) => f.code)).toEqual(each.flatMap((r) => r.failed.map((f) => f.code)));
        const final = async (side: (typeof sides)[number]): Promise<unknown[]> =>
          // By number: the feed's order among rows changed in one transaction is the store's (see postgres-locks.ts).
          (await feedOf(store, side.campaignId)).map((v) => [v.to, v.status, v.error?.code ?? null, v.wamid]).sort();
        expect(await final(wholeSide)).toEqual(await final(oneSide));
        const suppressed = async (accountId: string): Promise<unknown[]> =>
          (await store.listSuppressions(accountId)).map((s) => [s.to, s.source]).sort();
        expect(await suppressed(wholeSide.accountId)).toEqual(await suppressed(oneSide.accountId));
      });
    });

    describe('business-scoped user ids (BSUIDs)', () => {
      const reply = (userId: string, text: string, isOptOut = false): ReplyChange =>
        ({ contextWamid: null, recipients: [], userId, text, atMs: NOW + 5, isOptOut });
      const people = async (accountId: string): Promise<unknown[]> =>
        (await store.listSuppressions(accountId)).map((s) => [s.to, s.userId]).sort();

      it("a username-only user's reply lands on their row through the learnt pair, and their STOP suppresses number and BSUID", async () => {
        const { accountId, campaignId } = await seed();
        const [a, b] = numbers(2) as [string, string];
        const ids = await addRows(store, accountId, campaignId, [newRow(a), newRow(b)]);
        const fence = await takeLease(store, accountId);
        await sendRows(store, fence, [{ id: ids.get(a) as number, wamid: 'wamid.a' }, { id: ids.get(b) as number, wamid: 'wamid.b' }]);
        // A delivered status of our send names both (Meta's contacts block); the reply names the BSUID only.
        await applyEffects(store, accountId, { identities: [{ userId: 'US.1001', phones: [a] }] });
        const replied = await applyEffects(store, accountId, { replies: [reply('US.1001', 'Which sizes?')] }, NOW + 6);
        expect(replied.touchedCampaignIds).toEqual([campaignId]);
        expect((await viewsByKey(store, campaignId)).get(`k${a}`)?.reply?.text).toBe('Which sizes?');
        expect((await viewsByKey(store, campaignId)).get(`k${b}`)?.reply).toBeNull();

        await applyEffects(store, accountId, { replies: [reply('US.1001', 'STOP', true)] }, NOW + 7);
        expect(await people(accountId)).toEqual([[a, 'US.1001']]);
        // A later campaign reaches them neither by number nor by BSUID (the BSUID row goes to the known number).
        const later = uniqueId('camp');
        await store.insertCampaign(newCampaign(accountId, later));
        expect(await store.addMessages(later, accountId, [newRow('US.1001', 'k-bsuid'), newRow(a, 'k-phone'), newRow(b, 'k-b')],
          ['running'], NOW + 8)).toEqual(['inserted', 'duplicate_recipient', 'inserted']);
        const views = await viewsByKey(store, later);
        expect([views.get('k-bsuid')?.to, views.get('k-bsuid')?.status, views.get('k-b')?.status]).toEqual([a, 'skipped', 'queued']);
      });

      it('an opt-out by BSUID alone follows the number once the pair is learnt: its queued row is skipped at claim', async () => {
        const { accountId, campaignId } = await seed();
        const [c] = numbers(1, 50) as [string];
        const ids = await addRows(store, accountId, campaignId, [newRow(c)]);
        await applyEffects(store, accountId, { preferences: [{ recipients: [], userId: 'BR.2002', value: 'stop' }] });
        expect(await people(accountId)).toEqual([[null, 'BR.2002']]);
        await applyEffects(store, accountId, { identities: [{ userId: 'BR.2002', phones: [c] }] });
        expect(await people(accountId)).toEqual([[c, 'BR.2002']]);
        const fence = await takeLease(store, accountId);
        expect(await writeOne(store, { kind: 'claim', fence, ids: [ids.get(c) as number], nowMs: NOW + 1 })).toEqual([]);
        expect((await viewsByKey(store, campaignId)).get(`k${c}`)?.status).toBe('skipped');
      });

      it("a new number or BSUID carries the person's opt-out, and the old BSUID's pair is gone", async () => {
        const { accountId } = await seed();
        const [d, e] = numbers(2, 60) as [string, string];
        await applyEffects(store, accountId, { identities: [{ userId: 'IN.3003', phones: [d] }] });
        await store.addSuppression(accountId, d, 'api', NOW);
        expect(await people(accountId)).toEqual([[d, 'IN.3003']]);
        await applyEffects(store, accountId, { identityChanges: [{ previous: ['IN.3003', d], userId: 'IN.4004', phones: [e] }] });
        const after = await people(accountId);
        expect(after).toContainEqual([e, 'IN.4004']);
        expect(after).toContainEqual([d, null]);
        // A change of BSUID alone keeps the number: the new id is linked to it.
        await applyEffects(store, accountId, { identityChanges: [{ previous: ['IN.4004'], userId: 'IN.5005', phones: [] }] });
        expect(await people(accountId)).toContainEqual([e, 'IN.5005']);
        // Resuming by number takes every id of the person off the list.
        expect(await store.removeSuppression(accountId, e)).toBe(true);
        expect(await people(accountId)).toEqual([[d, null]]);
      });

      it('a row named by a BSUID the account does not know keeps it, and is claimed like any row', async () => {
        const { accountId, campaignId } = await seed();
        const ids = await addRows(store, accountId, campaignId, [newRow('US.777000111')]);
        expect([...ids.keys()]).toEqual(['US.777000111']);
        const fence = await takeLease(store, accountId);
        const id = ids.get('US.777000111') as number;
        expect(await writeOne(store, { kind: 'claim', fence, ids: [id], nowMs: NOW + 1 })).toEqual([id]);
      });
    });

    describe('frequency-capped sends (131049)', () => {
      const DAY = 24 * 3600 * 1000;
      const capped = (wamid: string, callback: { campaignId: string; id: number } | null, atMs: number): StatusChange[] =>
        statusChangesFor([{ ...statusEvent(wamid, 'failed', callback, '131049'), timestampMs: atMs }],
          { policy: { waitMs: DAY, maxRetries: 2 }, nowMs: atMs }).changes;

      it('waits 24 h as queued with its error (never for +1 numbers), gives up after its retries, and a reply makes it due', async () => {
        const { accountId, campaignId } = await seed();
        const india = '+919876500001';
        const us = '+16505550001';
        const ids = await addRows(store, accountId, campaignId, [newRow(india), newRow(us)]);
        const [a, u] = [ids.get(india) as number, ids.get(us) as number];
        const fence = await takeLease(store, accountId);
        await sendRows(store, fence, [{ id: a, wamid: 'wamid.a1' }, { id: u, wamid: 'wamid.u1' }]);

        // Both were accepted, so the campaign finished; the late failure reopens it, since a row waits again.
        expect(await store.transitionCampaign({ campaignId, from: ['running'], to: 'finished', reason: null, nowMs: NOW + 5, onlyIfNoOpenRows: true })).toBe(true);
        const applied = await applyEffects(store, accountId, {
          statuses: [...capped('wamid.a1', { campaignId, id: a }, NOW + 10), ...capped('wamid.u1', { campaignId, id: u }, NOW + 10)],
        }, NOW + 11);
        expect((await store.getCampaign(accountId, campaignId))?.state).toBe('running');
        // Only the +1 row failed (and only it counts against the campaign's error budget).
        expect(applied.failed).toEqual([{ campaignId, code: '131049' }]);
        let views = await viewsByKey(store, campaignId);
        expect(views.get(`k${india}`)).toMatchObject({ status: 'queued', nextAttemptAt: NOW + 10 + DAY, error: { code: '131049' } });
        expect(views.get(`k${us}`)).toMatchObject({ status: 'failed', nextAttemptAt: null, error: { code: '131049' } });
        expect((await store.loadQueued(campaignId, 0, 10)).map((q) => [q.id, q.nextAttemptAt, q.errorCode])).toEqual([[a, NOW + 10 + DAY, '131049']]);

        // A late copy of the first attempt's failure changes nothing while the row waits.
        const late = await applyEffects(store, accountId, { statuses: capped('wamid.a1', { campaignId, id: a }, NOW + 12) }, NOW + 12);
        expect(late.statuses).toEqual({ applied: 0, ignored: 1, unmatched: 0 });

        // The person writes: their row is due at the reply's time.
        const wrote = await applyEffects(store, accountId, {
          replies: [{ contextWamid: null, recipients: [india], userId: null, text: 'Hello?', atMs: NOW + 20, isOptOut: false }],
        }, NOW + 21);
        expect(wrote.requeuedCampaignIds).toEqual([campaignId]);
        expect(applied.requeuedCampaignIds).toEqual([campaignId]);
        expect((await store.loadQueued(campaignId, 0, 10)).map((q) => q.nextAttemptAt)).toEqual([NOW + 20]);

        // Second attempt (attempts 1 of 3), capped again: waits again; third attempt capped: failed for good.
        await sendRows(store, fence, [{ id: a, wamid: 'wamid.a2' }], NOW + 30);
        await applyEffects(store, accountId, { statuses: capped('wamid.a2', { campaignId, id: a }, NOW + 40) }, NOW + 41);
        views = await viewsByKey(store, campaignId);
        expect(views.get(`k${india}`)).toMatchObject({ status: 'queued', nextAttemptAt: NOW + 40 + DAY });
        await sendRows(store, fence, [{ id: a, wamid: 'wamid.a3' }], NOW + 50);
        const last = await applyEffects(store, accountId, { statuses: capped('wamid.a3', { campaignId, id: a }, NOW + 60) }, NOW + 61);
        expect(last.failed).toEqual([{ campaignId, code: '131049' }]);
        expect((await viewsByKey(store, campaignId)).get(`k${india}`)).toMatchObject({ status: 'failed', wamid: 'wamid.a3' });
      });

      it("a reply by BSUID alone makes the person's waiting rows due in every campaign of the account, and no one else's", async () => {
        const { accountId, campaignId } = await seed();
        const second = uniqueId('camp');
        await store.insertCampaign(newCampaign(accountId, second, 'running'));
        const other = await seed();
        const [person, neighbour] = ['+919876500011', '+919876500012'];
        const rowsOf = new Map<string, Map<string, number>>();
        for (const [account, campaign] of [[accountId, campaignId], [accountId, second], [other.accountId, other.campaignId]] as const) {
          rowsOf.set(campaign, await addRows(store, account, campaign, [newRow(person), newRow(neighbour)]));
        }
        let n = 0;
        for (const [account, campaigns] of [[accountId, [campaignId, second]], [other.accountId, [other.campaignId]]] as const) {
          const fence = await takeLease(store, account);
          const sends = campaigns.flatMap((c) => [person, neighbour].map((to) => ({ id: rowsOf.get(c)!.get(to)!, wamid: `wamid.f${n++}`, c })));
          await sendRows(store, fence, sends, NOW + 1);
          await applyEffects(store, account, { statuses: sends.flatMap((x) => capped(x.wamid, { campaignId: x.c, id: x.id }, NOW + 10)) }, NOW + 11);
        }
        await applyEffects(store, accountId, { identities: [{ userId: 'IN.9009', phones: [person] }] }, NOW + 12);
        await applyEffects(store, other.accountId, { identities: [{ userId: 'IN.9009', phones: [person] }] }, NOW + 12);

        const wrote = await applyEffects(store, accountId, {
          replies: [{ contextWamid: null, recipients: [], userId: 'IN.9009', text: 'Hi', atMs: NOW + 20, isOptOut: false }],
        }, NOW + 21);
        expect([...wrote.requeuedCampaignIds].sort()).toEqual([campaignId, second].sort());
        for (const [campaign, due] of [[campaignId, NOW + 20], [second, NOW + 20], [other.campaignId, NOW + 10 + DAY]] as const) {
          const queued = new Map((await store.loadQueued(campaign, 0, 10)).map((q) => [q.to, q.nextAttemptAt]));
          expect(queued).toEqual(new Map([[person, due], [neighbour, NOW + 10 + DAY]]));
        }
      });
    });

    describe('replies', () => {
      it('a body of many replies (quoted or not, opt-outs, strangers) ends as its replies applied one body each would', async () => {
        const random = seededRandom(12);
        const tos = numbers(6);
        const strangers = numbers(2, 500);
        const sides = await Promise.all([0, 1].map(async () => {
          const side = await seed();
          const ids = await addRows(store, side.accountId, side.campaignId, tos.map((to) => newRow(to)));
          const fence = await takeLease(store, side.accountId);
          await sendRows(store, fence, tos.map((to) => ({ id: ids.get(to) as number, wamid: `wamid.${side.accountId}.${to}` })));
          return side;
        }));
        const plan = Array.from({ length: 30 }, (_, i) => ({
          to: [...tos, ...strangers][Math.floor(random() * (tos.length + strangers.length))] as string,
          isQuoted: random() < 0.5,
          isOptOut: random() < 0.3,
          text: `reply ${i}`,
        }));
        const repliesOf = (accountId: string): ReplyChange[] => plan.map((p, i) => ({
          contextWamid: p.isQuoted ? `wamid.${accountId}.${p.to}` : null, recipients: [p.to], text: p.text,
          atMs: NOW + i, isOptOut: p.isOptOut, userId: null,
        }));
        const [whole, oneByOne] = sides as [(typeof sides)[number], (typeof sides)[number]];
        const atOnce = await applyEffects(store, whole.accountId, { replies: repliesOf(whole.accountId) }, NOW + 100);
        const each: WebhookApplied[] = [];
        for (const reply of repliesOf(oneByOne.accountId)) each.push(await applyEffects(store, oneByOne.accountId, { replies: [reply] }, NOW + 100));

        expect(atOnce.touchedCampaignIds).toEqual(each.some((r) => r.touchedCampaignIds.length > 0) ? [whole.campaignId] : []);
        const final = async (side: (typeof sides)[number]): Promise<unknown[]> =>
          (await feedOf(store, side.campaignId)).map((v) => [v.to, v.status, v.reply?.text ?? null, v.reply?.at ?? null]).sort();
        const finalWhole = await final(whole);
        expect(finalWhole).toEqual(await final(oneByOne));
        expect(finalWhole.filter((row) => (row as unknown[])[2] !== null).length).toBeGreaterThan(1);
        const suppressed = async (accountId: string): Promise<unknown[]> =>
          (await store.listSuppressions(accountId)).map((s) => [s.to, s.source]).sort();
        expect(await suppressed(whole.accountId)).toEqual(await suppressed(oneByOne.accountId));
        expect((await suppressed(whole.accountId)).length).toBeGreaterThan(1);
      });
    });

    describe('the changes feed', () => {
      it('a reader paging while several writers commit sees every change once, in order, and ends on the stored state', async () => {
        const report = await runFeedUnderConcurrentWriters(store, { seed: 4, rows: 60, writers: 6, turnsPerWriter: 25, pageSize: 5, undoShare: 0.2 });
        expect(report.committedChanges).toBeGreaterThan(200);
        expect(report.refusedWrites).toBeGreaterThan(0);
      });
    });

    describe('fencing', () => {
      it('a claim or outcome fenced with a stale token fails with LeaseLostError and changes nothing; the rest of its batch commits', async () => {
        const { accountId, campaignId } = await seed();
        const tos = numbers(4);
        const ids = await addRows(store, accountId, campaignId, tos.map((to) => newRow(to)));
        const [a, b, c, d] = tos.map((to) => ids.get(to) as number) as [number, number, number, number];
        const old = await store.acquireSenderLease(accountId, 'h1', SHORT_TTL_MS);
        expect(old).not.toBeNull();
        const oldFence: SenderFence = { accountId, token: (old as { token: number }).token };
        expect(await writeOne(store, { kind: 'claim', fence: oldFence, ids: [a], nowMs: NOW })).toEqual([a]);

        // A token never granted.
        const never = await store.writeBatch([{ kind: 'claim', fence: { accountId, token: oldFence.token + 7 }, ids: [b], nowMs: NOW }]);
        expect(errorOf(never[0])).toBeInstanceOf(LeaseLostError);

        // The lease expires and h2 takes it over: h1's token is stale.
        await passTime(SHORT_TTL_MS);
        const next = await store.acquireSenderLease(accountId, 'h2', 60_000);
        expect(next?.token).toBeGreaterThan(oldFence.token);
        const newFence: SenderFence = { accountId, token: (next as { token: number }).token };
        const before = await feedOf(store, campaignId);
        const results = await store.writeBatch([
          { kind: 'claim', fence: oldFence, ids: [b, c], nowMs: NOW + 1 },
          { kind: 'outcomes', fence: oldFence, outcomes: [{ id: a, kind: 'sent', wamid: 'wamid.stale' }], nowMs: NOW + 1 },
          { kind: 'save_webhook', accountId, body: Buffer.from('kept'), nowMs: NOW + 1 },
          { kind: 'claim', fence: newFence, ids: [d], nowMs: NOW + 1 },
        ]);
        expect(errorOf(results[0])).toBeInstanceOf(LeaseLostError);
        expect(errorOf(results[1])).toBeInstanceOf(LeaseLostError);
        expect((errorOf(results[1]) as LeaseLostError).accountId).toBe(accountId);
        expect(results[2]?.ok).toBe(true);
        expect(results[3]).toEqual({ ok: true, value: [d] });
        const after = await viewsByKey(store, campaignId);
        // Only d moved: a is still sending without a wamid, b and c still queued.
        expect(tos.map((to) => after.get(`k${to}`)?.status)).toEqual(['sending', 'queued', 'queued', 'sending']);
        expect(after.get(`k${tos[0]}`)).toEqual(before.find((v) => v.key === `k${tos[0]}`));
        expect(after.get(`k${tos[0]}`)?.wamid).toBeNull();
        const pending = await store.claimPendingWebhooks(100, 60_000);
        expect(pending.filter((p) => p.accountId === accountId).map((p) => p.body.toString())).toEqual(['kept']);
      });

      it('a claim under an expired lease fails even before anyone takes it over', async () => {
        const { accountId, campaignId } = await seed();
        const ids = [...(await addRows(store, accountId, campaignId, [newRow('+15554000000')])).values()];
        const lease = await store.acquireSenderLease(accountId, 'h1', SHORT_TTL_MS);
        await passTime(SHORT_TTL_MS);
        const [result] = await store.writeBatch([{ kind: 'claim', fence: { accountId, token: lease?.token ?? 0 }, ids, nowMs: NOW }]);
        expect(errorOf(result)).toBeInstanceOf(LeaseLostError);
        expect((await store.countByStatus(campaignId)).queued).toBe(1);
      });

      it("a fence claims only its own account's rows", async () => {
        const mine = await seed();
        const theirs = await seed();
        const theirIds = [...(await addRows(store, theirs.accountId, theirs.campaignId, [newRow('+15554100000')])).values()];
        const fence = await takeLease(store, mine.accountId);
        expect(await writeOne(store, { kind: 'claim', fence, ids: theirIds, nowMs: NOW })).toEqual([]);
        // And a fence for an account whose lease nobody holds is refused.
        const [refused] = await store.writeBatch([{ kind: 'claim', fence: { accountId: theirs.accountId, token: fence.token }, ids: theirIds, nowMs: NOW }]);
        expect(errorOf(refused)).toBeInstanceOf(LeaseLostError);
        expect((await store.countByStatus(theirs.campaignId)).queued).toBe(1);
      });
    });

    describe('leases', () => {
      it('two holders racing for a free sender lease: one wins', async () => {
        for (let trial = 0; trial < 5; trial++) {
          const accountId = uniqueId('lease');
          const leases = await Promise.all(['h1', 'h2', 'h3'].map((holder) => store.acquireSenderLease(accountId, holder, 60_000)));
          const winners = leases.filter((lease) => lease !== null);
          expect(winners).toHaveLength(1);
          expect(winners[0]).toMatchObject({ accountId, validForMs: 60_000 });
        }
      });

      it('renewal by the holder keeps the token; a takeover after expiry gets a higher one', async () => {
        const accountId = uniqueId('lease');
        const first = await store.acquireSenderLease(accountId, 'h1', SHORT_TTL_MS);
        expect(first).not.toBeNull();
        const token = (first as { token: number }).token;
        expect(await store.acquireSenderLease(accountId, 'h2', SHORT_TTL_MS)).toBeNull();
        const renewed = await store.acquireSenderLease(accountId, 'h1', SHORT_TTL_MS);
        expect(renewed?.token).toBe(token);
        await passTime(SHORT_TTL_MS);
        const taken = await store.acquireSenderLease(accountId, 'h2', 60_000);
        expect(taken?.token).toBeGreaterThan(token);
        // The old holder cannot renew its way back.
        expect(await store.acquireSenderLease(accountId, 'h1', 60_000)).toBeNull();
        // Concurrent renewals by the holder all keep its token.
        const renewals = await Promise.all(Array.from({ length: 5 }, () => store.acquireSenderLease(accountId, 'h2', 60_000)));
        expect(renewals.map((lease) => lease?.token)).toEqual(renewals.map(() => taken?.token));
      });

      it('a released lease stays unclaimable for the quiet time, then goes to the next holder with a higher token', async () => {
        const accountId = uniqueId('lease');
        const held = await store.acquireSenderLease(accountId, 'h1', 60_000);
        const fence = { accountId, token: held?.token ?? 0 };
        // Released by a holder that does not hold it: nothing happens.
        await store.releaseSenderLease(fence, 'h2', 0);
        await store.releaseSenderLease({ accountId, token: fence.token + 1 }, 'h1', 0);
        expect(await store.acquireSenderLease(accountId, 'h2', 60_000)).toBeNull();

        await store.releaseSenderLease(fence, 'h1', SHORT_TTL_MS);
        expect(await store.acquireSenderLease(accountId, 'h2', 60_000)).toBeNull();
        expect(await store.acquireSenderLease(accountId, 'h1', 60_000)).toBeNull();
        // Nor can the releaser write with its old fence during the quiet time: its last sends are behind it.
        const [claim, outcomes] = await store.writeBatch([
          { kind: 'claim', fence, ids: [1], nowMs: 0 },
          { kind: 'outcomes', fence, outcomes: [{ id: 1, kind: 'requeue' }], nowMs: 0 },
        ]);
        expect(claim).toMatchObject({ ok: false, error: { name: 'LeaseLostError' } });
        expect(outcomes).toMatchObject({ ok: false, error: { name: 'LeaseLostError' } });
        await passTime(SHORT_TTL_MS);
        const next = await store.acquireSenderLease(accountId, 'h2', 60_000);
        expect(next?.token).toBeGreaterThan(fence.token);
      });

      it('a job lease has one holder at a time', async () => {
        const job = uniqueId('job');
        const first = await Promise.all(['i1', 'i2', 'i3'].map((holder) => store.acquireJobLease(job, holder, SHORT_TTL_MS)));
        expect(first.filter(Boolean)).toHaveLength(1);
        const holder = ['i1', 'i2', 'i3'][first.indexOf(true)] as string;
        const other = holder === 'i1' ? 'i2' : 'i1';
        expect(await store.acquireJobLease(job, holder, SHORT_TTL_MS)).toBe(true);
        expect(await store.acquireJobLease(job, other, SHORT_TTL_MS)).toBe(false);
        await passTime(SHORT_TTL_MS);
        expect(await store.acquireJobLease(job, other, 60_000)).toBe(true);
        expect(await store.acquireJobLease(job, holder, 60_000)).toBe(false);
      });
    });

    describe('webhook inbox', () => {
      it('hands each stored body to one claimer, in arrival order, again only after the claim ran out unapplied', async () => {
        const accountId = uniqueId('inbox');
        await store.insertAccount(newAccount(accountId));
        const saved = await store.writeBatch(Array.from({ length: 12 }, (_, i) => (
          { kind: 'save_webhook' as const, accountId, body: Buffer.from(`body ${i} é`), nowMs: NOW + i })));
        const inboxIds = saved.map((result) => (result as { ok: true; value: number }).value);
        expect(saved.every((result) => result.ok)).toBe(true);

        const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimPendingWebhooks(4, SHORT_TTL_MS)));
        const leftover = await store.claimPendingWebhooks(100, SHORT_TTL_MS);
        const handed = [...claims, leftover].flat().filter((p) => p.accountId === accountId);
        expect(handed.map((p) => p.id).sort((x, y) => x - y)).toEqual([...inboxIds].sort((x, y) => x - y));
        for (const claim of [...claims, leftover]) {
          expect(claim.length).toBeLessThanOrEqual(claim === leftover ? 100 : 4);
          const own = claim.map((p) => p.id);
          expect(own).toEqual([...own].sort((x, y) => x - y));
        }
        for (const p of handed) expect(p.body.toString()).toBe(`body ${inboxIds.indexOf(p.id)} é`);
        // All held: nothing more to hand out.
        expect((await store.claimPendingWebhooks(100, SHORT_TTL_MS)).filter((p) => p.accountId === accountId)).toEqual([]);

        // Apply half; after the claims run out, only the other half comes back.
        const applied = inboxIds.slice(0, 6);
        for (const inboxId of applied) {
          await writeOne(store, { kind: 'apply_webhook', inboxId, accountId, nowMs: NOW, effects: { statuses: [], replies: [], preferences: [], identities: [], identityChanges: [] } });
        }
        await passTime(SHORT_TTL_MS);
        const again = await Promise.all(Array.from({ length: 3 }, () => store.claimPendingWebhooks(100, 60_000)));
        const againIds = again.flat().filter((p) => p.accountId === accountId).map((p) => p.id).sort((x, y) => x - y);
        expect(againIds).toEqual(inboxIds.slice(6).sort((x, y) => x - y));
      });
    });

    describe('erasure', () => {
      it('deleteAccount leaves nothing of the account that any port can find, and nothing of another account is touched', async () => {
        const gone = await seed();
        const kept = await seed();
        const second = uniqueId('camp');
        await store.insertCampaign(newCampaign(gone.accountId, second, 'draft'));
        const tos = numbers(3);
        for (const { accountId, campaignId } of [gone, kept]) {
          const ids = await addRows(store, accountId, campaignId, tos.map((to) => newRow(to)));
          const fence = await takeLease(store, accountId);
          await sendRows(store, fence, [{ id: ids.get(tos[0] as string) as number, wamid: `wamid.${accountId}` }]);
          await applyEffects(store, accountId, {
            replies: [{ contextWamid: `wamid.${accountId}`, recipients: [tos[0] as string], text: 'hello', atMs: NOW, isOptOut: false, userId: null }],
            preferences: [{ recipients: [tos[1] as string], userId: null, value: 'stop' }],
          });
          await store.addSuppression(accountId, tos[2] as string, 'api', NOW);
          await writeOne(store, { kind: 'save_webhook', accountId, body: Buffer.from(`pending ${accountId}`), nowMs: NOW });
        }
        await addRows(store, gone.accountId, second, [newRow('+15555000000')]);
        const keptFeed = await feedOf(store, kept.campaignId);
        const keptSuppressions = await store.listSuppressions(kept.accountId);

        const snapshot = await store.privacy.openSnapshot(gone.accountId);
        expect(snapshot?.account.id).toBe(gone.accountId);
        await snapshot?.close();

        const counts = await store.privacy.deleteAccount(gone.accountId);
        expect(counts).toEqual({ campaigns: 2, messages: 4, suppressions: 2, webhooks: 1 });

        expect(await store.getAccount(gone.accountId)).toBeNull();
        expect(await store.getAccountSecrets(gone.accountId)).toBeNull();
        expect(await store.getAccountByApiKeyHash(`hash-${gone.accountId}`)).toBeNull();
        expect(await store.findAccountByPhoneNumberId(`p-${gone.accountId}`)).toBeNull();
        expect(await store.findSandboxAccountByWabaId(`w-${gone.accountId}`)).toBeNull();
        expect((await store.listAccounts()).map((a) => a.id)).not.toContain(gone.accountId);
        expect(await store.listCampaigns(gone.accountId)).toEqual([]);
        for (const campaignId of [gone.campaignId, second]) {
          expect(await store.getCampaignById(campaignId)).toBeNull();
          expect(await store.listMessagesChangedAfter(campaignId, 0, 100)).toEqual([]);
          expect(await store.listChanges(campaignId, 0, 100)).toEqual([]);
          expect(await store.loadQueued(campaignId, 0, 100)).toEqual([]);
          expect(await store.countOpen(campaignId)).toBe(0);
          expect(await store.hasOpenRows(campaignId)).toBe(false);
        }
        const states: CampaignState[] = ['draft', 'scheduled', 'running', 'paused', 'cancelled', 'finished'];
        expect((await store.listCampaignsInStates(states)).filter((c) => c.accountId === gone.accountId)).toEqual([]);
        expect(await store.listSuppressions(gone.accountId)).toEqual([]);
        expect(await store.suppressedAmong(gone.accountId, tos)).toEqual(new Set());
        expect(await store.recentRecipients(gone.accountId, 0)).toEqual([]);
        expect((await store.privacy.listRetentionPolicies()).map((p) => p.accountId)).not.toContain(gone.accountId);
        expect(await store.privacy.openSnapshot(gone.accountId)).toBeNull();
        const pending = await store.claimPendingWebhooks(100, 60_000);
        expect(pending.filter((p) => p.accountId === gone.accountId)).toEqual([]);
        // A sender still holding the erased account's lease moves nothing (the store may also refuse its fence).
        const [claim] = await store.writeBatch([{ kind: 'claim', fence: { accountId: gone.accountId, token: 1 }, ids: [1, 2, 3], nowMs: NOW }]);
        if (claim?.ok) expect(claim.value).toEqual([]);
        else expect(claim?.error).toBeInstanceOf(LeaseLostError);

        // The other account is as it was.
        expect(await store.getAccount(kept.accountId)).not.toBeNull();
        expect((await store.listCampaigns(kept.accountId)).map((c) => c.id)).toEqual([kept.campaignId]);
        expect(await feedOf(store, kept.campaignId)).toEqual(keptFeed);
        expect(await store.listSuppressions(kept.accountId)).toEqual(keptSuppressions);
        expect(pending.filter((p) => p.accountId === kept.accountId).map((p) => p.body.toString())).toEqual([`pending ${kept.accountId}`]);
      });
    });
  });
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}
