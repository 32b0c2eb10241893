// The little of a PostgreSQL driver the store uses: a pool, one-connection sessions, transactions with a retry on
// deadlock or serialization failure, and server-side cursors (DECLARE … CURSOR / FETCH, plain SQL, so the cursor
// works the same under any driver). node-postgres (`pg`) is the only driver import of the adapter: it lives here.
//
// Never logs: errors carry PostgreSQL's message and code, never the statement's parameters (pg does not put them on
// its errors either), so secrets and phone numbers in parameters cannot reach a log through this layer.
import { createHash } from 'node:crypto';
import pg from 'pg';

export type Row = Record<string, unknown>;

export interface SqlResult<R> {
  rows: R[];
  /** Rows the statement touched (INSERT/UPDATE/DELETE) or returned (SELECT). */
  rowCount: number;
  /** The command tag's verb: 'COMMIT', or 'ROLLBACK' when COMMIT found the transaction already failed. */
  command: string;
}

/** Anything that runs one parameterised statement: the pool (any connection, autocommit) or one session. */
export interface Sql {
  query<R = Row>(text: string, params?: readonly unknown[]): Promise<SqlResult<R>>;
}

/** One connection taken from the pool; `release` gives it back (`broken`: its state is unknown, close it). */
export interface SqlSession extends Sql {
  release(broken?: boolean): void;
}

export interface SqlPool extends Sql {
  connect(): Promise<SqlSession>;
  end(): Promise<void>;
}

export interface PoolOptions {
  /** Connections at most (default 10). Instances × size must stay under the server's max_connections. */
  size?: number;
  /** Longest wait for a connection before the call fails (default 15 s). */
  connectTimeoutMs?: number;
  /** An idle connection failed (server restart, network); the pool replaces it. Default: ignored. */
  onIdleError?: (error: Error) => void;
}

/** BIGINT (int8, oid 20) as a JS number: ids, seq and ms timestamps stay far below 2^53. pg gives strings. */
const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** No transaction of the store waits this long between two statements unless the process is frozen. */
const IDLE_IN_TRANSACTION_MS = 2000;

export function createPool(url: string, options: PoolOptions = {}): SqlPool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.size ?? 10,
    types: TYPES,
    // Waiting longer than this for a connection (server unreachable, or every pooled one busy) fails the call.
    connectionTimeoutMillis: options.connectTimeoutMs ?? 15_000,
    // TCP keep-alive: a connection whose peer vanished (failover, NAT timeout) is noticed instead of hanging.
    keepAlive: true,
    // A process frozen inside a transaction (GC pause, SIGSTOP, a stopped VM) would hold its account lock and its
    // lease row FOR SHARE, and no other instance could take the lease over until it woke. The server ends such a
    // session after this long; the frozen process then finds its connection gone and its lease taken.
    options: `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
  });
  // Without a listener an idle client's error would be thrown from the pool's EventEmitter and end the process.
  pool.on('error', (error) => options.onIdleError?.(error));
  let ending: Promise<void> | null = null;
  return {
    query: (text, params) => run(pool, text, params),
    async connect() {
      const client = await pool.connect();
      // A connection that dies while checked out emits 'error' on the client (the pool listens only while it is
      // idle): unheard, that would end the process. The statement in flight rejects anyway; the next one fails, and
      // the session is released as broken.
      let isBroken = false;
      const onError = () => (isBroken = true);
      client.on('error', onError);
      let isReleased = false;
      return {
        query: (text, params) => run(client, text, params),
        release(broken = false) {
          if (isReleased) return;
          isReleased = true;
          client.off('error', onError);
          client.release(broken || isBroken ? true : undefined);
        },
      };
    },
    end: () => (ending ??= pool.end()),
  };
}

async function run<R>(target: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]): Promise<SqlResult<R>> {
  // A statement with parameters is prepared once per connection (a named statement): PostgreSQL parses and plans
  // the send path's CTEs once instead of at every call. Statement texts are constants here, so the names are few.
  const result = params && params.length > 0
    ? await target.query({ name: statementName(text), text, values: params as unknown[] })
    : await target.query(text, params as unknown[] | undefined);
  return { rows: result.rows as R[], rowCount: result.rowCount ?? 0, command: result.command };
}

const statementNames = new Map<string, string>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `s${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** SQLSTATEs after which the whole transaction may simply run again: it was rolled back and nothing happened. */
const RETRYABLE = new Set(['40P01' /* deadlock_detected */, '40001' /* serialization_failure */]);
const MAX_ATTEMPTS = 3;

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `fn` in one transaction on one connection and resolves with its value once COMMIT has succeeded. Rejects
 * (nothing happened) when `fn` throws (with its error, once rolled back; with the connection's error when even the
 * ROLLBACK failed), when COMMIT fails or turns into a ROLLBACK, or when the connection breaks; a
 * deadlock or serialization failure is run again (from the start, so `fn` must not keep state between attempts).
 * A broken COMMIT is ambiguous: it may have committed. It is not retried, and the caller treats it as not done.
 */
export async function inTransaction<T>(pool: SqlPool, fn: (sql: Sql) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const session = await pool.connect();
    let isBroken = false;
    try {
      await session.query(begin);
      let value: T;
      try {
        value = await fn(session);
      } catch (error) {
        try {
          await session.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is gone: that, not the statement's own error, is why the transaction failed.
          isBroken = true;
          throw rollbackError;
        }
        throw error;
      }
      let commit: SqlResult<Row>;
      try {
        commit = await session.query('COMMIT');
      } catch (error) {
        isBroken = true;
        throw error;
      }
      if (commit.command !== 'COMMIT') throw new Error(`The transaction was rolled back at COMMIT (${commit.command}).`);
      return value;
    } catch (error) {
      if (isBroken || attempt >= MAX_ATTEMPTS || !RETRYABLE.has(sqlState(error) ?? '')) throw error;
    } finally {
      session.release(isBroken);
    }
  }
}

/**
 * Runs `fn` in a savepoint: when it throws, only its changes are undone and its error is the result. Rejects only
 * when the savepoint itself cannot be set or undone (the connection broke): then the whole transaction fails.
 */
export async function inSavepoint<T>(sql: Sql, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  await sql.query('SAVEPOINT write');
  let value: T;
  try {
    value = await fn();
  } catch (error) {
    await sql.query('ROLLBACK TO SAVEPOINT write');
    await sql.query('RELEASE SAVEPOINT write');
    return { ok: false, error };
  }
  await sql.query('RELEASE SAVEPOINT write');
  return { ok: true, value };
}

let cursorCount = 0;

/**
 * The rows of `text`, read through a server-side cursor `batchRows` at a time: only one batch is in memory. Must run
 * inside a transaction on `session` (a cursor lives until COMMIT). `isOpen` is asked before each FETCH, so a caller
 * that closed the session ends the iteration instead of fetching on a connection it gave back.
 */
export async function* cursorRows<R = Row>(
  session: Sql, text: string, params: readonly unknown[], batchRows: number, isOpen: () => boolean,
): AsyncGenerator<R> {
  // The name is ours, never the caller's: identifiers cannot be parameters.
  const name = `export_cursor_${++cursorCount}`;
  await session.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${text}`, params);
  try {
    for (;;) {
      if (!isOpen()) return;
      const { rows } = await session.query<R>(`FETCH ${batchRows} FROM ${name}`);
      for (const row of rows) yield row;
      if (rows.length < batchRows) return;
    }
  } finally {
    if (isOpen()) await session.query(`CLOSE ${name}`);
  }
}
