// A SQLite store on a temporary file with the privacy adapter over it, and small builders for accounts, campaigns
// and message rows at chosen times. Test-only.
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretBox } from '../../../service/adapters/crypto/secret-box';
import { SqlitePrivacyStore } from '../../../service/adapters/sqlite/sqlite-privacy-store';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { Account, Campaign } from '../../../service/campaigns/ports';
import type { TemplateDefinition } from '../../../service/campaigns/template';

export const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}.', footerText: null, buttons: [], parameters: [],
};

export interface StoreFixture {
  dir: string;
  path: string;
  store: SqliteStore;
  privacy: SqlitePrivacyStore;
  addAccount(id: string, retentionDays: number, nowMs: number): Account;
  addCampaign(accountId: string, id: string, nowMs: number, state?: Campaign['state']): void;
  /** Inserts a queued row whose single parameter is `param`; returns its id. */
  addRow(accountId: string, campaignId: string, to: string, param: string, nowMs: number): number;
  /** Moves a queued row through `sending` to `sent` at `nowMs`. */
  send(id: number, nowMs: number): void;
  /** The raw bytes of the database file and its write-ahead log, as latin1 text for substring checks. */
  rawFiles(): string;
  close(): void;
}

export function openStoreFixture(): StoreFixture {
  const dir = mkdtempSync(join(tmpdir(), 'privacy-store-'));
  const path = join(dir, 'campaigns.db');
  const store = new SqliteStore(path, new SecretBox(SecretBox.generateKey()));
  const privacy = new SqlitePrivacyStore(store.db);
  let wamids = 0;
  return {
    dir, path, store, privacy,
    addAccount(id, retentionDays, nowMs) {
      const account: Account = {
        id, name: `Account ${id}`, isSandbox: true, phoneNumberId: `p-${id}`, wabaId: `w-${id}`, messagesPerSecond: 80,
        dailyLimit: null, defaultCountry: 'IN', retentionDays, optOutWords: [], createdAt: nowMs,
      };
      store.insertAccount({ account, secrets: { accessToken: `token-${id}`, appSecret: `secret-${id}`, verifyToken: `verify-${id}` }, apiKeyHash: `hash-${id}` });
      return account;
    },
    addCampaign(accountId, id, nowMs, state = 'running') {
      store.insertCampaign({
        id, accountId, name: `Campaign ${id}`, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
        sendAt: null, defaultCountry: null, sheet: null, state, stateReason: null, createdAt: nowMs, startedAt: nowMs, finishedAt: null,
      });
    },
    addRow(accountId, campaignId, to, param, nowMs) {
      store.insertMessage(campaignId, accountId, { key: `k${to}`, to, params: { 1: param }, headerMedia: null, status: 'queued' }, nowMs);
      const row = store.db.prepare('SELECT id FROM messages WHERE campaign_id = ? AND to_e164 = ?').get(campaignId, to) as
        { id: number } | undefined;
      if (!row) throw new Error(`row ${to} not inserted`);
      return row.id;
    },
    send(id, nowMs) {
      store.markSending([id], nowMs);
      store.recordSendOutcomes([{ id, kind: 'sent', wamid: `wamid.${++wamids}` }], nowMs);
    },
    rawFiles() {
      const parts = [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('latin1'));
      return parts.join('\n');
    },
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
