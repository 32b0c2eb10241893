// A SQLite store on a temporary file with its privacy adapter (store.privacy), and small builders for accounts,
// campaigns and message rows at chosen times, going through the store's ports as the service does. Test-only.
import { mkdtempSync, readFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretBox } from '../../../service/adapters/crypto/secret-box';
import type { SqlitePrivacyStore } from '../../../service/adapters/sqlite/sqlite-privacy-store';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { isForwardMove, MESSAGE_STATUSES, type DeliveryStatus } from '../../../service/campaigns/message-status';
import type { Account, BatchItemResult, BatchWrite, Campaign, MessageError, WebhookEffects } from '../../../service/campaigns/ports';
import type { TemplateDefinition } from '../../../service/campaigns/template';

export const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}.', footerText: null, buttons: [], parameters: [],
};

/** The states in which a campaign takes rows (CampaignService's acceptsRows). */
const ACCEPTING = ['draft', 'scheduled', 'running', 'paused'] as const;

export interface StoreFixture {
  dir: string;
  path: string;
  store: SqliteStore;
  privacy: SqlitePrivacyStore;
  addAccount(id: string, retentionDays: number, nowMs: number): Promise<Account>;
  addCampaign(accountId: string, id: string, nowMs: number, state?: Campaign['state']): Promise<void>;
  /** Adds a row whose single parameter is `param` (queued, or skipped when `to` is suppressed); returns its id. */
  addRow(accountId: string, campaignId: string, to: string, param: string, nowMs: number): Promise<number>;
  /**
   * Claims a queued row of a running campaign (`sending`) and records its send at `nowMs`: `sent` with a new wamid,
   * or `failed` when `failure` is given.
   */
  send(id: number, nowMs: number, failure?: MessageError): Promise<void>;
  /** A status webhook for the sent row `id`, applied at `nowMs`. */
  setStatus(id: number, status: DeliveryStatus, nowMs: number): Promise<void>;
  /** An inbound reply quoting the sent row `id`, received at `atMs` and applied at `nowMs`. */
  reply(id: number, text: string, atMs: number, nowMs: number): Promise<void>;
  /** Stores a webhook body as the webhook route does; returns its inbox id. */
  saveWebhook(accountId: string, body: string, nowMs: number): Promise<number>;
  isSuppressed(accountId: string, to: string): Promise<boolean>;
  /** The raw bytes of the database file and its write-ahead log, as latin1 text for substring checks. */
  rawFiles(): string;
  /** Size of the write-ahead log file (0 once a flush emptied it, or when there is none). */
  walBytes(): number;
  close(): Promise<void>;
}

export function openStoreFixture(): StoreFixture {
  const dir = mkdtempSync(join(tmpdir(), 'privacy-store-'));
  const path = join(dir, 'campaigns.db');
  const store = new SqliteStore(path, new SecretBox(SecretBox.generateKey()));
  const privacy = store.privacy;
  let wamids = 0;

  const rowOf = (id: number): { account_id: string; to_e164: string; wamid: string | null } => {
    const row = store.db.prepare('SELECT account_id, to_e164, wamid FROM messages WHERE id = ?').get(id) as
      { account_id: string; to_e164: string; wamid: string | null } | undefined;
    if (!row) throw new Error(`no row ${id}`);
    return row;
  };
  /** One write through writeBatch; throws when it failed. */
  const write = async (w: BatchWrite): Promise<unknown> => {
    const [result] = await store.writeBatch([w]) as [BatchItemResult];
    if (!result.ok) throw result.error;
    return result.value;
  };
  const applyWebhook = async (accountId: string, effects: WebhookEffects, nowMs: number): Promise<void> => {
    const inboxId = await write({ kind: 'save_webhook', accountId, body: Buffer.from('{}'), nowMs }) as number;
    await write({ kind: 'apply_webhook', inboxId, accountId, effects, nowMs });
  };

  const fixture: StoreFixture = {
    dir, path, store, privacy,
    async addAccount(id, retentionDays, nowMs) {
      const account: Account = {
        id, name: `Account ${id}`, isSandbox: true, phoneNumberId: `p-${id}`, wabaId: `w-${id}`, messagesPerSecond: 80,
        dailyLimit: null, defaultCountry: 'IN', retentionDays, optOutWords: [], marketingMessagesApi: false, createdAt: nowMs,
      };
      await store.insertAccount({ account, secrets: { accessToken: `token-${id}`, appSecret: `secret-${id}`, verifyToken: `verify-${id}` }, apiKeyHash: `hash-${id}` });
      return account;
    },
    async addCampaign(accountId, id, nowMs, state = 'running') {
      await store.insertCampaign({
        id, accountId, name: `Campaign ${id}`, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
        sendAt: null, defaultCountry: null, sheet: null, state, stateReason: null, createdAt: nowMs, startedAt: nowMs, finishedAt: null,
      });
    },
    async addRow(accountId, campaignId, to, param, nowMs) {
      const results = await store.addMessages(campaignId, accountId, [{ key: `k${to}`, to, params: { 1: param }, headerMedia: null }],
        ACCEPTING, nowMs);
      if (results?.[0] !== 'inserted') throw new Error(`row ${to} not inserted: ${String(results?.[0] ?? 'campaign closed')}`);
      const row = store.db.prepare('SELECT id FROM messages WHERE campaign_id = ? AND to_e164 = ?').get(campaignId, to) as
        { id: number } | undefined;
      if (!row) throw new Error(`row ${to} not inserted`);
      return row.id;
    },
    async send(id, nowMs, failure) {
      const accountId = rowOf(id).account_id;
      // Renewed at every send (the same holder keeps its token), so a long test never sees it lapse.
      const lease = await store.acquireSenderLease(accountId, 'test', 60_000);
      if (!lease) throw new Error(`no sender lease for ${accountId}`);
      const fence = { accountId, token: lease.token };
      // The claim and the outcome in one transaction, as the group commit may write them.
      const [claim, outcome] = await store.writeBatch([
        { kind: 'claim', fence, ids: [id], nowMs },
        {
          kind: 'outcomes', fence, nowMs,
          outcomes: [failure ? { id, kind: 'failed', error: failure } : { id, kind: 'sent', wamid: `wamid.${++wamids}` }],
        },
      ]) as [BatchItemResult, BatchItemResult];
      if (!claim.ok) throw claim.error;
      if (!(claim.value as number[]).includes(id)) throw new Error(`row ${id} was not claimed`);
      if (!outcome.ok) throw outcome.error;
    },
    async setStatus(id, status, nowMs) {
      const row = rowOf(id);
      if (!row.wamid) throw new Error(`row ${id} was not sent`);
      await applyWebhook(row.account_id, {
        statuses: [{
          callback: null, wamid: row.wamid, status, from: MESSAGE_STATUSES.filter((s) => isForwardMove(s, status)),
          error: null, suppressAs: null, retry: null,
        }],
        replies: [], preferences: [], identities: [], identityChanges: [],
      }, nowMs);
    },
    async reply(id, text, atMs, nowMs) {
      const row = rowOf(id);
      if (!row.wamid) throw new Error(`row ${id} was not sent`);
      await applyWebhook(row.account_id, {
        statuses: [], replies: [{ contextWamid: row.wamid, recipients: [row.to_e164], text, atMs, isOptOut: false, userId: null }], preferences: [],
        identities: [], identityChanges: [],
      }, nowMs);
    },
    async saveWebhook(accountId, body, nowMs) {
      return await write({ kind: 'save_webhook', accountId, body: Buffer.from(body), nowMs }) as number;
    },
    async isSuppressed(accountId, to) {
      return (await store.suppressedAmong(accountId, [to])).has(to);
    },
    rawFiles() {
      const parts = [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('latin1'));
      return parts.join('\n');
    },
    walBytes() {
      return existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}
