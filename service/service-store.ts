// Everything the service keeps, as one object: the domain's ports plus the few administrative operations the
// composition root, the CLI and the HTTP routes use. SqliteStore and PostgresStore implement it.
import type {
  Account, AccountSecrets, AccountStore, CampaignStore, LeaseStore, SuppressionStore, WebhookInbox,
} from './campaigns/ports';
import type { CompactableStore } from './privacy/compactor';
import type { AccountExportSource, ErasureStore, RetentionStore } from './privacy/privacy-ports';
import type { SheetSyncStore } from './sheets/sheet-ports';
import type { HealthStore } from './webhooks/account-health';

/** Encrypts secrets before they reach storage; implemented by adapters/crypto/secret-box. */
export interface SecretCipher {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

export interface NewAccount {
  account: Account;
  secrets: AccountSecrets;
  apiKeyHash: string;
}

/** One opted-out person: their number and/or their BSUID (both when the account knows they are one person). */
export interface SuppressionEntry {
  to: string | null;
  userId: string | null;
  source: string;
  createdAt: number;
}

export type PrivacyStore = RetentionStore & ErasureStore & AccountExportSource & CompactableStore;

export interface ServiceStore
  extends AccountStore, CampaignStore, WebhookInbox, SuppressionStore, LeaseStore, SheetSyncStore {
  /** Retention, export and erasure over the same data. */
  readonly privacy: PrivacyStore;
  /** What Meta's management webhooks said about each account (quality, messaging limit, restriction, events). */
  readonly health: HealthStore;
  insertAccount(row: NewAccount): Promise<void>;
  /** Sandbox WABA ids are generated per account, so at most one account holds each. */
  findSandboxAccountByWabaId(wabaId: string): Promise<Account | null>;
  setOptOutWords(accountId: string, words: readonly string[]): Promise<void>;
  /** False when there is no such account. */
  setRetentionDays(accountId: string, days: number): Promise<boolean>;
  addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void>;
  /** False when the number was not suppressed. */
  removeSuppression(accountId: string, to: string): Promise<boolean>;
  /** Newest first. */
  listSuppressions(accountId: string): Promise<SuppressionEntry[]>;
  close(): Promise<void>;
}
