// The single-process lock of a data directory (acquireProcessLock) against real child processes: the real function,
// bundled on the fly with esbuild, holds or tries the lock in a child; the kernel must drop it when that child dies.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireProcessLock } from '../../../../service/adapters/system/data-dir';

const REPO = resolve(import.meta.dirname, '../../../..');

// The child: `hold DIR` takes the lock, says `locked`, and on a `release` line releases it and says `released`;
// `try DIR` takes and releases the lock, saying `acquired`. A failed acquire says `error <message>` and exits 1.
const CHILD_SOURCE = `
import { createInterface } from 'node:readline';
import { acquireProcessLock } from './service/adapters/system/data-dir';
const [mode, dir] = process.argv.slice(1);
let release: () => void;
try {
  release = acquireProcessLock(dir!);
} catch (error) {
  console.log('error ' + (error as Error).message);
  process.exit(1);
}
if (mode === 'try') {
  release();
  console.log('acquired');
  process.exit(0);
}
console.log('locked');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'release') { release(); console.log('released'); }
});
`;

let childCode: string;
beforeAll(async () => {
  const result = await build({
    stdin: { contents: CHILD_SOURCE, resolveDir: REPO, loader: 'ts', sourcefile: 'lock-child.ts' },
    bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['better-sqlite3'], write: false,
    logLevel: 'silent',
  });
  childCode = result.outputFiles[0]!.text;
});

interface Child { process: ChildProcessWithoutNullStreams; nextLine: () => Promise<string> }

const children: Child[] = [];
const releases: (() => void)[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.process.kill('SIGKILL');
  for (const release of releases.splice(0)) release();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'process-lock-'));
  dirs.push(dir);
  return dir;
}

function acquire(dir: string): () => void {
  const release = acquireProcessLock(dir);
  releases.push(release);
  return release;
}

/** The child runs from the repository's root, so its `import 'better-sqlite3'` resolves from node_modules. */
function startChild(mode: 'hold' | 'try', dir: string): Child {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childCode, mode, dir], { cwd: REPO });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += String(chunk); });
  const nextLine = () => new Promise<string>((resolveLine, reject) => {
    const line = lines.shift();
    if (line !== undefined) return resolveLine(line);
    waiting.push(resolveLine);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before a line: ${stderr}`)));
  });
  const started = { process: child, nextLine };
  children.push(started);
  return started;
}

async function holdInChild(dir: string): Promise<Child> {
  const child = startChild('hold', dir);
  expect(await child.nextLine()).toBe('locked');
  return child;
}

async function tryInChild(dir: string): Promise<string> {
  return startChild('try', dir).nextLine();
}

function exited(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolveExit) => child.process.once('exit', () => resolveExit()));
}

const busyError = (dir: string, pid: number) => `Another service (pid ${pid}) is running on ${dir}. Stop it first.`;

describe('acquireProcessLock', () => {
  it('a live holder in another process makes acquire throw the clear error, naming its pid', async () => {
    const dir = newDataDir();
    const holder = await holdInChild(dir);

    expect(() => acquireProcessLock(dir)).toThrow(busyError(dir, holder.process.pid!));
  });

  it('another process cannot take the lock this process holds', async () => {
    const dir = newDataDir();
    acquire(dir);

    expect(await tryInChild(dir)).toBe(`error ${busyError(dir, process.pid)}`);
  });

  it('after the holder is SIGKILLed, a restart takes the lock at once', async () => {
    const dir = newDataDir();
    const holder = await holdInChild(dir);
    holder.process.kill('SIGKILL');
    await exited(holder);

    // One try, no waiting: the dead holder's service.pid is still there and does not matter.
    expect(readFileSync(join(dir, 'service.pid'), 'utf8').trim()).toBe(String(holder.process.pid));
    acquire(dir);
    expect(readFileSync(join(dir, 'service.pid'), 'utf8').trim()).toBe(String(process.pid));
  });

  it.skipIf(!existsSync('/proc/self/stat'))('a SIGKILLed holder not yet reaped by its parent (a zombie) holds nothing', async () => {
    const dir = newDataDir();
    const holder = await holdInChild(dir);
    const pid = holder.process.pid!;
    const isZombie = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') === true
      && readdirSync(`/proc/${pid}/task`).length === 1;

    holder.process.kill('SIGKILL');
    // Spun synchronously, so this process's event loop cannot reap the child meanwhile.
    const deadline = Date.now() + 10_000;
    while (!isZombie()) if (Date.now() > deadline) throw new Error('the child did not die');
    acquire(dir);
    expect(isZombie()).toBe(true);
  });

  it('release closes the lock so that another process takes it, while the releaser lives on', async () => {
    const dir = newDataDir();
    const holder = await holdInChild(dir);
    holder.process.stdin.write('release\n');
    expect(await holder.nextLine()).toBe('released');

    const release = acquire(dir);
    expect(holder.process.exitCode).toBeNull();
    release();
    expect(existsSync(join(dir, 'service.pid'))).toBe(false);
    expect(await tryInChild(dir)).toBe('acquired');
  });

  it('a second acquire in the same process fails until the first is released, then succeeds', () => {
    const dir = newDataDir();
    const release = acquire(dir);

    expect(() => acquireProcessLock(dir)).toThrow(`is running on ${dir}. Stop it first.`);
    release();
    release(); // A second call does nothing.
    acquire(dir);
  });

  it('an old-style pid file naming a live (reused) pid does not block startup, and becomes the lock', async () => {
    const dir = newDataDir();
    writeFileSync(join(dir, 'service.lock'), String(process.ppid));

    acquire(dir);
    expect(await tryInChild(dir)).toBe(`error ${busyError(dir, process.pid)}`);
    expect(readdirSync(dir).sort()).toEqual(['service.lock', 'service.pid']);
  });
});
