// The embedded database's schema. Each message row is one sheet row's message; `seq` orders changes for the feed.
// Statements are idempotent so opening an existing database is safe.

export const SCHEMA_VERSION = 1;

/**
 * Columns added after a table was first shipped. CREATE TABLE IF NOT EXISTS leaves an existing database's table as
 * it was, so the store adds each column that PRAGMA table_info does not list (ALTER TABLE … ADD COLUMN, idempotent by
 * that check; SQLite fills existing rows with the DEFAULT). Append here; never reorder or remove. New databases get
 * the columns from SCHEMA_SQL, which lists them too.
 */
export const ADDED_COLUMNS: readonly { table: string; column: string; definition: string }[] = [
  { table: 'accounts', column: 'marketing_messages_api', definition: 'INTEGER NOT NULL DEFAULT 0' },
];

/** The statements that bring an older database's tables to SCHEMA_SQL: none when it has every column already. */
export function addedColumnStatements(columnsOf: (table: string) => readonly string[]): string[] {
  return ADDED_COLUMNS.filter(({ table, column }) => !columnsOf(table).includes(column))
    .map(({ table, column, definition }) => `ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS schema_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  is_sandbox INTEGER NOT NULL,
  phone_number_id TEXT NOT NULL UNIQUE,
  waba_id TEXT NOT NULL,
  -- AES-256-GCM under SECRET_KEY; never the plain token or secret.
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
  created_at INTEGER NOT NULL,
  -- 1: MARKETING templates go through /marketing_messages (Account.marketingMessagesApi). See ADDED_COLUMNS.
  marketing_messages_api INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  template_name TEXT NOT NULL,
  template_language TEXT NOT NULL,
  template_json TEXT NOT NULL,
  send_at INTEGER,
  default_country TEXT,
  sheet_json TEXT,
  state TEXT NOT NULL,
  state_reason_json TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  sheet_cursor INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS campaigns_by_account ON campaigns(account_id, created_at);
CREATE INDEX IF NOT EXISTS campaigns_by_state ON campaigns(state);

CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  row_key TEXT NOT NULL,
  to_e164 TEXT NOT NULL,
  params_json TEXT,
  header_media_json TEXT,
  status TEXT NOT NULL,
  wamid TEXT,
  error_code TEXT,
  error_message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  sending_at INTEGER,
  sent_at INTEGER,
  reply_text TEXT,
  reply_at INTEGER,
  seq INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages(campaign_id, row_key);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_recipient ON messages(campaign_id, to_e164);
CREATE INDEX IF NOT EXISTS messages_queue ON messages(campaign_id, status, id);
CREATE INDEX IF NOT EXISTS messages_changes ON messages(campaign_id, seq);
CREATE INDEX IF NOT EXISTS messages_by_wamid ON messages(wamid) WHERE wamid IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_unsettled ON messages(sending_at) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS messages_recent_sends ON messages(account_id, sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS suppressions (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  to_e164 TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, to_e164)
) WITHOUT ROWID;

-- Which business-scoped user id (BSUID) is which number, per account, as Meta's webhooks said (to_e164 NULL: the
-- number was never shared). A recipient is either kind of id: suppressions and rows hold either in to_e164.
CREATE TABLE IF NOT EXISTS recipient_ids (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  to_e164 TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipient_ids_by_phone ON recipient_ids(account_id, to_e164);

CREATE TABLE IF NOT EXISTS webhook_inbox (
  id INTEGER PRIMARY KEY,
  account_id TEXT NOT NULL,
  body BLOB NOT NULL,
  received_at INTEGER NOT NULL
);

-- What Meta's management webhooks said about the account (webhooks/account-health.ts): the latest quality, messaging
-- limit and restriction, each with the time Meta said it (ms). A row appears at the first news; none: nothing said.
CREATE TABLE IF NOT EXISTS account_health (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  quality TEXT,
  quality_at INTEGER,
  messaging_tier TEXT,
  messaging_daily_limit INTEGER,
  messaging_limit_at INTEGER,
  -- JSON {type, detail, expiresAtMs}; NULL with restriction_at set: Meta lifted it.
  restriction TEXT,
  restriction_at INTEGER
) WITHOUT ROWID;

-- The account's last management events (about 20 are kept), keyed by the change's content (its fingerprint), so a
-- body applied twice keeps each once.
CREATE TABLE IF NOT EXISTS account_health_events (
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  event_key TEXT NOT NULL,
  type TEXT NOT NULL,
  detail TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (account_id, event_key)
) WITHOUT ROWID;
`;
