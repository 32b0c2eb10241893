// `npm run playground`: the whole product on one machine without Google. Starts the service in this process on
// SQLite (a temp DATA_DIR unless set) with a sandbox account, runs the built add-on (dist/addon) in a worker thread
// on the in-memory Apps Script services, and serves one page: a sheet beside the real sidebar. Prints one line.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../service/config';
import { startService, type ServiceRuntime } from '../../service/service-runtime';
import { AppsScriptWorkerClient } from './apps-script-worker-client';
import { freePort } from './free-port';
import { createPageApp, listenPage } from './page-server';
import type { PlaygroundInfo } from './playground-protocol';

const USAGE = 'usage: npm run playground [-- [file.csv] [--port 8070] [--mps 80] [--hour-seconds 10]]';
const DEFAULT_PORT = 8070;
/** Meta's default throughput tier, as `npm run demo` uses; the sandbox accepts up to 1,000. */
const DEFAULT_MESSAGES_PER_SECOND = 80;
/** An Apps Script hour lasts this long here, so the add-on's hourly sync shows results within seconds. */
const DEFAULT_HOUR_SECONDS = 10;
/** The marketer's own number for test sends; the simulator reads messages to numbers ending 0006. */
const TEST_NUMBER = '+1 415 555 0006';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADDON_DIR = join(ROOT, 'dist/addon');
const ASSETS_DIR = fileURLToPath(new URL('.', import.meta.url));
const SAMPLE_CSV = join(ROOT, 'demo/contacts.csv');

function positiveNumber(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number ≥ 0 (got "${value}")`);
  return n;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: { port: { type: 'string' }, mps: { type: 'string' }, 'hour-seconds': { type: 'string' }, help: { type: 'boolean' } },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = positiveNumber(args.values.port, DEFAULT_PORT, 'port');
  const mps = positiveNumber(args.values.mps, DEFAULT_MESSAGES_PER_SECOND, 'mps');
  const hourMs = positiveNumber(args.values['hour-seconds'], DEFAULT_HOUR_SECONDS, 'hour-seconds') * 1000;
  if (hourMs <= 0) throw new Error('--hour-seconds must be above 0');
  const csvPath = resolve(args.positionals[0] ?? SAMPLE_CSV);
  if (!existsSync(join(ADDON_DIR, 'Code.js'))) throw new Error('dist/addon/Code.js is missing: run `npm run build:addon` (npm run playground does).');

  // A DATA_DIR the user set is kept; otherwise a temp one is removed at exit. Always SQLite: a playground is local.
  const ownDataDir = process.env.DATA_DIR ? null : mkdtempSync(join(tmpdir(), 'wa-playground-'));
  const dataDir = process.env.DATA_DIR ?? ownDataDir!;
  const { DATABASE_URL: _database, PUBLIC_URL: _public, ...env } = process.env;
  const config = loadConfig({ ...env, DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' });

  let runtime: ServiceRuntime | null = null;
  let worker: AppsScriptWorkerClient | null = null;
  let page: Server | null = null;
  const stop = async (): Promise<void> => {
    const [w, p, r] = [worker, page, runtime];
    worker = null;
    page = null;
    runtime = null;
    await w?.stop().catch(() => {});
    await new Promise((done) => (p ? p.close(done) : done(undefined)));
    await r?.stop();
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop().then(() => process.exit(0), (error) => {
        console.error(error);
        process.exit(1);
      });
    });
  }

  try {
    runtime = await startService(config);
    const { apiKey } = await runtime.createAccount({
      name: 'Playground sandbox', isSandbox: true, messagesPerSecond: mps, defaultCountry: 'IN',
    });
    worker = await AppsScriptWorkerClient.start(new URL('./apps-script-worker.js', import.meta.url), {
      addonDir: ADDON_DIR, serviceUrl: runtime.url, apiKey, testNumber: TEST_NUMBER, csvText: readFileSync(csvPath, 'utf8'), hourMs,
    });
    const client = worker;
    // Without its Apps Script the page is useless: a crashed worker ends the playground rather than leave it half alive.
    void client.exited.then((code) => {
      if (worker !== client) return;
      console.error(`The playground's Apps Script worker stopped (exit code ${code}); stopping.`);
      stop().finally(() => process.exit(1));
    });
    const info: PlaygroundInfo = { serviceUrl: runtime.url, dataDir, isDataDirTemporary: ownDataDir !== null, hourMs, messagesPerSecond: mps };
    const app = createPageApp({ relay: (request) => client.request(request), assetsDir: ASSETS_DIR, sampleCsvPath: SAMPLE_CSV, info });
    const listening = await listenPage(app, '127.0.0.1', port).catch(async (error: NodeJS.ErrnoException) => {
      // The default port may be taken (another playground); a port the user asked for must not silently change.
      if (error.code !== 'EADDRINUSE' || args.values.port !== undefined) throw error;
      return listenPage(app, '127.0.0.1', 0);
    });
    page = listening.server;
    console.log(`Playground: ${listening.url} (a local sheet, the real add-on and a sandbox service at ${mps} msg/s`
      + `; data in ${dataDir}${ownDataDir ? ', removed at exit' : ''}). Ctrl-C stops it.`);
    return -1;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    await stop().catch(() => {});
    return 1;
  }
}

main().then((code) => {
  if (code >= 0) process.exit(code);
}, (error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
