// The embedded store: every port of the domain over one better-sqlite3 database in WAL mode.
// Synchronous by design: a write is atomic with respect to the event loop, which keeps exactly-once reasoning simple.
import Database from 'better-sqlite3';
import type { CampaignState, StateReason } from '../../campaigns/campaign';
import type { MessageStatus } from '../../campaigns/message-status';
import { MESSAGE_STATUSES } from '../../campaigns/message-status';
import type {
  Account, AccountSecrets, AccountStore, Campaign, CampaignStore, InsertResult, MessageError, MessageView, NewMessage,
  QueuedMessage, SendOutcome, StatusCounts, SuppressionStore, TrackedMessage, WebhookInbox,
} from '../../campaigns/ports';
import type { MessageChange, SheetCampaign, SheetSyncStore } from '../../sheets/sheet-ports';
import { toAccount, toCampaign } from './sqlite-rows';
import { SCHEMA_SQL, SCHEMA_VERSION } from './sqlite-schema';

/** Encrypts secrets before they reach the disk; implemented by adapters/crypto/secret-box. */
export interface SecretCipher {
  encrypt(plain: string): string;
  decrypt(sealed: string): string;
}

type Row = Record<string, unknown>;

export interface NewAccount {
  account: Account;
  secrets: AccountSecrets;
  apiKeyHash: string;
}

export class SqliteStore implements AccountStore, CampaignStore, WebhookInbox, SuppressionStore, SheetSyncStore {
  readonly db: Database.Database;
  private seq: number;
  private readonly statements: ReturnType<SqliteStore['prepare']>;

  /** Opens (creating when absent) the database at `path`; `:memory:` for tests. */
  constructor(path: string, private readonly cipher: SecretCipher) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: each commit is on disk before anything acts on it. With NORMAL a power cut could undo a committed
    // `sending` whose request had already left, and the row would go out again after the reboot. Group commit makes
    // this one fsync per 8 ms, not per row (no measurable cost in the benchmark on this machine's disk).
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    // Every write of the group commit runs in a savepoint: its journal stays in memory instead of spilling to a temp
    // file past 64 KiB.
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    this.db.prepare('INSERT OR IGNORE INTO schema_meta(key, value) VALUES (?, ?)').run('version', String(SCHEMA_VERSION));
    this.seq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM messages').get() as { seq: number }).seq;
    this.statements = this.prepare();
  }

  close(): void {
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
      insertMessage: db.prepare(`INSERT INTO messages
        (campaign_id, account_id, row_key, to_e164, params_json, header_media_json, status, seq, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      loadQueued: db.prepare(`SELECT id, campaign_id, to_e164, params_json, header_media_json, attempts, next_attempt_at
        FROM messages WHERE campaign_id = ? AND status = 'queued' AND id > ? ORDER BY id LIMIT ?`),
      markSending: db.prepare(`UPDATE messages SET status = 'sending', sending_at = ?, seq = ?, updated_at = ?
        WHERE id = ? AND status = 'queued' AND NOT EXISTS (SELECT 1 FROM suppressions s
          WHERE s.account_id = messages.account_id AND s.to_e164 = messages.to_e164)`),
      skipSuppressed: db.prepare(`UPDATE messages SET status = 'skipped', seq = ?, updated_at = ?
        WHERE id = ? AND status = 'queued' AND EXISTS (SELECT 1 FROM suppressions s
          WHERE s.account_id = messages.account_id AND s.to_e164 = messages.to_e164)`),
      outcomeSent: db.prepare(`UPDATE messages SET status = 'sent', wamid = ?, sent_at = ?, error_code = NULL,
        error_message = NULL, seq = ?, updated_at = ? WHERE id = ? AND status IN ('sending', 'unknown')`),
      // A status webhook may have settled the row before the HTTP answer came back: keep its status, add the wamid.
      outcomeSentLate: db.prepare('UPDATE messages SET wamid = COALESCE(wamid, ?), sent_at = COALESCE(sent_at, ?) WHERE id = ?'),
      outcomeRetry: db.prepare(`UPDATE messages SET status = 'queued', attempts = ?, next_attempt_at = ?, error_code = ?,
        error_message = ?, seq = ?, updated_at = ? WHERE id = ? AND status = 'sending'`),
      outcomeFailed: db.prepare(`UPDATE messages SET status = 'failed', error_code = ?, error_message = ?, seq = ?,
        updated_at = ? WHERE id = ? AND status = 'sending'`),
      outcomeRequeue: db.prepare(`UPDATE messages SET status = 'queued', seq = ?, updated_at = ?
        WHERE id = ? AND status = 'sending'`),
      outcomeSkipped: db.prepare(`UPDATE messages SET status = 'skipped', seq = ?, updated_at = ?
        WHERE id = ? AND status = 'queued'`),
      countOpen: db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE campaign_id = ? AND status IN ('queued', 'sending')`),
      countByStatus: db.prepare('SELECT status, COUNT(*) AS n FROM messages WHERE campaign_id = ? GROUP BY status'),
      countReplied: db.prepare('SELECT COUNT(*) AS n FROM messages WHERE campaign_id = ? AND reply_at IS NOT NULL'),
      unsettled: db.prepare(`SELECT id FROM messages WHERE status = 'sending' AND sending_at < ?`),
      markUnknown: db.prepare(`UPDATE messages SET status = 'unknown', seq = ?, updated_at = ? WHERE id = ? AND status = 'sending'`),
      cancelQueued: db.prepare(`SELECT id FROM messages WHERE campaign_id = ? AND status = 'queued'`),
      cancelOne: db.prepare(`UPDATE messages SET status = 'cancelled', seq = ?, updated_at = ? WHERE id = ?`),
      unknownOfCampaign: db.prepare(`SELECT id FROM messages WHERE campaign_id = ? AND status = 'unknown'`),
      requeueOne: db.prepare(`UPDATE messages SET status = 'queued', attempts = 0, next_attempt_at = 0, seq = ?,
        updated_at = ? WHERE id = ? AND status = 'unknown'`),
      recentRecipients: db.prepare(`SELECT to_e164 AS "to", MIN(COALESCE(sent_at, sending_at)) AS atMs FROM messages
        WHERE account_id = ? AND ((sent_at IS NOT NULL AND sent_at >= ?) OR (status = 'sending' AND sending_at >= ?))
        GROUP BY to_e164`),
      trackedById: db.prepare('SELECT id, campaign_id, account_id, to_e164, status, wamid FROM messages WHERE id = ? AND account_id = ?'),
      trackedByWamid: db.prepare('SELECT id, campaign_id, account_id, to_e164, status, wamid FROM messages WHERE wamid = ? AND account_id = ?'),
      applyStatus: db.prepare(`UPDATE messages SET status = ?, wamid = COALESCE(wamid, ?), error_code = COALESCE(?, error_code),
        error_message = COALESCE(?, error_message), sent_at = COALESCE(sent_at, ?), seq = ?, updated_at = ? WHERE id = ?`),
      changes: db.prepare(`SELECT seq, row_key, to_e164, status, wamid, error_code, error_message, reply_text, reply_at, updated_at
        FROM messages WHERE campaign_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
      saveWebhook: db.prepare('INSERT INTO webhook_inbox(account_id, body, received_at) VALUES (?, ?, ?)'),
      pendingWebhooks: db.prepare('SELECT id, account_id, body FROM webhook_inbox ORDER BY id LIMIT ?'),
      deleteWebhook: db.prepare('DELETE FROM webhook_inbox WHERE id = ?'),
      isSuppressed: db.prepare('SELECT 1 FROM suppressions WHERE account_id = ? AND to_e164 = ?'),
      addSuppression: db.prepare(`INSERT INTO suppressions(account_id, to_e164, source, created_at) VALUES (?, ?, ?, ?)
        ON CONFLICT(account_id, to_e164) DO NOTHING`),
      removeSuppression: db.prepare('DELETE FROM suppressions WHERE account_id = ? AND to_e164 = ?'),
      listSuppressions: db.prepare('SELECT to_e164, source, created_at FROM suppressions WHERE account_id = ? ORDER BY created_at DESC'),
      latestSentTo: db.prepare(`SELECT id, campaign_id, account_id, to_e164, status, wamid FROM messages
        WHERE account_id = ? AND to_e164 = ? AND sent_at IS NOT NULL ORDER BY sent_at DESC, id DESC LIMIT 1`),
      setReply: db.prepare('UPDATE messages SET reply_text = ?, reply_at = ?, seq = ?, updated_at = ? WHERE id = ?'),
      sheetCampaigns: db.prepare(`SELECT c.id, c.account_id, c.sheet_json, c.sheet_cursor FROM campaigns c
        WHERE c.sheet_json IS NOT NULL AND EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.seq > c.sheet_cursor)
        LIMIT ?`),
      saveSheetCursor: db.prepare('UPDATE campaigns SET sheet_cursor = MAX(sheet_cursor, ?) WHERE id = ?'),
    };
  }

  private nextSeq(): number {
    return ++this.seq;
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn)();
  }

  savepoint<T>(fn: () => T): T {
    // better-sqlite3 runs a transaction function called inside a transaction as a SAVEPOINT.
    return this.db.transaction(fn)();
  }

  // ---- accounts

  insertAccount({ account, secrets, apiKeyHash }: NewAccount): void {
    this.db.prepare(`INSERT INTO accounts (id, name, is_sandbox, phone_number_id, waba_id, access_token_enc, app_secret_enc,
      verify_token_enc, api_key_hash, messages_per_second, daily_limit, default_country, retention_days, opt_out_words, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      account.id, account.name, account.isSandbox ? 1 : 0, account.phoneNumberId, account.wabaId,
      this.cipher.encrypt(secrets.accessToken), this.cipher.encrypt(secrets.appSecret), this.cipher.encrypt(secrets.verifyToken),
      apiKeyHash, account.messagesPerSecond, account.dailyLimit, account.defaultCountry, account.retentionDays,
      JSON.stringify(account.optOutWords), account.createdAt,
    );
  }

  setOptOutWords(accountId: string, words: readonly string[]): void {
    this.db.prepare('UPDATE accounts SET opt_out_words = ? WHERE id = ?').run(JSON.stringify(words), accountId);
  }

  getAccount(id: string): Account | null {
    const row = this.statements.accountById.get(id) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  getAccountByApiKeyHash(hash: string): Account | null {
    const row = this.statements.accountByKey.get(hash) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  getAccountSecrets(id: string): AccountSecrets | null {
    const row = this.statements.accountById.get(id) as Row | undefined;
    if (!row) return null;
    return {
      accessToken: this.cipher.decrypt(row.access_token_enc as string),
      appSecret: this.cipher.decrypt(row.app_secret_enc as string),
      verifyToken: this.cipher.decrypt(row.verify_token_enc as string),
    };
  }

  findAccountByPhoneNumberId(phoneNumberId: string): Account | null {
    const row = this.statements.accountByPhone.get(phoneNumberId) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  /** Sandbox WABA ids are generated per account, so at most one account holds each. */
  findSandboxAccountByWabaId(wabaId: string): Account | null {
    const row = this.statements.sandboxAccountByWaba.get(wabaId) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  listAccounts(): Account[] {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY created_at').all() as Row[]).map(toAccount);
  }

  // ---- campaigns

  insertCampaign(c: Campaign): void {
    this.db.prepare(`INSERT INTO campaigns (id, account_id, name, template_name, template_language, template_json, send_at,
      default_country, sheet_json, state, state_reason_json, created_at, started_at, finished_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      c.id, c.accountId, c.name, c.template.name, c.template.language, JSON.stringify(c.templateDefinition), c.sendAt,
      c.defaultCountry, c.sheet ? JSON.stringify(c.sheet) : null, c.state, c.stateReason ? JSON.stringify(c.stateReason) : null,
      c.createdAt, c.startedAt, c.finishedAt,
    );
  }

  getCampaign(accountId: string, id: string): Campaign | null {
    const row = this.statements.campaignByAccount.get(id, accountId) as Row | undefined;
    return row ? toCampaign(row) : null;
  }

  getCampaignById(id: string): Campaign | null {
    const row = this.statements.campaignById.get(id) as Row | undefined;
    return row ? toCampaign(row) : null;
  }

  listCampaigns(accountId: string): Campaign[] {
    return (this.db.prepare('SELECT * FROM campaigns WHERE account_id = ? ORDER BY created_at DESC, rowid DESC')
      .all(accountId) as Row[]).map(toCampaign);
  }

  listCampaignsInStates(states: readonly CampaignState[]): Campaign[] {
    if (states.length === 0) return [];
    const marks = states.map(() => '?').join(', ');
    return (this.db.prepare(`SELECT * FROM campaigns WHERE state IN (${marks}) ORDER BY created_at`)
      .all(...states) as Row[]).map(toCampaign);
  }

  updateCampaignState(id: string, state: CampaignState, reason: StateReason | null, nowMs: number): void {
    this.db.prepare(`UPDATE campaigns SET state = ?, state_reason_json = ?,
      started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END,
      finished_at = CASE WHEN ? IN ('finished', 'cancelled') THEN ? ELSE finished_at END
      WHERE id = ?`).run(state, reason ? JSON.stringify(reason) : null, state, nowMs, state, nowMs, id);
  }

  // ---- messages

  insertMessage(campaignId: string, accountId: string, row: NewMessage, nowMs: number): InsertResult {
    if (this.statements.keyExists.get(campaignId, row.key)) return 'duplicate_key';
    if (this.statements.recipientExists.get(campaignId, row.to)) return 'duplicate_recipient';
    this.statements.insertMessage.run(
      campaignId, accountId, row.key, row.to, JSON.stringify(row.params),
      row.headerMedia ? JSON.stringify(row.headerMedia) : null, row.status, this.nextSeq(), nowMs,
    );
    return 'inserted';
  }

  loadQueued(campaignId: string, afterId: number, limit: number): QueuedMessage[] {
    return (this.statements.loadQueued.all(campaignId, afterId, limit) as Row[]).map((r) => ({
      id: r.id as number,
      campaignId: r.campaign_id as string,
      to: r.to_e164 as string,
      params: r.params_json ? JSON.parse(r.params_json as string) as Record<string, string> : {},
      headerMedia: r.header_media_json ? JSON.parse(r.header_media_json as string) : null,
      attempts: r.attempts as number,
      nextAttemptAt: r.next_attempt_at as number,
    }));
  }

  markSending(ids: readonly number[], nowMs: number): number[] {
    return this.transaction(() => {
      const moved: number[] = [];
      for (const id of ids) {
        if (this.statements.markSending.run(nowMs, this.nextSeq(), nowMs, id).changes === 1) moved.push(id);
        else this.statements.skipSuppressed.run(this.nextSeq(), nowMs, id);
      }
      return moved;
    });
  }

  recordSendOutcomes(outcomes: readonly SendOutcome[], nowMs: number): void {
    const s = this.statements;
    this.transaction(() => {
      for (const o of outcomes) {
        switch (o.kind) {
          case 'sent':
            if (s.outcomeSent.run(o.wamid, nowMs, this.nextSeq(), nowMs, o.id).changes === 0) {
              s.outcomeSentLate.run(o.wamid, nowMs, o.id);
            }
            break;
          case 'retry':
            s.outcomeRetry.run(o.attempts, o.nextAttemptAt, o.error.code, o.error.message, this.nextSeq(), nowMs, o.id);
            break;
          case 'failed':
            s.outcomeFailed.run(o.error.code, o.error.message, this.nextSeq(), nowMs, o.id);
            break;
          case 'requeue':
            s.outcomeRequeue.run(this.nextSeq(), nowMs, o.id);
            break;
          case 'skipped':
            s.outcomeSkipped.run(this.nextSeq(), nowMs, o.id);
            break;
        }
      }
    });
  }

  countOpen(campaignId: string): number {
    return (this.statements.countOpen.get(campaignId) as { n: number }).n;
  }

  countByStatus(campaignId: string): StatusCounts {
    const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    for (const row of this.statements.countByStatus.all(campaignId) as { status: MessageStatus; n: number }[]) {
      counts[row.status] = row.n;
    }
    counts.replied = (this.statements.countReplied.get(campaignId) as { n: number }).n;
    return counts;
  }

  markUnsettledUnknown(beforeMs: number, nowMs: number): number {
    return this.moveRows(() => this.statements.unsettled.all(beforeMs), this.statements.markUnknown, nowMs);
  }

  cancelQueued(campaignId: string, nowMs: number): number {
    return this.moveRows(() => this.statements.cancelQueued.all(campaignId), this.statements.cancelOne, nowMs);
  }

  requeueUnknown(campaignId: string, nowMs: number): number {
    return this.moveRows(() => this.statements.unknownOfCampaign.all(campaignId), this.statements.requeueOne, nowMs);
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

  recentRecipients(accountId: string, sinceMs: number): { to: string; atMs: number }[] {
    return this.statements.recentRecipients.all(accountId, sinceMs, sinceMs) as { to: string; atMs: number }[];
  }

  findMessageById(accountId: string, id: number): TrackedMessage | null {
    const row = this.statements.trackedById.get(id, accountId) as Row | undefined;
    return row ? toTracked(row) : null;
  }

  findMessageByWamid(accountId: string, wamid: string): TrackedMessage | null {
    const row = this.statements.trackedByWamid.get(wamid, accountId) as Row | undefined;
    return row ? toTracked(row) : null;
  }

  applyDeliveryStatus(id: number, status: MessageStatus, wamid: string | null, error: MessageError | null, nowMs: number): void {
    const sentAt = status === 'failed' ? null : nowMs;
    this.statements.applyStatus.run(status, wamid, error?.code ?? null, error?.message ?? null, sentAt, this.nextSeq(), nowMs, id);
  }

  listMessagesChangedAfter(campaignId: string, afterSeq: number, limit: number): MessageView[] {
    return (this.statements.changes.all(campaignId, afterSeq, limit) as Row[]).map(toView);
  }

  // ---- webhook inbox

  saveWebhook(accountId: string, body: Buffer, nowMs: number): number {
    return Number(this.statements.saveWebhook.run(accountId, body, nowMs).lastInsertRowid);
  }

  listPendingWebhooks(limit: number): { id: number; accountId: string; body: Buffer }[] {
    return (this.statements.pendingWebhooks.all(limit) as Row[]).map((r) => ({
      id: r.id as number, accountId: r.account_id as string, body: r.body as Buffer,
    }));
  }

  deleteWebhook(id: number): void {
    this.statements.deleteWebhook.run(id);
  }

  // ---- suppressions

  isSuppressed(accountId: string, to: string): boolean {
    return this.statements.isSuppressed.get(accountId, to) !== undefined;
  }

  addSuppression(accountId: string, to: string, source: string, nowMs: number): void {
    this.statements.addSuppression.run(accountId, to, source, nowMs);
  }

  removeSuppression(accountId: string, to: string): boolean {
    return this.statements.removeSuppression.run(accountId, to).changes > 0;
  }

  listSuppressions(accountId: string): { to: string; source: string; createdAt: number }[] {
    return (this.statements.listSuppressions.all(accountId) as Row[]).map((r) => ({
      to: r.to_e164 as string, source: r.source as string, createdAt: r.created_at as number,
    }));
  }

  findLatestSentTo(accountId: string, recipients: readonly string[]): TrackedMessage | null {
    let best: TrackedMessage | null = null;
    for (const to of recipients) {
      const row = this.statements.latestSentTo.get(accountId, to) as Row | undefined;
      if (row && (!best || (row.id as number) > best.id)) best = toTracked(row);
    }
    return best;
  }

  setReply(messageId: number, text: string, atMs: number, nowMs: number): void {
    this.statements.setReply.run(text, atMs, this.nextSeq(), nowMs, messageId);
  }

  // ---- sheet write-back

  listSheetCampaignsWithChanges(limit: number): SheetCampaign[] {
    return (this.statements.sheetCampaigns.all(limit) as Row[]).map((r) => ({
      campaignId: r.id as string,
      accountId: r.account_id as string,
      target: JSON.parse(r.sheet_json as string),
      sheetCursor: r.sheet_cursor as number,
    }));
  }

  listChanges(campaignId: string, afterSeq: number, limit: number): MessageChange[] {
    return this.listMessagesChangedAfter(campaignId, afterSeq, limit);
  }

  saveSheetCursor(campaignId: string, seq: number): void {
    this.statements.saveSheetCursor.run(seq, campaignId);
  }
}

function toTracked(r: Row): TrackedMessage {
  return {
    id: r.id as number,
    campaignId: r.campaign_id as string,
    accountId: r.account_id as string,
    to: r.to_e164 as string,
    status: r.status as MessageStatus,
    wamid: (r.wamid as string | null) ?? null,
  };
}

function toView(r: Row): MessageView {
  return {
    seq: r.seq as number,
    key: r.row_key as string,
    to: r.to_e164 as string,
    status: r.status as MessageStatus,
    wamid: (r.wamid as string | null) ?? null,
    error: r.error_code ? { code: r.error_code as string, message: (r.error_message as string | null) ?? '' } : null,
    reply: r.reply_text !== null && r.reply_text !== undefined
      ? { text: r.reply_text as string, at: r.reply_at as number } : null,
    updatedAt: r.updated_at as number,
  };
}
