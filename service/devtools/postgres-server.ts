// A throwaway PostgreSQL server for tests, benches and `npm run start:postgres`: initdb into a temp folder, start `postgres` on a free loopback
// port, create a database, hand back its URL. Quiet on success; on failure the error carries the server's log.
//
// The server refuses to run as root. When we are root the data folder is given to the `postgres` user and initdb and
// postgres are spawned with that user's uid/gid (Node's spawn options, which also drop root's groups). Not through
// `runuser`: its watching parent turns our SIGINT (fast shutdown) into SIGTERM (smart shutdown, which waits for every
// client to leave) and prints "Session terminated, killing shell...". When we are not root everything runs as us.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from '../bench/free-port';

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/DBNAME, trust authentication, no password. */
  url: string;
  /** The same server through its Unix-domain socket (`?host=` the socket's folder), as Cloud Run reaches Cloud SQL. */
  socketUrl: string;
  /** Fast shutdown (SIGINT), wait for the server to exit, remove its temp folder. Safe to call twice. */
  stop(): Promise<void>;
}

const DEFAULT_DATABASE = 'test';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** The folder holding initdb and postgres, or null: /usr/lib/postgresql/<highest>/bin, then `pg_config --bindir`, then PATH. */
export function findPostgresBinDir(): string | null {
  const hasServer = (dir: string) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres'));
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v) && hasServer(join(root, v, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dir && hasServer(dir)) return dir;
  } catch {
    // no pg_config: try PATH
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !isExecutable(join(dir, 'initdb'))) continue;
    // /usr/local/bin/initdb may be a lone symlink: the server binaries sit beside its target.
    const real = dirname(realpathSync(join(dir, 'initdb')));
    if (hasServer(real)) return real;
    if (hasServer(dir)) return dir;
  }
  return null;
}

/** Starts a server, or returns null when no PostgreSQL binary is installed. Throws when one is found but fails. */
export async function startPostgres(): Promise<PostgresServer | null> {
  const binDir = findPostgresBinDir();
  if (binDir === null) return null;

  const owner = serverOwner();
  const base = makeTempDir(owner);
  const dataDir = join(base, 'data');
  const logFile = join(base, 'postgres.log');
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  try {
    await run(join(binDir, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], {
      cwd: base,
      ...asOwner,
    });
    let started: { child: ChildProcess; port: number } | undefined;
    for (let attempt = 1; started === undefined; attempt++) {
      const port = await freePort();
      try {
        started = { child: await startServer(binDir, dataDir, base, logFile, port, asOwner), port };
      } catch (error) {
        // Another process may have taken the free port between freePort() and postgres' bind: try another.
        if (attempt >= 3 || !/could not bind|already in use|could not create any TCP\/IP sockets/i.test(readLog(logFile))) throw error;
      }
    }
    const { child, port } = started;
    const stop = stopper(child, base);
    try {
      await run(join(binDir, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', DEFAULT_DATABASE], { cwd: base });
    } catch (error) {
      await stop();
      throw error;
    }
    return {
      url: `postgres://postgres@127.0.0.1:${port}/${DEFAULT_DATABASE}`,
      socketUrl: `postgres://postgres@localhost:${port}/${DEFAULT_DATABASE}?host=${encodeURIComponent(base)}`,
      stop,
    };
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Drops (if present) and creates database `name` on the server of `url`; returns the URL of the new database.
 * One database per test file keeps files that run in parallel apart.
 */
export async function createScratchDatabase(url: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`database name must match [a-z_][a-z0-9_]{0,62}: ${name}`);
  // Through the driver, not psql: TEST_DATABASE_URL may name a server on a machine without the client tools.
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {}); // a server going away mid-call rejects the query below; no unhandled 'error' event
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const scratch = new URL(url);
  scratch.pathname = `/${name}`;
  return scratch.toString();
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** When we are root: the `postgres` user's ids, which the server must run as. Otherwise null (run as ourselves). */
function serverOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root and there is no `postgres` user: PostgreSQL refuses to run as root (useradd -r postgres, or run as another user)');
  }
}

function makeTempDir(owner: { uid: number; gid: number } | null): string {
  // As root, TMPDIR may be a folder the postgres user cannot reach; /tmp always is.
  for (const parent of owner ? [...new Set([tmpdir(), '/tmp'])] : [tmpdir()]) {
    const dir = mkdtempSync(join(parent, 'pg-test-'));
    if (!owner) return dir;
    chownSync(dir, owner.uid, owner.gid);
    try {
      execFileSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(dir)}, require('fs').constants.W_OK)`], {
        uid: owner.uid,
        gid: owner.gid,
        stdio: 'ignore',
      });
      return dir;
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error('no temp folder that the postgres user can write');
}

async function startServer(
  binDir: string,
  dataDir: string,
  socketDir: string,
  logFile: string,
  port: number,
  asOwner: { uid?: number; gid?: number },
): Promise<ChildProcess> {
  // The log goes to a file, not a pipe: nobody would drain a pipe and a full one would stall the server.
  const log = openSync(logFile, 'a');
  const args = ['-D', dataDir, '-p', String(port), '-k', socketDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', '-c', 'max_connections=200'];
  let child: ChildProcess;
  try {
    child = spawn(join(binDir, 'postgres'), args, { cwd: socketDir, stdio: ['ignore', log, log], ...asOwner });
  } finally {
    closeSync(log);
  }
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `postgres exited (${signal ?? code}) before accepting connections`));
  child.once('error', (error) => (exited = `could not run postgres: ${error.message}`));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await acceptsConnections(binDir, dataDir, port))) {
    if (exited !== null) throw new Error(`${exited}\n${readLog(logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms\n${readLog(logFile)}`);
    }
    await sleep(50);
  }
  // Should the test process die without calling stop(), do not leave a server behind: an immediate shutdown when
  // Node exits, and for a death that runs no exit handler (SIGKILL, a killed process group) a detached watchdog
  // that stops the server and removes its folder once this process is gone.
  const onExit = () => child.kill('SIGQUIT');
  process.once('exit', onExit);
  const watchdog = spawn('sh', ['-c', WATCHDOG, 'pg-watchdog', String(process.pid), String(child.pid), dirname(dataDir)], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  child.once('exit', () => {
    process.off('exit', onExit);
    watchdog.kill('SIGKILL');
  });
  return child;
}

/** sh -c WATCHDOG _ PARENT_PID SERVER_PID FOLDER: waits for PARENT to go, then fast-stops SERVER and removes FOLDER. */
const WATCHDOG = [
  'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
  'kill -INT "$2" 2>/dev/null',
  'n=0; while kill -0 "$2" 2>/dev/null && [ "$n" -lt 150 ]; do sleep 0.1; n=$((n+1)); done',
  'kill -0 "$2" 2>/dev/null && kill -KILL "$2"',
  'rm -rf "$3"',
].join('\n');

/** pg_isready when it is installed; otherwise the postmaster.pid status line, which reads "ready" once it accepts. */
async function acceptsConnections(binDir: string, dataDir: string, port: number): Promise<boolean> {
  const pgIsReady = join(binDir, 'pg_isready');
  if (isExecutable(pgIsReady)) {
    try {
      await run(pgIsReady, ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '1'], {});
      return true;
    } catch {
      return false;
    }
  }
  try {
    return readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[7]?.trim() === 'ready';
  } catch {
    return false;
  }
}

function stopper(child: ChildProcess, base: string): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(base, { recursive: true, force: true });
    })());
}

/** Runs a command to completion, quietly; rejects with its output when it fails. */
function run(file: string, args: string[], options: { cwd?: string; uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(new Error(`could not run ${file}: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${file} ${args.join(' ')} failed (${signal ?? code})\n${output.trim()}`));
    });
  });
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
