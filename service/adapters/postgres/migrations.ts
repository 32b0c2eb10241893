// The PostgreSQL schema, as ordered migrations held in code (esbuild bundles them; nothing is read from disk at run
// time). PostgresStore.open applies the ones not yet recorded in schema_migrations, each in its own transaction,
// under a session advisory lock, so instances starting together migrate once. A migration, once released, is never
// edited: a change is a new entry at the end.
//
// Mirrors the SQLite schema (sqlite-schema.ts, sqlite-privacy-store.ts) with PostgreSQL types. Two kinds of time:
// - BIGINT ms since the epoch for everything the domain stamps with its Clock (created_at, updated_at, sent_at…);
// - TIMESTAMPTZ for what only the database's clock decides (lease expiries, webhook claims): comparing them with
//   statement_timestamp() keeps every instance on one clock, whatever the skew between the machines.
// Ids, keys and numbers are TEXT COLLATE "C": byte order, as SQLite's BINARY, whatever the database's locale (an
// export lists rows in key order; lock ordering by account id must be one order everywhere), and cheaper compares.

import type { SqlPool } from './postgres-sql';

export interface Migration {
  /** Increasing from 1, no gaps. */
  version: number;
  name: string;
  sql: string;
}

/** The key of the session advisory lock held while migrating (any constant no other code of ours uses). */
export const MIGRATION_LOCK_KEY = 7_240_611_501;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE accounts (
  id TEXT COLLATE "C" PRIMARY KEY,
  -- Breaks ties of created_at in listings the way SQLite's rowid does: insertion order.
  insert_order BIGINT GENERATED ALWAYS AS IDENTITY,
  name TEXT NOT NULL,
  is_sandbox BOOLEAN NOT NULL,
  phone_number_id TEXT NOT NULL UNIQUE,
  waba_id TEXT NOT NULL,
  -- Sealed with the SecretCipher (AES-256-GCM under SECRET_KEY); never the plain token or secret.
  access_token_enc TEXT NOT NULL,
  app_secret_enc TEXT NOT NULL,
  verify_token_enc TEXT NOT NULL,
  -- SHA-256 of the API key; the key itself is shown once and never stored.
  api_key_hash TEXT NOT NULL UNIQUE,
  messages_per_second INTEGER NOT NULL,
  daily_limit INTEGER,
  default_country TEXT,
  retention_days INTEGER NOT NULL DEFAULT 30,
  opt_out_words TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL
);
CREATE INDEX accounts_sandbox_by_waba ON accounts(waba_id) WHERE is_sandbox;

-- The changes feed's numbers (messages.seq). CACHE must stay 1 (the default): numbers then increase in the order
-- nextval() is called, across sessions. That order is commit order per account only because of account_locks.
CREATE SEQUENCE message_seq AS BIGINT;

-- One row per account, locked (never updated) by every transaction that changes the account's message rows, campaign
-- states or suppressions, before it draws from message_seq. See postgres-locks.ts.
CREATE TABLE account_locks (
  account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE
);

CREATE TABLE campaigns (
  id TEXT COLLATE "C" PRIMARY KEY,
  insert_order BIGINT GENERATED ALWAYS AS IDENTITY,
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  template_name TEXT NOT NULL,
  template_language TEXT NOT NULL,
  -- JSON as TEXT: what JSON.stringify wrote comes back byte for byte (JSONB would reorder keys).
  template_json TEXT NOT NULL,
  send_at BIGINT,
  default_country TEXT,
  sheet_json TEXT,
  state TEXT NOT NULL,
  state_reason_json TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  sheet_cursor BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_by_account ON campaigns(account_id, created_at);
CREATE INDEX campaigns_by_state ON campaigns(state);

CREATE TABLE messages (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id TEXT COLLATE "C" NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  account_id TEXT COLLATE "C" NOT NULL,
  row_key TEXT COLLATE "C" NOT NULL,
  to_e164 TEXT COLLATE "C" NOT NULL,
  params_json TEXT,
  header_media_json TEXT,
  status TEXT NOT NULL,
  wamid TEXT,
  error_code TEXT,
  error_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  sending_at BIGINT,
  sent_at BIGINT,
  reply_text TEXT,
  reply_at BIGINT,
  -- From message_seq under the account's lock: unique, and increasing in commit order per account (so per campaign).
  seq BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_by_key ON messages(campaign_id, row_key);
CREATE UNIQUE INDEX messages_by_recipient ON messages(campaign_id, to_e164);
CREATE INDEX messages_queue ON messages(campaign_id, status, id);
-- Unique: a repeated seq within a campaign would be a bug of the numbering; better an error than a feed that shows
-- one change and hides the other.
CREATE UNIQUE INDEX messages_changes ON messages(campaign_id, seq);
CREATE INDEX messages_by_wamid ON messages(wamid) WHERE wamid IS NOT NULL;
CREATE INDEX messages_unsettled ON messages(sending_at) WHERE status = 'sending';
CREATE INDEX messages_recent_sends ON messages(account_id, sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE suppressions (
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  to_e164 TEXT COLLATE "C" NOT NULL,
  source TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, to_e164)
);

-- Who sends for each account (SenderLease): a new holder takes a higher token, and fenced writes check it. No
-- foreign key, as in SQLite (a lease may be asked for any id); account erasure deletes the row itself.
CREATE TABLE sender_leases (
  account_id TEXT COLLATE "C" PRIMARY KEY,
  holder TEXT NOT NULL,
  token BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE job_leases (
  job TEXT COLLATE "C" PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);

-- No foreign key, as in SQLite: a body may land after its account was erased (deleteOrphanWebhooks drops it).
CREATE TABLE webhook_inbox (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id TEXT COLLATE "C" NOT NULL,
  body BYTEA NOT NULL,
  received_at BIGINT NOT NULL,
  -- Held by the instance applying it until then (claimPendingWebhooks); NULL when never claimed.
  claimed_until TIMESTAMPTZ
);
CREATE INDEX webhook_inbox_by_account ON webhook_inbox(account_id, received_at);

-- How far each campaign's messages have been walked for retention, in the campaign's change order (seq).
CREATE TABLE retention_marks (
  campaign_id TEXT COLLATE "C" PRIMARY KEY REFERENCES campaigns(id) ON DELETE CASCADE,
  walked_through_seq BIGINT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'live instances',
    sql: `
-- Each service instance says it is alive every scan (LeaseStore.heartbeat): the count of live ones sets each
-- instance's fair share of the sender leases. Holds instance names only (host:pid:random), no account data.
CREATE TABLE live_instances (
  instance_id TEXT COLLATE "C" PRIMARY KEY,
  seen_until TIMESTAMPTZ NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'business-scoped user ids',
    sql: `
-- Which business-scoped user id (BSUID) is which number, per account, as Meta's webhooks said (to_e164 NULL: the
-- number was never shared). A recipient is either kind of id: suppressions and rows hold either in to_e164.
-- Written under the account's lock, like the suppressions it links.
CREATE TABLE recipient_ids (
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  user_id TEXT COLLATE "C" NOT NULL,
  to_e164 TEXT COLLATE "C",
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, user_id)
);
CREATE INDEX recipient_ids_by_phone ON recipient_ids(account_id, to_e164);
`,
  },
  {
    version: 4,
    name: 'account health',
    sql: `
-- What Meta's management webhooks said about the account (webhooks/account-health.ts): the latest quality, messaging
-- limit and restriction, each with the time Meta said it (ms). A row appears at the first news; none: nothing said.
CREATE TABLE account_health (
  account_id TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  quality TEXT,
  quality_at BIGINT,
  messaging_tier TEXT,
  messaging_daily_limit INTEGER,
  messaging_limit_at BIGINT,
  -- {type, detail, expiresAtMs}; NULL with restriction_at set: Meta lifted it.
  restriction JSONB,
  restriction_at BIGINT
);
-- The account's last management events (about 20 are kept), keyed by the change's content (its fingerprint), so a
-- body applied twice keeps each once.
CREATE TABLE account_health_events (
  account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  event_key TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL,
  detail TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (account_id, event_key)
);
`,
  },
  {
    version: 5,
    name: 'marketing messages api option',
    sql: `
-- true: the account's MARKETING templates go through /marketing_messages (Account.marketingMessagesApi), set by the
-- marketer or by the sender at a 131063. A constant default: no table rewrite, and the previous release's INSERTs
-- (which do not name the column) keep working during a rolling deploy.
ALTER TABLE accounts ADD COLUMN marketing_messages_api BOOLEAN NOT NULL DEFAULT false;
`,
  },
];

/**
 * Applies the migrations `schema_migrations` does not list yet, in order, each in its own transaction with its row in
 * schema_migrations, while holding a session advisory lock: a second instance starting at the same moment waits on
 * the lock, then finds everything applied. Versions the database has beyond ours (a newer release migrated it, and
 * this one is still running during a rolling deploy) are left alone: migrations must keep the previous release
 * working. Returns the versions this call applied.
 */
export async function applyMigrations(pool: SqlPool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const session = await pool.connect();
  let isBroken = false;
  try {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await session.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const done = new Set((await session.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await session.query('BEGIN');
        try {
          // No parameters: the simple protocol, which runs a script of several statements.
          await session.query(migration.sql);
          await session.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
          const commit = await session.query('COMMIT');
          if (commit.command !== 'COMMIT') throw new Error(`Migration ${migration.version} was rolled back at COMMIT.`);
        } catch (error) {
          await session.query('ROLLBACK').catch(() => (isBroken = true));
          throw new Error(`PostgreSQL migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, { cause: error });
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      // Ends with the session anyway; unlocked here so the connection goes back to the pool clean.
      if (!isBroken) await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => (isBroken = true));
    }
  } catch (error) {
    isBroken = true;
    throw error;
  } finally {
    session.release(isBroken);
  }
}
