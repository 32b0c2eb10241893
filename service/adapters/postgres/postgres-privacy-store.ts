// Retention, export and erasure over the same PostgreSQL database as PostgresStore, with SqlitePrivacyStore's
// semantics. Every transaction here that changes message rows takes the account's lock first, as the send path does
// (postgres-locks.ts): its multi-row statements then never deadlock with a sender's, and a row cannot be re-queued
// between the purge's read and its write.
//
// What a DELETE leaves behind in PostgreSQL, and what this adapter can and cannot do about it:
// - A deleted or updated row stays in its heap page as a dead tuple (with its bytes) until VACUUM prunes it; index
//   entries pointing at it likewise. Autovacuum gets there on its own schedule; compact() runs VACUUM now.
// - Pruning frees the space for reuse but does not zero it: the old bytes stay in the page's free space until new
//   rows overwrite them. VACUUM FULL would rewrite the tables into new files, but it holds an ACCESS EXCLUSIVE lock
//   for the whole rewrite (every instance stops), and the old files' blocks are freed, not wiped, anyway.
// - The write-ahead log holds the rows as they were written until its segments are recycled after checkpoints
//   (CHECKPOINT needs privileges a service role usually lacks, e.g. on Cloud SQL), and base backups hold them for
//   their retention.
// So erased bytes leave the database files over time, not at once as SQLite's VACUUM makes them; at rest they are
// protected by the storage's encryption (Cloud SQL encrypts disks and backups). flushDeleted therefore has nothing
// to do here: there is no log a service role can truncate.
import type { MessageStatus } from '../../campaigns/message-status';
import type { CompactableStore } from '../../privacy/compactor';
import type {
  AccountErasureCounts, AccountExportSource, AccountSnapshot, ContactErasureCounts, ContentPurgeResult, ErasureStore,
  ExportedRecipientId, ExportedSuppression, ExportedWebhook, RetentionPolicy, RetentionStore,
} from '../../privacy/privacy-ports';
import type { AccountHealth } from '../../webhooks/account-health';
import { readHealth } from './postgres-health-store';
import { lockAccounts } from './postgres-locks';
import { SUPPRESSION_LIST_SQL, toAccount, toCampaign, toExportedMessage, toSuppressionEntry } from '../stored-rows';
import { cursorRows, inTransaction, type Row, type Sql, type SqlPool } from './postgres-sql';

/** Rows read per statement while walking a campaign for retention. */
const WALK_PAGE_ROWS = 500;
/** Rows per FETCH of an export's cursors: one batch in memory at a time. */
const EXPORT_BATCH_ROWS = 500;
/** Every table of the schema that holds account data: what compact() vacuums. */
const DATA_TABLES = 'messages, webhook_inbox, suppressions, campaigns, retention_marks, accounts, account_locks, sender_leases, account_health, account_health_events, recipient_ids';

export class PostgresPrivacyStore implements RetentionStore, ErasureStore, AccountExportSource, CompactableStore {
  constructor(private readonly pool: SqlPool) {}

  private transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  // ---- retention

  async listRetentionPolicies(): Promise<RetentionPolicy[]> {
    const { rows } = await this.pool.query('SELECT id, retention_days FROM accounts ORDER BY created_at, insert_order');
    return rows.map((r) => ({ accountId: r.id as string, retentionDays: r.retention_days as number }));
  }

  /** Sets how many days the account keeps message content; false when there is no such account. */
  async setRetentionDays(accountId: string, days: number): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE accounts SET retention_days = $1 WHERE id = $2', [days, accountId]);
    return rowCount > 0;
  }

  /**
   * SqlitePrivacyStore's walk: the account's campaigns created before the cutoff, oldest first, each from its mark
   * in change order (seq), stopping at the first row changed since the cutoff or at the row budget. One transaction
   * under the account's lock; the content of each page's due rows is cleared with one UPDATE, which also
   * re-checks in the statement that the row is not queued or sending.
   */
  async purgeMessageContent(accountId: string, cutoffMs: number, maxRows: number): Promise<ContentPurgeResult> {
    return this.transaction(async (sql) => {
      await lockAccounts(sql, [accountId]);
      let budget = maxRows;
      let purged = 0;
      // A message cannot have changed before its campaign existed, so younger campaigns are not walked at all.
      const { rows: campaigns } = await sql.query<{ id: string; mark: number }>(
        `SELECT c.id, COALESCE(r.walked_through_seq, 0) AS mark FROM campaigns c
         LEFT JOIN retention_marks r ON r.campaign_id = c.id
         WHERE c.account_id = $1 AND c.created_at < $2 ORDER BY c.created_at, c.id`,
        [accountId, cutoffMs],
      );
      for (const campaign of campaigns) {
        let mark = campaign.mark;
        let isCampaignDone = false;
        while (!isCampaignDone && budget > 0) {
          const page = Math.min(budget, WALK_PAGE_ROWS);
          const { rows } = await sql.query<{ id: number; seq: number; status: MessageStatus; last_at: number; has_content: boolean }>(
            `SELECT id, seq, status, GREATEST(updated_at, COALESCE(reply_at, 0)) AS last_at,
               (params_json IS NOT NULL OR header_media_json IS NOT NULL OR reply_text IS NOT NULL) AS has_content
             FROM messages WHERE campaign_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
            [campaign.id, mark, page],
          );
          const due: number[] = [];
          for (const row of rows) {
            // Rows come in change order, which is time order: the first recent one ends the walk for now.
            if (row.last_at >= cutoffMs) {
              isCampaignDone = true;
              break;
            }
            if (row.has_content && row.status !== 'queued' && row.status !== 'sending') due.push(row.id);
            mark = row.seq;
            budget--;
          }
          if (due.length > 0) {
            const { rowCount } = await sql.query(
              `UPDATE messages SET params_json = NULL, header_media_json = NULL, reply_text = NULL
               WHERE id = ANY($1::bigint[]) AND status NOT IN ('queued', 'sending')`,
              [due],
            );
            purged += rowCount;
          }
          if (rows.length < page) isCampaignDone = true;
        }
        if (mark !== campaign.mark) {
          await sql.query(
            `INSERT INTO retention_marks (campaign_id, walked_through_seq) VALUES ($1, $2)
             ON CONFLICT (campaign_id) DO UPDATE SET walked_through_seq = excluded.walked_through_seq`,
            [campaign.id, mark],
          );
        }
        if (!isCampaignDone) return { purged, isDone: false };
      }
      return { purged, isDone: true };
    });
  }

  async deleteStaleWebhooks(accountId: string, cutoffMs: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      'DELETE FROM webhook_inbox WHERE account_id = $1 AND received_at < $2', [accountId, cutoffMs]);
    return rowCount;
  }

  async deleteOrphanWebhooks(): Promise<number> {
    const { rowCount } = await this.pool.query(
      'DELETE FROM webhook_inbox w WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = w.account_id)');
    return rowCount;
  }

  /** Nothing to do in PostgreSQL: see the header (dead tuples wait for VACUUM, which compact() runs). */
  async flushDeleted(): Promise<void> {}

  /**
   * VACUUM (not FULL) of every table holding account data, outside a transaction: dead tuples and their index
   * entries are pruned and their space marked free now instead of at autovacuum's next visit. It takes no lock that
   * blocks reads or writes. Tuples an open transaction may still see (an export's snapshot) are kept by it and go at
   * the next vacuum. False when the VACUUM fails (it cannot be cancelled half-way into harm).
   */
  async compact(): Promise<boolean> {
    try {
      await this.pool.query(`VACUUM ${DATA_TABLES}`);
      return true;
    } catch {
      return false;
    }
  }

  // ---- erasure

  async deleteAccountMessages(accountId: string, limit: number): Promise<number> {
    return this.transaction(async (sql) => {
      await lockAccounts(sql, [accountId]);
      // ARRAY(…) is computed once, then the rows go by primary key, whatever plan the statistics would suggest.
      const { rowCount } = await sql.query(
        `DELETE FROM messages WHERE id = ANY(ARRAY(
           SELECT m.id FROM campaigns c JOIN messages m ON m.campaign_id = c.id WHERE c.account_id = $1 LIMIT $2))`,
        [accountId, limit],
      );
      return rowCount;
    });
  }

  /**
   * One transaction: the account's lock row FOR UPDATE (waits for the account's writers in flight, and keeps new ones
   * out until COMMIT, after which they find no lock row and fail or do nothing), the sender lease (a fenced write of the
   * old holder then finds no lease: LeaseLostError), messages, campaigns (retention marks go with them),
   * suppressions, stored webhooks, and the account row with its sealed secrets and API key hash.
   */
  async deleteAccount(accountId: string): Promise<AccountErasureCounts> {
    return this.transaction(async (sql) => {
      await sql.query('SELECT 1 FROM account_locks WHERE account_id = $1 FOR UPDATE', [accountId]);
      await sql.query('DELETE FROM sender_leases WHERE account_id = $1', [accountId]);
      const messages = (await sql.query(
        'DELETE FROM messages WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = $1)', [accountId])).rowCount;
      const campaigns = (await sql.query('DELETE FROM campaigns WHERE account_id = $1', [accountId])).rowCount;
      const suppressions = (await sql.query('DELETE FROM suppressions WHERE account_id = $1', [accountId])).rowCount;
      await sql.query('DELETE FROM recipient_ids WHERE account_id = $1', [accountId]);
      await sql.query('DELETE FROM account_health_events WHERE account_id = $1', [accountId]);
      await sql.query('DELETE FROM account_health WHERE account_id = $1', [accountId]);
      const webhooks = (await sql.query('DELETE FROM webhook_inbox WHERE account_id = $1', [accountId])).rowCount;
      // account_locks goes with it (ON DELETE CASCADE).
      await sql.query('DELETE FROM accounts WHERE id = $1', [accountId]);
      return { campaigns, messages, suppressions, webhooks };
    });
  }

  /** One statement under the account's lock: the contact's rows go, replies counted as they go; the suppression stays. */
  async deleteContact(accountId: string, to: string): Promise<ContactErasureCounts> {
    return this.transaction(async (sql) => {
      await lockAccounts(sql, [accountId]);
      const { rows } = await sql.query<{ messages: number; replies: number; is_suppressed: boolean }>(
        // The person's BSUIDs go too, with any rows that were sent to them by BSUID.
        `WITH ids AS (
           DELETE FROM recipient_ids WHERE account_id = $1 AND to_e164 = $2 RETURNING user_id
         ),
         gone AS (
           DELETE FROM messages WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = $1)
             AND (to_e164 = $2 OR to_e164 IN (SELECT user_id FROM ids))
           RETURNING reply_at
         )
         SELECT (SELECT count(*) FROM gone) AS messages, (SELECT count(reply_at) FROM gone) AS replies,
           EXISTS (SELECT 1 FROM suppressions WHERE account_id = $1 AND to_e164 = $2) AS is_suppressed`,
        [accountId, to],
      );
      const row = rows[0]!;
      return { messages: row.messages, replies: row.replies, isStillSuppressed: row.is_suppressed };
    });
  }

  // ---- export

  /**
   * One pooled connection in a REPEATABLE READ READ ONLY transaction: every section sees the same moment, and
   * writers are not held up (MVCC). Each section streams through its own server-side cursor, EXPORT_BATCH_ROWS per
   * FETCH; messages go campaign by campaign in key order (messages_by_key, no sort of the whole account). close()
   * ends the iterations still open, ends the transaction and gives the connection back; safe to call twice.
   */
  async openSnapshot(accountId: string): Promise<AccountSnapshot | null> {
    const session = await this.pool.connect();
    let accountRow: Row | undefined;
    let health: AccountHealth;
    try {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // An export waits on its reader between fetches: it is exempt from the pool's idle-in-transaction limit.
      await session.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      accountRow = (await session.query('SELECT * FROM accounts WHERE id = $1', [accountId])).rows[0];
      if (!accountRow) {
        await session.query('ROLLBACK');
        session.release();
        return null;
      }
      health = await readHealth(session, accountId);
    } catch (error) {
      session.release(true);
      throw error;
    }

    let isOpen = true;
    const live = new Set<AsyncGenerator<unknown>>();
    const track = <T>(make: () => AsyncGenerator<T>): AsyncGenerator<T> => {
      const generator = make();
      live.add(generator);
      return generator;
    };
    const stillOpen = () => isOpen;
    const rows = <R = Row>(text: string, params: readonly unknown[]) =>
      cursorRows<R>(session, text, params, EXPORT_BATCH_ROWS, stillOpen);

    let closing: Promise<void> | null = null;
    const close = async (): Promise<void> => {
      // An abandoned generator still has its cursor open: return() ends it at its yield (its finally closes the
      // cursor); one never started just ends. Then nothing may touch the connection any more.
      const generators = [...live];
      live.clear();
      let isBroken = false;
      try {
        await Promise.all(generators.map((generator) => generator.return(undefined)));
      } catch {
        isBroken = true;
      }
      isOpen = false;
      try {
        if (!isBroken) await session.query('COMMIT');
      } catch {
        isBroken = true;
      } finally {
        session.release(isBroken);
      }
    };

    return {
      account: toAccount(accountRow),
      health,
      campaigns: () => track(async function* campaigns() {
        for await (const row of rows('SELECT * FROM campaigns WHERE account_id = $1 ORDER BY created_at, id', [accountId])) {
          yield toCampaign(row);
        }
      }),
      messages: () => track(async function* messages() {
        const { rows: campaignIds } = await session.query<{ id: string }>(
          'SELECT id FROM campaigns WHERE account_id = $1 ORDER BY created_at, id', [accountId]);
        for (const { id } of campaignIds) {
          if (!isOpen) return;
          const section = rows(
            `SELECT campaign_id, row_key, to_e164, params_json, header_media_json, status, wamid, error_code, error_message,
               attempts, sent_at, reply_text, reply_at, updated_at
             FROM messages WHERE campaign_id = $1 ORDER BY row_key`,
            [id],
          );
          for await (const row of section) yield toExportedMessage(row);
        }
      }),
      suppressions: () => track(async function* suppressions() {
        // As people (a number and its BSUID together), as GET /v1/suppressions shows them.
        for await (const r of rows(SUPPRESSION_LIST_SQL('$1'), [accountId])) {
          const entry = toSuppressionEntry(r);
          if (entry) yield entry satisfies ExportedSuppression;
        }
      }),
      recipientIds: () => track(async function* recipientIds() {
        const section = rows('SELECT user_id, to_e164, updated_at FROM recipient_ids WHERE account_id = $1 ORDER BY user_id', [accountId]);
        for await (const r of section) {
          yield { userId: r.user_id as string, to: (r.to_e164 as string | null) ?? null, updatedAt: r.updated_at as number } satisfies ExportedRecipientId;
        }
      }),
      pendingWebhooks: () => track(async function* pendingWebhooks() {
        const section = rows('SELECT body, received_at FROM webhook_inbox WHERE account_id = $1 ORDER BY id', [accountId]);
        for await (const r of section) {
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
}
