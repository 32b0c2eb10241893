// What every bench scenario shares: child processes, JSON over HTTP, real (non-sandbox) accounts registered at the
// standalone simulator with a known app secret, recipients outside the simulator's fixed-outcome numbers,
// percentiles and /proc CPU. All of it is bundled into dist/service/bench.js.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
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
 * The next distinct Brazilian mobile (+55 11 96…), never ending in 0001–0012: the simulator gives those fixed
 * outcomes (failures, replies, opt-outs), and a bench row must follow the configured rates instead.
 */
export function nextRecipient(): string {
  let n = recipientSeq++;
  while (n % 10_000 >= 1 && n % 10_000 <= 12) n = recipientSeq++;
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

/** User + system CPU of a process, in microseconds (Linux /proc). */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND) * 1e6;
}

/** 1-minute load average and core count, for the figures' context. */
export function machineLoad(): string {
  const [one = '?'] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  const cores = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
  return `load ${one} on ${cores} cores`;
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
