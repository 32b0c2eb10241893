// What every bench scenario shares: child processes, JSON over HTTP, real (non-sandbox) accounts registered at the
// standalone simulator with a known app secret, recipients outside the simulator's fixed-outcome numbers,
// percentiles and /proc CPU and memory; and the two measures run on SQLite and on PostgreSQL alike: throughput
// (measureThroughput) and intake (measureIntake). All of it is bundled into dist/service/bench.js.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** dist/service once bundled: where main.js, account-cli.js and simulator-main.js are. */
export const DIST = import.meta.dirname;
const CLOCK_TICKS_PER_SECOND = 100;

/** The running simulator and service a scenario drives (bench.ts's `Env`). */
export interface BenchEnv {
  simUrl: string;
  serviceUrl: string;
  servicePid: number;
  serviceEnv: NodeJS.ProcessEnv;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The simulator's outcome rates for the throughput lines (see bench.ts main): about 10% of recipients reply (17.5% of
 * the 57% who read) and 10% answer STOP (10.5% of the 95% delivered).
 */
export const INBOUND_LOAD = { replyRate: 0.175, optOutRate: 0.105 };

/** `BENCH_PROFILE=1`: the node arguments that write a CPU profile of a service process to /tmp/prof at its exit. */
export function serviceProfileArgs(): string[] {
  return process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
}

/** Starts `node [nodeArgs] dist/service/<script>` and resolves once its stdout shows `readyText`. */
export function startNode(script: string, nodeArgs: string[], env: NodeJS.ProcessEnv, readyText: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(DIST, script)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(readyText)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}): ${out}`)));
  });
}

export async function json(method: string, url: string, body?: unknown, key?: string): Promise<any> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 400) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export interface BenchAccount {
  accountId: string;
  apiKey: string;
  phoneNumberId: string;
  wabaId: string;
  /** Signs the webhooks of this account (the simulator's and a load generator's). */
  appSecret: string;
}

let accountSeq = 0;
/**
 * Creates a real-credential account in the service of `env` (account CLI on its DATA_DIR) and registers its number
 * at the simulator with the service's webhook URL. Ids start with 79 so they never meet bench.ts's (70…).
 */
export async function makeAccount(env: Pick<BenchEnv, 'simUrl' | 'serviceUrl' | 'serviceEnv'>, mps: number): Promise<BenchAccount> {
  accountSeq++;
  const phoneNumberId = `7900${accountSeq}`;
  const wabaId = `8900${accountSeq}`;
  const accessToken = `kit-token-${accountSeq}`;
  const appSecret = `kit-secret-${accountSeq}`;
  // Not spawnSync: this process may be serving a fake (Sheets API) whose request times must not stall meanwhile.
  const { stdout } = await execFileAsync(process.execPath, [join(DIST, 'account-cli.js'), 'create', '--name', `kit${accountSeq}`,
    '--phone-number-id', phoneNumberId, '--waba-id', wabaId, '--access-token', accessToken, '--app-secret', appSecret,
    '--verify-token', 'v', '--mps', String(mps), '--daily-limit', 'unlimited'], { env: env.serviceEnv, encoding: 'utf8' });
  const { accountId, apiKey } = JSON.parse(stdout) as { accountId: string; apiKey: string };
  await json('POST', `${env.simUrl}/__sim/numbers`, {
    phoneNumberId, wabaId, accessToken, appSecret,
    webhookUrl: `${env.serviceUrl}/webhooks/whatsapp/${accountId}`, messagesPerSecond: mps,
  });
  return { accountId, apiKey, phoneNumberId, wabaId, appSecret };
}

let recipientSeq = 0;
/**
 * The next distinct Brazilian mobile (+55 11 96…), never ending in 0001–0013: the simulator gives those fixed
 * outcomes (failures, replies, opt-outs, the username user), and a bench row must follow the configured rates instead.
 */
export function nextRecipient(): string {
  let n = recipientSeq++;
  while (n % 10_000 >= 1 && n % 10_000 <= 13) n = recipientSeq++;
  return `+55119${String(60_000_000 + n)}`;
}

/** Adds `rows` to a campaign in requests of at most 5,000 (the API's cap). */
export async function addRows(serviceUrl: string, apiKey: string, campaignId: string, rows: unknown[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 5000) {
    const result = await json('POST', `${serviceUrl}/v1/campaigns/${campaignId}/rows`, { rows: rows.slice(i, i + 5000) }, apiKey);
    const accepted = (result as { accepted: number }).accepted;
    if (accepted !== Math.min(5000, rows.length - i)) throw new Error(`rows: ${accepted} accepted of ${Math.min(5000, rows.length - i)}`);
  }
}

/** Per-status row counts of a campaign (GET /v1/campaigns/:id). */
export async function campaignCounts(serviceUrl: string, apiKey: string, campaignId: string): Promise<Record<string, number>> {
  return ((await json('GET', `${serviceUrl}/v1/campaigns/${campaignId}`, undefined, apiKey)) as { counts: Record<string, number> }).counts;
}

/** The `p` quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** User and system CPU of a process, each in microseconds (Linux /proc). */
export function cpuTimesMicros(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { user: (Number(fields[11]) / CLOCK_TICKS_PER_SECOND) * 1e6, system: (Number(fields[12]) / CLOCK_TICKS_PER_SECOND) * 1e6 };
}

/** User + system CPU of a process, in microseconds (Linux /proc). */
export function cpuMicros(pid: number): number {
  const { user, system } = cpuTimesMicros(pid);
  return user + system;
}

/**
 * Writes the machine's dirty page cache to disk (sync(1)) and waits for it. Setting a line up (a new database, its
 * rows) leaves megabytes the kernel would write back during the measured window, where every fsync of PostgreSQL's
 * WAL (each commit) waits behind them: commits of 100-500 ms on this machine's disk. The window then measures the
 * sending and its own writes, not the flush of its setup.
 */
function flushDirtyPages(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

/** The machine's CPU time so far (all cores, /proc/stat), in clock ticks: busy, idle (with I/O wait) and stolen. */
function machineTicks(): { busy: number; idle: number; steal: number; ioStallMicros: number | null; atMs: number } {
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.map(Number);
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal, ioStallMicros: ioStallMicros(), atMs: performance.now() };
}

/**
 * Time (µs, since boot) during which some task waited for I/O (Linux pressure stall information), or null where the
 * kernel does not offer it. Each commit waits for an fsync, so a disk shared with busy neighbours shows here.
 */
function ioStallMicros(): number | null {
  try {
    const some = readFileSync('/proc/pressure/io', 'utf8').split('\n').find((line) => line.startsWith('some'));
    const total = /total=(\d+)/.exec(some ?? '')?.[1];
    return total === undefined ? null : Number(total);
  } catch {
    return null;
  }
}

/**
 * How the machine's cores were used between two machineTicks(), as shares of all their time: the processes the line
 * runs and anything else (busy), nothing (idle), and time the hypervisor gave to other machines (steal).
 */
function machineUse(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>): MachineUse {
  const busy = after.busy - before.busy;
  const idle = after.idle - before.idle;
  const steal = after.steal - before.steal;
  const total = Math.max(1, busy + idle + steal);
  const ioStallShare = before.ioStallMicros === null || after.ioStallMicros === null
    ? null : (after.ioStallMicros - before.ioStallMicros) / 1000 / Math.max(1, after.atMs - before.atMs);
  return { busyShare: busy / total, idleShare: idle / total, stealShare: steal / total, ioStallShare };
}

export interface MachineUse {
  busyShare: number;
  idleShare: number;
  stealShare: number;
  /** Share of the window's wall time in which some task waited for the disk; null without /proc/pressure. */
  ioStallShare: number | null;
}

/** `machine 97% busy, 1% idle, 2% stolen, I/O stalls 3%`: whether a line had the cores to itself or fought for them. */
export function machineCell(use: MachineUse): string {
  const pct = (share: number) => `${(share * 100).toFixed(0)}%`;
  const io = use.ioStallShare === null ? '' : `, I/O stalls ${pct(use.ioStallShare)}`;
  return `machine ${pct(use.busyShare)} busy, ${pct(use.idleShare)} idle, ${pct(use.stealShare)} stolen${io}`;
}

/** 1-minute load average and core count, for the figures' context. */
export function machineLoad(): string {
  const [one = '?'] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  return `load ${one} on ${cores} cores`;
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

/** Peak resident memory of a process, in MB (VmHWM). */
export function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
}

/**
 * The service a measure drives: one process on SQLite, or several instances sharing one PostgreSQL database. Sender i
 * (its webhooks, campaign, rows and start) goes to instance i mod n, as a round-robin load balancer would send it.
 */
export interface ServiceCluster {
  simUrl: string;
  /** The account CLI's environment (DATA_DIR; on PostgreSQL also DATABASE_URL and the shared SECRET_KEY). */
  serviceEnv: NodeJS.ProcessEnv;
  instances: readonly { url: string; pid: number }[];
  /** CPU (µs) of a database server running in processes of its own (PostgreSQL); absent for SQLite, in the service. */
  databaseCpuMicros?: () => number;
}

/** The single SQLite process of `env` as a cluster. */
export function clusterOf(env: BenchEnv): ServiceCluster {
  return { simUrl: env.simUrl, serviceEnv: env.serviceEnv, instances: [{ url: env.serviceUrl, pid: env.servicePid }] };
}

let numberSeq = 0;
/** Creates an account with the account CLI and registers its number at the simulator, webhooks to `serviceUrl`. */
export async function makeSender(
  cluster: Pick<ServiceCluster, 'simUrl' | 'serviceEnv'>, serviceUrl: string, mps: number,
): Promise<{ accountId: string; apiKey: string; phoneNumberId: string }> {
  numberSeq++;
  const phoneNumberId = `7000${numberSeq}`;
  const wabaId = `8000${numberSeq}`;
  const created = spawnSync(process.execPath, [join(DIST, 'account-cli.js'), 'create', '--name', `bench${numberSeq}`,
    '--phone-number-id', phoneNumberId, '--waba-id', wabaId, '--access-token', `tok${numberSeq}`, '--app-secret', `sec${numberSeq}`,
    '--verify-token', 'v', '--mps', String(mps), '--daily-limit', 'unlimited'], { env: cluster.serviceEnv, encoding: 'utf8' });
  if (created.status !== 0) throw new Error(created.stderr);
  const { accountId, apiKey } = JSON.parse(created.stdout);
  await json('POST', `${cluster.simUrl}/__sim/numbers`, {
    phoneNumberId, wabaId, accessToken: `tok${numberSeq}`, appSecret: `sec${numberSeq}`,
    webhookUrl: `${serviceUrl}/webhooks/whatsapp/${accountId}`, messagesPerSecond: mps,
  });
  return { accountId, apiKey, phoneNumberId };
}

let rowSeq = 0;
function rows(count: number): unknown[] {
  return Array.from({ length: count }, () => {
    const n = rowSeq++;
    return { key: `r${n}`, to: `+55119${String(10000000 + n)}`, params: { first_name: 'Ana', order_id: `O${n}` } };
  });
}

/** A campaign of `count` fresh rows, created through `serviceUrl`; returns its id. */
export async function campaignWithRows(serviceUrl: string, apiKey: string, count: number): Promise<string> {
  const campaign = await json('POST', `${serviceUrl}/v1/campaigns`, { name: 'bench', template: { name: 'order_update', language: 'en_US' } }, apiKey);
  for (let sent = 0; sent < count; sent += 5000) {
    await json('POST', `${serviceUrl}/v1/campaigns/${campaign.id}/rows`, { rows: rows(Math.min(5000, count - sent)) }, apiKey);
  }
  return campaign.id as string;
}

export interface ThroughputResult {
  label: string;
  limit: number;
  achieved: number;
  busiestWindow: number;
  throttled: number;
  /** CPU of the service processes (every instance) per accepted message. */
  cpuMicrosPerMessage: number;
  /** CPU of the database server's processes per accepted message; null when the database is in the service (SQLite). */
  databaseCpuMicrosPerMessage: number | null;
  /** The whole machine over the window: everything here (the simulator and the client too) shares its cores. */
  machine: MachineUse;
}

/** When measureThroughput lets a caller look at the senders (e.g. which instance holds which lease): outside the window. */
export type ThroughputMoment = 'after warm-up' | 'at window end';

/**
 * Starts the campaigns together and measures the steady state between warm-up and the tail. `inspect` runs after the
 * warm-up, before the window opens, and again once it has closed, before the campaigns are cancelled.
 */
export async function measureThroughput(
  cluster: ServiceCluster, label: string, mps: number, senders: number, seconds: number,
  inspect?: (accountIds: string[], moment: ThroughputMoment) => Promise<void>,
): Promise<ThroughputResult> {
  const urlOf = (i: number) => cluster.instances[i % cluster.instances.length]!.url;
  const serviceCpu = () => cluster.instances.reduce((sum, instance) => sum + cpuMicros(instance.pid), 0);
  const accounts = [];
  for (let i = 0; i < senders; i++) accounts.push({ ...await makeSender(cluster, urlOf(i), mps), url: urlOf(i) });
  const campaigns = [];
  for (const account of accounts) campaigns.push({ account, id: await campaignWithRows(account.url, account.apiKey, Math.ceil(mps * (seconds + 3))) });
  flushDirtyPages();
  await json('POST', `${cluster.simUrl}/__sim/stats/reset`);
  for (const c of campaigns) await json('POST', `${c.account.url}/v1/campaigns/${c.id}/start`, undefined, c.account.apiKey);
  await sleep(1500);
  await inspect?.(accounts.map((a) => a.accountId), 'after warm-up');
  const before = await json('GET', `${cluster.simUrl}/__sim/stats`);
  const cpuBefore = serviceCpu();
  const databaseCpuBefore = cluster.databaseCpuMicros?.();
  const ticksBefore = machineTicks();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await json('GET', `${cluster.simUrl}/__sim/stats`);
  const cpuAfter = serviceCpu();
  const databaseCpuAfter = cluster.databaseCpuMicros?.();
  const machine = machineUse(ticksBefore, machineTicks());
  const elapsedS = (performance.now() - t0) / 1000;
  const ids = new Set(accounts.map((a) => a.phoneNumberId));
  let accepted = 0;
  let busiest = 0;
  for (const [id, stats] of Object.entries(after.numbers as Record<string, { accepted: number; busiestWindow: number }>)) {
    if (!ids.has(id)) continue;
    accepted += stats.accepted - ((before.numbers[id]?.accepted as number | undefined) ?? 0);
    busiest = Math.max(busiest, stats.busiestWindow);
  }
  const throttled = (after.rejectedByCode?.['130429'] ?? 0) as number;
  await inspect?.(accounts.map((a) => a.accountId), 'at window end');
  for (const c of campaigns) await json('POST', `${c.account.url}/v1/campaigns/${c.id}/cancel`, undefined, c.account.apiKey).catch(() => {});
  await sleep(1000);
  return {
    label,
    limit: mps * senders,
    achieved: accepted / elapsedS,
    busiestWindow: busiest,
    throttled,
    cpuMicrosPerMessage: (cpuAfter - cpuBefore) / Math.max(1, accepted),
    databaseCpuMicrosPerMessage: databaseCpuBefore === undefined || databaseCpuAfter === undefined
      ? null : (databaseCpuAfter - databaseCpuBefore) / Math.max(1, accepted),
    machine,
  };
}

export const verdict = (isMet: boolean): string => (isMet ? '**met**' : '**not met**');

/** Issue 2's targets: one sender at ≥ 99% of its limit with no window over it; ten at ≥ 5,000 msg/s and ≤ 150 µs/msg. */
export function throughputVerdict(r: ThroughputResult, senders: number): string {
  const perSender = r.limit / senders;
  if (senders === 1) {
    return `target ≥ 99%, no window over: ${verdict(r.achieved >= r.limit * 0.99 && r.busiestWindow <= perSender)}`;
  }
  return `target ≥ 5,000 msg/s, ≤ 150 µs/msg: ${verdict(r.achieved >= 5000 && r.cpuMicrosPerMessage <= 150)}`;
}

/** A throughput line's result and window cells: `998 msg/s (99.8% of 1000) | busiest 1 s window 1000 of 1000, 130429s: 0`. */
export function throughputCells(r: ThroughputResult, senders: number): string {
  const perSender = r.limit / senders;
  return `${r.achieved.toFixed(0)} msg/s (${((r.achieved / r.limit) * 100).toFixed(1)}% of ${r.limit}) `
    + `| busiest 1 s window ${r.busiestWindow} of ${perSender}, 130429s: ${r.throttled}`;
}

/** Posts `total` rows (batches of 5,000) to one campaign of a new sender; the time taken and the service's peak RSS. */
export async function measureIntake(env: BenchEnv, total: number): Promise<{ seconds: number; peakRssMb: number }> {
  const { apiKey } = await makeSender(env, env.serviceUrl, 80);
  const campaign = await json('POST', `${env.serviceUrl}/v1/campaigns`, { name: 'intake', template: { name: 'order_update', language: 'en_US' } }, apiKey);
  const batches = Array.from({ length: total / 5000 }, () => JSON.stringify({ rows: rows(5000) }));
  const t0 = performance.now();
  for (const body of batches) {
    const response = await fetch(`${env.serviceUrl}/v1/campaigns/${campaign.id}/rows`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body,
    });
    const result = await response.json() as { accepted: number };
    if (result.accepted !== 5000) throw new Error(`intake accepted ${result.accepted}`);
  }
  return { seconds: (performance.now() - t0) / 1000, peakRssMb: peakRssMb(env.servicePid) };
}

/** Issue 2's intake target: 100,000 rows in ≤ 5 s, peak RSS < 300 MB. */
export function intakeVerdict(intake: { seconds: number; peakRssMb: number }): string {
  return `target ≤ 5 s, < 300 MB: ${verdict(intake.seconds <= 5 && intake.peakRssMb < 300)}`;
}
