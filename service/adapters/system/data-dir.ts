// The data directory: the database, the generated SECRET_KEY and the single-process lock live here.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/**
 * One sending process per data directory (listmonk's single processor): two would each pace to the full rate and
 * could both claim a row. A lock left by a killed process is taken over when its pid is gone.
 */
export function acquireProcessLock(dataDir: string): () => void {
  const path = join(dataDir, 'service.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // Already gone.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(`Another service (pid ${pid}) is running on ${dataDir}. Stop it first.`);
      }
      unlinkSync(path);
    }
  }
  throw new Error(`Could not take the lock in ${dataDir}.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
