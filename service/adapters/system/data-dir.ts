// The data directory: the database, the generated SECRET_KEY and the single-process lock live here.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function ensureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}

/** SECRET_KEY from the environment, else the one generated into the data directory on first start (mode 0600). */
export function loadOrCreateSecretKey(dataDir: string, fromEnv: string | undefined, generate: () => string): string {
  if (fromEnv) return fromEnv;
  const path = join(dataDir, 'secret.key');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const key = generate();
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/** The SQLite connection holding each data directory's lock in this process, by lock file path. */
const heldLocks = new Map<string, Database.Database>();

/**
 * One sending process per data directory (listmonk's single processor): two would each pace to the full rate and
 * could both claim a row. The lock is SQLite's own POSIX advisory lock (fcntl) on `service.lock`, an exclusive
 * transaction kept open on an empty database, so the kernel drops it the moment the holder dies (at exit, before it
 * is even reaped): a restart right after a SIGKILL, a zombie or a reused pid never finds it taken. With no busy wait a
 * second process fails at once; a second call in this process fails too, until the first is released.
 * `service.pid` names the holder for the error message only. A `service.lock` that is not a database (the pid file
 * of older versions) is emptied in place, never unlinked, so every process always locks the same file.
 * Nothing else in the process may open `service.lock`: closing any descriptor of it drops the process's lock.
 *
 * @returns the release: it closes the connection (dropping the lock) and removes `service.pid`; calling it twice
 *   does nothing.
 * @throws Error `Another service … is running on <dataDir>. Stop it first.` while another process (or this one)
 *   holds the lock.
 */
export function acquireProcessLock(dataDir: string): () => void {
  const path = resolve(dataDir, 'service.lock');
  const pidPath = join(dataDir, 'service.pid');
  if (heldLocks.has(path)) {
    throw new Error(`Another service (this process, pid ${process.pid}) is running on ${dataDir}. Stop it first.`);
  }
  const db = lockDatabase(path, dataDir, pidPath);
  heldLocks.set(path, db); // Also keeps the connection from being collected, which would close it.
  const release = () => {
    if (heldLocks.get(path) !== db) return;
    // The pid file goes first: once the lock is dropped, the next holder's pid file must stay.
    rmSync(pidPath, { force: true });
    heldLocks.delete(path);
    db.close();
  };
  try {
    writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  } catch (error) {
    release();
    throw error;
  }
  return release;
}

function lockDatabase(path: string, dataDir: string, pidPath: string): Database.Database {
  for (let attempt = 0; ; attempt++) {
    const db = new Database(path, { timeout: 0 });
    try {
      db.pragma('journal_mode = MEMORY'); // No service.lock-journal beside it.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE'); // Kept open; nothing is ever written, so the file stays empty.
      return db;
    } catch (error) {
      db.close();
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        const pid = readHolderPid(pidPath);
        throw new Error(`Another service${pid ? ` (pid ${pid})` : ''} is running on ${dataDir}. Stop it first.`);
      }
      // SQLite read the file under its shared lock, so nobody held it: an old pid file, or garbage. Emptied in
      // place (an empty file is an empty database); a racing process that locked it meanwhile keeps its lock.
      if (attempt === 0 && (code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')))) {
        truncateSync(path, 0);
        continue;
      }
      throw error;
    }
  }
}

function readHolderPid(pidPath: string): number | null {
  try {
    const pid = Number(readFileSync(pidPath, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
