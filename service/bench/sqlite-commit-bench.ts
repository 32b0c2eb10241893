// What one SQLite group commit costs, alone: a SqliteStore on a database file in the temp dir, 3,000 writeBatch calls
// one after another, each two webhook bodies of 1.5 KB (the group commit's smallest real batch), and this process's
// CPU (all threads: libuv's pool runs the WAL's fsync) and wall time per commit. Three rounds.
// A benchmark, not a test: it prints figures, it asserts nothing.
//
//   npx esbuild service/bench/sqlite-commit-bench.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=dist/bench/sqlite-commit-bench.js && node dist/bench/sqlite-commit-bench.js
//
// To compare two commits, build it in a worktree of each (with node_modules linked) and run them in turn.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../adapters/sqlite/sqlite-store';
import type { BatchWrite } from '../campaigns/ports';

const COMMITS = 3000;
const WARMUP_COMMITS = 300;
const ROUNDS = 3;
const BODY = Buffer.alloc(1500, 'x');

function batch(nowMs: number): BatchWrite[] {
  return [0, 1].map(() => ({ kind: 'save_webhook', accountId: 'bench', body: BODY, nowMs }));
}

async function round(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'commit-bench-'));
  const store = new SqliteStore(join(dir, 'campaigns.db'), { encrypt: (s) => s, decrypt: (s) => s });
  try {
    for (let i = 0; i < WARMUP_COMMITS; i++) await store.writeBatch(batch(i));
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    for (let i = 0; i < COMMITS; i++) await store.writeBatch(batch(i));
    const used = process.cpuUsage(cpu);
    const wallMicros = (performance.now() - startedAt) * 1000;
    const per = (micros: number) => (micros / COMMITS).toFixed(0);
    return `${per(used.user + used.system)} µs CPU per commit (user ${per(used.user)}, system ${per(used.system)}), `
      + `${per(wallMicros)} µs wall per commit`;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`SQLite group commit, ${COMMITS} commits of 2 × 1.5 KB, one after another, in ${tmpdir()}:`);
  for (let i = 1; i <= ROUNDS; i++) console.log(`  round ${i}: ${await round()}`);
}

void main();
