// `npm run bench`: drives the built service (its own process, SQLite on a temp dir) against the standalone
// simulator (another process) and prints a table: throughput against Meta's limits, CPU per message, intake time and
// memory, webhook intake while sending (webhook-intake-bench.ts) and Sheets API calls of the write-back
// (sheet-writes-bench.ts). `npm run bench -- intake|80|1000|10000|webhooks|sheets` runs one line.
// A benchmark, not a test: it prints figures, it asserts nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMicros, DIST, json, sleep, startNode, type BenchEnv as Env } from './bench-kit';
import { freePort } from './free-port';
import { measureSheetWrites } from './sheet-writes-bench';
import { measureWebhookIntake } from './webhook-intake-bench';

/** `BENCH_PROFILE=1` writes a CPU profile of the service to /tmp/prof. */
function startProcess(script: string, env: NodeJS.ProcessEnv, readyText: string) {
  const profile = process.env.BENCH_PROFILE && script === 'main.js' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  return startNode(script, profile, env, readyText);
}

/** Peak resident memory of a process, in MB (VmHWM). */
function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
}

let numberSeq = 0;
async function makeSender(env: Env, mps: number): Promise<{ apiKey: string; phoneNumberId: string }> {
  numberSeq++;
  const phoneNumberId = `7000${numberSeq}`;
  const wabaId = `8000${numberSeq}`;
  const created = spawnSync(process.execPath, [join(DIST, 'account-cli.js'), 'create', '--name', `bench${numberSeq}`,
    '--phone-number-id', phoneNumberId, '--waba-id', wabaId, '--access-token', `tok${numberSeq}`, '--app-secret', `sec${numberSeq}`,
    '--verify-token', 'v', '--mps', String(mps), '--daily-limit', 'unlimited'], { env: env.serviceEnv, encoding: 'utf8' });
  if (created.status !== 0) throw new Error(created.stderr);
  const { accountId, apiKey } = JSON.parse(created.stdout);
  await json('POST', `${env.simUrl}/__sim/numbers`, {
    phoneNumberId, wabaId, accessToken: `tok${numberSeq}`, appSecret: `sec${numberSeq}`,
    webhookUrl: `${env.serviceUrl}/webhooks/whatsapp/${accountId}`, messagesPerSecond: mps,
  });
  return { apiKey, phoneNumberId };
}

let recipientSeq = 0;
function rows(count: number): unknown[] {
  return Array.from({ length: count }, () => {
    const n = recipientSeq++;
    return { key: `r${n}`, to: `+55119${String(10000000 + n)}`, params: { first_name: 'Ana', order_id: `O${n}` } };
  });
}

async function campaignWithRows(env: Env, apiKey: string, count: number): Promise<string> {
  const campaign = await json('POST', `${env.serviceUrl}/v1/campaigns`, { name: 'bench', template: { name: 'order_update', language: 'en_US' } }, apiKey);
  for (let sent = 0; sent < count; sent += 5000) {
    await json('POST', `${env.serviceUrl}/v1/campaigns/${campaign.id}/rows`, { rows: rows(Math.min(5000, count - sent)) }, apiKey);
  }
  return campaign.id as string;
}

interface ThroughputResult {
  label: string;
  limit: number;
  achieved: number;
  busiestWindow: number;
  throttled: number;
  cpuMicrosPerMessage: number;
}

/** Starts the campaigns together and measures the steady state between warm-up and the tail. */
async function measureThroughput(env: Env, label: string, mps: number, senders: number, seconds: number): Promise<ThroughputResult> {
  const accounts = [];
  for (let i = 0; i < senders; i++) accounts.push(await makeSender(env, mps));
  const campaigns = [];
  for (const account of accounts) campaigns.push({ account, id: await campaignWithRows(env, account.apiKey, Math.ceil(mps * (seconds + 3))) });
  await json('POST', `${env.simUrl}/__sim/stats/reset`);
  for (const c of campaigns) await json('POST', `${env.serviceUrl}/v1/campaigns/${c.id}/start`, undefined, c.account.apiKey);
  await sleep(1500);
  const before = await json('GET', `${env.simUrl}/__sim/stats`);
  const cpuBefore = cpuMicros(env.servicePid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await json('GET', `${env.simUrl}/__sim/stats`);
  const cpuAfter = cpuMicros(env.servicePid);
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
  for (const c of campaigns) await json('POST', `${env.serviceUrl}/v1/campaigns/${c.id}/cancel`, undefined, c.account.apiKey).catch(() => {});
  await sleep(1000);
  return {
    label,
    limit: mps * senders,
    achieved: accepted / elapsedS,
    busiestWindow: busiest,
    throttled,
    cpuMicrosPerMessage: (cpuAfter - cpuBefore) / Math.max(1, accepted),
  };
}

/** The simulator's outcome rates for the throughput lines (see main). */
const INBOUND_LOAD = { replyRate: 0.175, optOutRate: 0.105 };

const verdict = (isMet: boolean): string => (isMet ? '**met**' : '**not met**');

/** Issue 2's targets: one sender at ≥ 99% of its limit with no window over it; ten at ≥ 5,000 msg/s and ≤ 150 µs/msg. */
function throughputVerdict(r: ThroughputResult, senders: number): string {
  const perSender = r.limit / senders;
  if (senders === 1) {
    return `target ≥ 99%, no window over: ${verdict(r.achieved >= r.limit * 0.99 && r.busiestWindow <= perSender)}`;
  }
  return `target ≥ 5,000 msg/s, ≤ 150 µs/msg: ${verdict(r.achieved >= 5000 && r.cpuMicrosPerMessage <= 150)}`;
}

async function measureIntake(env: Env, total: number): Promise<{ seconds: number; peakRssMb: number }> {
  const { apiKey } = await makeSender(env, 80);
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

async function main(): Promise<void> {
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
  const serviceEnv = {
    ...process.env, DATA_DIR: dataDir, PORT: String(servicePort), GRAPH_API_URL: simUrl, LOG_LEVEL: 'error',
  };
  const service = await startProcess('main.js', serviceEnv, '"listening"');
  const env: Env = { simUrl, serviceUrl: `http://127.0.0.1:${servicePort}`, servicePid: service.pid as number, serviceEnv };
  const only = process.argv[2];
  try {
    const lines: string[] = [];
    if (!only || only === 'intake') {
      const intake = await measureIntake(env, 100_000);
      lines.push(`| accept 100,000 rows (20 × 5,000) | ${intake.seconds.toFixed(2)} s | peak RSS ${intake.peakRssMb.toFixed(0)} MB `
        + `| target ≤ 5 s, < 300 MB: ${verdict(intake.seconds <= 5 && intake.peakRssMb < 300)} |`);
    }
    const scenarios: [string, number, number, number][] = [
      ['one sender at 80 msg/s', 80, 1, 10],
      ['one sender at 1,000 msg/s', 1000, 1, 10],
      ['ten senders at 1,000 msg/s', 1000, 10, 10],
    ];
    for (const [label, mps, senders, seconds] of scenarios) {
      if (only && only !== String(senders * mps)) continue;
      const r = await measureThroughput(env, label, mps, senders, seconds);
      const perSender = r.limit / senders;
      lines.push(`| ${r.label} | ${r.achieved.toFixed(0)} msg/s (${((r.achieved / r.limit) * 100).toFixed(1)}% of ${r.limit}) `
        + `| busiest 1 s window ${r.busiestWindow} of ${perSender}, 130429s: ${r.throttled} | ${r.cpuMicrosPerMessage.toFixed(0)} µs CPU/msg; `
        + `${throughputVerdict(r, senders)} |`);
    }
    if (!only || only === 'webhooks') lines.push(...await measureWebhookIntake(env));
    if (!only || only === 'sheets') lines.push(...await measureSheetWrites(env));
    console.log('\n| scenario | result | detail | |\n|---|---|---|---|');
    for (const line of lines) console.log(line);
  } finally {
    service.kill('SIGTERM');
    sim.kill('SIGTERM');
    await sleep(500);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
