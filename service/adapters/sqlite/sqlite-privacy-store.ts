// Retention, export and erasure over the same better-sqlite3 database as SqliteStore. Deletes are done with
// secure_delete on, and flushed out of the write-ahead log, so erased bytes do not linger in the files.
// The ports are async; here each method does its work synchronously inside, so every port call is atomic by itself.
import Database from 'better-sqlite3';
import type { MessageStatus } from '../../campaigns/message-status';
import type { CompactableStore } from '../../privacy/compactor';
import { readHealth } from './sqlite-health-store';
import { SUPPRESSION_LIST_SQL, toAccount, toCampaign, toExportedMessage, toSuppressionEntry } from '../stored-rows';
import type {
  AccountErasureCounts, AccountExportSource, AccountSnapshot, ContactErasureCounts, ContentPurgeResult, ErasureStore,
  ExportedMessage, ExportedRecipientId, ExportedSuppression, ExportedWebhook, RetentionPolicy, RetentionStore,
} from '../../privacy/privacy-ports';

type Row = Record<string, unknown>;

/**
 * How far each campaign's messages have been walked for retention, in the campaign's change order (`seq`). A row
 * that changes later gets a higher seq and is walked again, so the mark never hides content that is still due.
 */
export const PRIVACY_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS retention_marks (
  campaign_id TEXT PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
  walked_through_seq INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Rows read per statement while walking a campaign for retention. */
const WALK_PAGE_ROWS = 500;

export class SqlitePrivacyStore implements RetentionStore, ErasureStore, AccountExportSource, CompactableStore {
  private readonly statements: ReturnType<SqlitePrivacyStore['prepare']>;

  /**
   * Works on `db`, the connection SqliteStore opened, and turns on `secure_delete = FAST` for it: freed bytes inside
   * a page are zeroed whenever the page is written anyway. FULL would also write every freed page once more, on the
   * send path's hot updates; it would not be enough alone either (page splits leave copies in slack), which is why
   * erasure compacts the file (compactor.ts) rather than trusting deletes.
   */
  constructor(
    private readonly db: Database.Database,
    /** Called after an account is deleted: SqliteStore drops what it keeps of the account in memory (its lease). */
    private readonly onAccountDeleted: (accountId: string) => void = () => {},
  ) {
    db.pragma('secure_delete = FAST');
    db.exec(PRIVACY_SCHEMA_SQL);
    this.statements = this.prepare();
  }

  private prepare() {
    const db = this.db;
    const accountMessages = 'SELECT id FROM campaigns WHERE account_id = ?';
    return {
      policies: db.prepare('SELECT id, retention_days FROM accounts ORDER BY created_at'),
      setRetention: db.prepare('UPDATE accounts SET retention_days = ? WHERE id = ?'),
      oldCampaigns: db.prepare(`SELECT c.id, COALESCE(r.walked_through_seq, 0) AS mark FROM campaigns c
        LEFT JOIN retention_marks r ON r.campaign_id = c.id
        WHERE c.account_id = ? AND c.created_at < ? ORDER BY c.created_at, c.id`),
      // Served by messages_changes (campaign_id, seq).
      walk: db.prepare(`SELECT id, seq, status, MAX(updated_at, COALESCE(reply_at, 0)) AS last_at,
        (params_json IS NOT NULL OR header_media_json IS NOT NULL OR reply_text IS NOT NULL) AS has_content
        FROM messages WHERE campaign_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
      purgeOne: db.prepare('UPDATE messages SET params_json = NULL, header_media_json = NULL, reply_text = NULL WHERE id = ?'),
      saveMark: db.prepare(`INSERT INTO retention_marks(campaign_id, walked_through_seq) VALUES (?, ?)
        ON CONFLICT(campaign_id) DO UPDATE SET walked_through_seq = excluded.walked_through_seq`),
      staleWebhooks: db.prepare('DELETE FROM webhook_inbox WHERE account_id = ? AND received_at < ?'),
      orphanWebhooks: db.prepare('DELETE FROM webhook_inbox WHERE account_id NOT IN (SELECT id FROM accounts)'),
      deleteMessagesBatch: db.prepare(`DELETE FROM messages WHERE id IN (SELECT m.id FROM campaigns c
        JOIN messages m ON m.campaign_id = c.id WHERE c.account_id = ? LIMIT ?)`),
      deleteAccountMessages: db.prepare(`DELETE FROM messages WHERE campaign_id IN (${accountMessages})`),
      deleteCampaigns: db.prepare('DELETE FROM campaigns WHERE account_id = ?'),
      deleteSuppressions: db.prepare('DELETE FROM suppressions WHERE account_id = ?'),
      deleteRecipientIds: db.prepare('DELETE FROM recipient_ids WHERE account_id = ?'),
      deleteHealthEvents: db.prepare('DELETE FROM account_health_events WHERE account_id = ?'),
      deleteHealth: db.prepare('DELETE FROM account_health WHERE account_id = ?'),
      deleteWebhooks: db.prepare('DELETE FROM webhook_inbox WHERE account_id = ?'),
      deleteAccount: db.prepare('DELETE FROM accounts WHERE id = ?'),
      contactReplies: db.prepare(`SELECT COUNT(*) AS n FROM messages
        WHERE campaign_id IN (${accountMessages}) AND to_e164 = ? AND reply_at IS NOT NULL`),
      deleteContactMessages: db.prepare(`DELETE FROM messages WHERE campaign_id IN (${accountMessages}) AND to_e164 = ?`),
      contactUserIds: db.prepare('SELECT user_id FROM recipient_ids WHERE account_id = ? AND to_e164 = ?').pluck(),
      deleteContactUserIds: db.prepare('DELETE FROM recipient_ids WHERE account_id = ? AND to_e164 = ?'),
      isSuppressed: db.prepare('SELECT 1 FROM suppressions WHERE account_id = ? AND to_e164 = ?'),
    };
  }

  // ---- retention

  async listRetentionPolicies(): Promise<RetentionPolicy[]> {
    return (this.statements.policies.all() as Row[]).map((r) => ({
      accountId: r.id as string, retentionDays: r.retention_days as number,
    }));
  }

  /**
   * Sets how many days the account keeps message content; false when there is no such account. Synchronous:
   * SqliteStore.setRetentionDays (the ServiceStore port) and the CLI call it.
   */
  setRetentionDays(accountId: string, days: number): boolean {
    return this.statements.setRetention.run(days, accountId).changes > 0;
  }

  async purgeMessageContent(accountId: string, cutoffMs: number, maxRows: number): Promise<ContentPurgeResult> {
    const s = this.statements;
    return this.inTransaction(() => {
      let budget = maxRows;
      let purged = 0;
      // A message cannot have changed before its campaign existed, so younger campaigns are not walked at all.
      for (const campaign of s.oldCampaigns.all(accountId, cutoffMs) as { id: string; mark: number }[]) {
        let mark = campaign.mark;
        let isCampaignDone = false;
        while (!isCampaignDone && budget > 0) {
          const page = Math.min(budget, WALK_PAGE_ROWS);
          const rows = s.walk.all(campaign.id, mark, page) as
            { id: number; seq: number; status: MessageStatus; last_at: number; has_content: number }[];
          for (const row of rows) {
            // Rows come in change order, which is time order: the first recent one ends the walk for now.
            if (row.last_at >= cutoffMs) {
              isCampaignDone = true;
              break;
            }
            if (row.has_content && row.status !== 'queued' && row.status !== 'sending') {
              s.purgeOne.run(row.id);
              purged++;
            }
            mark = row.seq;
            budget--;
          }
          if (rows.length < page) isCampaignDone = true;
        }
        if (mark !== campaign.mark) s.saveMark.run(campaign.id, mark);
        if (!isCampaignDone) return { purged, isDone: false };
      }
      return { purged, isDone: true };
    });
  }

  async deleteStaleWebhooks(accountId: string, cutoffMs: number): Promise<number> {
    return this.statements.staleWebhooks.run(accountId, cutoffMs).changes;
  }

  async deleteOrphanWebhooks(): Promise<number> {
    return this.statements.orphanWebhooks.run().changes;
  }

  /**
   * Checkpoints the write-ahead log and truncates it, so the pre-delete page images it held are gone from disk.
   * Does not wait: with busy_timeout 0 a checkpoint blocked by a reader (an export in progress) does what it can
   * and the next flush finishes it (the log file is then left as it was, not emptied).
   */
  async flushDeleted(): Promise<void> {
    this.checkpointLog();
  }

  /** flushDeleted's work; returns whether the log was emptied (compact reports it). */
  private checkpointLog(): boolean {
    return this.withoutWaiting(() => {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      return result?.busy === 0;
    });
  }

  /**
   * VACUUM, then flush: the file is rebuilt from the live rows only, so no page keeps old bytes in its slack.
   * Synchronous (about 2 s per million messages) and needs as much free disk as the database. Returns false,
   * having changed nothing that matters, when it cannot run or finish now (a statement or another reader is open).
   */
  async compact(): Promise<boolean> {
    try {
      this.withoutWaiting(() => this.db.exec('VACUUM'));
    } catch {
      return false;
    }
    return this.checkpointLog();
  }

  /** Runs `fn` with busy_timeout 0: a lock held elsewhere fails it at once instead of blocking the event loop. */
  private withoutWaiting<T>(fn: () => T): T {
    const busyTimeoutMs = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      return fn();
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  }

  // ---- erasure

  async deleteAccountMessages(accountId: string, limit: number): Promise<number> {
    return this.statements.deleteMessagesBatch.run(accountId, limit).changes;
  }

  async deleteAccount(accountId: string): Promise<AccountErasureCounts> {
    const s = this.statements;
    return this.inTransaction(() => {
      const messages = s.deleteAccountMessages.run(accountId).changes;
      const campaigns = s.deleteCampaigns.run(accountId).changes;
      const suppressions = s.deleteSuppressions.run(accountId).changes;
      s.deleteRecipientIds.run(accountId);
      s.deleteHealthEvents.run(accountId);
      s.deleteHealth.run(accountId);
      const webhooks = s.deleteWebhooks.run(accountId).changes;
      // The secrets (sealed tokens, the API key's hash) live on the account row itself.
      s.deleteAccount.run(accountId);
      this.onAccountDeleted(accountId);
      return { campaigns, messages, suppressions, webhooks };
    });
  }

  async deleteContact(accountId: string, to: string): Promise<ContactErasureCounts> {
    const s = this.statements;
    return this.inTransaction(() => {
      // The person's BSUIDs go too, with any rows that were sent to them by BSUID.
      const ids = [to, ...(s.contactUserIds.all(accountId, to) as string[])];
      let replies = 0;
      let messages = 0;
      for (const id of ids) {
        replies += (s.contactReplies.get(accountId, id) as { n: number }).n;
        messages += s.deleteContactMessages.run(accountId, id).changes;
      }
      s.deleteContactUserIds.run(accountId, to);
      // The suppression row is kept as it is: the number, how it opted out and when. It holds nothing else.
      const isStillSuppressed = s.isSuppressed.get(accountId, to) !== undefined;
      return { messages, replies, isStillSuppressed };
    });
  }

  // ---- export

  /**
   * Opens a second, read-only connection in one read transaction: the export sees one consistent moment, and
   * however slowly its reader drains the rows, the main connection keeps writing (WAL readers do not block it).
   * The iterables are async generators over better-sqlite3's row iterators: each `next()` reads one row.
   */
  async openSnapshot(accountId: string): Promise<AccountSnapshot | null> {
    if (this.db.memory) throw new Error('An export needs a database file (it reads on a second connection).');
    const reader = new Database(this.db.name, { readonly: true, fileMustExist: true });
    let accountRow: Row | undefined;
    try {
      reader.exec('BEGIN');
      accountRow = reader.prepare('SELECT * FROM accounts WHERE id = ?').get(accountId) as Row | undefined;
    } catch (error) {
      reader.close();
      throw error;
    }
    if (!accountRow) {
      reader.exec('ROLLBACK');
      reader.close();
      return null;
    }
    const live = new Set<AsyncGenerator<unknown>>();
    const track = <T>(make: () => AsyncGenerator<T>): AsyncGenerator<T> => {
      const generator = make();
      live.add(generator);
      return generator;
    };
    const campaignIds = (): string[] => reader.prepare('SELECT id FROM campaigns WHERE account_id = ? ORDER BY created_at, id')
      .pluck().all(accountId) as string[];
    let closing: Promise<void> | null = null;
    const close = async (): Promise<void> => {
      // An abandoned generator still holds its statement open, and a connection with open statements cannot close.
      // return() ends it at its yield (its for-of closes the row iterator); one never started just ends.
      const generators = [...live];
      live.clear();
      await Promise.all(generators.map((generator) => generator.return(undefined)));
      if (!reader.open) return;
      reader.exec('COMMIT');
      reader.close();
    };
    return {
      account: toAccount(accountRow),
      health: readHealth(reader, accountId),
      campaigns: () => track(async function* campaigns() {
        const rows = reader.prepare('SELECT * FROM campaigns WHERE account_id = ? ORDER BY created_at, id').iterate(accountId);
        for (const row of rows) yield toCampaign(row as Row);
      }),
      messages: () => track(async function* messages() {
        // Per campaign, in key order (messages_by_key): no sort of the whole account in memory.
        const statement = reader.prepare(`SELECT campaign_id, row_key, to_e164, params_json, header_media_json, status,
          wamid, error_code, error_message, attempts, sent_at, reply_text, reply_at, updated_at
          FROM messages WHERE campaign_id = ? ORDER BY row_key`);
        for (const campaignId of campaignIds()) {
          for (const row of statement.iterate(campaignId)) yield toExportedMessage(row as Row);
        }
      }),
      suppressions: () => track(async function* suppressions() {
        // As people (a number and its BSUID together), as GET /v1/suppressions shows them.
        for (const row of reader.prepare(SUPPRESSION_LIST_SQL('?')).iterate(accountId)) {
          const entry = toSuppressionEntry(row as Row);
          if (entry) yield entry satisfies ExportedSuppression;
        }
      }),
      recipientIds: () => track(async function* recipientIds() {
        const rows = reader.prepare('SELECT user_id, to_e164, updated_at FROM recipient_ids WHERE account_id = ? ORDER BY user_id')
          .iterate(accountId);
        for (const r of rows as Iterable<Row>) {
          yield { userId: r.user_id as string, to: (r.to_e164 as string | null) ?? null, updatedAt: r.updated_at as number } satisfies ExportedRecipientId;
        }
      }),
      pendingWebhooks: () => track(async function* pendingWebhooks() {
        const rows = reader.prepare('SELECT body, received_at FROM webhook_inbox WHERE account_id = ? ORDER BY id').iterate(accountId);
        for (const r of rows as Iterable<Row>) {
          yield { receivedAt: r.received_at as number, body: (r.body as Buffer).toString('utf8') } satisfies ExportedWebhook;
        }
      }),
      // Safe to call twice, and at once: every call waits for the same closing.
      close: () => {
        closing ??= close();
        return closing;
      },
    };
  }

  private inTransaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn)();
  }
}
