// Account health (webhooks/account-health.ts) in the embedded database: one row of latest values per account and
// its last events. One transaction per body's news, with the account's limits when Meta moved them.
import type Database from 'better-sqlite3';
import {
  EMPTY_HEALTH, HEALTH_EVENTS_KEPT, type AccountHealth, type HealthRestriction, type HealthStore, type HealthUpdate,
} from '../../webhooks/account-health';

type Row = Record<string, unknown>;

export class SqliteHealthStore implements HealthStore {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      ensure: db.prepare('INSERT OR IGNORE INTO account_health (account_id) VALUES (?)'),
      quality: db.prepare(`UPDATE account_health SET quality = ?, quality_at = ?
        WHERE account_id = ? AND (quality_at IS NULL OR quality_at <= ?)`),
      limit: db.prepare(`UPDATE account_health SET messaging_tier = ?, messaging_daily_limit = ?, messaging_limit_at = ?
        WHERE account_id = ? AND (messaging_limit_at IS NULL OR messaging_limit_at <= ?)`),
      restriction: db.prepare(`UPDATE account_health SET restriction = ?, restriction_at = ?
        WHERE account_id = ? AND (restriction_at IS NULL OR restriction_at <= ?)`),
      event: db.prepare(`INSERT OR IGNORE INTO account_health_events (account_id, event_key, type, detail, at)
        VALUES (?, ?, ?, ?, ?)`),
      trim: db.prepare(`DELETE FROM account_health_events WHERE account_id = ? AND event_key NOT IN (
        SELECT event_key FROM account_health_events WHERE account_id = ? ORDER BY at DESC, event_key LIMIT ?)`),
      dailyLimit: db.prepare('UPDATE accounts SET daily_limit = ? WHERE id = ?'),
      rate: db.prepare('UPDATE accounts SET messages_per_second = ? WHERE id = ?'),
      accountExists: db.prepare('SELECT 1 FROM accounts WHERE id = ?'),
    };
  }

  async getHealth(accountId: string): Promise<AccountHealth> {
    return readHealth(this.db, accountId);
  }

  async recordHealth(update: HealthUpdate): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      // An erased account's late webhook keeps nothing.
      if (!s.accountExists.get(update.accountId)) return;
      s.ensure.run(update.accountId);
      if (update.quality) s.quality.run(update.quality.rating, update.quality.atMs, update.accountId, update.quality.atMs);
      if (update.messagingLimit) {
        const m = update.messagingLimit;
        s.limit.run(m.tier, m.dailyLimit, m.atMs, update.accountId, m.atMs);
      }
      if (update.restriction) {
        const r = update.restriction;
        s.restriction.run(r.value === null ? null : JSON.stringify(r.value), r.atMs, update.accountId, r.atMs);
      }
      for (const e of update.events) s.event.run(update.accountId, e.key, e.type, e.detail, e.atMs);
      if (update.events.length > 0) s.trim.run(update.accountId, update.accountId, HEALTH_EVENTS_KEPT);
      if (update.limits?.dailyLimit !== undefined) s.dailyLimit.run(update.limits.dailyLimit, update.accountId);
      if (update.limits?.messagesPerSecond !== undefined) s.rate.run(update.limits.messagesPerSecond, update.accountId);
    })();
  }
}

/** The account's health as stored, on any connection (the export reads it on its snapshot's). */
export function readHealth(db: Database.Database, accountId: string): AccountHealth {
  const row = db.prepare('SELECT * FROM account_health WHERE account_id = ?').get(accountId) as Row | undefined;
  const events = (db.prepare('SELECT type, detail, at FROM account_health_events WHERE account_id = ? ORDER BY at DESC, event_key LIMIT ?')
    .all(accountId, HEALTH_EVENTS_KEPT) as Row[])
    .map((e) => ({ type: e.type as string, detail: e.detail as string, atMs: e.at as number }));
  if (!row) return { ...EMPTY_HEALTH, events };
  return {
    quality: row.quality_at !== null && row.quality !== null
      ? { rating: row.quality as string, atMs: row.quality_at as number } : null,
    messagingLimit: row.messaging_limit_at !== null && row.messaging_tier !== null
      ? { tier: row.messaging_tier as string, dailyLimit: (row.messaging_daily_limit as number | null) ?? null, atMs: row.messaging_limit_at as number }
      : null,
    restriction: row.restriction_at !== null && row.restriction !== null
      ? { ...(JSON.parse(row.restriction as string) as HealthRestriction), atMs: row.restriction_at as number } : null,
    events,
  };
}
