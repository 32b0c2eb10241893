// The ports the privacy domain owns: what retention, export and erasure need from storage.
// Adapters implement them (adapters/sqlite/sqlite-privacy-store.ts); nothing here knows SQL or HTTP.
import type { Account, Campaign, MessageError } from '../campaigns/ports';
import type { MessageStatus } from '../campaigns/message-status';
import type { HeaderMedia } from '../campaigns/template-params';
import type { AccountHealth } from '../webhooks/account-health';

export interface ContentPurgeResult {
  /** Rows whose parameters, header media or reply text were cleared in this call. */
  purged: number;
  /** False when the call stopped at its row budget and more rows may be due: call again. */
  isDone: boolean;
}

/** How long one account keeps message content. */
export interface RetentionPolicy {
  accountId: string;
  retentionDays: number;
}

export interface RetentionStore {
  listRetentionPolicies(): Promise<RetentionPolicy[]>;
  /**
   * Clears the content (rendered parameters, header media, reply text) of the account's messages whose last
   * activity (the later of their last change and their reply) is before `cutoffMs`, looking at no more than
   * `maxRows` rows. Rows still `queued` or `sending` keep their content: they may yet be sent. Idempotent.
   */
  purgeMessageContent(accountId: string, cutoffMs: number, maxRows: number): Promise<ContentPurgeResult>;
  /** Drops the account's stored webhook bodies received before `cutoffMs` that never applied; returns how many. */
  deleteStaleWebhooks(accountId: string, cutoffMs: number): Promise<number>;
  /** Drops stored webhook bodies of accounts that no longer exist (one landed after its account was erased). */
  deleteOrphanWebhooks(): Promise<number>;
  /** Moves committed deletions out of the write-ahead log so erased bytes leave the disk files. */
  flushDeleted(): Promise<void>;
}

/** What erasing an account removed. */
export interface AccountErasureCounts {
  campaigns: number;
  messages: number;
  suppressions: number;
  webhooks: number;
}

/** What erasing one contact removed, and whether the number stays on the opt-out list. */
export interface ContactErasureCounts {
  messages: number;
  replies: number;
  /** True when the number was opted out: it keeps a bare suppression entry so it is never messaged again. */
  isStillSuppressed: boolean;
}

export interface ErasureStore {
  /** Deletes up to `limit` of the account's messages; returns how many (0 when none are left). */
  deleteAccountMessages(accountId: string, limit: number): Promise<number>;
  /**
   * Deletes the account and everything left of it (campaigns, messages, suppressions, inbox, secrets) at once, in
   * one store operation. Safe to call again: a later call counts what arrived since (zeros when nothing did).
   */
  deleteAccount(accountId: string): Promise<AccountErasureCounts>;
  /**
   * Deletes the contact's messages and replies in the account, and their BSUID pairs (with the rows sent to those
   * BSUIDs); keeps their suppression entries, if any.
   */
  deleteContact(accountId: string, to: string): Promise<ContactErasureCounts>;
  flushDeleted(): Promise<void>;
}

export interface ExportedMessage {
  campaignId: string;
  key: string;
  to: string;
  status: MessageStatus;
  /** Null once retention has purged it. */
  params: Record<string, string> | null;
  headerMedia: HeaderMedia | null;
  wamid: string | null;
  error: MessageError | null;
  attempts: number;
  sentAt: number | null;
  reply: { text: string | null; at: number } | null;
  updatedAt: number;
}

/** One opted-out person: their number and/or their BSUID. */
export interface ExportedSuppression {
  to: string | null;
  userId: string | null;
  source: string;
  createdAt: number;
}

export interface ExportedRecipientId {
  userId: string;
  /** Null when Meta never shared the number. */
  to: string | null;
  updatedAt: number;
}

/** A Meta webhook body received for the account and not yet applied. */
export interface ExportedWebhook {
  receivedAt: number;
  body: string;
}

/**
 * One consistent, read-only view of an account's records. The iterables read lazily from storage (a server-side
 * cursor or a read transaction), so an export of a million messages never holds them all; each may be iterated
 * once, in the order listed. `close` must be called (it is safe to call twice, also concurrently); it ends
 * iterations left half-way (their iterators then report done) and releases the read transaction.
 */
export interface AccountSnapshot {
  readonly account: Account;
  /** What Meta's management webhooks said about the account (absent: the source keeps none). */
  readonly health?: AccountHealth;
  campaigns(): AsyncIterable<Campaign>;
  messages(): AsyncIterable<ExportedMessage>;
  suppressions(): AsyncIterable<ExportedSuppression>;
  /** Which business-scoped user id is which number, as Meta's webhooks told the account. */
  recipientIds(): AsyncIterable<ExportedRecipientId>;
  pendingWebhooks(): AsyncIterable<ExportedWebhook>;
  close(): Promise<void>;
}

export interface AccountExportSource {
  /** Null when the account does not exist. */
  openSnapshot(accountId: string): Promise<AccountSnapshot | null>;
}
