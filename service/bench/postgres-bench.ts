// `npm run bench -- pg` (with the takeover lines, lease-takeover-bench.ts) or `pg-intake|pg-1000|pg-10000`: the
// SQLite lines' measures on PostgreSQL, against the same simulator. One database on the bench's throwaway server:
//   - 100,000 rows accepted (20 × 5,000) by one instance: time, the instance's peak RSS, PostgreSQL's CPU meanwhile;
//   - one sender at 1,000 msg/s on that instance;
//   - ten senders at 1,000 msg/s on two instances (a second one joins). Sender i's webhooks, campaign, rows and start
//     go to instance i mod 2, as a round-robin load balancer would send them; which instance then holds each sender's
//     lease is the engine's doing (each takes at most its fair share of the senders with work; the other's scan
//     takes the rest), read from sender_leases after the warm-up and again at the window's end.
// CPU per message: the service instances' and, apart, PostgreSQL's (every process of the server, see
// PostgresCluster.serverCpuMicros), over the same window, divided by the messages the simulator accepted in it.
import type { PostgresServer } from '../devtools/postgres-server';
import {
  intakeVerdict, machineCell, measureIntake, measureThroughput, throughputCells, throughputVerdict, verdict,
  type ThroughputResult,
} from './bench-kit';
import { PostgresCluster, type LeaseRow } from './postgres-cluster';

export type PostgresLine = 'intake' | '1000' | '10000';

export async function measurePostgres(
  server: PostgresServer, simUrl: string, lines: ReadonlySet<PostgresLine>, seconds: number,
): Promise<string[]> {
  const out: string[] = [];
  const cluster = await PostgresCluster.open(server, 'bench', simUrl);
  try {
    const first = await cluster.addInstance();
    if (lines.has('intake')) {
      const cpuBefore = cluster.serverCpuMicros();
      const intake = await measureIntake(cluster.benchEnv(first), 100_000);
      const serverCpuS = (cluster.serverCpuMicros() - cpuBefore) / 1e6;
      out.push(`| PostgreSQL: accept 100,000 rows (20 × 5,000) | ${intake.seconds.toFixed(2)} s `
        + `| peak RSS ${intake.peakRssMb.toFixed(0)} MB (service); PostgreSQL CPU ${serverCpuS.toFixed(2)} s | ${intakeVerdict(intake)} |`);
    }
    if (lines.has('1000')) {
      const r = await measureThroughput(cluster.asServiceCluster(), 'PostgreSQL: one sender at 1,000 msg/s (one instance)', 1000, 1, seconds);
      out.push(`| ${r.label} | ${throughputCells(r, 1)} | ${cpuCell(r)}; ${throughputVerdict(r, 1)} |`);
    }
    if (lines.has('10000')) {
      await cluster.addInstance();
      const spreads: string[] = [];
      const r = await measureThroughput(cluster.asServiceCluster(), 'PostgreSQL: ten senders at 1,000 msg/s over two instances',
        1000, 10, seconds, async (accountIds, moment) => {
          spreads.push(`${moment} ${spread(cluster, accountIds, await cluster.leases(accountIds))}`);
        });
      out.push(`| ${r.label} | ${throughputCells(r, 10)}; leases ${spreads.join('; ')} | ${cpuCell(r)}; `
        + `target ≥ 5,000 msg/s: ${verdict(r.achieved >= 5000)} |`);
    }
  } finally {
    await cluster.close();
  }
  return out;
}

function cpuCell(r: ThroughputResult): string {
  const database = r.databaseCpuMicrosPerMessage === null ? 'n/a' : r.databaseCpuMicrosPerMessage.toFixed(0);
  return `service ${r.cpuMicrosPerMessage.toFixed(0)} + PostgreSQL ${database} µs CPU/msg; ${machineCell(r.machine)}`;
}

/**
 * `instance 1 holds 5, instance 2 holds 5`, a bold warning when one instance holds them all, and what became of the
 * leases neither holds (no row yet, released: holder '', expired, held by a process that is not ours).
 */
function spread(cluster: PostgresCluster, accountIds: readonly string[], leases: readonly LeaseRow[]): string {
  const live = leases.filter((l) => l.holder !== '' && l.msLeft > 0);
  const counts = cluster.instances.map((i) => live.filter((l) => l.instance === i).length);
  const others: string[] = [];
  const missing = accountIds.length - leases.length;
  if (missing > 0) others.push(`${missing} without a lease row`);
  const released = leases.filter((l) => l.holder === '').length;
  if (released > 0) others.push(`${released} released`);
  const expired = leases.filter((l) => l.holder !== '' && l.msLeft <= 0).length;
  if (expired > 0) others.push(`${expired} expired`);
  const strangers = live.filter((l) => l.instance === null).length;
  if (strangers > 0) others.push(`${strangers} held by another process`);
  const tail = others.length > 0 ? `, not held: ${others.join(', ')}` : '';
  const sole = counts.findIndex((n) => n === accountIds.length);
  if (sole >= 0) return `**did not spread: instance ${sole + 1} holds all ${accountIds.length}**`;
  // Sender i's webhooks go to instance i mod n (measureThroughput); applied elsewhere, they wait for its holder's
  // commits on the account's lock.
  const atHome = accountIds.filter((id, i) => live.find((l) => l.accountId === id)?.instance === cluster.instances[i % cluster.instances.length]).length;
  return `${counts.map((n, i) => `instance ${i + 1} holds ${n}`).join(', ')}${tail} (${atHome} where their webhooks arrive)`;
}
