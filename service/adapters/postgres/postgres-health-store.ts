// Account health (webhooks/account-health.ts) in PostgreSQL, with SqliteHealthStore's semantics: one row of latest
// values per account (each part moves only forward in Meta's time) and its last events, written in one transaction
// with the account's limits when Meta moved them. Any instance may write: the account row is locked first, so two
// bodies of one account applied at once on two instances do not interleave their trims.
import {
  EMPTY_HEALTH, HEALTH_EVENTS_KEPT, type AccountHealth, type HealthRestriction, type HealthStore, type HealthUpdate,
} from '../../webhooks/account-health';
import { inTransaction, type Row, type Sql, type SqlPool } from './postgres-sql';

export class PostgresHealthStore implements HealthStore {
  constructor(private readonly pool: SqlPool) {}

  async getHealth(accountId: string): Promise<AccountHealth> {
    return readHealth(this.pool, accountId);
  }

  async recordHealth(update: HealthUpdate): Promise<void> {
    const id = update.accountId;
    await inTransaction(this.pool, async (sql) => {
      // An erased account's late webhook keeps nothing; the row lock orders concurrent writers of one account.
      const { rows } = await sql.query('SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [id]);
      if (rows.length === 0) return;
      await sql.query('INSERT INTO account_health (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING', [id]);
      if (update.quality) {
        await sql.query(`UPDATE account_health SET quality = $2, quality_at = $3
          WHERE account_id = $1 AND (quality_at IS NULL OR quality_at <= $3)`, [id, update.quality.rating, update.quality.atMs]);
      }
      if (update.messagingLimit) {
        const m = update.messagingLimit;
        await sql.query(`UPDATE account_health SET messaging_tier = $2, messaging_daily_limit = $3, messaging_limit_at = $4
          WHERE account_id = $1 AND (messaging_limit_at IS NULL OR messaging_limit_at <= $4)`, [id, m.tier, m.dailyLimit, m.atMs]);
      }
      if (update.restriction) {
        const r = update.restriction;
        await sql.query(`UPDATE account_health SET restriction = $2::jsonb, restriction_at = $3
          WHERE account_id = $1 AND (restriction_at IS NULL OR restriction_at <= $3)`,
        [id, r.value === null ? null : JSON.stringify(r.value), r.atMs]);
      }
      if (update.events.length > 0) {
        await sql.query(`INSERT INTO account_health_events (account_id, event_key, type, detail, at)
          SELECT $1, e.key, e.type, e.detail, e.at FROM jsonb_to_recordset($2::jsonb) AS e(key TEXT, type TEXT, detail TEXT, at BIGINT)
          ON CONFLICT (account_id, event_key) DO NOTHING`,
        [id, JSON.stringify(update.events.map((e) => ({ key: e.key, type: e.type, detail: e.detail, at: e.atMs })))]);
        await sql.query(`DELETE FROM account_health_events WHERE account_id = $1 AND event_key NOT IN (
          SELECT event_key FROM account_health_events WHERE account_id = $1 ORDER BY at DESC, event_key COLLATE "C" LIMIT $2)`,
        [id, HEALTH_EVENTS_KEPT]);
      }
      if (update.limits?.dailyLimit !== undefined) {
        await sql.query('UPDATE accounts SET daily_limit = $2 WHERE id = $1', [id, update.limits.dailyLimit]);
      }
      if (update.limits?.messagesPerSecond !== undefined) {
        await sql.query('UPDATE accounts SET messages_per_second = $2 WHERE id = $1', [id, update.limits.messagesPerSecond]);
      }
    });
  }
}

/** The account's health as stored, on any connection or transaction (the export reads it in its snapshot's). */
export async function readHealth(sql: Sql, accountId: string): Promise<AccountHealth> {
  const events = (await sql.query(`SELECT type, detail, at FROM account_health_events WHERE account_id = $1
    ORDER BY at DESC, event_key COLLATE "C" LIMIT $2`, [accountId, HEALTH_EVENTS_KEPT])).rows
    .map((e: Row) => ({ type: e.type as string, detail: e.detail as string, atMs: Number(e.at) }));
  const row = (await sql.query('SELECT * FROM account_health WHERE account_id = $1', [accountId])).rows[0] as Row | undefined;
  if (!row) return { ...EMPTY_HEALTH, events };
  const at = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
  const qualityAt = at(row.quality_at);
  const limitAt = at(row.messaging_limit_at);
  const restrictionAt = at(row.restriction_at);
  return {
    quality: qualityAt !== null && row.quality !== null ? { rating: row.quality as string, atMs: qualityAt } : null,
    messagingLimit: limitAt !== null && row.messaging_tier !== null
      ? { tier: row.messaging_tier as string, dailyLimit: row.messaging_daily_limit === null ? null : Number(row.messaging_daily_limit), atMs: limitAt }
      : null,
    restriction: restrictionAt !== null && row.restriction !== null
      ? { ...(row.restriction as HealthRestriction), atMs: restrictionAt } : null,
    events,
  };
}
