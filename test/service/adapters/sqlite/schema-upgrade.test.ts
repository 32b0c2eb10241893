// Opening a database made before a column was added (sqlite-schema.ts ADDED_COLUMNS): the store adds the column,
// keeps the rows (filled with the column's default), and opening again changes nothing.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../../service/adapters/sqlite/sqlite-store';
import { ADDED_COLUMNS, SCHEMA_SQL } from '../../../../service/adapters/sqlite/sqlite-schema';
import { plainCipher } from '../../store-contract/store-contract';

let dir: string | null = null;

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

describe('SQLite schema upgrade', () => {
  it('adds marketing_messages_api to an older accounts table once, and existing accounts read false', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sqlite-upgrade-'));
    const path = join(dir, 'old.db');
    // The schema as an older release made it: the accounts table without the added columns.
    const old = new Database(path);
    let schema = SCHEMA_SQL;
    for (const { column, definition } of ADDED_COLUMNS) {
      schema = schema.replace(new RegExp(`,\\s*(--[^\\n]*\\n\\s*)?${column} ${definition}`), '');
    }
    expect(schema).not.toContain('marketing_messages_api');
    old.exec(schema);
    old.prepare(`INSERT INTO accounts (id, name, is_sandbox, phone_number_id, waba_id, access_token_enc, app_secret_enc,
      verify_token_enc, api_key_hash, messages_per_second, daily_limit, default_country, created_at)
      VALUES ('a1', 'Old', 1, 'p1', 'w1', 't', 's', 'v', 'h1', 80, NULL, NULL, 0)`).run();
    old.close();

    const store = new SqliteStore(path, plainCipher);
    expect((await store.getAccount('a1'))?.marketingMessagesApi).toBe(false);
    expect(await store.setMarketingMessagesApi('a1', true)).toBe(true);
    await store.close();

    const again = new SqliteStore(path, plainCipher);
    expect((await again.getAccount('a1'))?.marketingMessagesApi).toBe(true);
    const columns = (again.db.prepare('PRAGMA table_info(accounts)').all() as { name: string }[]).map((c) => c.name);
    expect(columns.filter((c) => c === 'marketing_messages_api')).toHaveLength(1);
    await again.close();
  });
});
