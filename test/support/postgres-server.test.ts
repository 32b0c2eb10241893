// Smoke test of the run's PostgreSQL server (test/support/postgres-global-setup.ts) through the service's driver,
// pg: a query, LISTEN/NOTIFY between two connections, an advisory lock held by one connection at a time.
// Skipped, not failed, where PostgreSQL is not installed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgresBinDir, startPostgres } from './postgres-server';
import { hasPostgres, postgresUrl, scratchDatabase } from './postgres-url';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(hasPostgres)('the test PostgreSQL server', () => {
  let url: string;
  const clients: pg.Client[] = [];
  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    url = await scratchDatabase('support_postgres_server_test');
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()));
  });

  it('answers SELECT 1 in the scratch database, fsync on', async () => {
    const client = await connect();
    const { rows } = await client.query<{ one: number; db: string; fsync: string }>(
      "SELECT 1 AS one, current_database() AS db, current_setting('fsync') AS fsync",
    );
    expect(rows).toEqual([{ one: 1, db: 'support_postgres_server_test', fsync: 'on' }]);
  });

  it('gives child processes the server in TEST_DATABASE_URL', () => {
    expect(process.env.TEST_DATABASE_URL).toBe(postgresUrl());
  });

  it('delivers a NOTIFY to the connection that LISTENs', async () => {
    const listener = await connect();
    const notifier = await connect();
    await listener.query('LISTEN campaign_events');
    const received = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
    await notifier.query("SELECT pg_notify('campaign_events', 'campaign 42 paused')");
    const notification = await Promise.race([received, sleep(5_000).then(() => null)]);
    expect(notification).toMatchObject({ channel: 'campaign_events', payload: 'campaign 42 paused' });
  });

  it('holds an advisory lock for one connection at a time', async () => {
    const a = await connect();
    const b = await connect();
    const tryLock = async (client: pg.Client) =>
      (await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock(4242) AS got')).rows[0]!.got;
    expect(await tryLock(a)).toBe(true);
    expect(await tryLock(b)).toBe(false);

    let bHasIt = false;
    const bWaits = b.query('SELECT pg_advisory_lock(4242)').then(() => (bHasIt = true));
    await sleep(200);
    expect(bHasIt).toBe(false);
    await a.query('SELECT pg_advisory_unlock(4242)');
    await bWaits;
    expect(await tryLock(a)).toBe(false);
    await b.query('SELECT pg_advisory_unlock(4242)');
    expect(await tryLock(a)).toBe(true);
    await a.query('SELECT pg_advisory_unlock(4242)');
  });
});

describe.runIf(findPostgresBinDir() !== null)('startPostgres', () => {
  it('starts a second server that answers, and stop() shuts it down', async () => {
    const server = await startPostgres();
    expect(server).not.toBeNull();
    const client = new pg.Client({ connectionString: server!.url });
    await client.connect();
    expect((await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db).toBe('test');
    await client.end();
    await server!.stop();
    await server!.stop(); // twice is fine
    await expect(new pg.Client({ connectionString: server!.url, connectionTimeoutMillis: 2_000 }).connect()).rejects.toThrow();
  });
});
