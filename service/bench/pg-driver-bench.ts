// Which PostgreSQL driver, by measurement: node-postgres (`pg`, unnamed and named/prepared statements) against
// porsager's `postgres`, the same SQL on the same server, fsync on. Prints a markdown table (docs/postgres-driver.md).
//
//   npx esbuild service/bench/pg-driver-bench.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=dist/service/pg-driver-bench.js --log-level=warning && node dist/service/pg-driver-bench.js
//
// Options: --runs N (default 5), --tx N transactions per client in (b) (default 1000), --url postgres://… (else
// TEST_DATABASE_URL, else a throwaway server from test/support/postgres-server.ts). Progress goes to stderr.
// pg won (docs/postgres-driver.md) and `postgres` is no longer a dependency: its column is measured only when it is
// installed, e.g. `npm i --no-save postgres@3.4.9` before the run.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { createScratchDatabase, startPostgres } from '../devtools/postgres-server';

/** From node_modules/NAME/package.json (pg-cursor's `exports` hide it from require): run from the repo root. */
function versionOf(name: string): string {
  try {
    return (JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}
const DRIVER_VERSIONS = ['pg', 'pg-cursor', 'postgres'].map((name) => `${name} ${versionOf(name)}`).join(', ');

const TABLE_ROWS = 100_000;
const ROWS_PER_TX = 200;
const BULK_ROWS = 100_000;
const BULK_BATCH = 5_000;
const SELECT1_CALLS = 2_000;
const STREAM_BATCH = 1_000;

const SQL = {
  select1: 'SELECT 1',
  counter: 'UPDATE counter SET n = n + 1 WHERE id = $1 RETURNING n',
  rows: 'UPDATE t SET status = $1, seq = $2 + ord FROM unnest($3::bigint[]) WITH ORDINALITY AS u(id, ord) WHERE t.id = u.id',
  bulkUnnest:
    'INSERT INTO bulk (id, phone, name, status) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])',
  stream: 'SELECT id, status, seq, payload FROM t ORDER BY id',
};

interface BulkRow {
  id: number;
  phone: string;
  name: string;
  status: string;
}

/** One connection of one driver, doing each measured operation the way that driver does it best. */
interface Session {
  select1(): Promise<void>;
  /** The measured transaction: bump counter `counterId`, stamp `ids` with the new value. Returns the counter. */
  transaction(counterId: number, status: string, ids: number[]): Promise<number>;
  insertValues(rows: BulkRow[]): Promise<void>;
  insertUnnest(rows: BulkRow[]): Promise<void>;
  /** Reads SQL.stream through a server-side cursor, STREAM_BATCH rows at a time; returns the row count. */
  stream(): Promise<number>;
  end(): Promise<void>;
}

interface Driver {
  name: string;
  open(url: string): Promise<Session>;
}

function valuesSql(rows: number): string {
  const tuples: string[] = [];
  for (let i = 0; i < rows; i++) tuples.push(`($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`);
  return `INSERT INTO bulk (id, phone, name, status) VALUES ${tuples.join(', ')}`;
}

function nodePostgres(prepared: boolean): Driver {
  // Named statements are parsed once per connection; unnamed ones (pg's default) on every call.
  const named = (name: string, text: string, values: unknown[]): pg.QueryConfig =>
    prepared ? { name, text, values } : { text, values };
  return {
    name: prepared ? 'pg (named statements)' : 'pg',
    async open(url) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      let valuesText = '';
      return {
        async select1() {
          await client.query(named('select1', SQL.select1, []));
        },
        async transaction(counterId, status, ids) {
          await client.query('BEGIN');
          try {
            const counter = await client.query<{ n: string }>(named('counter', SQL.counter, [counterId]));
            const n = Number(counter.rows[0]!.n);
            await client.query(named('rows', SQL.rows, [status, n, ids]));
            await client.query('COMMIT');
            return n;
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        },
        async insertValues(rows) {
          if (valuesText === '') valuesText = valuesSql(rows.length);
          await client.query(named('values', valuesText, rows.flatMap((r) => [r.id, r.phone, r.name, r.status])));
        },
        async insertUnnest(rows) {
          const columns = [rows.map((r) => r.id), rows.map((r) => r.phone), rows.map((r) => r.name), rows.map((r) => r.status)];
          await client.query(named('unnest', SQL.bulkUnnest, columns));
        },
        async stream() {
          const cursor = client.query(new Cursor(SQL.stream));
          let count = 0;
          for (let rows = await cursor.read(STREAM_BATCH); rows.length > 0; rows = await cursor.read(STREAM_BATCH)) count += rows.length;
          await cursor.close();
          return count;
        },
        end: () => client.end(),
      };
    },
  };
}

/** The part of porsager's `postgres` (3.x) used here, typed by hand since the package is no longer installed. */
interface PostgresJs {
  <T = Record<string, unknown>[]>(strings: TemplateStringsArray, ...values: unknown[]): Promise<T> & {
    cursor(rows: number): AsyncIterable<unknown[]>;
  };
  (rows: object[], ...columns: string[]): unknown;
  begin<T>(fn: (tx: PostgresJs) => Promise<T>): Promise<T>;
  end(options?: { timeout?: number }): Promise<void>;
}
type PostgresJsFactory = (url: string, options: { max: number; prepare: boolean; onnotice: () => void }) => PostgresJs;

/** porsager's `postgres` when it is installed, else null. */
async function porsagerIfInstalled(): Promise<Driver | null> {
  let factory: PostgresJsFactory;
  try {
    const name = 'postgres'; // a variable: neither tsc nor esbuild need the package to be there
    factory = ((await import(name)) as { default: PostgresJsFactory }).default;
  } catch {
    return null;
  }
  return porsager(factory);
}

const porsager = (postgres: PostgresJsFactory): Driver => ({
  name: 'postgres',
  async open(url) {
    const sql = postgres(url, { max: 1, prepare: true, onnotice: () => {} });
    await sql`SELECT 1`;
    return {
      async select1() {
        await sql`SELECT 1`;
      },
      async transaction(counterId, status, ids) {
        return sql.begin(async (tx) => {
          const [counter] = await tx<{ n: string }[]>`UPDATE counter SET n = n + 1 WHERE id = ${counterId} RETURNING n`;
          const n = Number(counter!.n);
          await tx`UPDATE t SET status = ${status}, seq = ${n} + ord FROM unnest(${ids}::bigint[]) WITH ORDINALITY AS u(id, ord) WHERE t.id = u.id`;
          return n;
        });
      },
      async insertValues(rows) {
        await sql`INSERT INTO bulk ${sql(rows, 'id', 'phone', 'name', 'status')}`;
      },
      async insertUnnest(rows) {
        await sql`INSERT INTO bulk (id, phone, name, status) SELECT * FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.phone)}::text[], ${rows.map((r) => r.name)}::text[], ${rows.map((r) => r.status)}::text[])`;
      },
      async stream() {
        let count = 0;
        for await (const rows of sql`SELECT id, status, seq, payload FROM t ORDER BY id`.cursor(STREAM_BATCH)) count += rows.length;
        return count;
      },
      end: () => sql.end({ timeout: 5 }),
    };
  },
});

// ---------------------------------------------------------------------------------------------------------------

interface Measured {
  select1Median: number;
  select1P99: number;
  commits1: number;
  commits2: number;
  cpu1: number;
  cpu2: number;
  bulkValues: number;
  bulkUnnest: number;
  stream: number;
  streamCpu: number;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

/** The admin connection (pg, simple queries) that resets the tables between measurements: not measured. */
async function admin(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

async function createSchema(url: string): Promise<void> {
  await admin(
    url,
    'CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL)',
    'INSERT INTO counter SELECT g, 0 FROM generate_series(1, 2) g',
    'CREATE TABLE t (id bigint PRIMARY KEY, status text NOT NULL, seq bigint NOT NULL, payload text NOT NULL)',
    `INSERT INTO t SELECT g, 'queued', 0, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, ${TABLE_ROWS}) g`,
    'CREATE TABLE bulk (id bigint PRIMARY KEY, phone text NOT NULL, name text NOT NULL, status text NOT NULL)',
    'VACUUM ANALYZE',
  );
}

/** Client `client` of `clients`, transaction `i`: 200 ids no other client touches at the same time. */
function idsFor(i: number, client: number, clients: number): number[] {
  const start = (((i * clients + client) * ROWS_PER_TX) % TABLE_ROWS) + 1;
  return Array.from({ length: ROWS_PER_TX }, (_, k) => start + k);
}

async function commitsPerSecond(driver: Driver, url: string, clients: number, txPerClient: number): Promise<{ rate: number; cpuPer1000: number }> {
  const sessions = await Promise.all(Array.from({ length: clients }, () => driver.open(url)));
  try {
    for (const [c, session] of sessions.entries()) for (let i = 0; i < 50; i++) await session.transaction(c + 1, 'warm', idsFor(i, c, clients));
    await admin(url, 'VACUUM t', 'CHECKPOINT');
    const cpu = process.cpuUsage();
    const started = now();
    await Promise.all(
      sessions.map(async (session, c) => {
        for (let i = 0; i < txPerClient; i++) await session.transaction(c + 1, `sent-${i % 7}`, idsFor(i, c, clients));
      }),
    );
    const elapsed = now() - started;
    const total = clients * txPerClient;
    return { rate: (total / elapsed) * 1000, cpuPer1000: (cpuMs(cpu) / total) * 1000 };
  } finally {
    await Promise.all(sessions.map((s) => s.end()));
  }
}

function bulkRows(): BulkRow[][] {
  const batches: BulkRow[][] = [];
  for (let b = 0; b < BULK_ROWS / BULK_BATCH; b++) {
    batches.push(
      Array.from({ length: BULK_BATCH }, (_, k) => {
        const id = b * BULK_BATCH + k + 1;
        return { id, phone: `+4915${String(10_000_000 + id)}`, name: `Recipient "${id}", list ${b}`, status: 'queued' };
      }),
    );
  }
  return batches;
}

async function bulkInsertRowsPerSecond(driver: Driver, url: string, mode: 'values' | 'unnest', batches: BulkRow[][]): Promise<number> {
  await admin(url, 'TRUNCATE bulk', 'CHECKPOINT');
  const session = await driver.open(url);
  try {
    const started = now();
    for (const batch of batches) await (mode === 'values' ? session.insertValues(batch) : session.insertUnnest(batch));
    return (BULK_ROWS / (now() - started)) * 1000;
  } finally {
    await session.end();
  }
}

async function latencyAndStream(driver: Driver, url: string): Promise<Pick<Measured, 'select1Median' | 'select1P99' | 'stream' | 'streamCpu'>> {
  const session = await driver.open(url);
  try {
    for (let i = 0; i < 200; i++) await session.select1();
    const latencies: number[] = [];
    for (let i = 0; i < SELECT1_CALLS; i++) {
      const started = now();
      await session.select1();
      latencies.push(now() - started);
    }
    latencies.sort((a, b) => a - b);

    await session.stream(); // warm: the table in shared buffers, the statement planned
    const cpu = process.cpuUsage();
    const started = now();
    const count = await session.stream();
    if (count !== TABLE_ROWS) throw new Error(`${driver.name} streamed ${count} rows, not ${TABLE_ROWS}`);
    const elapsed = now() - started;
    return { select1Median: percentile(latencies, 50), select1P99: percentile(latencies, 99), stream: (count / elapsed) * 1000, streamCpu: cpuMs(cpu) };
  } finally {
    await session.end();
  }
}

/**
 * One run: each measurement taken for every driver back to back (the order rotated by run), so that the load of
 * the machine, which changes by the second on a shared one, weighs on all drivers alike.
 */
async function measureRun(drivers: Driver[], run: number, url: string, txPerClient: number, batches: BulkRow[][]): Promise<Map<string, Measured>> {
  const order = drivers.map((_, k) => drivers[(run + k) % drivers.length]!);
  const partial = new Map<string, Partial<Measured>>(drivers.map((d) => [d.name, {}]));
  const steps: [string, (driver: Driver) => Promise<Partial<Measured>>][] = [
    ['SELECT 1 and cursor stream', (d) => latencyAndStream(d, url)],
    ['transactions, 1 client', async (d) => {
      const { rate, cpuPer1000 } = await commitsPerSecond(d, url, 1, txPerClient);
      return { commits1: rate, cpu1: cpuPer1000 };
    }],
    ['transactions, 2 clients', async (d) => {
      const { rate, cpuPer1000 } = await commitsPerSecond(d, url, 2, txPerClient);
      return { commits2: rate, cpu2: cpuPer1000 };
    }],
    ['bulk insert, VALUES', async (d) => ({ bulkValues: await bulkInsertRowsPerSecond(d, url, 'values', batches) })],
    ['bulk insert, unnest', async (d) => ({ bulkUnnest: await bulkInsertRowsPerSecond(d, url, 'unnest', batches) })],
  ];
  for (const [label, step] of steps) {
    process.stderr.write(`run ${run + 1}: ${label} (load ${loadavg()[0]!.toFixed(1)})\n`);
    for (const driver of order) Object.assign(partial.get(driver.name)!, await step(driver));
  }
  return partial as Map<string, Measured>;
}

function table(drivers: Driver[], results: Map<string, Measured[]>, runs: number): string {
  const lines: { label: string; key: keyof Measured; digits: number }[] = [
    { label: '(a) `SELECT 1` round trip, median (ms)', key: 'select1Median', digits: 3 },
    { label: '(a) `SELECT 1` round trip, p99 (ms)', key: 'select1P99', digits: 3 },
    { label: '(b) commits/s, 1 client', key: 'commits1', digits: 0 },
    { label: '(b) commits/s, 2 clients', key: 'commits2', digits: 0 },
    { label: '(c) Node CPU ms per 1,000 tx, 1 client', key: 'cpu1', digits: 0 },
    { label: '(c) Node CPU ms per 1,000 tx, 2 clients', key: 'cpu2', digits: 0 },
    { label: '(d) bulk insert rows/s, multi-row VALUES', key: 'bulkValues', digits: 0 },
    { label: '(d) bulk insert rows/s, unnest arrays', key: 'bulkUnnest', digits: 0 },
    { label: '(e) cursor stream rows/s', key: 'stream', digits: 0 },
    { label: '(e) Node CPU ms per 100k streamed rows', key: 'streamCpu', digits: 0 },
  ];
  const format = (value: number, digits: number) =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const out = [`| median of ${runs} runs (min–max) | ${drivers.map((d) => d.name).join(' | ')} |`, `| --- |${drivers.map(() => ' --- |').join('')}`];
  for (const { label, key, digits } of lines) {
    const cells = drivers.map((d) => {
      const values = results.get(d.name)!.map((m) => m[key]);
      return `${format(median(values), digits)} (${format(Math.min(...values), digits)}–${format(Math.max(...values), digits)})`;
    });
    out.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values: options } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, tx: { type: 'string', default: '1000' }, url: { type: 'string' } },
  });
  const runs = Number(options.runs);
  const txPerClient = Number(options.tx);
  const given = options.url ?? process.env.TEST_DATABASE_URL;
  const server = given ? null : await startPostgres();
  if (!given && server === null) throw new Error('PostgreSQL not found (no initdb): apt-get install -y postgresql, or pass --url');
  try {
    const url = await createScratchDatabase(given ?? server!.url, 'pg_driver_bench');
    await createSchema(url);
    const batches = bulkRows();
    const porsagerDriver = await porsagerIfInstalled();
    if (porsagerDriver === null) process.stderr.write('postgres (porsager) is not installed: its column is left out (npm i --no-save postgres@3.4.9)\n');
    const drivers = [nodePostgres(false), nodePostgres(true), ...(porsagerDriver ? [porsagerDriver] : [])];
    const results = new Map<string, Measured[]>(drivers.map((d) => [d.name, []]));
    const loadBefore = loadavg()[0]!;
    for (let run = 0; run < runs; run++) {
      for (const [name, measured] of await measureRun(drivers, run, url, txPerClient, batches)) results.get(name)!.push(measured);
    }
    const loadAfter = loadavg()[0]!;
    const version = await (async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const row = (await client.query<{ v: string; fsync: string }>("SELECT current_setting('server_version') AS v, current_setting('fsync') AS fsync")).rows[0]!;
      await client.end();
      return `PostgreSQL ${row.v}, fsync=${row.fsync}`;
    })();
    console.log(
      `${version}; Node ${process.version}; ${cpus().length} cores, 1-min load ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after; ` +
        `${txPerClient} transactions per client in (b); ${DRIVER_VERSIONS}\n`,
    );
    console.log(table(drivers, results, runs));
  } finally {
    await server?.stop();
  }
}

await main();
