// The shared store: every port of the domain over one PostgreSQL database, for several service instances at once.
// Same observable behaviour as SqliteStore; where SQLite is one synchronous writer, here each port call is one
// transaction whose checks sit in its statements (compare-and-set, ON CONFLICT, forward-only WHERE), and the order
// and the fence of the writes come from postgres-counters.ts (read its header first).
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
import { fenceAndReserve, lockCounters, reserveSeq } from './postgres-counters';
import { PostgresPrivacyStore } from './postgres-privacy-store';
import { toAccount, toCampaign, toView, VIEW_COLUMNS } from './postgres-rows';
import { createPool, inSavepoint, inTransaction, type Row, type Sql, type SqlPool } from './postgres-sql';

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
       VALUES ($1, $2, 1, statement_timestamp() + ${ms(3)})
       ON CONFLICT (account_id) DO UPDATE SET
         token = CASE WHEN l.holder = excluded.holder AND l.expires_at > statement_timestamp() THEN l.token ELSE l.token + 1 END,
         holder = excluded.holder,
         expires_at = excluded.expires_at
       WHERE l.holder = excluded.holder OR l.expires_at <= statement_timestamp()
       RETURNING token`,
      [accountId, holder, ttlMs],
    );
    const token = rows[0]?.token as number | undefined;
    return token === undefined ? null : { accountId, token, validForMs: ttlMs };
  }

  async releaseSenderLease(fence: SenderFence, holder: string, quietMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE sender_leases SET holder = '', expires_at = statement_timestamp() + ${ms(4)}
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

  // ---- the group commit's writes

  /**
   * One transaction: the counter rows of every account the writes change are locked first (ascending), then each
   * write runs in its own savepoint and is undone alone when it fails (a stale fence: LeaseLostError). Resolves after
   * COMMIT; rejects, with nothing done, when COMMIT or the connection fails.
   */
  async writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]> {
    return this.transaction(async (sql) => {
      await lockCounters(sql, writes.flatMap((w) =>
        w.kind === 'claim' || w.kind === 'outcomes' ? [w.fence.accountId] : w.kind === 'apply_webhook' ? [w.accountId] : []));
      const results: BatchItemResult[] = [];
      for (const write of writes) results.push(await inSavepoint(sql, () => this.runWrite(sql, write)));
      return results;
    });
  }

  private async runWrite(sql: Sql, write: BatchWrite): Promise<unknown> {
    switch (write.kind) {
      case 'claim': {
        const base = await fenceAndReserve(sql, write.fence, true, write.ids.length);
        return this.markSending(sql, write.fence.accountId, write.ids, write.nowMs, base);
      }
      case 'outcomes': {
        const base = await fenceAndReserve(sql, write.fence, false, write.outcomes.length);
        await this.recordSendOutcomes(sql, write.fence.accountId, write.outcomes, write.nowMs, base);
        return null;
      }
      case 'save_webhook': {
        const { rows } = await sql.query<{ id: number }>(
          'INSERT INTO webhook_inbox (account_id, body, received_at) VALUES ($1, $2, $3) RETURNING id',
          [write.accountId, write.body, write.nowMs],
        );
        return rows[0]!.id;
      }
      case 'apply_webhook': {
        const { statuses, replies } = write.effects;
        const base = await reserveSeq(sql, write.accountId, statuses.length + replies.length) ?? 0;
        return this.applyWebhook(sql, write.inboxId, write.accountId, write.effects, write.nowMs, base);
      }
    }
  }

  /**
   * Claims in two set-based updates on one snapshot (taken after the counter lock): queued rows of running campaigns
   * whose recipient is not suppressed become `sending`; queued rows whose recipient is suppressed become `skipped`
   * (whatever their campaign's state, as in SQLite); the rest stay. Each id's seq is base + its position.
   */
  private async markSending(sql: Sql, accountId: string, ids: readonly number[], nowMs: number, base: number): Promise<number[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql.query<{ id: number; ord: number }>(
      `WITH u AS (SELECT id, ord FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord)),
       moved AS (
         UPDATE messages m SET status = 'sending', sending_at = $3, seq = $4 + u.ord, updated_at = $3
         FROM u
         WHERE m.id = u.id AND m.account_id = $2 AND m.status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = m.account_id AND s.to_e164 = m.to_e164)
           AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = m.campaign_id AND c.state = 'running')
         RETURNING m.id, u.ord
       ),
       skipped AS (
         UPDATE messages m SET status = 'skipped', seq = $4 + u.ord, updated_at = $3
         FROM u
         WHERE m.id = u.id AND m.account_id = $2 AND m.status = 'queued'
           AND EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = m.account_id AND s.to_e164 = m.to_e164)
       )
       SELECT id, ord FROM moved`,
      [ids, accountId, nowMs, base],
    );
    return rows.sort((a, b) => a.ord - b.ord).map((r) => r.id);
  }

  /**
   * One statement per kind of outcome present, over arrays. Each outcome's seq is base + its position in the list,
   * so the result is the one SqliteStore gives, row by row in list order, whenever the ids are distinct; a list
   * naming an id twice (order between its outcomes then matters) is applied one outcome at a time, in order.
   */
  private async recordSendOutcomes(
    sql: Sql, accountId: string, outcomes: readonly SendOutcome[], nowMs: number, base: number,
  ): Promise<void> {
    const numbered = outcomes.map((outcome, i) => ({ outcome, seq: base + i + 1 }));
    const isDistinct = new Set(outcomes.map((o) => o.id)).size === outcomes.length;
    const groups = isDistinct ? groupByKind(numbered) : numbered.map((n) => [n]);
    for (const group of groups) await this.applyOutcomes(sql, accountId, group, nowMs);
  }

  private async applyOutcomes(sql: Sql, accountId: string, group: NumberedOutcome[], nowMs: number): Promise<void> {
    const kind = group[0]!.outcome.kind;
    const ids = group.map((n) => n.outcome.id);
    const seqs = group.map((n) => n.seq);
    switch (kind) {
      case 'sent': {
        // A status webhook may have settled the row before the HTTP answer came back: keep its status, add the wamid.
        const wamids = group.map((n) => (n.outcome as Extract<SendOutcome, { kind: 'sent' }>).wamid);
        await sql.query(
          `WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS t(id, seq, wamid)),
           settled AS (
             UPDATE messages m SET status = 'sent', wamid = u.wamid, sent_at = $4, error_code = NULL, error_message = NULL,
               seq = u.seq, updated_at = $4
             FROM u WHERE m.id = u.id AND m.account_id = $5 AND m.status IN ('sending', 'unknown')
             RETURNING m.id
           )
           UPDATE messages m SET wamid = COALESCE(m.wamid, u.wamid), sent_at = COALESCE(m.sent_at, $4)
           FROM u WHERE m.id = u.id AND m.account_id = $5 AND m.id NOT IN (SELECT id FROM settled)`,
          [ids, seqs, wamids, nowMs, accountId],
        );
        return;
      }
      case 'retry': {
        const retries = group.map((n) => n.outcome as Extract<SendOutcome, { kind: 'retry' }>);
        await sql.query(
          `UPDATE messages m SET status = 'queued', attempts = u.attempts, next_attempt_at = u.next_attempt_at,
             error_code = u.code, error_message = u.message, seq = u.seq, updated_at = $7
           FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::text[])
             AS u(id, seq, attempts, next_attempt_at, code, message)
           WHERE m.id = u.id AND m.account_id = $8 AND m.status = 'sending'`,
          [ids, seqs, retries.map((r) => r.attempts), retries.map((r) => r.nextAttemptAt),
            retries.map((r) => r.error.code), retries.map((r) => r.error.message), nowMs, accountId],
        );
        return;
      }
      case 'failed': {
        const failures = group.map((n) => n.outcome as Extract<SendOutcome, { kind: 'failed' }>);
        await sql.query(
          `UPDATE messages m SET status = 'failed', error_code = u.code, error_message = u.message, seq = u.seq, updated_at = $5
           FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(id, seq, code, message)
           WHERE m.id = u.id AND m.account_id = $6 AND m.status = 'sending'`,
          [ids, seqs, failures.map((f) => f.error.code), failures.map((f) => f.error.message), nowMs, accountId],
        );
        return;
      }
      case 'requeue':
      case 'skipped': {
        // requeue: not the row's fault, attempts unchanged; skipped: opted out since intake, never sent.
        const [to, from] = kind === 'requeue' ? ['queued', 'sending'] : ['skipped', 'queued'];
        await sql.query(
          `UPDATE messages m SET status = $3, seq = u.seq, updated_at = $5
           FROM unnest($1::bigint[], $2::bigint[]) AS u(id, seq)
           WHERE m.id = u.id AND m.account_id = $6 AND m.status = $4`,
          [ids, seqs, to, from, nowMs, accountId],
        );
        return;
      }
    }
  }

  /**
   * One stored body's statuses, replies and preferences, in that order and each as one statement (a body may name
   * the same row twice: sent, then delivered), then its removal from the inbox. Status i takes seq base + i + 1,
   * reply j takes base + statuses + j + 1.
   */
  private async applyWebhook(
    sql: Sql, inboxId: number, accountId: string, effects: WebhookEffects, nowMs: number, base: number,
  ): Promise<WebhookApplied> {
    const touched = new Set<string>();
    const result: WebhookApplied = { statuses: { applied: 0, ignored: 0, unmatched: 0 }, touchedCampaignIds: [], failed: [] };
    let seq = base;
    for (const change of effects.statuses) {
      seq++;
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
             error_message = COALESCE($7, m.error_message), sent_at = COALESCE(m.sent_at, $8), seq = $9, updated_at = $10
           FROM target WHERE m.id = target.id AND m.status = ANY($11::text[])
           RETURNING m.campaign_id, m.to_e164
         ),
         suppressed AS (
           INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT $3, to_e164, $12::text, $10 FROM changed WHERE $12::text IS NOT NULL
           ON CONFLICT (account_id, to_e164) DO NOTHING
         )
         SELECT (SELECT count(*) FROM target)::int AS located, changed.campaign_id
         FROM (VALUES (1)) AS one LEFT JOIN changed ON true`,
        [change.callback?.messageId ?? null, change.callback?.campaignId ?? null, accountId, change.wamid, change.status,
          error?.code ?? null, error?.message ?? null, change.status === 'failed' ? null : nowMs, seq, nowMs,
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
      seq++;
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
           UPDATE messages m SET reply_text = $4, reply_at = $5, seq = $6, updated_at = $7
           FROM target WHERE m.id = target.id
           RETURNING m.campaign_id
         ),
         opted_out AS (
           INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT $2, COALESCE((SELECT to_e164 FROM target), $8::text), 'keyword', $7 WHERE $9::boolean
           ON CONFLICT (account_id, to_e164) DO NOTHING
         )
         SELECT campaign_id FROM changed`,
        [reply.contextWamid, accountId, reply.recipients, reply.text, reply.atMs, seq, nowMs,
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

  /** The account and its counter row, together. */
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
      await sql.query('INSERT INTO account_counters (account_id) VALUES ($1)', [account.id]);
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
    if (!row) return null;
    return {
      accessToken: this.cipher.decrypt(row.access_token_enc as string),
      appSecret: this.cipher.decrypt(row.app_secret_enc as string),
      verifyToken: this.cipher.decrypt(row.verify_token_enc as string),
    };
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
   * Locks the account's counter (every writer of its rows and states waits, so the open-rows check below cannot
   * miss a row being added or re-queued), then one conditional UPDATE, then the cancel of queued rows with seqs.
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
      if (t.cancelQueuedRows) await this.moveCampaignRows(sql, accountId, t.campaignId, 'queued', "status = 'cancelled'", t.nowMs);
      return true;
    });
  }

  /** The campaign's account, with its counter row locked; null when there is no such campaign. */
  private async lockCampaignAccount(sql: Sql, campaignId: string): Promise<string | null> {
    // A campaign's account never changes, so reading it before the lock is safe.
    const { rows } = await sql.query<{ account_id: string }>('SELECT account_id FROM campaigns WHERE id = $1', [campaignId]);
    const accountId = rows[0]?.account_id;
    if (accountId === undefined) return null;
    await lockCounters(sql, [accountId]);
    return accountId;
  }

  /**
   * Every row of the campaign in `fromStatus` gets `set` and a new seq (in id order); returns how many. The counter
   * row must be locked already: no other writer can change these rows meanwhile.
   */
  private async moveCampaignRows(
    sql: Sql, accountId: string, campaignId: string, fromStatus: MessageStatus, set: string, nowMs: number,
  ): Promise<number> {
    const { rowCount } = await sql.query(
      `WITH picked AS (
         SELECT id, row_number() OVER (ORDER BY id) AS ord FROM messages WHERE campaign_id = $1 AND status = $2
       ),
       bump AS (
         UPDATE account_counters SET seq = seq + (SELECT count(*) FROM picked)
         WHERE account_id = $3 RETURNING seq - (SELECT count(*) FROM picked) AS base
       )
       UPDATE messages m SET ${set}, seq = bump.base + picked.ord, updated_at = $4
       FROM picked, bump WHERE m.id = picked.id AND m.status = $2`,
      [campaignId, fromStatus, accountId, nowMs],
    );
    return rowCount;
  }

  // ---- messages

  /**
   * One transaction: the counter lock, the campaign's state (FOR SHARE), which keys and numbers the campaign has
   * already, then one INSERT of the new rows over arrays (a 5,000-row call is a handful of statements). Results in
   * input order as SqliteStore gives them row by row: a key seen before (stored, or earlier in this call) is
   * duplicate_key, else a number seen before is duplicate_recipient. ON CONFLICT DO NOTHING backs the check up.
   */
  async addMessages(
    campaignId: string, accountId: string, rows: readonly NewMessage[], acceptingStates: readonly CampaignState[], nowMs: number,
  ): Promise<InsertResult[] | null> {
    return this.transaction(async (sql) => {
      const counterAccountId = await this.lockCampaignAccount(sql, campaignId);
      if (counterAccountId === null) return null;
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
        `WITH bump AS (
           UPDATE account_counters SET seq = seq + $8 WHERE account_id = $9 RETURNING seq - $8 AS base
         )
         INSERT INTO messages (campaign_id, account_id, row_key, to_e164, params_json, header_media_json, status, seq, updated_at)
         SELECT $1, $2, u.row_key, u.to_e164, u.params_json, u.header_media_json,
           CASE WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.account_id = $2 AND s.to_e164 = u.to_e164)
             THEN 'skipped' ELSE 'queued' END,
           bump.base + u.ord, $3
         FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
           AS u(row_key, to_e164, params_json, header_media_json, ord), bump
         ORDER BY u.ord
         ON CONFLICT DO NOTHING
         RETURNING row_key`,
        [campaignId, accountId, nowMs, fresh.map((f) => f.row.key), fresh.map((f) => f.row.to),
          fresh.map((f) => JSON.stringify(f.row.params)), fresh.map((f) => (f.row.headerMedia ? JSON.stringify(f.row.headerMedia) : null)),
          fresh.length, counterAccountId],
      );
      if (inserted.length < fresh.length) {
        // Only a row written outside the counter discipline could get here; the stored row wins, as with a key.
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
   * Across accounts: the accounts with such rows are found first, their counters locked in ascending order, then
   * one UPDATE numbers each account's rows from its own counter. A row that became `sending` for an account not
   * in that list is left for the next call.
   */
  async markUnsettledUnknown(beforeMs: number, nowMs: number): Promise<number> {
    return this.transaction(async (sql) => {
      const { rows } = await sql.query<{ account_id: string }>(
        `SELECT DISTINCT account_id FROM messages WHERE status = 'sending' AND sending_at < $1`, [beforeMs]);
      if (rows.length === 0) return 0;
      const accountIds = rows.map((r) => r.account_id);
      await lockCounters(sql, accountIds);
      const { rowCount } = await sql.query(
        `WITH picked AS (
           SELECT id, account_id, row_number() OVER (PARTITION BY account_id ORDER BY id) AS ord
           FROM messages WHERE status = 'sending' AND sending_at < $1 AND account_id = ANY($2::text[])
         ),
         totals AS (SELECT account_id, count(*) AS n FROM picked GROUP BY account_id),
         bumped AS (
           UPDATE account_counters c SET seq = c.seq + totals.n FROM totals
           WHERE c.account_id = totals.account_id RETURNING c.account_id, c.seq - totals.n AS base
         )
         UPDATE messages m SET status = 'unknown', seq = bumped.base + picked.ord, updated_at = $3
         FROM picked JOIN bumped ON bumped.account_id = picked.account_id
         WHERE m.id = picked.id AND m.status = 'sending'`,
        [beforeMs, accountIds, nowMs],
      );
      return rowCount;
    });
  }

  async requeueUnknown(
    campaignId: string, reopen: { from: CampaignState; to: CampaignState }, nowMs: number,
  ): Promise<{ rows: number; isReopened: boolean }> {
    return this.transaction(async (sql) => {
      const accountId = await this.lockCampaignAccount(sql, campaignId);
      if (accountId === null) return { rows: 0, isReopened: false };
      const rows = await this.moveCampaignRows(
        sql, accountId, campaignId, 'unknown', "status = 'queued', attempts = 0, next_attempt_at = 0", nowMs);
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
      `WITH picked AS (
         SELECT id FROM webhook_inbox
         WHERE claimed_until IS NULL OR claimed_until <= statement_timestamp()
         ORDER BY id LIMIT $1
         FOR UPDATE SKIP LOCKED
       ),
       claimed AS (
         UPDATE webhook_inbox w SET claimed_until = statement_timestamp() + ${ms(2)}
         FROM picked WHERE w.id = picked.id
         RETURNING w.id, w.account_id, w.body
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

  /** Under the account's counter lock: a claim in flight either commits first or sees this suppression. */
  async addSuppression(accountId: string, to: string, source: string, nowMs: number): Promise<void> {
    await this.transaction(async (sql) => {
      await lockCounters(sql, [accountId]);
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

interface NumberedOutcome {
  outcome: SendOutcome;
  seq: number;
}

/** Outcomes of one kind together, kinds in order of first appearance (their rows are distinct, so order is free). */
function groupByKind(numbered: NumberedOutcome[]): NumberedOutcome[][] {
  const groups = new Map<SendOutcome['kind'], NumberedOutcome[]>();
  for (const n of numbered) {
    const group = groups.get(n.outcome.kind);
    if (group) group.push(n);
    else groups.set(n.outcome.kind, [n]);
  }
  return [...groups.values()];
}

/**
 * Per number in `recipients`, the account's latest sent row to it (latest sent_at, then highest id); the caller
 * takes the highest id among them, as SqliteStore's latestSentTo does.
 */
function LATEST_SENT_TO(accountParam: string, recipientsParam: string): string {
  return `SELECT DISTINCT ON (to_e164) id, to_e164 FROM messages
    WHERE account_id = ${accountParam} AND to_e164 = ANY(${recipientsParam}::text[]) AND sent_at IS NOT NULL
    ORDER BY to_e164, sent_at DESC, id DESC`;
}
