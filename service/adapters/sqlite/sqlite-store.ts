// The embedded store: every port of the domain over one better-sqlite3 database in WAL mode, for one process.
// The ports are async; here each operation runs synchronously inside, so every port call is atomic by itself.
import Database from 'better-sqlite3';
import type { CampaignState, StateReason } from '../../campaigns/campaign';
import type { MessageStatus } from '../../campaigns/message-status';
import { MESSAGE_STATUSES } from '../../campaigns/message-status';
import { isBusinessScopedUserId } from '../../campaigns/business-scoped-user-id';
import { FREQUENCY_CAP_CODE, waitingMessage } from '../../campaigns/frequency-cap';
import {
  LeaseLostError,
  type Account, type AccountSecrets, type BatchItemResult, type BatchWrite, type Campaign, type CampaignTransition,
  type IdentityChange, type InsertResult, type MessageError, type MessageView, type NewMessage, type PendingWebhook, type QueuedMessage,
  type SenderFence, type SenderLease, type SendOutcome, type StatusCounts, type TemplateRef, type WebhookApplied, type WebhookEffects,
} from '../../campaigns/ports';
import type { MessageChange, SheetCampaign } from '../../sheets/sheet-ports';
import type { NewAccount, SecretCipher, ServiceStore, SuppressionEntry } from '../../service-store';
import { SqliteHealthStore } from './sqlite-health-store';
import { SqlitePrivacyStore } from './sqlite-privacy-store';
import { SUPPRESSION_LIST_SQL, toAccount, toCampaign, toSecrets, toSuppressionEntries, toView, VIEW_COLUMNS } from '../stored-rows';
import { addedColumnStatements, SCHEMA_SQL, SCHEMA_VERSION } from './sqlite-schema';
import { WalSync, type SyncFile, type WalSyncFailed } from './wal-sync';

export type { NewAccount, SecretCipher } from '../../service-store';

type Row = Record<string, unknown>;

/** A row located by a webhook: enough to apply a status or a reply to it. */
interface TrackedRow {
  id: number;
  campaign_id: string;
  to_e164: string;
  status: MessageStatus;
  wamid: string | null;
  attempts: number;
  error_code: string | null;
}

const TRACKED = 'id, campaign_id, to_e164, status, wamid, attempts, error_code';

/**
 * A status naming another wamid than the row's is of an earlier attempt of a row tried again (131049); so is one
 * naming the old wamid while the retry waits or is in flight. Neither may move the row: it would settle the new send.
 */
function isOfEarlierAttempt(row: TrackedRow, wamid: string): boolean {
  if (row.wamid !== null && row.wamid !== wamid) return true;
  return row.error_code === FREQUENCY_CAP_CODE && (row.status === 'queued' || row.status === 'sending');
}

export class SqliteStore implements ServiceStore {
  readonly db: Database.Database;
  readonly privacy: SqlitePrivacyStore;
  /** What Meta's management webhooks said about each account. */
  readonly health: SqliteHealthStore;
  private seq: number;
  private readonly statements: ReturnType<SqliteStore['prepare']>;
  /** Syncs the group commit's transactions off the event loop; null for `:memory:` (nothing to sync). */
  private readonly walSync: WalSync | null;
  /** Inbox ids handed out by claimPendingWebhooks and not yet applied, with when the claim ends. */
  private readonly webhookClaims = new Map<number, number>();
  private readonly jobLeases = new Map<string, { holder: string; expiresAtMs: number }>();
  private readonly senderLeases = new Map<string, { holder: string; token: number; expiresAtMs: number }>();

  /**
   * Opens (creating when absent) the database at `path`; `:memory:` for tests. `now` is the clock of leases and
   * webhook claims (the store's clock, as the database server's is for PostgreSQL). `sync.file` fsyncs the WAL after
   * each group commit (tests pass their own to see when it runs); `sync.onFailure` hears of the first fsync that
   * failed, after which the store refuses every group commit (the service stops on it: see openStore).
   */
  constructor(
    path: string, private readonly cipher: SecretCipher, private readonly now: () => number = Date.now,
    sync: { file?: SyncFile; onFailure?: (error: WalSyncFailed) => void } = {},
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: each commit is on disk before anything acts on it. With NORMAL alone a power cut could undo a committed
    // `sending` whose request had already left, and the row would go out again after the reboot. The group commit's
    // transactions run at NORMAL and are then synced by walSync, off the event loop, before anyone acts on them.
    this.db.pragma('synchronous = FULL');
    // The file as SQLite opened it (symlinks followed, URIs read); empty for an in-memory or temporary database.
    const file = (this.db.pragma('database_list') as { name: string; file: string }[]).find((d) => d.name === 'main')?.file ?? '';
    this.walSync = file === '' ? null : new WalSync(`${file}-wal`, sync.file, sync.onFailure);
    this.db.pragma('foreign_keys = ON');
    // Every write of the group commit runs in a savepoint: its journal stays in memory instead of spilling to a temp
    // file past 64 KiB.
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    // A database made by an older release lacks the columns added since (ADDED_COLUMNS): add them, once.
    const columnsOf = (table: string) => (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    for (const statement of addedColumnStatements(columnsOf)) this.db.exec(statement);
    this.db.prepare('INSERT OR IGNORE INTO schema_meta(key, value) VALUES (?, ?)').run('version', String(SCHEMA_VERSION));
    this.seq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM messages').get() as { seq: number }).seq;
    this.statements = this.prepare();
    // An erased account's lease goes with it: its holder's next fenced write fails, as on PostgreSQL.
    this.privacy = new SqlitePrivacyStore(this.db, (accountId) => this.senderLeases.delete(accountId));
    this.health = new SqliteHealthStore(this.db);
  }

  async close(): Promise<void> {
    await this.walSync?.close();
    this.db.close();
  }

  private prepare() {
    const db = this.db;
    return {
      accountById: db.prepare('SELECT * FROM accounts WHERE id = ?'),
      accountByKey: db.prepare('SELECT * FROM accounts WHERE api_key_hash = ?'),
      accountByPhone: db.prepare('SELECT * FROM accounts WHERE phone_number_id = ?'),
      sandboxAccountByWaba: db.prepare('SELECT * FROM accounts WHERE waba_id = ? AND is_sandbox = 1 LIMIT 1'),
      campaignById: db.prepare('SELECT * FROM campaigns WHERE id = ?'),
      campaignByAccount: db.prepare('SELECT * FROM campaigns WHERE id = ? AND account_id = ?'),
      keyExists: db.prepare('SELECT 1 FROM messages WHERE campaign_id = ? AND row_key = ?'),
      recipientExists: db.prepare('SELECT 1 FROM messages WHERE campaign_id = ? AND to_e164 = ?'),
      campaignState: db.prepare('SELECT state FROM campaigns WHERE id = ?').pluck(),
      insertMessage: db.prepare(`INSERT INTO messages
        (campaign_id, account_id, row_key, to_e164, params_json, header_media_json, status, seq, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      loadQueued: db.prepare(`SELECT id, campaign_id, to_e164, params_json, header_media_json, attempts, next_attempt_at, error_code
        FROM messages WHERE campaign_id = ? AND status = 'queued' AND id > ? ORDER BY id LIMIT ?`),
      markSending: db.prepare(`UPDATE messages SET status = 'sending', sending_at = ?, seq = ?, updated_at = ?
        WHERE id = ? AND account_id = ? AND status = 'queued' AND NOT EXISTS (SELECT 1 FROM suppressions s
          WHERE s.account_id = messages.account_id AND s.to_e164 = messages.to_e164)
          AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = messages.campaign_id AND c.state = 'running')`),
      skipSuppressed: db.prepare(`UPDATE messages SET status = 'skipped', seq = ?, updated_at = ?
        WHERE id = ? AND account_id = ? AND status = 'queued' AND EXISTS (SELECT 1 FROM suppressions s
          WHERE s.account_id = messages.account_id AND s.to_e164 = messages.to_e164)`),
      outcomeSent: db.prepare(`UPDATE messages SET status = 'sent', wamid = ?, sent_at = ?, error_code = NULL,
        error_message = NULL, seq = ?, updated_at = ? WHERE id = ? AND account_id = ? AND status IN ('sending', 'unknown')`),
      // A status webhook may have settled the row before the HTTP answer came back: keep its status, add the wamid.
      outcomeSentLate: db.prepare(`UPDATE messages SET wamid = COALESCE(wamid, ?), sent_at = COALESCE(sent_at, ?)
        WHERE id = ? AND account_id = ?`),
      outcomeRetry: db.prepare(`UPDATE messages SET status = 'queued', attempts = ?, next_attempt_at = ?, error_code = ?,
        error_message = ?, seq = ?, updated_at = ? WHERE id = ? AND account_id = ? AND status = 'sending'`),
      outcomeFailed: db.prepare(`UPDATE messages SET status = 'failed', error_code = ?, error_message = ?, seq = ?,
        updated_at = ? WHERE id = ? AND account_id = ? AND status = 'sending'`),
      outcomeRequeue: db.prepare(`UPDATE messages SET status = 'queued', seq = ?, updated_at = ?
        WHERE id = ? AND account_id = ? AND status = 'sending'`),
      outcomeSkipped: db.prepare(`UPDATE messages SET status = 'skipped', seq = ?, updated_at = ?
        WHERE id = ? AND account_id = ? AND status = 'queued'`),
      countOpen: db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE campaign_id = ? AND status IN ('queued', 'sending')`),
      hasOpenRows: db.prepare(`SELECT 1 FROM messages WHERE campaign_id = ? AND status IN ('queued', 'sending') LIMIT 1`),
      countByStatus: db.prepare('SELECT status, COUNT(*) AS n FROM messages WHERE campaign_id = ? GROUP BY status'),
      countReplied: db.prepare('SELECT COUNT(*) AS n FROM messages WHERE campaign_id = ? AND reply_at IS NOT NULL'),
      unsettled: db.prepare(`SELECT id FROM messages WHERE status = 'sending' AND sending_at < ?`),
      markUnknown: db.prepare(`UPDATE messages SET status = 'unknown', seq = ?, updated_at = ? WHERE id = ? AND status = 'sending'`),
      cancelQueued: db.prepare(`SELECT id FROM messages WHERE campaign_id = ? AND status = 'queued'`),
      cancelOne: db.prepare(`UPDATE messages SET status = 'cancelled', seq = ?, updated_at = ? WHERE id = ?`),
      unknownOfCampaign: db.prepare(`SELECT id FROM messages WHERE campaign_id = ? AND status = 'unknown'`),
      requeueOne: db.prepare(`UPDATE messages SET status = 'queued', attempts = 0, next_attempt_at = 0, seq = ?,
        updated_at = ? WHERE id = ? AND status = 'unknown'`),
      recentRecipients: db.prepare(`SELECT to_e164 AS "to", MIN(COALESCE(sent_at, sending_at)) AS firstAtMs,
        MAX(COALESCE(sent_at, sending_at)) AS lastAtMs FROM messages
        WHERE account_id = ? AND ((sent_at IS NOT NULL AND sent_at >= ?) OR (status = 'sending' AND sending_at >= ?))
        GROUP BY to_e164`),
      trackedById: db.prepare(`SELECT ${TRACKED} FROM messages WHERE id = ? AND account_id = ?`),
      trackedByWamid: db.prepare(`SELECT ${TRACKED} FROM messages WHERE wamid = ? AND account_id = ?`),
      capRetry: db.prepare(`UPDATE messages SET status = 'queued', attempts = attempts + 1, next_attempt_at = ?, error_code = ?,
        error_message = ?, seq = ?, updated_at = ? WHERE id = ?`),
      reopenFinished: db.prepare(`UPDATE campaigns SET state = 'running', state_reason_json = NULL, finished_at = NULL
        WHERE id = ? AND state = 'finished'`),
      // Campaign by campaign through messages_by_recipient (campaign_id, to_e164): no index leads with account_id.
      capDueNow: db.prepare(`UPDATE messages SET next_attempt_at = ?, seq = ?, updated_at = ?
        WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = ?) AND to_e164 = ? AND status = 'queued'
          AND error_code = '${FREQUENCY_CAP_CODE}' AND next_attempt_at > ?
        RETURNING campaign_id`),
      applyStatus: db.prepare(`UPDATE messages SET status = ?, wamid = COALESCE(wamid, ?), error_code = COALESCE(?, error_code),
        error_message = COALESCE(?, error_message), sent_at = COALESCE(sent_at, ?), seq = ?, updated_at = ? WHERE id = ?`),
      changes: db.prepare(`SELECT ${VIEW_COLUMNS} FROM messages WHERE campaign_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
      saveWebhook: db.prepare('INSERT INTO webhook_inbox(account_id, body, received_at) VALUES (?, ?, ?)'),
      pendingWebhooks: db.prepare('SELECT id, account_id, body FROM webhook_inbox WHERE id > ? ORDER BY id LIMIT ?'),
      deleteWebhook: db.prepare('DELETE FROM webhook_inbox WHERE id = ?'),
      isSuppressed: db.prepare('SELECT 1 FROM suppressions WHERE account_id = ? AND to_e164 = ?'),
      addSuppression: db.prepare(`INSERT INTO suppressions(account_id, to_e164, source, created_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(account_id, to_e164) DO NOTHING`),
      removeSuppression: db.prepare('DELETE FROM suppressions WHERE account_id = ? AND to_e164 = ?'),
      listSuppressions: db.prepare(SUPPRESSION_LIST_SQL('?')),
      // Campaign by campaign through messages_by_recipient: through messages_recent_sends (account_id, sent_at) it
      // walked every sent row of the account for each reply without context.
      latestSentTo: db.prepare(`SELECT ${TRACKED} FROM messages
        WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = ?) AND to_e164 = ? AND sent_at IS NOT NULL
        ORDER BY sent_at DESC, id DESC LIMIT 1`),
      setReply: db.prepare('UPDATE messages SET reply_text = ?, reply_at = ?, seq = ?, updated_at = ? WHERE id = ?'),
      phoneOfUserId: db.prepare('SELECT to_e164 FROM recipient_ids WHERE account_id = ? AND user_id = ? AND to_e164 IS NOT NULL').pluck(),
      userIdsOfPhone: db.prepare('SELECT user_id FROM recipient_ids WHERE account_id = ? AND to_e164 = ?').pluck(),
      upsertIdentity: db.prepare(`INSERT INTO recipient_ids(account_id, user_id, to_e164, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(account_id, user_id) DO UPDATE SET to_e164 = excluded.to_e164, updated_at = excluded.updated_at
        WHERE excluded.to_e164 IS NOT NULL AND to_e164 IS NOT excluded.to_e164`),
      deleteIdentity: db.prepare('DELETE FROM recipient_ids WHERE account_id = ? AND user_id = ?'),
      suppressionSource: db.prepare('SELECT source FROM suppressions WHERE account_id = ? AND to_e164 = ?').pluck(),
      // CROSS JOIN fixes the order: from the number's BSUIDs (usually none) to the campaign's rows, never a scan of them.
      recipientOfPersonExists: db.prepare(`SELECT 1 FROM recipient_ids r CROSS JOIN messages m
        ON m.campaign_id = ? AND m.to_e164 = r.user_id WHERE r.account_id = ? AND r.to_e164 = ?`),
      sheetCampaigns: db.prepare(`SELECT c.id, c.account_id, c.sheet_json, c.sheet_cursor FROM campaigns c
        WHERE c.sheet_json IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.seq > c.sheet_cursor)
        LIMIT ?`),
      saveSheetCursor: db.prepare('UPDATE campaigns SET sheet_cursor = MAX(sheet_cursor, ?) WHERE id = ?'),
    };
  }

  private nextSeq(): number {
    return ++this.seq;
  }

  private transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn)();
  }

  private savepoint<T>(fn: () => T): T {
    // better-sqlite3 runs a transaction function called inside a transaction as a SAVEPOINT.
    return this.db.transaction(fn)();
  }

  // ---- leases. Kept in memory: one process holds the data directory (the kernel-released process lock), so no
  // other instance can hold or take one; they still fence, expire and count tokens exactly as PostgreSQL's do.

  async acquireSenderLease(accountId: string, holder: string, ttlMs: number): Promise<SenderLease | null> {
    const now = this.now();
    const current = this.senderLeases.get(accountId);
    if (current && current.expiresAtMs > now && current.holder !== holder) return null;
    const token = current && current.holder === holder && current.expiresAtMs > now ? current.token : (current?.token ?? 0) + 1;
    this.senderLeases.set(accountId, { holder, token, expiresAtMs: now + ttlMs });
    return { accountId, token, validForMs: ttlMs };
  }

  async releaseSenderLease(fence: SenderFence, holder: string, quietMs: number): Promise<void> {
    const current = this.senderLeases.get(fence.accountId);
    if (current && current.token === fence.token && current.holder === holder) {
      this.senderLeases.set(fence.accountId, { holder: '', token: current.token, expiresAtMs: this.now() + quietMs });
    }
  }

  async acquireJobLease(job: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const current = this.jobLeases.get(job);
    if (current && current.holder !== holder && current.expiresAtMs > now) return false;
    this.jobLeases.set(job, { holder, expiresAtMs: now + ttlMs });
    return true;
  }

  async heartbeat(): Promise<number> {
    return 1;
  }

  async leaveInstances(): Promise<void> {}

  /** Throws LeaseLostError unless `fence` names the account's current lease (and, for claims, an unexpired one). */
  private checkFence(fence: SenderFence, isClaim: boolean): void {
    const lease = this.senderLeases.get(fence.accountId);
    // holder '' is a released lease: its quiet time lets nobody write, its last holder included.
    if (!lease || lease.token !== fence.token || lease.holder === '' || (isClaim && lease.expiresAtMs <= this.now())) {
      throw new LeaseLostError(fence.accountId);
    }
  }

  // ---- the group commit's writes

  /**
   * One transaction, committed at NORMAL and resolved only once walSync has it on disk. When the fsync fails the
   * batch rejects though its transaction is committed (a row claimed stays `sending` and ends `unknown`, never sent;
   * a webhook body is kept though Meta is told to retry), and every later batch rejects before it runs: nothing
   * written after a failed fsync is known durable.
   */
  async writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]> {
    const walSync = this.walSync;
    if (!walSync) return this.runBatch(writes);
    if (walSync.failed) throw walSync.failed;
    this.db.pragma('synchronous = NORMAL');
    let results: BatchItemResult[];
    try {
      results = this.runBatch(writes);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    walSync.written();
    await walSync.durable();
    return results;
  }

  /** The batch in one transaction, each write in its own savepoint: a failed write is undone alone. */
  private runBatch(writes: readonly BatchWrite[]): BatchItemResult[] {
    const results: BatchItemResult[] = [];
    this.transaction(() => {
      for (const write of writes) {
        try {
          results.push({ ok: true, value: this.savepoint(() => this.runWrite(write)) });
        } catch (error) {
          results.push({ ok: false, error });
        }
      }
    });
    return results;
  }

  private runWrite(write: BatchWrite): unknown {
    switch (write.kind) {
      case 'claim':
        this.checkFence(write.fence, true);
        return this.markSending(write.fence.accountId, write.ids, write.nowMs);
      case 'outcomes':
        this.checkFence(write.fence, false);
        this.recordSendOutcomes(write.fence.accountId, write.outcomes, write.nowMs);
        return null;
      case 'save_webhook':
        return Number(this.statements.saveWebhook.run(write.accountId, write.body, write.nowMs).lastInsertRowid);
      case 'apply_webhook':
        return this.applyWebhook(write.inboxId, write.accountId, write.effects, write.nowMs);
    }
  }

  // ---- accounts

  async insertAccount({ account, secrets, apiKeyHash }: NewAccount): Promise<void> {
    this.db.prepare(`INSERT INTO accounts (id, name, is_sandbox, phone_number_id, waba_id, access_token_enc, app_secret_enc,
      verify_token_enc, api_key_hash, messages_per_second, daily_limit, default_country, retention_days, opt_out_words, created_at,
      marketing_messages_api)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      account.id, account.name, account.isSandbox ? 1 : 0, account.phoneNumberId, account.wabaId,
      this.cipher.encrypt(secrets.accessToken), this.cipher.encrypt(secrets.appSecret), this.cipher.encrypt(secrets.verifyToken),
      apiKeyHash, account.messagesPerSecond, account.dailyLimit, account.defaultCountry, account.retentionDays,
      JSON.stringify(account.optOutWords), account.createdAt, account.marketingMessagesApi ? 1 : 0,
    );
  }

  async setMarketingMessagesApi(accountId: string, isOn: boolean): Promise<boolean> {
    return this.db.prepare('UPDATE accounts SET marketing_messages_api = ? WHERE id = ?').run(isOn ? 1 : 0, accountId).changes > 0;
  }

  async setRetentionDays(accountId: string, days: number): Promise<boolean> {
    return this.privacy.setRetentionDays(accountId, days);
  }

  async setOptOutWords(accountId: string, words: readonly string[]): Promise<void> {
    this.db.prepare('UPDATE accounts SET opt_out_words = ? WHERE id = ?').run(JSON.stringify(words), accountId);
  }

  async getAccount(id: string): Promise<Account | null> {
    const row = this.statements.accountById.get(id) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  async getAccountByApiKeyHash(hash: string): Promise<Account | null> {
    const row = this.statements.accountByKey.get(hash) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  async getAccountSecrets(id: string): Promise<AccountSecrets | null> {
    const row = this.statements.accountById.get(id) as Row | undefined;
    return row ? toSecrets(row, this.cipher) : null;
  }

  async findAccountByPhoneNumberId(phoneNumberId: string): Promise<Account | null> {
    const row = this.statements.accountByPhone.get(phoneNumberId) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  /** Sandbox WABA ids are generated per account, so at most one account holds each. */
  async findSandboxAccountByWabaId(wabaId: string): Promise<Account | null> {
    const row = this.statements.sandboxAccountByWaba.get(wabaId) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  async listAccounts(): Promise<Account[]> {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY created_at').all() as Row[]).map(toAccount);
  }

  // ---- campaigns

  async insertCampaign(c: Campaign): Promise<void> {
    this.db.prepare(`INSERT INTO campaigns (id, account_id, name, template_name, template_language, template_json, send_at,
      default_country, sheet_json, state, state_reason_json, created_at, started_at, finished_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      c.id, c.accountId, c.name, c.template.name, c.template.language, JSON.stringify(c.templateDefinition), c.sendAt,
      c.defaultCountry, c.sheet ? JSON.stringify(c.sheet) : null, c.state, c.stateReason ? JSON.stringify(c.stateReason) : null,
      c.createdAt, c.startedAt, c.finishedAt,
    );
  }

  async getCampaign(accountId: string, id: string): Promise<Campaign | null> {
    const row = this.statements.campaignByAccount.get(id, accountId) as Row | undefined;
    return row ? toCampaign(row) : null;
  }

  async getCampaignById(id: string): Promise<Campaign | null> {
    const row = this.statements.campaignById.get(id) as Row | undefined;
    return row ? toCampaign(row) : null;
  }

  async listCampaigns(accountId: string): Promise<Campaign[]> {
    return (this.db.prepare('SELECT * FROM campaigns WHERE account_id = ? ORDER BY created_at DESC, rowid DESC')
      .all(accountId) as Row[]).map(toCampaign);
  }

  async listCampaignsInStates(states: readonly CampaignState[]): Promise<Campaign[]> {
    if (states.length === 0) return [];
    const marks = states.map(() => '?').join(', ');
    return (this.db.prepare(`SELECT * FROM campaigns WHERE state IN (${marks}) ORDER BY created_at`)
      .all(...states) as Row[]).map(toCampaign);
  }

  async transitionCampaign(t: CampaignTransition): Promise<boolean> {
    return this.transaction(() => {
      const state = this.statements.campaignState.get(t.campaignId) as CampaignState | undefined;
      if (state === undefined || !t.from.includes(state)) return false;
      if (t.onlyIfNoOpenRows && (this.statements.countOpen.get(t.campaignId) as { n: number }).n > 0) return false;
      this.db.prepare(`UPDATE campaigns SET state = ?, state_reason_json = ?,
        started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END,
        finished_at = CASE WHEN ? IN ('finished', 'cancelled') THEN ? ELSE finished_at END
        WHERE id = ?`).run(t.to, t.reason ? JSON.stringify(t.reason) : null, t.to, t.nowMs, t.to, t.nowMs, t.campaignId);
      if (t.cancelQueuedRows) {
        this.moveRows(() => this.statements.cancelQueued.all(t.campaignId), this.statements.cancelOne, t.nowMs);
      }
      return true;
    });
  }

  async recategoriseTemplate(accountId: string, template: TemplateRef, category: string): Promise<string[]> {
    return (this.db.prepare(`UPDATE campaigns SET template_json = json_set(template_json, '$.category', ?)
      WHERE account_id = ? AND template_name = ? AND template_language = ? AND state NOT IN ('finished', 'cancelled')
      RETURNING id`).all(category, accountId, template.name, template.language) as { id: string }[]).map((r) => r.id);
  }

  // ---- messages

  async addMessages(
    campaignId: string, accountId: string, rows: readonly NewMessage[], acceptingStates: readonly CampaignState[], nowMs: number,
  ): Promise<InsertResult[] | null> {
    return this.transaction(() => {
      const state = this.statements.campaignState.get(campaignId) as CampaignState | undefined;
      if (state === undefined || !acceptingStates.includes(state)) return null;
      return rows.map((row) => this.insertMessage(campaignId, accountId, row, nowMs));
    });
  }

  private insertMessage(campaignId: string, accountId: string, row: NewMessage, nowMs: number): InsertResult {
    const s = this.statements;
    if (s.keyExists.get(campaignId, row.key)) return 'duplicate_key';
    // A row named by BSUID goes to the person's number when the account knows it (Meta asks for numbers where we
    // have them), which also makes it a duplicate of a row of that number.
    const to = isBusinessScopedUserId(row.to) ? (s.phoneOfUserId.get(accountId, row.to) as string | undefined) ?? row.to : row.to;
    if (s.recipientExists.get(campaignId, to) || s.recipientOfPersonExists.get(campaignId, accountId, to)) return 'duplicate_recipient';
    const status = s.isSuppressed.get(accountId, to) !== undefined ? 'skipped' : 'queued';
    s.insertMessage.run(
      campaignId, accountId, row.key, to, JSON.stringify(row.params),
      row.headerMedia ? JSON.stringify(row.headerMedia) : null, status, this.nextSeq(), nowMs,
    );
    return 'inserted';
  }

  async loadQueued(campaignId: string, afterId: number, limit: number): Promise<QueuedMessage[]> {
    return (this.statements.loadQueued.all(campaignId, afterId, limit) as Row[]).map((r) => ({
      id: r.id as number,
      campaignId: r.campaign_id as string,
      to: r.to_e164 as string,
      params: r.params_json ? JSON.parse(r.params_json as string) as Record<string, string> : {},
      headerMedia: r.header_media_json ? JSON.parse(r.header_media_json as string) : null,
      attempts: r.attempts as number,
      nextAttemptAt: r.next_attempt_at as number,
      errorCode: (r.error_code as string | null) ?? null,
    }));
  }

  private markSending(accountId: string, ids: readonly number[], nowMs: number): number[] {
    const moved: number[] = [];
    for (const id of ids) {
      if (this.statements.markSending.run(nowMs, this.nextSeq(), nowMs, id, accountId).changes === 1) moved.push(id);
      else this.statements.skipSuppressed.run(this.nextSeq(), nowMs, id, accountId);
    }
    return moved;
  }

  private recordSendOutcomes(accountId: string, outcomes: readonly SendOutcome[], nowMs: number): void {
    const s = this.statements;
    for (const o of outcomes) {
      switch (o.kind) {
        case 'sent':
          if (s.outcomeSent.run(o.wamid, nowMs, this.nextSeq(), nowMs, o.id, accountId).changes === 0) {
            s.outcomeSentLate.run(o.wamid, nowMs, o.id, accountId);
          }
          break;
        case 'retry':
          s.outcomeRetry.run(o.attempts, o.nextAttemptAt, o.error.code, o.error.message, this.nextSeq(), nowMs, o.id, accountId);
          break;
        case 'failed':
          s.outcomeFailed.run(o.error.code, o.error.message, this.nextSeq(), nowMs, o.id, accountId);
          break;
        case 'requeue':
          s.outcomeRequeue.run(this.nextSeq(), nowMs, o.id, accountId);
          break;
        case 'skipped':
          s.outcomeSkipped.run(this.nextSeq(), nowMs, o.id, accountId);
          break;
      }
    }
  }

  async countOpen(campaignId: string): Promise<number> {
    return (this.statements.countOpen.get(campaignId) as { n: number }).n;
  }

  async hasOpenRows(campaignId: string): Promise<boolean> {
    return this.statements.hasOpenRows.get(campaignId) !== undefined;
  }

  async countByStatus(campaignId: string): Promise<StatusCounts> {
    const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    for (const row of this.statements.countByStatus.all(campaignId) as { status: MessageStatus; n: number }[]) {
      counts[row.status] = row.n;
    }
    counts.replied = (this.statements.countReplied.get(campaignId) as { n: number }).n;
    return counts;
  }

  async markUnsettledUnknown(beforeMs: number, nowMs: number): Promise<number> {
    return this.moveRows(() => this.statements.unsettled.all(beforeMs), this.statements.markUnknown, nowMs);
  }

  async requeueUnknown(
    campaignId: string, reopen: { from: CampaignState; to: CampaignState }, nowMs: number,
  ): Promise<{ rows: number; isReopened: boolean }> {
    return this.transaction(() => {
      const rows = this.moveRows(() => this.statements.unknownOfCampaign.all(campaignId), this.statements.requeueOne, nowMs);
      const isReopened = rows > 0 && this.statements.campaignState.get(campaignId) === reopen.from;
      if (isReopened) {
        this.db.prepare('UPDATE campaigns SET state = ?, state_reason_json = NULL, finished_at = NULL WHERE id = ?')
          .run(reopen.to, campaignId);
      }
      return { rows, isReopened };
    });
  }

  /**
   * Selects rows and runs `update(seq, nowMs, id)` on each, in one transaction. Row by row, because every changed row
   * needs its own `seq` for the changes feed.
   */
  private moveRows(select: () => unknown[], update: Database.Statement, nowMs: number): number {
    return this.transaction(() => {
      const selected = select() as { id: number }[];
      for (const { id } of selected) update.run(this.nextSeq(), nowMs, id);
      return selected.length;
    });
  }

  async recentRecipients(accountId: string, sinceMs: number): Promise<{ to: string; firstAtMs: number; lastAtMs: number }[]> {
    return this.statements.recentRecipients.all(accountId, sinceMs, sinceMs) as { to: string; firstAtMs: number; lastAtMs: number }[];
  }

  /**
   * One stored body's statuses, the phone ↔ BSUID pairs it names, its replies, preferences and identity changes, in
   * that order, then its removal from the inbox (inside writeBatch). An opt-out suppresses the person: every number
   * and BSUID the account knows for them.
   */
  private applyWebhook(inboxId: number, accountId: string, effects: WebhookEffects, nowMs: number): WebhookApplied {
    const s = this.statements;
    const touched = new Set<string>();
    const result: WebhookApplied = { statuses: { applied: 0, ignored: 0, unmatched: 0 }, touchedCampaignIds: [], failed: [], requeuedCampaignIds: [] };
    const requeuedCampaignIds = new Set<string>();
    for (const change of effects.statuses) {
      let row: TrackedRow | undefined;
      if (change.callback) {
        row = s.trackedById.get(change.callback.messageId, accountId) as TrackedRow | undefined;
        if (row && row.campaign_id !== change.callback.campaignId) row = undefined;
      }
      row ??= s.trackedByWamid.get(change.wamid, accountId) as TrackedRow | undefined;
      if (!row) {
        result.statuses.unmatched++;
        continue;
      }
      if (!change.from.includes(row.status) || isOfEarlierAttempt(row, change.wamid)) {
        result.statuses.ignored++;
        continue;
      }
      const error = change.error;
      const retry = change.retry;
      if (retry && row.attempts + 1 < retry.maxAttempts && !retry.exceptPrefixes.some((p) => row.to_e164.startsWith(p))) {
        s.capRetry.run(retry.atMs, error?.code ?? null, waitingMessage(error?.message, retry.atMs), this.nextSeq(), nowMs, row.id);
        result.statuses.applied++;
        touched.add(row.campaign_id);
        requeuedCampaignIds.add(row.campaign_id);
        // Its send was accepted, so the campaign may have finished meanwhile: a row waits again, so it runs again.
        s.reopenFinished.run(row.campaign_id);
        continue;
      }
      s.applyStatus.run(change.status, change.wamid, error?.code ?? null, error?.message ?? null,
        change.status === 'failed' ? null : nowMs, this.nextSeq(), nowMs, row.id);
      result.statuses.applied++;
      touched.add(row.campaign_id);
      if (change.status === 'failed') result.failed.push({ campaignId: row.campaign_id, code: error?.code ?? 'unknown' });
      if (change.suppressAs) this.suppressPerson(accountId, [row.to_e164], change.suppressAs, nowMs);
    }
    for (const identity of effects.identities) {
      const phone = identity.phones[0] ?? null;
      s.upsertIdentity.run(accountId, identity.userId, phone, nowMs);
      if (phone !== null) this.linkSuppressions(accountId, [identity.userId, phone], nowMs);
    }
    for (const reply of effects.replies) {
      const keys = this.keysOf(accountId, reply.recipients, reply.userId);
      const row = (reply.contextWamid ? s.trackedByWamid.get(reply.contextWamid, accountId) as TrackedRow | undefined : undefined)
        ?? this.latestSentTo(accountId, keys);
      if (row) {
        s.setReply.run(reply.text, reply.atMs, this.nextSeq(), nowMs, row.id);
        touched.add(row.campaign_id);
      }
      if (reply.isOptOut) {
        this.suppressPerson(accountId, [row?.to_e164 ?? reply.recipients[0], reply.userId], 'keyword', nowMs);
      } else {
        // They wrote: a 24-hour window opens in which the frequency cap does not apply, so their waiting rows go now.
        for (const key of this.personKeys(accountId, [row?.to_e164, ...keys])) {
          for (const due of s.capDueNow.all(reply.atMs, this.nextSeq(), nowMs, accountId, key, reply.atMs) as { campaign_id: string }[]) {
            requeuedCampaignIds.add(due.campaign_id);
          }
        }
      }
    }
    for (const preference of effects.preferences) {
      const keys = this.keysOf(accountId, preference.recipients, preference.userId);
      if (preference.value === 'stop') {
        const to = this.latestSentTo(accountId, keys)?.to_e164 ?? preference.recipients[0];
        this.suppressPerson(accountId, [to, preference.userId], 'user_preferences', nowMs);
      } else {
        for (const key of this.personKeys(accountId, keys)) s.removeSuppression.run(accountId, key);
      }
    }
    for (const change of effects.identityChanges) this.changeIdentity(accountId, change, nowMs);
    s.deleteWebhook.run(inboxId);
    this.webhookClaims.delete(inboxId);
    result.touchedCampaignIds = [...touched];
    result.requeuedCampaignIds = [...requeuedCampaignIds];
    return result;
  }

  /** The ids a person may be known by in the account's rows: the number's spellings, the BSUID and its number. */
  private keysOf(accountId: string, recipients: readonly string[], userId: string | null): string[] {
    if (userId === null) return [...recipients];
    const phone = this.statements.phoneOfUserId.get(accountId, userId) as string | undefined;
    return [...new Set([...recipients, userId, ...(phone ? [phone] : [])])];
  }

  /** `seeds` and every id the account links to them (a BSUID's number, a number's BSUIDs). */
  private personKeys(accountId: string, seeds: readonly (string | null | undefined)[]): string[] {
    const keys = new Set<string>();
    for (const seed of seeds) {
      if (!seed) continue;
      keys.add(seed);
      if (isBusinessScopedUserId(seed)) {
        const phone = this.statements.phoneOfUserId.get(accountId, seed) as string | undefined;
        if (phone) keys.add(phone);
      } else {
        for (const userId of this.statements.userIdsOfPhone.all(accountId, seed) as string[]) keys.add(userId);
      }
    }
    return [...keys];
  }

  private suppressPerson(accountId: string, seeds: readonly (string | null | undefined)[], source: string, nowMs: number): void {
    for (const key of this.personKeys(accountId, seeds)) this.statements.addSuppression.run(accountId, key, source, nowMs);
  }

  /** When one of `keys` (ids of one person) is suppressed, all are, with the same source. */
  private linkSuppressions(accountId: string, keys: readonly string[], nowMs: number): void {
    const source = this.suppressionSourceOf(accountId, keys);
    if (source) for (const key of keys) this.statements.addSuppression.run(accountId, key, source, nowMs);
  }

  /** How the first of `keys` that is suppressed got there, or undefined when none is. */
  private suppressionSourceOf(accountId: string, keys: readonly string[]): string | undefined {
    for (const key of keys) {
      const source = this.statements.suppressionSource.get(accountId, key) as string | undefined;
      if (source) return source;
    }
    return undefined;
  }

  /** A new number or BSUID: the pair follows, and so does a suppression of the person as they were. */
  private changeIdentity(accountId: string, change: IdentityChange, nowMs: number): void {
    const s = this.statements;
    const before = this.personKeys(accountId, change.previous);
    const previousUserIds = change.previous.filter(isBusinessScopedUserId);
    const phone = change.phones[0]
      ?? previousUserIds.map((userId) => s.phoneOfUserId.get(accountId, userId) as string | undefined).find(Boolean) ?? null;
    for (const userId of previousUserIds) if (userId !== change.userId) s.deleteIdentity.run(accountId, userId);
    if (change.userId !== null) s.upsertIdentity.run(accountId, change.userId, phone, nowMs);
    const source = this.suppressionSourceOf(accountId, before);
    if (source) for (const key of [change.userId, ...change.phones]) if (key) s.addSuppression.run(accountId, key, source, nowMs);
    // A retired BSUID names nobody any more: its entry moved to the new one. (A previous number stays listed: it
    // may reach someone else one day, and wrongly sparing a number is worse than wrongly keeping one.)
    for (const userId of previousUserIds) if (userId !== change.userId) s.removeSuppression.run(accountId, userId);
  }

  /** The latest sent campaign message of the account to any of `recipients`. */
  private latestSentTo(accountId: string, recipients: readonly string[]): TrackedRow | undefined {
    let best: TrackedRow | undefined;
    for (const to of recipients) {
      const row = this.statements.latestSentTo.get(accountId, to) as TrackedRow | undefined;
      if (row && (!best || row.id > best.id)) best = row;
    }
    return best;
  }

  async listMessagesChangedAfter(campaignId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    const changes = (this.statements.changes.all(campaignId, afterSeq, limit) as Row[]).map(toView);
    await this.feedDurable();
    return changes;
  }

  /**
   * A reader of the changes feed may see a group commit whose sync is still running. It waits for it: a change a
   * power cut could undo must not move a cursor (its seq would be handed out again, and that change never read).
   * Other reads (a campaign's counts, a message view, an export on its own connection) may show such a change for
   * the few ms until its sync: nothing is sent, answered or remembered on them.
   */
  private async feedDurable(): Promise<void> {
    await this.walSync?.durable();
  }

  // ---- webhook inbox

  async claimPendingWebhooks(limit: number, claimMs: number): Promise<PendingWebhook[]> {
    const now = this.now();
    const claimed: PendingWebhook[] = [];
    // Claims live in memory: only this process writes the database. Read past claimed rows, in pages.
    let afterId = 0;
    while (claimed.length < limit) {
      const page = this.statements.pendingWebhooks.all(afterId, limit) as Row[];
      for (const r of page) {
        const id = r.id as number;
        afterId = id;
        if ((this.webhookClaims.get(id) ?? 0) > now || claimed.length >= limit) continue;
        this.webhookClaims.set(id, now + claimMs);
        claimed.push({ id, accountId: r.account_id as string, body: r.body as Buffer });
      }
      if (page.length < limit) break;
    }
    return claimed;
  }

  // ---- suppressions

  async suppressedAmong(accountId: string, recipients: readonly string[]): Promise<Set<string>> {
    return new Set(recipients.filter((to) => this.statements.isSuppressed.get(accountId, to) !== undefined));
  }

  /** Puts the person on the list: `to` and every id linked to it. */
  async addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void> {
    this.transaction(() => this.suppressPerson(accountId, [to], source, nowMs));
  }

  /** Takes the person off the list: `to` and every id linked to it (a number's BSUIDs, a BSUID's number). */
  async removeSuppression(accountId: string, to: string): Promise<boolean> {
    return this.transaction(() => this.personKeys(accountId, [to])
      .reduce((removed, key) => this.statements.removeSuppression.run(accountId, key).changes > 0 || removed, false));
  }

  async listSuppressions(accountId: string): Promise<SuppressionEntry[]> {
    return toSuppressionEntries(this.statements.listSuppressions.all(accountId) as Row[]);
  }

  // ---- sheet write-back

  async listSheetCampaignsWithChanges(limit: number): Promise<SheetCampaign[]> {
    return (this.statements.sheetCampaigns.all(limit) as Row[]).map((r) => ({
      campaignId: r.id as string,
      accountId: r.account_id as string,
      target: JSON.parse(r.sheet_json as string),
      sheetCursor: r.sheet_cursor as number,
    }));
  }

  async listChanges(campaignId: string, afterSeq: number, limit: number): Promise<MessageChange[]> {
    const changes = (this.statements.changes.all(campaignId, afterSeq, limit) as Row[]).map(toView);
    await this.feedDurable();
    return changes;
  }

  async saveSheetCursor(campaignId: string, seq: number): Promise<void> {
    this.statements.saveSheetCursor.run(seq, campaignId);
  }
}
