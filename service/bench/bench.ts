// `npm run bench`: drives the built service (its own process, SQLite on a temp dir) against the standalone
// simulator (another process) and prints a table: throughput against Meta's limits, CPU per message, intake time and
// memory, webhook intake while sending (webhook-intake-bench.ts) and Sheets API calls of the write-back
// (sheet-writes-bench.ts); then the same intake and throughput measures on PostgreSQL, one and two instances
// (postgres-bench.ts), and the silence after a lease holder's SIGKILL (lease-takeover-bench.ts), against the same
// simulator. `npm run bench -- intake|80|1000|10000|webhooks|sheets` runs one SQLite line,
// `pg-intake|pg-1000|pg-10000` one PostgreSQL line, `takeover` the two takeover lines, `pg` every PostgreSQL line.
// BENCH_SECONDS=N shortens the PostgreSQL throughput windows (default 10 s, as the SQLite lines') for smoke runs.
// BENCH_PG_SOCKET=1 reaches the bench's PostgreSQL through its Unix-domain socket instead of TCP on 127.0.0.1 (as
// Cloud Run reaches Cloud SQL); BENCH_PROFILE=1 writes CPU profiles of the service processes to /tmp/prof.
// With no PostgreSQL binary on the machine the PostgreSQL lines print a row saying so.
// A benchmark, not a test: it prints figures, it asserts nothing.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '../devtools/postgres-server';
import {
  clusterOf, INBOUND_LOAD, intakeVerdict, json, machineCell, measureIntake, measureThroughput, serviceProfileArgs, sleep, startNode, throughputCells,
  throughputVerdict,
  type BenchEnv as Env,
} from './bench-kit';
import { freePort } from './free-port';
import { measureTakeover } from './lease-takeover-bench';
import { measurePostgres, type PostgresLine } from './postgres-bench';
import { measureSheetWrites } from './sheet-writes-bench';
import { measureWebhookIntake } from './webhook-intake-bench';

/** `BENCH_PROFILE=1` writes a CPU profile of the service (every instance of the PostgreSQL lines too) to /tmp/prof. */
function startProcess(script: string, env: NodeJS.ProcessEnv, readyText: string) {
  return startNode(script, script === 'main.js' || script === 'simulator-main.js' ? serviceProfileArgs() : [], env, readyText);
}

const SQLITE_LINES = ['intake', '80', '1000', '10000', 'webhooks', 'sheets'];
const POSTGRES_LINES: Record<string, PostgresLine> = { 'pg-intake': 'intake', 'pg-1000': '1000', 'pg-10000': '10000' };
/** The takeover line's LEASE_TTL_MS values: the default, and the least the service accepts. */
const TAKEOVER_TTLS_MS = [10_000, 3_000];
const TAKEOVER_MPS = 1000;

async function main(): Promise<void> {
  const only = process.argv[2];
  const isSqliteRun = !only || SQLITE_LINES.includes(only);
  const postgresLines = new Set<PostgresLine>(!only || only === 'pg' ? Object.values(POSTGRES_LINES) : only in POSTGRES_LINES ? [POSTGRES_LINES[only]!] : []);
  const takeoverTtls = !only || only === 'pg' || only === 'takeover' ? TAKEOVER_TTLS_MS : [];
  if (!isSqliteRun && postgresLines.size === 0 && takeoverTtls.length === 0) {
    console.error(`no bench line "${only}": ${[...SQLITE_LINES, ...Object.keys(POSTGRES_LINES), 'takeover', 'pg'].join(', ')}`);
    process.exit(2);
  }
  const postgresSeconds = Number(process.env.BENCH_SECONDS ?? 10);
  if (!(postgresSeconds > 0)) throw new Error(`BENCH_SECONDS must be a positive number of seconds: ${process.env.BENCH_SECONDS}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
  const simPort = await freePort();
  const servicePort = await freePort();
  const sim = await startProcess('simulator-main.js', { ...process.env, SIMULATOR_PORT: String(simPort) }, '"url"');
  const simUrl = `http://127.0.0.1:${simPort}`;
  // Inbound traffic as a real campaign meets it while it sends: statuses batched as Meta posts them (sent, delivered,
  // read), and about 10% of recipients reply (17.5% of the 57% who read) and 10% answer STOP (10.5% of the 95%
  // delivered). Each reply and opt-out is a webhook the service applies on the event loop that times the sends.
  // BENCH_QUIET=1: statuses only, no replies (the earlier sessions' setting, for side-by-side comparisons).
  await json('POST', `${simUrl}/__sim/outcomes`, { outcomes: process.env.BENCH_QUIET ? { replyRate: 0 } : INBOUND_LOAD });
  let service: ChildProcess | undefined;
  try {
    const lines: string[] = [];
    if (isSqliteRun) {
      const serviceEnv = {
        ...process.env, DATA_DIR: dataDir, PORT: String(servicePort), GRAPH_API_URL: simUrl, LOG_LEVEL: 'error',
      };
      service = await startProcess('main.js', serviceEnv, '"listening"');
      const env: Env = { simUrl, serviceUrl: `http://127.0.0.1:${servicePort}`, servicePid: service.pid as number, serviceEnv };
      if (!only || only === 'intake') {
        const intake = await measureIntake(env, 100_000);
        lines.push(`| accept 100,000 rows (20 × 5,000) | ${intake.seconds.toFixed(2)} s | peak RSS ${intake.peakRssMb.toFixed(0)} MB `
          + `| ${intakeVerdict(intake)} |`);
      }
      const scenarios: [string, number, number, number][] = [
        ['one sender at 80 msg/s', 80, 1, 10],
        ['one sender at 1,000 msg/s', 1000, 1, 10],
        ['ten senders at 1,000 msg/s', 1000, 10, 10],
      ];
      for (const [label, mps, senders, seconds] of scenarios) {
        if (only && only !== String(senders * mps)) continue;
        const r = await measureThroughput(clusterOf(env), label, mps, senders, seconds);
        lines.push(`| ${r.label} | ${throughputCells(r, senders)} | ${r.cpuMicrosPerMessage.toFixed(0)} µs CPU/msg; ${machineCell(r.machine)}; `
          + `${throughputVerdict(r, senders)} |`);
      }
      if (!only || only === 'webhooks') lines.push(...await measureWebhookIntake(env));
      if (!only || only === 'sheets') lines.push(...await measureSheetWrites(env));
      // The PostgreSQL lines get the cores without it.
      await stopChild(service);
    }
    if (postgresLines.size > 0 || takeoverTtls.length > 0) {
      lines.push(...await measureOnPostgres(simUrl, postgresLines, postgresSeconds, takeoverTtls));
    }
    console.log('\n| scenario | result | detail | |\n|---|---|---|---|');
    for (const line of lines) console.log(line);
  } finally {
    service?.kill('SIGTERM');
    sim.kill('SIGTERM');
    await sleep(500);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The PostgreSQL lines on one throwaway server (a database each), or one row saying why they did not run. */
async function measureOnPostgres(
  simUrl: string, lines: ReadonlySet<PostgresLine>, seconds: number, takeoverTtls: readonly number[],
): Promise<string[]> {
  let server;
  try {
    server = await startPostgres();
  } catch (error) {
    console.error(error);
    return [`| PostgreSQL lines | not run: the PostgreSQL server did not start (${String(error).split('\n')[0]}) | | |`];
  }
  if (!server) return ['| PostgreSQL lines | not run: no PostgreSQL binary found (initdb, postgres) | | |'];
  try {
    const out = lines.size > 0 ? await measurePostgres(server, simUrl, lines, seconds) : [];
    for (const ttlMs of takeoverTtls) out.push(await measureTakeover(server, simUrl, ttlMs, TAKEOVER_MPS));
    return out;
  } finally {
    await server.stop();
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
