// The shared store: every port of the domain over one PostgreSQL database, for several service instances at once.
// Same observable behaviour as SqliteStore; where SQLite is one synchronous writer, here each port call is one
// transaction whose checks sit in its statements (compare-and-set, ON CONFLICT, forward-only WHERE), and the order
// and the fence of the writes come from postgres-locks.ts (read its header first).
//
// Clocks: `nowMs` arguments (the domain's Clock) stamp rows as in SQLite; leases and webhook claims use the
// database's clock only (statement_timestamp()), so instances with skewed clocks still agree on who holds what.
import { isBusinessScopedUserId, type RecipientIdentity } from '../../campaigns/business-scoped-user-id';
import type { CampaignState } from '../../campaigns/campaign';
import { FREQUENCY_CAP_CODE, waitingMessage } from '../../campaigns/frequency-cap';
import type { MessageStatus } from '../../campaigns/message-status';
import { MESSAGE_STATUSES } from '../../campaigns/message-status';
import type {
  Account, AccountSecrets, BatchItemResult, BatchWrite, Campaign, CampaignTransition, InsertResult, Logger, MessageView,
  IdentityChange, NewMessage, PendingWebhook, QueuedMessage, ReplyChange, SenderFence, SenderLease, SendOutcome, StatusChange,
  StatusCounts, TemplateRef, WebhookApplied, WebhookEffects,
} from '../../campaigns/ports';
import type { MessageChange, SheetCampaign } from '../../sheets/sheet-ports';
import type { NewAccount, SecretCipher, ServiceStore, SuppressionEntry } from '../../service-store';
import { applyMigrations } from './migrations';
import { checkFence, lockAccounts, NEXT_SEQ } from './postgres-locks';
import { PostgresHealthStore } from './postgres-health-store';
import { PostgresPrivacyStore } from './postgres-privacy-store';
import { SUPPRESSION_LIST_SQL, toAccount, toCampaign, toSecrets, toSuppressionEntries, toView, VIEW_COLUMNS } from '../stored-rows';
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
  /** What Meta's management webhooks said about each account. */
  readonly health: PostgresHealthStore;

  private constructor(private readonly pool: SqlPool, private readonly cipher: SecretCipher) {
    this.privacy = new PostgresPrivacyStore(pool);
    this.health = new PostgresHealthStore(pool);
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
   * One transaction, in as few statements as the writes allow: the locks of every account the writes change are
   * taken first (ascending), each fence is checked once, the claims of one fence are one statement and the bodies'
   * inbox rows go in one DELETE. Should any write fail (a stale fence: LeaseLostError), nothing of that transaction
   * is kept and the batch runs again with each write in its own savepoint, undone alone when it fails. Resolves
   * after COMMIT; rejects, with nothing done, when COMMIT or the connection fails.
   */
  async writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]> {
    if (writes.length === 0) return [];
    if (writes.length === 1) return [await this.writeAlone(writes[0]!)];
    try {
      return await this.transaction((sql) => this.writeTogether(sql, writes));
    } catch (error) {
      // A connection or COMMIT failure rejects the batch; a write's own failure is retried write by write.
      if (!(error instanceof WriteFailed)) throw error;
    }
    return this.transaction(async (sql) => {
      await lockAccounts(sql, accountsOf(writes));
      const results: BatchItemResult[] = [];
      for (const write of writes) results.push(await inSavepoint(sql, () => this.runWrite(sql, write)));
      return results;
    });
  }

  /**
   * The writes with no savepoint, each statement's failure thrown as WriteFailed (the whole transaction is then
   * rolled back). The claims of one fence run as one, where the first of them stands: they are asked by one sender
   * for distinct rows, and every write of a batch commits at the same instant, so this is just another serial
   * order of writes nobody has seen committed yet.
   */
  private async writeTogether(sql: Sql, writes: readonly BatchWrite[]): Promise<BatchItemResult[]> {
    const attempt = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (error) {
        throw new WriteFailed(error);
      }
    };
    await attempt(() => lockAccounts(sql, accountsOf(writes)));
    const fences = new Map<string, { fence: SenderFence; isClaim: boolean }>();
    const claimsOf = new Map<string, { index: number; write: Extract<BatchWrite, { kind: 'claim' }> }[]>();
    writes.forEach((write, index) => {
      if (write.kind !== 'claim' && write.kind !== 'outcomes') return;
      const key = fenceKey(write.fence);
      const seen = fences.get(key);
      fences.set(key, { fence: write.fence, isClaim: (seen?.isClaim ?? false) || write.kind === 'claim' });
      if (write.kind === 'claim') claimsOf.set(key, [...(claimsOf.get(key) ?? []), { index, write }]);
    });
    for (const { fence, isClaim } of fences.values()) await attempt(() => checkFence(sql, fence, isClaim));

    const results: BatchItemResult[] = new Array<BatchItemResult>(writes.length);
    const appliedBodies: number[] = [];
    for (const [index, write] of writes.entries()) {
      if (results[index]) continue;
      switch (write.kind) {
        case 'claim': {
          const claims = claimsOf.get(fenceKey(write.fence))!;
          const ids = claims.flatMap((c) => c.write.ids);
          const moved = new Set(await attempt(() => this.markSending(sql, write.fence.accountId, ids,
            claims.flatMap((c) => c.write.ids.map(() => c.write.nowMs)))));
          // A row listed by two claims moved for the first (the second, after it, would have found it `sending`).
          for (const claim of claims) {
            results[claim.index] = { ok: true, value: claim.write.ids.filter((id) => moved.delete(id)) };
          }
          break;
        }
        case 'outcomes':
          await attempt(() => this.recordSendOutcomes(sql, write.fence.accountId, write.outcomes, write.nowMs));
          results[index] = { ok: true, value: null };
          break;
        case 'save_webhook':
          results[index] = { ok: true, value: await attempt(() => this.saveWebhook(sql, write)) };
          break;
        case 'apply_webhook':
          results[index] = { ok: true, value: await attempt(() => this.applyWebhookEffects(sql, write.accountId, write.effects, write.nowMs)) };
          appliedBodies.push(write.inboxId);
          break;
      }
    }
    if (appliedBodies.length > 0) {
      await attempt(() => sql.query('DELETE FROM webhook_inbox WHERE id = ANY($1::bigint[])', [appliedBodies]));
    }
    return results;
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
        return this.markSending(sql, write.fence.accountId, write.ids, write.ids.map(() => write.nowMs));
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
   * `nowMs` is aligned with `ids`: each row's claim time (claims of several pumps may run as one).
   */
  private async markSending(sql: Sql, accountId: string, ids: readonly number[], nowMs: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql.query<{ id: number; ord: number }>(
      `WITH moved AS (
         UPDATE messages m SET status = 'sending', sending_at = ${at('$3::bigint[]')}, seq = ${NEXT_SEQ},
           updated_at = ${at('$3::bigint[]')}
         WHERE m.id = ANY($1::bigint[]) AND m.account_id = $2 AND m.status = 'queued'
           -- Scalar sub-selects, not EXISTS, here and below: an EXISTS becomes a join, planned from statistics that
           -- lag a growing table. Through campaigns it offered messages_queue and scanned every queued row of the
           -- campaign instead of looking the listed ids up; against suppressions it read every suppression of the
           -- account for each row (1,086 × 34 rows a claim, 7 ms, in the PostgreSQL bench). A sub-select looks one
           -- primary key up per row.
           AND ${SUPPRESSED('m.account_id', 'm.to_e164')} IS NULL
           AND (SELECT c.state FROM campaigns c WHERE c.id = m.campaign_id) = 'running'
         RETURNING m.id, ${POSITION} AS ord
       ),
       skipped AS (
         UPDATE messages m SET status = 'skipped', seq = ${NEXT_SEQ}, updated_at = ${at('$3::bigint[]')}
         WHERE m.id = ANY($1::bigint[]) AND m.account_id = $2 AND m.status = 'queued'
           AND ${SUPPRESSED('m.account_id', 'm.to_e164')} IS NOT NULL
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

  /** One stored body's effects (applyWebhookEffects), then its removal from the inbox. */
  private async applyWebhook(
    sql: Sql, inboxId: number, accountId: string, effects: WebhookEffects, nowMs: number,
  ): Promise<WebhookApplied> {
    const result = await this.applyWebhookEffects(sql, accountId, effects, nowMs);
    await sql.query('DELETE FROM webhook_inbox WHERE id = $1', [inboxId]);
    return result;
  }

  /**
   * A body's statuses, the phone ↔ BSUID pairs it names, its replies, preferences and identity changes, in that
   * order: a statement or two for each kind present. An opt-out suppresses the person: every number and BSUID the
   * account knows for them (PERSON_KEYS).
   */
  private async applyWebhookEffects(sql: Sql, accountId: string, effects: WebhookEffects, nowMs: number): Promise<WebhookApplied> {
    const touched = new Set<string>();
    const result: WebhookApplied = { statuses: { applied: 0, ignored: 0, unmatched: 0 }, touchedCampaignIds: [], failed: [], requeuedCampaignIds: [] };
    if (effects.statuses.length > 0) await this.applyStatuses(sql, accountId, effects.statuses, nowMs, result, touched);
    if (effects.identities.length > 0) await this.learnIdentities(sql, accountId, effects.identities, nowMs);
    if (effects.replies.length > 0) {
      const { touchedCampaignIds, optOuts } = await this.applyReplies(sql, accountId, effects.replies, nowMs);
      for (const campaignId of touchedCampaignIds) touched.add(campaignId);
      await this.suppressPeople(sql, accountId, optOuts, 'keyword', nowMs);
      const due = await this.makeCappedRowsDue(sql, accountId, effects.replies.filter((r) => !r.isOptOut), nowMs);
      result.requeuedCampaignIds = [...new Set([...result.requeuedCampaignIds, ...due])];
    }
    for (const preference of effects.preferences) {
      const keys = [...preference.recipients, ...(preference.userId ? [preference.userId] : [])];
      if (preference.value === 'stop') {
        const { rows } = await sql.query<{ to_e164: string }>(
          `SELECT to_e164 FROM (${LATEST_SENT_TO('$1', KEYS_OF('$1', '$2::text[]', '$3::text'))}) latest ORDER BY id DESC LIMIT 1`,
          [accountId, preference.recipients, preference.userId],
        );
        await this.suppressPeople(sql, accountId, [rows[0]?.to_e164 ?? preference.recipients[0], preference.userId], 'user_preferences', nowMs);
      } else {
        await sql.query(
          `WITH seeds AS (SELECT DISTINCT unnest($2::text[]) AS key), keys AS (${PERSON_KEYS('$1')})
           DELETE FROM suppressions WHERE account_id = $1 AND to_e164 IN (SELECT key FROM keys)`,
          [accountId, keys],
        );
      }
    }
    for (const change of effects.identityChanges) await this.changeIdentity(sql, accountId, change, nowMs);
    result.touchedCampaignIds = [...touched];
    return result;
  }

  /**
   * Keeps each pair (a BSUID's number changes only when Meta names another), and links their suppressions: when
   * either side of a pair is suppressed, both are, with the same source.
   */
  private async learnIdentities(sql: Sql, accountId: string, identities: readonly RecipientIdentity[], nowMs: number): Promise<void> {
    await sql.query(
      `WITH input AS (
         SELECT DISTINCT ON (user_id) user_id, to_e164 FROM unnest($2::text[], $3::text[]) AS t(user_id, to_e164)
       ),
       kept AS (
         INSERT INTO recipient_ids AS r (account_id, user_id, to_e164, updated_at)
         SELECT $1, user_id, to_e164, $4 FROM input
         ON CONFLICT (account_id, user_id) DO UPDATE SET to_e164 = excluded.to_e164, updated_at = excluded.updated_at
         WHERE excluded.to_e164 IS NOT NULL AND r.to_e164 IS DISTINCT FROM excluded.to_e164
       )
       INSERT INTO suppressions (account_id, to_e164, source, created_at)
       SELECT $1, side.key, linked.source, $4 FROM input i
       -- Each side by its primary key (see markSending): an IN over both read every suppression of the account.
       JOIN LATERAL (
         SELECT source FROM (
           SELECT s.source, s.created_at FROM suppressions s WHERE s.account_id = $1 AND s.to_e164 = i.user_id
           UNION ALL
           SELECT s.source, s.created_at FROM suppressions s WHERE s.account_id = $1 AND s.to_e164 = i.to_e164
         ) either ORDER BY created_at LIMIT 1
       ) linked ON true
       CROSS JOIN LATERAL (VALUES (i.user_id), (i.to_e164)) AS side(key)
       WHERE i.to_e164 IS NOT NULL
       ON CONFLICT (account_id, to_e164) DO NOTHING`,
      [accountId, identities.map((i) => i.userId), identities.map((i) => i.phones[0] ?? null), nowMs],
    );
  }

  /**
   * The people who wrote have a 24-hour window in which the frequency cap does not apply: their rows waiting for a
   * 131049 retry are due at the reply's time. Gives those rows' campaigns. Apart from the replies' statement, which
   * may change the same row (its reply).
   */
  private async makeCappedRowsDue(sql: Sql, accountId: string, replies: readonly ReplyChange[], nowMs: number): Promise<string[]> {
    if (replies.length === 0) return [];
    const { rows } = await sql.query<{ campaign_id: string }>(
      `WITH input AS (SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[]) AS i(recipients, user_id, at_ms)),
       persons AS (
         SELECT DISTINCT ON (key) key, at_ms FROM input i
         CROSS JOIN LATERAL unnest(${KEYS_OF('$1', "string_to_array(i.recipients, ',')", 'i.user_id')}) AS k(key)
         ORDER BY key, at_ms
       ),
       -- Each person's row in each campaign of the account by messages_by_recipient (campaign_id, to_e164), no index
       -- leading with account_id. OFFSET 0 keeps the lookup apart from the row conditions below: joined with them,
       -- the planner (from the statistics of a table that was small) walked messages_queue for every queued row of
       -- the campaign instead (6,000 rows a reply batch in the PostgreSQL bench, more with every row queued).
       rows AS (
         SELECT r.id, p.at_ms FROM persons p
         CROSS JOIN LATERAL (
           SELECT m.id FROM campaigns c JOIN messages m ON m.campaign_id = c.id AND m.to_e164 = p.key
           WHERE c.account_id = $1 OFFSET 0
         ) r
       )
       UPDATE messages m SET next_attempt_at = r.at_ms, seq = ${NEXT_SEQ}, updated_at = $5
       FROM rows r
       WHERE m.id = r.id AND m.account_id = $1
         AND m.status = 'queued' AND m.error_code = '${FREQUENCY_CAP_CODE}' AND m.next_attempt_at > r.at_ms
       RETURNING m.campaign_id`,
      [accountId, replies.map((r) => r.recipients.join(',')), replies.map((r) => r.userId), replies.map((r) => r.atMs), nowMs],
    );
    return [...new Set(rows.map((r) => r.campaign_id))];
  }

  /** Suppresses every id of the people `seeds` name (PERSON_KEYS); one statement. */
  private async suppressPeople(
    sql: Sql, accountId: string, seeds: readonly (string | null | undefined)[], source: string, nowMs: number,
  ): Promise<void> {
    const keys = seeds.filter((seed): seed is string => typeof seed === 'string' && seed !== '');
    if (keys.length === 0) return;
    await sql.query(
      `WITH seeds AS (SELECT DISTINCT unnest($2::text[]) AS key), keys AS (${PERSON_KEYS('$1')})
       INSERT INTO suppressions (account_id, to_e164, source, created_at) SELECT $1, key, $3, $4 FROM keys
       ON CONFLICT (account_id, to_e164) DO NOTHING`,
      [accountId, keys, source, nowMs],
    );
  }

  /** A new number or BSUID: the pair follows, and so does a suppression of the person as they were. */
  private async changeIdentity(sql: Sql, accountId: string, change: IdentityChange, nowMs: number): Promise<void> {
    const { rows } = await sql.query<{ source: string | null; phone: string | null }>(
      `WITH seeds AS (SELECT DISTINCT unnest($2::text[]) AS key), keys AS (${PERSON_KEYS('$1')})
       SELECT (SELECT source FROM suppressions WHERE account_id = $1 AND to_e164 IN (SELECT key FROM keys)
               ORDER BY created_at LIMIT 1) AS source,
              (SELECT to_e164 FROM recipient_ids WHERE account_id = $1 AND user_id = ANY($2::text[]) AND to_e164 IS NOT NULL
               ORDER BY updated_at DESC LIMIT 1) AS phone`,
      [accountId, change.previous],
    );
    const phone = change.phones[0] ?? rows[0]?.phone ?? null;
    await sql.query(
      `WITH gone AS (
         DELETE FROM recipient_ids WHERE account_id = $1 AND user_id = ANY($2::text[]) AND user_id IS DISTINCT FROM $3
       )
       INSERT INTO recipient_ids AS r (account_id, user_id, to_e164, updated_at)
       SELECT $1, $3, $4, $5 WHERE $3::text IS NOT NULL
       ON CONFLICT (account_id, user_id) DO UPDATE SET to_e164 = COALESCE(excluded.to_e164, r.to_e164), updated_at = excluded.updated_at`,
      [accountId, change.previous.filter(isBusinessScopedUserId), change.userId, phone, nowMs],
    );
    const source = rows[0]?.source;
    if (source) await this.suppressPeople(sql, accountId, [change.userId, ...change.phones], source, nowMs);
    // A retired BSUID names nobody any more: its entry moved to the new one. (A previous number stays listed: it
    // may reach someone else one day, and wrongly sparing a number is worse than wrongly keeping one.)
    await sql.query('DELETE FROM suppressions WHERE account_id = $1 AND to_e164 = ANY($2::text[]) AND to_e164 IS DISTINCT FROM $3',
      [accountId, change.previous.filter(isBusinessScopedUserId), change.userId]);
  }

  /**
   * A body's replies in one statement; gives the campaigns of the rows that changed, and for each opt-out the ids
   * that name its person (the row's recipient, else the first spelling; and the BSUID). Each reply is the reply of
   * the row of the quoted message, else of the latest sent to any id of the person (KEYS_OF: the number's
   * spellings, the BSUID and the number it stands for; SQLite's latestSentTo: each id's latest send, then the
   * highest id among them); of several replies landing on one row the last in the body stands, as when applied one
   * by one (locating a row reads only wamid and sent_at, which replies never change).
   */
  private async applyReplies(
    sql: Sql, accountId: string, replies: readonly ReplyChange[], nowMs: number,
  ): Promise<{ touchedCampaignIds: string[]; optOuts: string[] }> {
    const { rows } = await sql.query<{ kind: 'touched' | 'opt_out'; value: string | null }>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[], $8::text[]) WITH ORDINALITY
           AS i(context_wamid, recipients, text, at_ms, is_opt_out, user_id, ord)
       ),
       located AS (
         SELECT i.ord, i.recipients, i.is_opt_out, i.user_id, target.id, target.to_e164
         FROM input i LEFT JOIN LATERAL (
           SELECT id, to_e164 FROM (
             (SELECT id, to_e164, 0 AS pref FROM messages WHERE wamid = i.context_wamid AND account_id = $6 ORDER BY id LIMIT 1)
             UNION ALL
             (SELECT id, to_e164, 1 AS pref FROM (${LATEST_SENT_TO('$6', KEYS_OF('$6', "string_to_array(i.recipients, ',')", 'i.user_id'))}) latest
              ORDER BY id DESC LIMIT 1)
           ) candidates ORDER BY pref LIMIT 1
         ) target ON true
       ),
       last AS (
         SELECT DISTINCT ON (id) id, ord FROM located WHERE id IS NOT NULL ORDER BY id, ord DESC
       ),
       changed AS (
         UPDATE messages m SET reply_text = i.text, reply_at = i.at_ms, seq = ${NEXT_SEQ}, updated_at = $7
         FROM last l JOIN input i ON i.ord = l.ord WHERE m.id = l.id
         RETURNING m.campaign_id
       )
       SELECT DISTINCT 'touched' AS kind, campaign_id AS value FROM changed
       UNION ALL
       SELECT 'opt_out', COALESCE(to_e164, NULLIF(split_part(recipients, ',', 1), '')) FROM located WHERE is_opt_out
       UNION ALL
       SELECT 'opt_out', user_id FROM located WHERE is_opt_out AND user_id IS NOT NULL`,
      [replies.map((r) => r.contextWamid), replies.map((r) => r.recipients.join(',')), replies.map((r) => r.text),
        replies.map((r) => r.atMs), replies.map((r) => r.isOptOut), accountId, nowMs, replies.map((r) => r.userId)],
    );
    return {
      touchedCampaignIds: rows.filter((r) => r.kind === 'touched').map((r) => r.value as string),
      optOuts: rows.filter((r) => r.kind === 'opt_out' && r.value !== null).map((r) => r.value as string),
    };
  }

  /**
   * A body's statuses in as few statements as the rows they name allow: each round is one statement over arrays that
   * locates every status's row (by the callback: row id within campaign and account, else by wamid within the
   * account) and moves each located row by the first status of the round naming it, only from one of that status's
   * `from` (forward-only, in the statement); suppressAs suppresses the recipient of a row that moved. A later status
   * naming a row already moved in the round (a body may carry sent, then delivered, of one row) is deferred to the
   * next round, located again there: per row the statuses apply in body order, as one statement each would. (Only
   * the order between different rows differs, and it cannot change a result: each row moves by its own statuses.)
   */
  private async applyStatuses(
    sql: Sql, accountId: string, statuses: readonly StatusChange[], nowMs: number, result: WebhookApplied,
    touched: Set<string>,
  ): Promise<void> {
    /** Per status, in body order: what became of it (reported in that order, whatever round applied it). */
    const outcomes: ({ located: boolean; campaignId: string | null; isRetry: boolean } | undefined)[] = [];
    let round = statuses.map((change, index) => ({ change, index }));
    /** Recipients a status suppressed (131050): their other ids (a BSUID, its number) follow below. */
    const suppressed: { to: string; source: string }[] = [];
    while (round.length > 0) {
      const { rows } = await sql.query<{
        ord: string; located: boolean; deferred: boolean; campaign_id: string | null; to_e164: string | null;
        suppress_as: string | null; new_status: string | null;
      }>(
        `WITH input AS (
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
             $8::text[], $9::text[], $12::bigint[], $13::int[], $14::text[], $15::text[]) WITH ORDINALITY
             AS i(message_id, campaign_id, wamid, status, error_code, error_message, sent_at, from_set, suppress_as,
               retry_at, retry_max, retry_except, retry_message, ord)
         ),
         -- By the callback data's row id first; by wamid only when that finds nothing (COALESCE evaluates its second
         -- sub-select only then: one index probe per status instead of two).
         located AS (
           SELECT i.ord, COALESCE(
             (SELECT m.id FROM messages m
              WHERE m.id = i.message_id AND m.campaign_id = i.campaign_id AND m.account_id = $10),
             (SELECT m.id FROM messages m WHERE m.wamid = i.wamid AND m.account_id = $10 ORDER BY m.id LIMIT 1)
           ) AS id
           FROM input i
         ),
         first AS (
           SELECT DISTINCT ON (id) id, ord FROM located WHERE id IS NOT NULL ORDER BY id, ord
         ),
         changed AS (
           UPDATE messages m SET status = CASE WHEN ${IS_CAP_RETRY} THEN 'queued' ELSE i.status END,
             attempts = CASE WHEN ${IS_CAP_RETRY} THEN m.attempts + 1 ELSE m.attempts END,
             next_attempt_at = CASE WHEN ${IS_CAP_RETRY} THEN i.retry_at ELSE m.next_attempt_at END,
             wamid = COALESCE(m.wamid, i.wamid), error_code = COALESCE(i.error_code, m.error_code),
             error_message = CASE WHEN ${IS_CAP_RETRY} THEN i.retry_message ELSE COALESCE(i.error_message, m.error_message) END,
             sent_at = COALESCE(m.sent_at, i.sent_at), seq = ${NEXT_SEQ}, updated_at = $11
           FROM first f JOIN input i ON i.ord = f.ord
           WHERE m.id = f.id AND m.status = ANY(string_to_array(i.from_set, ','))
             -- A status of an earlier attempt of a row tried again (131049) must not settle the new send.
             AND (m.wamid IS NULL OR m.wamid = i.wamid)
             AND NOT (m.error_code IS NOT DISTINCT FROM '${FREQUENCY_CAP_CODE}' AND m.status IN ('queued', 'sending'))
           RETURNING f.ord, m.campaign_id, m.to_e164, i.suppress_as, m.status AS new_status
         ),
         suppressed AS (
           INSERT INTO suppressions (account_id, to_e164, source, created_at)
           SELECT DISTINCT ON (to_e164) $10, to_e164, suppress_as, $11 FROM changed
           WHERE suppress_as IS NOT NULL ORDER BY to_e164, ord
           ON CONFLICT (account_id, to_e164) DO NOTHING
         )
         SELECT l.ord, l.id IS NOT NULL AS located,
           l.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM first f WHERE f.ord = l.ord) AS deferred, c.campaign_id,
           c.to_e164, c.suppress_as, c.new_status
         FROM located l LEFT JOIN changed c ON c.ord = l.ord
         ORDER BY l.ord`,
        [round.map(({ change: c }) => c.callback?.messageId ?? null), round.map(({ change: c }) => c.callback?.campaignId ?? null),
          round.map(({ change: c }) => c.wamid), round.map(({ change: c }) => c.status),
          round.map(({ change: c }) => c.error?.code ?? null), round.map(({ change: c }) => c.error?.message ?? null),
          round.map(({ change: c }) => (c.status === 'failed' ? null : nowMs)), round.map(({ change: c }) => c.from.join(',')),
          round.map(({ change: c }) => c.suppressAs), accountId, nowMs,
          round.map(({ change: c }) => c.retry?.atMs ?? null), round.map(({ change: c }) => c.retry?.maxAttempts ?? null),
          round.map(({ change: c }) => c.retry?.exceptPrefixes.join(',') ?? null),
          round.map(({ change: c }) => (c.retry ? waitingMessage(c.error?.message, c.retry.atMs) : null))],
      );
      const deferred: typeof round = [];
      for (const row of rows) {
        const entry = round[Number(row.ord) - 1]!;
        if (row.deferred) deferred.push(entry);
        else outcomes[entry.index] = { located: row.located, campaignId: row.campaign_id, isRetry: row.new_status === 'queued' };
        if (row.suppress_as !== null && row.to_e164 !== null) suppressed.push({ to: row.to_e164, source: row.suppress_as });
      }
      round = deferred;
    }
    // One statement per source (there is one today: 131050's user_preferences), not one per row.
    const bySource = new Map<string, string[]>();
    for (const { to, source } of suppressed) bySource.set(source, [...(bySource.get(source) ?? []), to]);
    for (const [source, tos] of bySource) await this.suppressPeople(sql, accountId, tos, source, nowMs);
    const retried = [...new Set(outcomes.filter((o) => o?.isRetry).map((o) => o!.campaignId as string))];
    if (retried.length > 0) {
      // Their sends were accepted, so a campaign may have finished meanwhile: a row waits again, so it runs again.
      await sql.query(`UPDATE campaigns SET state = 'running', state_reason_json = NULL, finished_at = NULL
        WHERE id = ANY($1::text[]) AND state = 'finished'`, [retried]);
    }
    statuses.forEach((change, index) => {
      const outcome = outcomes[index]!;
      if (!outcome.located) {
        result.statuses.unmatched++;
      } else if (outcome.campaignId === null) {
        result.statuses.ignored++;
      } else {
        result.statuses.applied++;
        touched.add(outcome.campaignId);
        if (outcome.isRetry && !result.requeuedCampaignIds.includes(outcome.campaignId)) result.requeuedCampaignIds.push(outcome.campaignId);
        if (change.status === 'failed' && !outcome.isRetry) {
          result.failed.push({ campaignId: outcome.campaignId, code: change.error?.code ?? 'unknown' });
        }
      }
    });
  }

  // ---- accounts

  /** The account and its lock row, together. */
  async insertAccount({ account, secrets, apiKeyHash }: NewAccount): Promise<void> {
    await this.transaction(async (sql) => {
      await sql.query(
        `INSERT INTO accounts (id, name, is_sandbox, phone_number_id, waba_id, access_token_enc, app_secret_enc,
           verify_token_enc, api_key_hash, messages_per_second, daily_limit, default_country, retention_days, opt_out_words, created_at,
           marketing_messages_api)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        [account.id, account.name, account.isSandbox, account.phoneNumberId, account.wabaId,
          this.cipher.encrypt(secrets.accessToken), this.cipher.encrypt(secrets.appSecret), this.cipher.encrypt(secrets.verifyToken),
          apiKeyHash, account.messagesPerSecond, account.dailyLimit, account.defaultCountry, account.retentionDays,
          JSON.stringify(account.optOutWords), account.createdAt, account.marketingMessagesApi],
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

  async setMarketingMessagesApi(accountId: string, isOn: boolean): Promise<boolean> {
    const result = await this.pool.query('UPDATE accounts SET marketing_messages_api = $1 WHERE id = $2', [isOn, accountId]);
    return (result.rowCount ?? 0) > 0;
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

  async recategoriseTemplate(accountId: string, template: TemplateRef, category: string): Promise<string[]> {
    // Through jsonb, which orders the keys its own way: the definition reads back equal, not byte for byte.
    return (await this.rows(
      `UPDATE campaigns SET template_json = jsonb_set(template_json::jsonb, '{category}', to_jsonb($4::text))::text
       WHERE account_id = $1 AND template_name = $2 AND template_language = $3 AND state NOT IN ('finished', 'cancelled')
       RETURNING id`,
      [accountId, template.name, template.language, category],
    )).map((r) => r.id as string);
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
    campaignId: string, accountId: string, given: readonly NewMessage[], acceptingStates: readonly CampaignState[], nowMs: number,
  ): Promise<InsertResult[] | null> {
    return this.transaction(async (sql) => {
      if (await this.lockCampaignAccount(sql, campaignId) === null) return null;
      const { rows: campaign } = await sql.query<{ state: CampaignState }>(
        'SELECT state FROM campaigns WHERE id = $1 FOR SHARE', [campaignId]);
      const state = campaign[0]?.state;
      if (state === undefined || !acceptingStates.includes(state)) return null;
      if (given.length === 0) return [];
      const rows = await this.resolveUserIds(sql, accountId, given);

      const { rows: existing } = await sql.query<{ kind: 'key' | 'to'; value: string }>(
        `SELECT 'key' AS kind, row_key AS value FROM messages WHERE campaign_id = $1 AND row_key = ANY($2::text[])
         UNION ALL
         SELECT 'to', to_e164 FROM messages WHERE campaign_id = $1 AND to_e164 = ANY($3::text[])
         UNION ALL
         -- A number whose person is already in the campaign under their BSUID.
         SELECT 'to', r.to_e164 FROM recipient_ids r JOIN messages m ON m.campaign_id = $1 AND m.to_e164 = r.user_id
         WHERE r.account_id = $4 AND r.to_e164 = ANY($3::text[])`,
        [campaignId, rows.map((r) => r.key), rows.map((r) => r.to), accountId],
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

  /**
   * Rows named by BSUID go to the person's number when the account knows it (Meta asks for numbers where we have
   * them), which also makes them duplicates of a row of that number. One statement, only when a row has a BSUID.
   */
  private async resolveUserIds(sql: Sql, accountId: string, rows: readonly NewMessage[]): Promise<readonly NewMessage[]> {
    const userIds = rows.filter((r) => isBusinessScopedUserId(r.to)).map((r) => r.to);
    if (userIds.length === 0) return rows;
    const { rows: known } = await sql.query<{ user_id: string; to_e164: string }>(
      'SELECT user_id, to_e164 FROM recipient_ids WHERE account_id = $1 AND user_id = ANY($2::text[]) AND to_e164 IS NOT NULL',
      [accountId, userIds],
    );
    const phoneOf = new Map(known.map((k) => [k.user_id, k.to_e164]));
    return rows.map((r) => (phoneOf.has(r.to) ? { ...r, to: phoneOf.get(r.to) as string } : r));
  }

  async loadQueued(campaignId: string, afterId: number, limit: number): Promise<QueuedMessage[]> {
    const rows = await this.rows(
      `SELECT id, campaign_id, to_e164, params_json, header_media_json, attempts, next_attempt_at, error_code
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
      errorCode: (r.error_code as string | null) ?? null,
    }));
  }

  async countOpen(campaignId: string): Promise<number> {
    const [row] = await this.rows(
      `SELECT count(*) AS n FROM messages WHERE campaign_id = $1 AND status IN ('queued', 'sending')`, [campaignId]);
    return row!.n as number;
  }

  async hasOpenRows(campaignId: string): Promise<boolean> {
    return (await this.rows(
      `SELECT 1 FROM messages WHERE campaign_id = $1 AND status IN ('queued', 'sending') LIMIT 1`, [campaignId])).length > 0;
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
      await this.suppressPeople(sql, accountId, [to], source, nowMs);
    });
  }

  /**
   * Takes the person off the list: `to` and every id linked to it (a number's BSUIDs, a BSUID's number). No lock: a
   * claim that still sees the suppression merely skips a row it could have sent.
   */
  async removeSuppression(accountId: string, to: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH seeds AS (SELECT $2::text AS key), keys AS (${PERSON_KEYS('$1')})
       DELETE FROM suppressions WHERE account_id = $1 AND to_e164 IN (SELECT key FROM keys)`,
      [accountId, to],
    );
    return rowCount > 0;
  }

  async listSuppressions(accountId: string): Promise<SuppressionEntry[]> {
    return toSuppressionEntries(await this.rows(SUPPRESSION_LIST_SQL('$1'), [accountId]));
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

/**
 * 1 when `key` is on the account's suppression list, else NULL: a scalar sub-select, so that it stays one primary-key
 * lookup per row whatever the statistics say (see markSending).
 */
const SUPPRESSED = (account: string, key: string): string =>
  `(SELECT 1 FROM suppressions s WHERE s.account_id = ${account} AND s.to_e164 = ${key})`;

/** A write's own failure inside writeAlone's transaction: the batch resolves with it instead of rejecting. */
class WriteFailed {
  constructor(readonly error: unknown) {}
}

/** A failure of the connection rather than of the statement: no SQLSTATE from the server. */
function isConnectionError(error: unknown): boolean {
  return sqlState(error) === undefined;
}

/** A fence as a map key: account and token. */
function fenceKey(fence: SenderFence): string {
  return `${fence.accountId}\u0000${fence.token}`;
}

/** The accounts whose rows the writes change (their locks are taken first, in ascending order). */
function accountsOf(writes: readonly BatchWrite[]): string[] {
  return writes.flatMap((w) =>
    w.kind === 'claim' || w.kind === 'outcomes' ? [w.fence.accountId] : w.kind === 'apply_webhook' ? [w.accountId] : []);
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
 * In the statuses' UPDATE: the status is a 131049 failure to try again (StatusChange.retry), and the row may be: it
 * has had fewer than the allowed attempts, and its number is not one Meta always refuses.
 */
const IS_CAP_RETRY = `(i.retry_at IS NOT NULL AND m.attempts + 1 < i.retry_max
  AND NOT EXISTS (SELECT 1 FROM unnest(string_to_array(i.retry_except, ',')) AS p(prefix) WHERE starts_with(m.to_e164, p.prefix)))`;

/**
 * The ids a person may be known by in the account's rows, as an SQL text[]: `recipients` (an SQL text[] of the
 * number's spellings), the BSUID `userId` (SQL text, may be NULL) and the number the account knows for that BSUID.
 */
function KEYS_OF(accountParam: string, recipients: string, userId: string): string {
  return `ARRAY(SELECT unnest(${recipients}) UNION SELECT ${userId} WHERE ${userId} IS NOT NULL
    UNION SELECT r.to_e164 FROM recipient_ids r WHERE r.account_id = ${accountParam} AND r.user_id = ${userId}
      AND r.to_e164 IS NOT NULL)`;
}

/**
 * A `keys` CTE body over a `seeds(key)` CTE: the seeds and every id the account links to them (a BSUID's number,
 * a number's BSUIDs), for suppressing or un-suppressing a person whole. Each seed is looked up on its own (a
 * lateral sub-select, kept apart by OFFSET 0), so that both columns of the index are its condition: written as a
 * join, the planner read every pair of the account and hashed them (8,087 pairs per opt-out, 4 ms, in the bench).
 */
function PERSON_KEYS(accountParam: string): string {
  return `SELECT key FROM seeds
    UNION SELECT linked.key FROM seeds CROSS JOIN LATERAL (
      SELECT r.to_e164 AS key FROM recipient_ids r
      WHERE r.account_id = ${accountParam} AND r.user_id = seeds.key AND r.to_e164 IS NOT NULL
      UNION ALL
      SELECT r.user_id FROM recipient_ids r WHERE r.account_id = ${accountParam} AND r.to_e164 = seeds.key
      OFFSET 0
    ) linked`;
}

/**
 * Per number in `recipients` (an SQL text[] expression), the account's latest sent row to it (latest sent_at, then
 * highest id), as rows (id, to_e164); the caller takes the highest id among them, as SqliteStore's latestSentTo
 * does. Found campaign by campaign through messages_by_recipient (campaign_id, to_e164) rather than through an index
 * of its own: every message update already writes each of the table's indexes (seq changes, so no update is HOT),
 * and replies are rare next to those. One sub-select per number, so that the number is a parameter of an index
 * lookup: written as a join or as `to_e164 = ANY(…)` over a column of another table, the planner scanned every sent
 * row of the account's campaigns instead (tens of ms per reply on a campaign of 30,000).
 */
function LATEST_SENT_TO(accountParam: string, recipients: string): string {
  return `SELECT id, to_e164 FROM (
      SELECT (SELECT m.id FROM campaigns c JOIN messages m ON m.campaign_id = c.id AND m.to_e164 = spelling.to_e164
              WHERE c.account_id = ${accountParam} AND m.account_id = ${accountParam} AND m.sent_at IS NOT NULL
              ORDER BY m.sent_at DESC, m.id DESC LIMIT 1) AS id, spelling.to_e164
      FROM unnest(${recipients}) AS spelling(to_e164)
    ) per_number WHERE id IS NOT NULL`;
}
