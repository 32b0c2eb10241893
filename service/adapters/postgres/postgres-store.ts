// The shared store: every port of the domain over one PostgreSQL database, for several service instances at once.
// Same observable behaviour as SqliteStore; where SQLite is one synchronous writer, here each port call is one
// transaction whose checks sit in its statements (compare-and-set, ON CONFLICT, forward-only WHERE), and the order
// and the fence of the writes come from postgres-locks.ts (read its header first).
//
// Clocks: `nowMs` arguments (the domain's Clock) stamp rows as in SQLite; leases and webhook claims use the
// database's clock only (statement_timestamp()), so instances with skewed clocks still agree on who holds what.
import type { CampaignState } from '../../campaigns/campaign';
import type { MessageStatus } from '../../campaigns/message-status';
import { MESSAGE_STATUSES } from '../../campaigns/message-status';
import type {
  Account, AccountSecrets, BatchItemResult, BatchWrite, Campaign, CampaignTransition, InsertResult, Logger, MessageView,
  NewMessage, PendingWebhook, QueuedMessage, SenderFence, SenderLease, SendOutcome, StatusCounts, WebhookApplied,
  WebhookEffects,
} from '../../campaigns/ports';
import type { MessageChange, SheetCampaign } from '../../sheets/sheet-ports';
import type { NewAccount, SecretCipher, ServiceStore, SuppressionEntry } from '../../service-store';
import { applyMigrations } from './migrations';
import { checkFence, lockAccounts, NEXT_SEQ } from './postgres-locks';
import { PostgresPrivacyStore } from './postgres-privacy-store';
import { toAccount, toCampaign, toSecrets, toView, VIEW_COLUMNS } from '../stored-rows';
import { createPool, inSavepoint, inTransaction, sqlState, type Row, type Sql, type SqlPool } from './postgres-sql';

export type { NewAccount, SecretCipher } from '../../service-store';

export interface PostgresStoreOptions {
  /** Connections in this instance's pool (default 10). Instances × poolSize must stay under max_connections. */
  poolSize?: number;
  /** Told when an idle pooled connection fails (the pool replaces it); the message only, never SQL or parameters. */
  logger?: Pick<Logger, 'warn'>;
}

/** Parameter `$n`, a number of ms, as an interval: for statement_timestamp() arithmetic. */
const ms = (n: number): string => `$${n}::float8 * interval '1 millisecond'`;

export class PostgresStore implements ServiceStore {
  readonly privacy: PostgresPrivacyStore;

  private constructor(private readonly pool: SqlPool, private readonly cipher: SecretCipher) {
    this.privacy = new PostgresPrivacyStore(pool);
  }

  /**
   * Connects to `url` (postgres://…), applies the migrations the database lacks (once, whichever instance gets the
   * advisory lock first), and returns the store. Rejects, with the pool closed, when the database is unreachable
   * or a migration fails.
   */
  static async open(url: string, cipher: SecretCipher, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = createPool(url, {
      size: options.poolSize ?? 10,
      onIdleError: (error) => options.logger?.warn({ err: error.message }, 'PostgreSQL idle connection failed'),
    });
    try {
      await applyMigrations(pool);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(pool, cipher);
  }

  /** Ends the pool: waits for connections in use to be given back. Safe to call twice. */
  async close(): Promise<void> {
    await this.pool.end();
  }

  private transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  private async rows(text: string, params: readonly unknown[]): Promise<Row[]> {
    return (await this.pool.query(text, params)).rows;
  }

  // ---- leases

  /**
   * One statement: inserts the lease, or takes it over when it has expired, or renews it for the same holder. A new
   * holder (or the same one after its lease ran out) gets token + 1; a renewal keeps the token. The UPDATE waits for
   * the fenced transactions in flight (they hold the row FOR SHARE), so a new holder starts after their commits.
   */
  async acquireSenderLease(accountId: string, holder: string, ttlMs: number): Promise<SenderLease | null> {
    const rows = await this.rows(
      `INSERT INTO sender_leases AS l (account_id, holder, token, expires_at)
       VALUES ($1, $2, 1, clock_timestamp() + ${ms(3)})
       ON CONFLICT (account_id) DO UPDATE SET
         token = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END,
         holder = excluded.holder,
         expires_at = excluded.expires_at
       WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
       RETURNING token`,
      [accountId, holder, ttlMs],
    );
    const token = rows[0]?.token as number | undefined;
    return token === undefined ? null : { accountId, token, validForMs: ttlMs };
  }

  async releaseSenderLease(fence: SenderFence, holder: string, quietMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE sender_leases SET holder = '', expires_at = clock_timestamp() + ${ms(4)}
       WHERE account_id = $1 AND token = $2 AND holder = $3`,
      [fence.accountId, fence.token, holder, quietMs],
    );
  }

  async acquireJobLease(job: string, holder: string, ttlMs: number): Promise<boolean> {
    const rows = await this.rows(
      `INSERT INTO job_leases AS l (job, holder, expires_at) VALUES ($1, $2, statement_timestamp() + ${ms(3)})
       ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE l.holder = excluded.holder OR l.expires_at <= statement_timestamp()
       RETURNING 1`,
      [job, holder, ttlMs],
    );
    return rows.length === 1;
  }

  async heartbeat(instanceId: string, ttlMs: number): Promise<number> {
    const rows = await this.rows(
      `WITH seen AS (
         INSERT INTO live_instances (instance_id, seen_until) VALUES ($1, statement_timestamp() + ${ms(2)})
         ON CONFLICT (instance_id) DO UPDATE SET seen_until = excluded.seen_until
       ), gone AS (
         DELETE FROM live_instances WHERE seen_until < statement_timestamp() - interval '1 hour'
       )
       SELECT 1 + COUNT(*) AS live FROM live_instances WHERE seen_until > statement_timestamp() AND instance_id <> $1`,
      [instanceId, ttlMs],
    );
    return Number(rows[0]?.live ?? 1);
  }

  async leaveInstances(instanceId: string): Promise<void> {
    await this.pool.query('DELETE FROM live_instances WHERE instance_id = $1', [instanceId]);
  }

  // ---- the group commit's writes

  /**
   * One transaction: the locks of every account the writes change are taken first (ascending), then each
   * write runs in its own savepoint and is undone alone when it fails (a stale fence: LeaseLostError). Resolves after
   * COMMIT; rejects, with nothing done, when COMMIT or the connection fails.
   */
  async writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]> {
    if (writes.length === 0) return [];
    const accountIds = new Set(writes.flatMap((w) =>
      w.kind === 'claim' || w.kind === 'outcomes' ? [w.fence.accountId] : w.kind === 'apply_webhook' ? [w.accountId] : []));
    if (writes.length === 1) return [await this.writeAlone(writes[0]!)];
    return this.transaction(async (sql) => {
      // With one account, its first write's own lock statement takes it: no statement is needed here.
      if (accountIds.size > 1) await lockAccounts(sql, accountIds);
      const results: BatchItemResult[] = [];
      for (const write of writes) results.push(await inSavepoint(sql, () => this.runWrite(sql, write)));
      return results;
    });
  }

  /**
   * A batch of one write needs no savepoint: when it fails, the transaction is rolled back and that failure is the
   * batch's only result, as a rolled-back savepoint followed by an empty COMMIT would have given (two round trips
   * fewer on the sender's path). A lone webhook body is one INSERT, committed on its own.
   */
  private async writeAlone(write: BatchWrite): Promise<BatchItemResult> {
    try {
      const value = write.kind === 'save_webhook'
        ? await this.saveWebhook(this.pool, write)
        : await this.transaction(async (sql) => {
          try {
            return await this.runWrite(sql, write);
          } catch (error) {
            throw new WriteFailed(error);
          }
        });
      return { ok: true, value };
    } catch (error) {
      // Anything else (ROLLBACK or COMMIT failing, the connection lost) rejects the batch: nothing happened.
      if (error instanceof WriteFailed) return { ok: false, error: error.error };
      if (write.kind === 'save_webhook' && !isConnectionError(error)) return { ok: false, error };
      throw error;
    }
  }

  private async saveWebhook(sql: Sql, write: Extract<BatchWrite, { kind: 'save_webhook' }>): Promise<number> {
    const { rows } = await sql.query<{ id: number }>(
      'INSERT INTO webhook_inbox (account_id, body, received_at) VALUES ($1, $2, $3) RETURNING id',
      [write.accountId, write.body, write.nowMs],
    );
    return rows[0]!.id;
  }

  private async runWrite(sql: Sql, write: BatchWrite): Promise<unknown> {
    switch (write.kind) {
      case 'claim':
        await checkFence(sql, write.fence, true);
        return this.markSending(sql, write.fence.accountId, write.ids, write.nowMs);
      case 'outcomes':
        await checkFence(sql, write.fence, false);
        await this.recordSendOutcomes(sql, write.fence.accountId, write.outcomes, write.nowMs);
        return null;
      case 'save_webhook':
        return this.saveWebhook(sql, write);
      case 'apply_webhook':
        await lockAccounts(sql, [write.accountId]);
        return this.applyWebhook(sql, write.inboxId, write.accountId, write.effects, write.nowMs);
    }
  }

  /**
   * Claims in two set-based updates on one snapshot (taken after the account lock): queued rows of running campaigns
   * whose recipient is not suppressed become `sending`; queued rows whose recipient is suppressed become `skipped`
   * (whatever their campaign's state, as in SQLite); the rest stay. Gives the moved ids in the order asked.
   */
  private async markSending(sql: Sql, accountId: string, ids: readonly number[], nowMs: number): Promise<number[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql.query<{ id: number; ord: number }>(
      `WITH moved AS (
         UPDATE messages m SET status = 'sending', sending_at = $3, seq = ${NEXT_SEQ}, updated_at = $3
         WHERE m.id = ANY($1::bigint[]) AND m.account_id = $2 AND m.status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = m.account_id AND s.to_e164 = m.to_e164)
           -- A scalar sub-select, not EXISTS: an EXISTS becomes a join through campaigns, which offers the planner
           -- messages_queue, and with statistics from a nearly empty table it scans every queued row of the
           -- campaign that way instead of looking the listed ids up by primary key.
           AND (SELECT c.state FROM campaigns c WHERE c.id = m.campaign_id) = 'running'
         RETURNING m.id, ${POSITION} AS ord
       ),
       skipped AS (
         UPDATE messages m SET status = 'skipped', seq = ${NEXT_SEQ}, updated_at = $3
         WHERE m.id = ANY($1::bigint[]) AND m.account_id = $2 AND m.status = 'queued'
           AND EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = m.account_id AND s.to_e164 = m.to_e164)
       )
       SELECT id, ord FROM moved`,
      [ids, accountId, nowMs],
    );
    return rows.sort((a, b) => a.ord - b.ord).map((r) => r.id);
  }

  /**
   * One statement per kind of outcome present, over arrays: the result is the one SqliteStore gives, row by row in
   * list order, whenever the ids are distinct; a list naming an id twice (order between its outcomes then matters)
   * is applied one outcome at a time, in order.
   */
  private async recordSendOutcomes(sql: Sql, accountId: string, outcomes: readonly SendOutcome[], nowMs: number): Promise<void> {
    const isDistinct = new Set(outcomes.map((o) => o.id)).size === outcomes.length;
    const groups = isDistinct ? groupByKind(outcomes) : outcomes.map((o) => [o]);
    for (const group of groups) await this.applyOutcomes(sql, accountId, group, nowMs);
  }

  /** One kind of outcome over distinct ids: $1 the ids, each further array aligned with $1. */
  private async applyOutcomes(sql: Sql, accountId: string, group: SendOutcome[], nowMs: number): Promise<void> {
    const kind = group[0]!.kind;
    const ids = group.map((o) => o.id);
    switch (kind) {
      case 'sent': {
        // A status webhook may have settled the row before the HTTP answer came back: keep its status, add the wamid.
        const wamids = group.map((o) => (o as Extract<SendOutcome, { kind: 'sent' }>).wamid);
        await sql.query(
          `WITH settled AS (
             UPDATE messages m SET status = 'sent', wamid = ${at('$2::text[]')}, sent_at = $3, error_code = NULL,
               error_message = NULL, seq = ${NEXT_SEQ}, updated_at = $3
             WHERE m.id = ANY($1::bigint[]) AND m.account_id = $4 AND m.status IN ('sending', 'unknown')
             RETURNING m.id
           )
           UPDATE messages m SET wamid = COALESCE(m.wamid, ${at('$2::text[]')}), sent_at = COALESCE(m.sent_at, $3)
           WHERE m.id = ANY($1::bigint[]) AND m.account_id = $4 AND m.id NOT IN (SELECT id FROM settled)`,
          [ids, wamids, nowMs, accountId],
        );
        return;
      }
      case 'retry': {
        const retries = group as Extract<SendOutcome, { kind: 'retry' }>[];
        await sql.query(
          `UPDATE messages m SET status = 'queued', attempts = ${at('$2::int[]')}, next_attempt_at = ${at('$3::bigint[]')},
             error_code = ${at('$4::text[]')}, error_message = ${at('$5::text[]')}, seq = ${NEXT_SEQ}, updated_at = $6
           WHERE m.id = ANY($1::bigint[]) AND m.account_id = $7 AND m.status = 'sending'`,
          [ids, retries.map((r) => r.attempts), retries.map((r) => r.nextAttemptAt),
            retries.map((r) => r.error.code), retries.map((r) => r.error.message), nowMs, accountId],
        );
        return;
      }
      case 'failed': {
        const failures = group as Extract<SendOutcome, { kind: 'failed' }>[];
        await sql.query(
          `UPDATE messages m SET status = 'failed', error_code = ${at('$2::text[]')}, error_message = ${at('$3::text[]')},
             seq = ${NEXT_SEQ}, updated_at = $4
           WHERE m.id = ANY($1::bigint[]) AND m.account_id = $5 AND m.status = 'sending'`,
          [ids, failures.map((f) => f.error.code), failures.map((f) => f.error.message), nowMs, accountId],
        );
        return;
      }
      case 'requeue':
      case 'skipped': {
        // requeue: not the row's fault, attempts unchanged; skipped: opted out since intake, never sent.
        const [to, from] = kind === 'requeue' ? ['queued', 'sending'] : ['skipped', 'queued'];
        await sql.query(
          `UPDATE messages m SET status = $2, seq = ${NEXT_SEQ}, updated_at = $4
           WHERE m.id = ANY($1::bigint[]) AND m.account_id = $5 AND m.status = $3`,
          [ids, to, from, nowMs, accountId],
        );
        return;
      }
    }
  }

  /**
   * One stored body's statuses, replies and preferences, in that order and each as one statement (a body may name
   * the same row twice: sent, then delivered), then its removal from the inbox.
   */
  private async applyWebhook(
    sql: Sql, inboxId: number, accountId: string, effects: WebhookEffects, nowMs: number,
  ): Promise<WebhookApplied> {
    const touched = new Set<string>();
    const result: WebhookApplied = { statuses: { applied: 0, ignored: 0, unmatched: 0 }, touchedCampaignIds: [], failed: [] };
    for (const change of effects.statuses) {
      const error = change.error;
      // Located by the callback (row id within campaign and account), else by wamid within the account; moved
      // only from one of `from`, in the statement; suppressAs suppresses the row's recipient when it moved.
      const { rows } = await sql.query<{ located: number; campaign_id: string | null }>(
        `WITH target AS (
           SELECT id FROM (
             SELECT id, 0 AS pref FROM messages WHERE id = $1::bigint AND campaign_id = $2::text AND account_id = $3
             UNION ALL
             SELECT id, 1 AS pref FROM messages WHERE wamid = $4 AND account_id = $3
           ) located ORDER BY pref, id LIMIT 1
         ),
         changed AS (
           UPDATE messages m SET status = $5, wamid = COALESCE(m.wamid, $4), error_code = COALESCE($6, m.error_code),
             error_message = COALESCE($7, m.error_message), sent_at = COALESCE(m.sent_at, $8), seq = ${NEXT_SEQ},
             updated_at = $9
           FROM target WHERE m.id = target.id AND m.status = ANY($10::text[])
           RETURNING m.campaign_id, m.to_e164
         ),
         suppressed AS (
           INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT $3, to_e164, $11::text, $9 FROM changed WHERE $11::text IS NOT NULL
           ON CONFLICT (account_id, to_e164) DO NOTHING
         )
         SELECT (SELECT count(*) FROM target)::int AS located, changed.campaign_id
         FROM (VALUES (1)) AS one LEFT JOIN changed ON true`,
        [change.callback?.messageId ?? null, change.callback?.campaignId ?? null, accountId, change.wamid, change.status,
          error?.code ?? null, error?.message ?? null, change.status === 'failed' ? null : nowMs, nowMs,
          change.from, change.suppressAs],
      );
      const row = rows[0]!;
      if (row.located === 0) {
        result.statuses.unmatched++;
      } else if (row.campaign_id === null) {
        result.statuses.ignored++;
      } else {
        result.statuses.applied++;
        touched.add(row.campaign_id);
        if (change.status === 'failed') result.failed.push({ campaignId: row.campaign_id, code: error?.code ?? 'unknown' });
      }
    }
    for (const reply of effects.replies) {
      // The row of the quoted message, else the latest sent to any spelling of the person (SQLite's latestSentTo:
      // each spelling's latest send, then the highest id among them). An opt-out suppresses that row's recipient,
      // else the first spelling.
      const { rows } = await sql.query<{ campaign_id: string }>(
        `WITH target AS (
           SELECT id, to_e164 FROM (
             (SELECT id, to_e164, 0 AS pref FROM messages WHERE wamid = $1 AND account_id = $2 ORDER BY id LIMIT 1)
             UNION ALL
             (SELECT id, to_e164, 1 AS pref FROM (${LATEST_SENT_TO('$2', '$3')}) latest ORDER BY id DESC LIMIT 1)
           ) located ORDER BY pref LIMIT 1
         ),
         changed AS (
           UPDATE messages m SET reply_text = $4, reply_at = $5, seq = ${NEXT_SEQ}, updated_at = $6
           FROM target WHERE m.id = target.id
           RETURNING m.campaign_id
         ),
         opted_out AS (
           INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT $2, COALESCE((SELECT to_e164 FROM target), $7::text), 'keyword', $6 WHERE $8::boolean
           ON CONFLICT (account_id, to_e164) DO NOTHING
         )
         SELECT campaign_id FROM changed`,
        [reply.contextWamid, accountId, reply.recipients, reply.text, reply.atMs, nowMs,
          reply.recipients[0] ?? null, reply.isOptOut],
      );
      if (rows[0]) touched.add(rows[0].campaign_id);
    }
    for (const preference of effects.preferences) {
      if (preference.value === 'stop') {
        await sql.query(
          `INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT $1, COALESCE((SELECT to_e164 FROM (${LATEST_SENT_TO('$1', '$2')}) latest ORDER BY id DESC LIMIT 1), $3::text),
             'user_preferences', $4
           ON CONFLICT (account_id, to_e164) DO NOTHING`,
          [accountId, preference.recipients, preference.recipients[0] ?? null, nowMs],
        );
      } else {
        await sql.query('DELETE FROM suppressions WHERE account_id = $1 AND to_e164 = ANY($2::text[])', [accountId, preference.recipients]);
      }
    }
    await sql.query('DELETE FROM webhook_inbox WHERE id = $1', [inboxId]);
    result.touchedCampaignIds = [...touched];
    return result;
  }

  // ---- accounts

  /** The account and its lock row, together. */
  async insertAccount({ account, secrets, apiKeyHash }: NewAccount): Promise<void> {
    await this.transaction(async (sql) => {
      await sql.query(
        `INSERT INTO accounts (id, name, is_sandbox, phone_number_id, waba_id, access_token_enc, app_secret_enc,
           verify_token_enc, api_key_hash, messages_per_second, daily_limit, default_country, retention_days, opt_out_words, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [account.id, account.name, account.isSandbox, account.phoneNumberId, account.wabaId,
          this.cipher.encrypt(secrets.accessToken), this.cipher.encrypt(secrets.appSecret), this.cipher.encrypt(secrets.verifyToken),
          apiKeyHash, account.messagesPerSecond, account.dailyLimit, account.defaultCountry, account.retentionDays,
          JSON.stringify(account.optOutWords), account.createdAt],
      );
      await sql.query('INSERT INTO account_locks (account_id) VALUES ($1)', [account.id]);
    });
  }

  async setRetentionDays(accountId: string, days: number): Promise<boolean> {
    return this.privacy.setRetentionDays(accountId, days);
  }

  async setOptOutWords(accountId: string, words: readonly string[]): Promise<void> {
    await this.pool.query('UPDATE accounts SET opt_out_words = $1 WHERE id = $2', [JSON.stringify(words), accountId]);
  }

  async getAccount(id: string): Promise<Account | null> {
    return this.oneAccount('SELECT * FROM accounts WHERE id = $1', id);
  }

  async getAccountByApiKeyHash(hash: string): Promise<Account | null> {
    return this.oneAccount('SELECT * FROM accounts WHERE api_key_hash = $1', hash);
  }

  async getAccountSecrets(id: string): Promise<AccountSecrets | null> {
    const [row] = await this.rows('SELECT access_token_enc, app_secret_enc, verify_token_enc FROM accounts WHERE id = $1', [id]);
    return row ? toSecrets(row, this.cipher) : null;
  }

  async findAccountByPhoneNumberId(phoneNumberId: string): Promise<Account | null> {
    return this.oneAccount('SELECT * FROM accounts WHERE phone_number_id = $1', phoneNumberId);
  }

  async findSandboxAccountByWabaId(wabaId: string): Promise<Account | null> {
    return this.oneAccount('SELECT * FROM accounts WHERE waba_id = $1 AND is_sandbox ORDER BY insert_order LIMIT 1', wabaId);
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.rows('SELECT * FROM accounts ORDER BY created_at, insert_order', [])).map(toAccount);
  }

  private async oneAccount(text: string, param: string): Promise<Account | null> {
    const [row] = await this.rows(text, [param]);
    return row ? toAccount(row) : null;
  }

  // ---- campaigns

  async insertCampaign(c: Campaign): Promise<void> {
    await this.pool.query(
      `INSERT INTO campaigns (id, account_id, name, template_name, template_language, template_json, send_at,
         default_country, sheet_json, state, state_reason_json, created_at, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [c.id, c.accountId, c.name, c.template.name, c.template.language, JSON.stringify(c.templateDefinition), c.sendAt,
        c.defaultCountry, c.sheet ? JSON.stringify(c.sheet) : null, c.state, c.stateReason ? JSON.stringify(c.stateReason) : null,
        c.createdAt, c.startedAt, c.finishedAt],
    );
  }

  async getCampaign(accountId: string, id: string): Promise<Campaign | null> {
    const [row] = await this.rows('SELECT * FROM campaigns WHERE id = $1 AND account_id = $2', [id, accountId]);
    return row ? toCampaign(row) : null;
  }

  async getCampaignById(id: string): Promise<Campaign | null> {
    const [row] = await this.rows('SELECT * FROM campaigns WHERE id = $1', [id]);
    return row ? toCampaign(row) : null;
  }

  async listCampaigns(accountId: string): Promise<Campaign[]> {
    return (await this.rows('SELECT * FROM campaigns WHERE account_id = $1 ORDER BY created_at DESC, insert_order DESC', [accountId]))
      .map(toCampaign);
  }

  async listCampaignsInStates(states: readonly CampaignState[]): Promise<Campaign[]> {
    if (states.length === 0) return [];
    return (await this.rows('SELECT * FROM campaigns WHERE state = ANY($1::text[]) ORDER BY created_at, insert_order', [states]))
      .map(toCampaign);
  }

  /**
   * Locks the account (every writer of its rows and states waits, so the open-rows check below cannot miss a row
   * being added or re-queued), then one conditional UPDATE, then the cancel of queued rows with new seqs.
   */
  async transitionCampaign(t: CampaignTransition): Promise<boolean> {
    return this.transaction(async (sql) => {
      const accountId = await this.lockCampaignAccount(sql, t.campaignId);
      if (accountId === null) return false;
      const { rowCount } = await sql.query(
        `UPDATE campaigns SET state = $2, state_reason_json = $3,
           started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $4 ELSE started_at END,
           finished_at = CASE WHEN $2 IN ('finished', 'cancelled') THEN $4 ELSE finished_at END
         WHERE id = $1 AND state = ANY($5::text[])
           AND (NOT $6::boolean OR NOT EXISTS (
             SELECT 1 FROM messages WHERE campaign_id = $1 AND status IN ('queued', 'sending')))`,
        [t.campaignId, t.to, t.reason ? JSON.stringify(t.reason) : null, t.nowMs, t.from, t.onlyIfNoOpenRows ?? false],
      );
      if (rowCount === 0) return false;
      if (t.cancelQueuedRows) await this.moveCampaignRows(sql, t.campaignId, 'queued', "status = 'cancelled'", t.nowMs);
      return true;
    });
  }

  /** The campaign's account, locked; null when there is no such campaign. */
  private async lockCampaignAccount(sql: Sql, campaignId: string): Promise<string | null> {
    // A campaign's account never changes, so reading it before the lock is safe.
    const { rows } = await sql.query<{ account_id: string }>('SELECT account_id FROM campaigns WHERE id = $1', [campaignId]);
    const accountId = rows[0]?.account_id;
    if (accountId === undefined) return null;
    await lockAccounts(sql, [accountId]);
    return accountId;
  }

  /**
   * Every row of the campaign in `fromStatus` gets `set` and a new seq; returns how many. The account must be locked
   * already: no other writer can change these rows meanwhile.
   */
  private async moveCampaignRows(sql: Sql, campaignId: string, fromStatus: MessageStatus, set: string, nowMs: number): Promise<number> {
    const { rowCount } = await sql.query(
      `UPDATE messages SET ${set}, seq = ${NEXT_SEQ}, updated_at = $3 WHERE campaign_id = $1 AND status = $2`,
      [campaignId, fromStatus, nowMs],
    );
    return rowCount;
  }

  // ---- messages

  /**
   * One transaction: the account lock, the campaign's state (FOR SHARE), which keys and numbers the campaign has
   * already, then one INSERT of the new rows over arrays (a 5,000-row call is a handful of statements). Results in
   * input order as SqliteStore gives them row by row: a key seen before (stored, or earlier in this call) is
   * duplicate_key, else a number seen before is duplicate_recipient. ON CONFLICT DO NOTHING backs the check up.
   */
  async addMessages(
    campaignId: string, accountId: string, rows: readonly NewMessage[], acceptingStates: readonly CampaignState[], nowMs: number,
  ): Promise<InsertResult[] | null> {
    return this.transaction(async (sql) => {
      if (await this.lockCampaignAccount(sql, campaignId) === null) return null;
      const { rows: campaign } = await sql.query<{ state: CampaignState }>(
        'SELECT state FROM campaigns WHERE id = $1 FOR SHARE', [campaignId]);
      const state = campaign[0]?.state;
      if (state === undefined || !acceptingStates.includes(state)) return null;
      if (rows.length === 0) return [];

      const { rows: existing } = await sql.query<{ kind: 'key' | 'to'; value: string }>(
        `SELECT 'key' AS kind, row_key AS value FROM messages WHERE campaign_id = $1 AND row_key = ANY($2::text[])
         UNION ALL
         SELECT 'to', to_e164 FROM messages WHERE campaign_id = $1 AND to_e164 = ANY($3::text[])`,
        [campaignId, rows.map((r) => r.key), rows.map((r) => r.to)],
      );
      const keys = new Set(existing.filter((e) => e.kind === 'key').map((e) => e.value));
      const recipients = new Set(existing.filter((e) => e.kind === 'to').map((e) => e.value));
      const results: InsertResult[] = [];
      const fresh: { row: NewMessage; index: number }[] = [];
      rows.forEach((row, index) => {
        if (keys.has(row.key)) {
          results.push('duplicate_key');
        } else if (recipients.has(row.to)) {
          results.push('duplicate_recipient');
        } else {
          keys.add(row.key);
          recipients.add(row.to);
          results.push('inserted');
          fresh.push({ row, index });
        }
      });
      if (fresh.length === 0) return results;

      const { rows: inserted } = await sql.query<{ row_key: string }>(
        // Ids and seqs in input order: the subquery's order is the order the rows reach the INSERT.
        `INSERT INTO messages (campaign_id, account_id, row_key, to_e164, params_json, header_media_json, status, seq, updated_at)
         SELECT $1, $2, u.row_key, u.to_e164, u.params_json, u.header_media_json,
           CASE WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = $2 AND s.to_e164 = u.to_e164)
             THEN 'skipped' ELSE 'queued' END,
           ${NEXT_SEQ}, $3
         FROM (
           SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
             AS t(row_key, to_e164, params_json, header_media_json, ord)
           ORDER BY ord
         ) u
         ON CONFLICT DO NOTHING
         RETURNING row_key`,
        [campaignId, accountId, nowMs, fresh.map((f) => f.row.key), fresh.map((f) => f.row.to),
          fresh.map((f) => JSON.stringify(f.row.params)), fresh.map((f) => (f.row.headerMedia ? JSON.stringify(f.row.headerMedia) : null))],
      );
      if (inserted.length < fresh.length) {
        // Only a row written outside the lock discipline could get here; the stored row wins, as with a key.
        const stored = new Set(inserted.map((r) => r.row_key));
        for (const f of fresh) if (!stored.has(f.row.key)) results[f.index] = 'duplicate_key';
      }
      return results;
    });
  }

  async loadQueued(campaignId: string, afterId: number, limit: number): Promise<QueuedMessage[]> {
    const rows = await this.rows(
      `SELECT id, campaign_id, to_e164, params_json, header_media_json, attempts, next_attempt_at
       FROM messages WHERE campaign_id = $1 AND status = 'queued' AND id > $2 ORDER BY id LIMIT $3`,
      [campaignId, afterId, limit],
    );
    return rows.map((r) => ({
      id: r.id as number,
      campaignId: r.campaign_id as string,
      to: r.to_e164 as string,
      params: r.params_json ? JSON.parse(r.params_json as string) as Record<string, string> : {},
      headerMedia: r.header_media_json ? JSON.parse(r.header_media_json as string) : null,
      attempts: r.attempts as number,
      nextAttemptAt: r.next_attempt_at as number,
    }));
  }

  async countOpen(campaignId: string): Promise<number> {
    const [row] = await this.rows(
      `SELECT count(*) AS n FROM messages WHERE campaign_id = $1 AND status IN ('queued', 'sending')`, [campaignId]);
    return row!.n as number;
  }

  async countByStatus(campaignId: string): Promise<StatusCounts> {
    const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as StatusCounts;
    counts.replied = 0;
    const rows = await this.rows(
      'SELECT status, count(*) AS n, count(reply_at) AS replied FROM messages WHERE campaign_id = $1 GROUP BY status', [campaignId]);
    for (const row of rows) {
      counts[row.status as MessageStatus] = row.n as number;
      counts.replied += row.replied as number;
    }
    return counts;
  }

  /**
   * Across accounts: the accounts with such rows are found first and locked in ascending order, then one UPDATE. A
   * row that became `sending` for an account not in that list is left for the next call.
   */
  async markUnsettledUnknown(beforeMs: number, nowMs: number): Promise<number> {
    return this.transaction(async (sql) => {
      const { rows } = await sql.query<{ account_id: string }>(
        `SELECT DISTINCT account_id FROM messages WHERE status = 'sending' AND sending_at < $1`, [beforeMs]);
      if (rows.length === 0) return 0;
      const accountIds = rows.map((r) => r.account_id);
      await lockAccounts(sql, accountIds);
      const { rowCount } = await sql.query(
        `UPDATE messages SET status = 'unknown', seq = ${NEXT_SEQ}, updated_at = $3
         WHERE status = 'sending' AND sending_at < $1 AND account_id = ANY($2::text[])`,
        [beforeMs, accountIds, nowMs],
      );
      return rowCount;
    });
  }

  async requeueUnknown(
    campaignId: string, reopen: { from: CampaignState; to: CampaignState }, nowMs: number,
  ): Promise<{ rows: number; isReopened: boolean }> {
    return this.transaction(async (sql) => {
      if (await this.lockCampaignAccount(sql, campaignId) === null) return { rows: 0, isReopened: false };
      const rows = await this.moveCampaignRows(sql, campaignId, 'unknown', "status = 'queued', attempts = 0, next_attempt_at = 0", nowMs);
      if (rows === 0) return { rows, isReopened: false };
      const { rowCount } = await sql.query(
        'UPDATE campaigns SET state = $2, state_reason_json = NULL, finished_at = NULL WHERE id = $1 AND state = $3',
        [campaignId, reopen.to, reopen.from],
      );
      return { rows, isReopened: rowCount > 0 };
    });
  }

  async recentRecipients(accountId: string, sinceMs: number): Promise<{ to: string; firstAtMs: number; lastAtMs: number }[]> {
    return await this.rows(
      `SELECT to_e164 AS "to", MIN(COALESCE(sent_at, sending_at)) AS "firstAtMs", MAX(COALESCE(sent_at, sending_at)) AS "lastAtMs"
       FROM messages
       WHERE account_id = $1 AND ((sent_at IS NOT NULL AND sent_at >= $2) OR (status = 'sending' AND sending_at >= $2))
       GROUP BY to_e164 ORDER BY to_e164`,
      [accountId, sinceMs],
    ) as { to: string; firstAtMs: number; lastAtMs: number }[];
  }

  async listMessagesChangedAfter(campaignId: string, afterSeq: number, limit: number): Promise<MessageView[]> {
    return (await this.changes(campaignId, afterSeq, limit)).map(toView);
  }

  private changes(campaignId: string, afterSeq: number, limit: number): Promise<Row[]> {
    return this.rows(
      `SELECT ${VIEW_COLUMNS} FROM messages WHERE campaign_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [campaignId, afterSeq, limit],
    );
  }

  // ---- webhook inbox

  /**
   * Bodies not held by another caller (never claimed, or their claim has run out by the database's clock), oldest
   * first; rows another instance is claiming or applying right now are skipped, not waited for.
   */
  async claimPendingWebhooks(limit: number, claimMs: number): Promise<PendingWebhook[]> {
    const rows = await this.rows(
      `WITH claimed AS (
         UPDATE webhook_inbox SET claimed_until = statement_timestamp() + ${ms(2)}
         WHERE id = ANY(ARRAY(
           SELECT id FROM webhook_inbox
           WHERE claimed_until IS NULL OR claimed_until <= statement_timestamp()
           ORDER BY id LIMIT $1
           FOR UPDATE SKIP LOCKED
         ))
         RETURNING id, account_id, body
       )
       SELECT id, account_id, body FROM claimed ORDER BY id`,
      [limit, claimMs],
    );
    return rows.map((r) => ({ id: r.id as number, accountId: r.account_id as string, body: r.body as Buffer }));
  }

  // ---- suppressions

  async suppressedAmong(accountId: string, recipients: readonly string[]): Promise<Set<string>> {
    if (recipients.length === 0) return new Set();
    const rows = await this.rows(
      'SELECT to_e164 FROM suppressions WHERE account_id = $1 AND to_e164 = ANY($2::text[])', [accountId, recipients]);
    const found = new Set(rows.map((r) => r.to_e164 as string));
    return new Set(recipients.filter((to) => found.has(to)));
  }

  /** Under the account's lock: a claim in flight either commits first or sees this suppression. */
  async addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void> {
    await this.transaction(async (sql) => {
      await lockAccounts(sql, [accountId]);
      await sql.query(
        `INSERT INTO suppressions (account_id, to_e164, source, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account_id, to_e164) DO NOTHING`,
        [accountId, to, source, nowMs],
      );
    });
  }

  /** Lifting a suppression needs no lock: a claim that still sees it merely skips a row it could have sent. */
  async removeSuppression(accountId: string, to: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('DELETE FROM suppressions WHERE account_id = $1 AND to_e164 = $2', [accountId, to]);
    return rowCount > 0;
  }

  async listSuppressions(accountId: string): Promise<SuppressionEntry[]> {
    const rows = await this.rows(
      'SELECT to_e164, source, created_at FROM suppressions WHERE account_id = $1 ORDER BY created_at DESC, to_e164', [accountId]);
    return rows.map((r) => ({ to: r.to_e164 as string, source: r.source as string, createdAt: r.created_at as number }));
  }

  // ---- sheet write-back

  async listSheetCampaignsWithChanges(limit: number): Promise<SheetCampaign[]> {
    const rows = await this.rows(
      `SELECT c.id, c.account_id, c.sheet_json, c.sheet_cursor FROM campaigns c
       WHERE c.sheet_json IS NOT NULL
         AND EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id AND m.seq > c.sheet_cursor)
       ORDER BY c.created_at, c.insert_order LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      campaignId: r.id as string,
      accountId: r.account_id as string,
      target: JSON.parse(r.sheet_json as string),
      sheetCursor: r.sheet_cursor as number,
    }));
  }

  async listChanges(campaignId: string, afterSeq: number, limit: number): Promise<MessageChange[]> {
    return (await this.changes(campaignId, afterSeq, limit)).map(toView);
  }

  async saveSheetCursor(campaignId: string, seq: number): Promise<void> {
    await this.pool.query('UPDATE campaigns SET sheet_cursor = GREATEST(sheet_cursor, $1) WHERE id = $2', [seq, campaignId]);
  }
}

// Updates by a list of ids select the rows with `id = ANY($1)` (an index scan of the primary key whatever the
// table's statistics say) and read each row's own values from arrays aligned with $1 by its position there, rather
// than joining an unnest(): with statistics from when the table was nearly empty (a fresh database, a first big
// import) the planner took the messages side for one row and rescanned the unnest once per message row, 200 claimed
// ids costing a second. array_position is linear in the list, so these updates are for the sender's lists (tens to
// hundreds of ids), not for whole campaigns.
/** The row's 1-based position in the id list $1 (the first, should an id be listed twice). */
const POSITION = 'array_position($1::bigint[], m.id)';
/** The element of `array` (aligned with $1) for the row. */
const at = (array: string): string => `(${array})[${POSITION}]`;

/** A write's own failure inside writeAlone's transaction: the batch resolves with it instead of rejecting. */
class WriteFailed {
  constructor(readonly error: unknown) {}
}

/** A failure of the connection rather than of the statement: no SQLSTATE from the server. */
function isConnectionError(error: unknown): boolean {
  return sqlState(error) === undefined;
}

/** Outcomes of one kind together, kinds in order of first appearance (their rows are distinct, so order is free). */
function groupByKind(outcomes: readonly SendOutcome[]): SendOutcome[][] {
  const groups = new Map<SendOutcome['kind'], SendOutcome[]>();
  for (const outcome of outcomes) {
    const group = groups.get(outcome.kind);
    if (group) group.push(outcome);
    else groups.set(outcome.kind, [outcome]);
  }
  return [...groups.values()];
}

/**
 * Per number in `recipients`, the account's latest sent row to it (latest sent_at, then highest id); the caller
 * takes the highest id among them, as SqliteStore's latestSentTo does. Found campaign by campaign through
 * messages_by_recipient (campaign_id, to_e164) rather than through an index of its own: every message update
 * already writes each of the table's indexes (seq changes, so no update is HOT), and replies are rare next to those.
 */
function LATEST_SENT_TO(accountParam: string, recipientsParam: string): string {
  return `SELECT DISTINCT ON (to_e164) id, to_e164 FROM messages
    WHERE campaign_id IN (SELECT id FROM campaigns WHERE account_id = ${accountParam}) AND account_id = ${accountParam}
      AND to_e164 = ANY(${recipientsParam}::text[]) AND sent_at IS NOT NULL
    ORDER BY to_e164, sent_at DESC, id DESC`;
}
