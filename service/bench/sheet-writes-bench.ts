// `npm run bench sheets`: Sheets API calls the write-back spends per 10,000 status changes, and whether a spreadsheet
// ever gets more than one write call per 2 s.
//
// A second service process runs with GOOGLE_APPLICATION_CREDENTIALS (a service-account key made here, RSA and all)
// and SHEETS_API_URL pointing at the fake Sheets API of test/fakes, served from this process. Google's token
// endpoint is a fixed https URL inside google-auth-library, so the service is started with a preload
// (`--import`, written to the temp dir) that sends https requests for *.googleapis.com to the fake's /token:
// the service's own code, googleapis and the JWT grant run unchanged. Nothing else is patched.
//
// Two senders at 80 msg/s each send one campaign each, to two tabs of one spreadsheet (1,700 rows a tab), with the
// simulator delivering and reading every message: 3,400 rows × (sent, delivered, read) = 10,200 status changes.
// The fake logs every call with its time; once every row is `read` in the service and in the sheet, this reports
// calls per 10,000 status changes, the most write calls to the spreadsheet in any 2 s window and the least gap
// between two, the busiest rolling minute, and rows whose final status or wamid in the sheet differ from the API's.
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeSheetsApi } from '../../test/fakes/fake-sheets-api';
import {
  addRows, campaignCounts, fmt, json, machineLoad, makeAccount, nextRecipient, sleep, startNode, type BenchEnv,
} from './bench-kit';
import { freePort } from './free-port';

const SPREADSHEET_ID = 'benchSpreadsheet0001';
const HEADER = ['Name', 'Phone', 'WA Key', 'WA Status', 'WA Message ID', 'WA Error', 'WA Reply', 'WA Updated'];
const STATUS_CHANGES_PER_ROW = 3;

/** Preload for the service process: https requests to *.googleapis.com go to BENCH_GOOGLE_TOKEN_URL over http. */
const TOKEN_REDIRECT = `import http from 'node:http';
import https from 'node:https';
const target = new URL(process.env.BENCH_GOOGLE_TOKEN_URL);
const original = https.request;
https.request = function (url, options, callback) {
  const parsed = typeof url === 'string' ? new URL(url) : url instanceof URL ? url : null;
  const host = parsed ? parsed.hostname : url.hostname ?? url.host ?? '';
  if (!/(^|\\.)googleapis\\.com$/.test(host)) return original.apply(this, arguments);
  if (typeof options === 'function') { callback = options; options = {}; }
  const merged = { ...(parsed ? {} : url), ...(options ?? {}) };
  delete merged.agent;
  return http.request({ ...merged, protocol: 'http:', host: target.hostname, hostname: target.hostname, port: target.port, path: target.pathname }, callback);
};
`;

interface MessageItem {
  key: string;
  status: string;
  wamid: string | null;
}

async function allMessages(serviceUrl: string, apiKey: string, campaignId: string): Promise<MessageItem[]> {
  const items: MessageItem[] = [];
  for (let after = '0'; ;) {
    const page = (await json('GET', `${serviceUrl}/v1/campaigns/${campaignId}/messages?after=${after}&limit=5000`, undefined, apiKey)) as { items: MessageItem[]; next: string };
    items.push(...page.items);
    if (page.items.length === 0 || page.next === after) return items;
    after = page.next;
  }
}

/** Most entries of ascending `times` inside any window of `windowMs`. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while ((times[last] as number) - (times[first] as number) >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

export async function measureSheetWrites(env: BenchEnv, rowsPerTab = 1700, tabs = 2, mps = 80): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sheets-'));
  const fake = await FakeSheetsApi.start();
  let service: ChildProcess | null = null;
  try {
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const keyPath = join(dir, 'service-account.json');
    writeFileSync(keyPath, JSON.stringify({ type: 'service_account', client_email: 'bench@bench-project.iam.gserviceaccount.com', private_key: privateKey }));
    const preloadPath = join(dir, 'google-token-redirect.mjs');
    writeFileSync(preloadPath, TOKEN_REDIRECT);
    const port = await freePort();
    const serviceEnv: NodeJS.ProcessEnv = {
      ...process.env, DATA_DIR: join(dir, 'data'), PORT: String(port), GRAPH_API_URL: env.simUrl, LOG_LEVEL: 'error',
      GOOGLE_APPLICATION_CREDENTIALS: keyPath, SHEETS_API_URL: fake.rootUrl, BENCH_GOOGLE_TOKEN_URL: fake.tokenUrl,
    };
    service = await startNode('main.js', ['--import', preloadPath], serviceEnv, '"listening"');
    const sheetEnv = { simUrl: env.simUrl, serviceUrl: `http://127.0.0.1:${port}`, serviceEnv };

    // Every message is sent, delivered and read (no failures, no replies), at the simulator's usual delays.
    await json('POST', `${env.simUrl}/__sim/outcomes`, { outcomes: { replyRate: 0, failedRate: 0, deliveredRate: 1, readRate: 1 } });
    const campaigns: { apiKey: string; id: string; sheetName: string }[] = [];
    for (let t = 0; t < tabs; t++) {
      const sheetName = `Contacts ${String.fromCharCode(65 + t)}`;
      const rows = Array.from({ length: rowsPerTab }, (_, i) => ({ key: `${sheetName.at(-1)}${i}`, to: nextRecipient(), params: { first_name: 'Ana', order_id: `O${i}` } }));
      fake.addSheet(SPREADSHEET_ID, sheetName, [HEADER, ...rows.map((r) => ['Ana', r.to, r.key])]);
      const account = await makeAccount(sheetEnv, mps);
      const campaign = await json('POST', `${sheetEnv.serviceUrl}/v1/campaigns`, {
        name: `sheet ${sheetName}`, template: { name: 'order_update', language: 'en_US' }, sheet: { spreadsheetId: SPREADSHEET_ID, sheetName },
      }, account.apiKey);
      await addRows(sheetEnv.serviceUrl, account.apiKey, campaign.id as string, rows);
      campaigns.push({ apiKey: account.apiKey, id: campaign.id as string, sheetName });
    }
    const t0 = Date.now();
    for (const c of campaigns) await json('POST', `${sheetEnv.serviceUrl}/v1/campaigns/${c.id}/start`, undefined, c.apiKey);

    const totalRows = rowsPerTab * tabs;
    const timeoutAt = t0 + (rowsPerTab / mps) * 1000 * 3 + 60_000;
    let allReadAt = 0;
    let sheetDoneAt = 0;
    while (Date.now() < timeoutAt) {
      await sleep(250);
      if (!allReadAt) {
        let read = 0;
        for (const c of campaigns) read += (await campaignCounts(sheetEnv.serviceUrl, c.apiKey, c.id)).read ?? 0;
        if (read >= totalRows) allReadAt = Date.now();
      }
      if (allReadAt) {
        const sheetRead = campaigns.reduce((n, c) => n + fake.records(SPREADSHEET_ID, c.sheetName).filter((r) => r['WA Status'] === 'read').length, 0);
        if (sheetRead >= totalRows) {
          sheetDoneAt = Date.now();
          break;
        }
      }
    }
    // Whatever the sheet shows now is compared with the API, row by row.
    let mismatches = 0;
    let readRows = 0;
    for (const c of campaigns) {
      const sheetByKey = new Map(fake.records(SPREADSHEET_ID, c.sheetName).map((r) => [r['WA Key'], r]));
      for (const item of await allMessages(sheetEnv.serviceUrl, c.apiKey, c.id)) {
        if (item.status === 'read') readRows++;
        const row = sheetByKey.get(item.key);
        if (!row || row['WA Status'] !== item.status || row['WA Message ID'] !== (item.wamid ?? '')) mismatches++;
      }
    }

    const writes = fake.log.filter((c) => c.method === 'values.batchUpdate' && c.spreadsheetId === SPREADSHEET_ID).map((c) => c.atMs);
    const reads = fake.log.filter((c) => c.method !== 'values.batchUpdate').length;
    const gaps = writes.slice(1).map((at, i) => at - (writes[i] as number));
    // Each write starts with one batchGet (header row + keys): the time SheetSync paces by.
    const starts = fake.log.filter((c) => c.method === 'values.batchGet' && c.spreadsheetId === SPREADSHEET_ID).map((c) => c.atMs);
    const startGaps = starts.slice(1).map((at, i) => at - (starts[i] as number));
    const changes = readRows * STATUS_CHANGES_PER_ROW;
    const per10k = (n: number) => (n * 10_000) / Math.max(1, changes);
    const most2s = busiestWindow(writes, 2000);
    const landed = sheetDoneAt
      ? `every row's final status in the sheet ${fmt((sheetDoneAt - allReadAt) / 1000, 1)} s after the last one was applied`
      : `sheet not up to date ${fmt((Date.now() - (allReadAt || t0)) / 1000)} s after ${allReadAt ? 'the last status' : 'the start'}`;
    return [
      `| Sheets write-back: ${fmt(totalRows)} rows on ${tabs} tabs of one spreadsheet, ${tabs} senders at ${mps} msg/s `
        + `(${fmt(changes)} status changes: rows × sent, delivered, read) `
        + `| ${fmt(per10k(writes.length), 1)} write + ${fmt(per10k(reads), 1)} read calls per 10,000 status changes `
        + `| ${writes.length} values.batchUpdate, ${fake.calls['values.batchGet']} values.batchGet, ${fake.calls['values.get']} values.get, ${fake.tokenGrants} token grant(s) in ${fmt((Date.now() - t0) / 1000)} s; `
        + `busiest 2 s window ${most2s} write(s) to the spreadsheet, least gap ${gaps.length ? fmt(Math.min(...gaps) / 1000, 3) : 'n/a'} s (between the writes' batchGets ${startGaps.length ? fmt(Math.min(...startGaps) / 1000, 3) : 'n/a'} s); busiest minute ${busiestWindow(writes, 60_000)} writes `
        + `| ${landed}; ${mismatches} of ${fmt(totalRows)} rows differ from the API (${fmt(readRows)} read); ≤ 1 write per spreadsheet per 2 s: **${most2s <= 1 && mismatches === 0 ? 'met' : 'not met'}** (${machineLoad()}) |`,
    ];
  } finally {
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service?.once('exit', resolve));
      service.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    await json('POST', `${env.simUrl}/__sim/outcomes`, { outcomes: { replyRate: 0 } }).catch(() => {});
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
