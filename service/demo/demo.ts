// `npm run demo`: starts the service in this process on a temp data directory (or DATA_DIR) and a free port, makes a
// sandbox account, sends demo/contacts.csv through the HTTP API as the add-on would, and prints the funnel and the
// elapsed time. Needs no credentials: a sandbox account sends to the service's built-in Cloud API simulator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../bench/free-port';
import { loadConfig } from '../config';
import { startService, type ServiceRuntime } from '../service-runtime';
import { DemoClient } from './demo-client';
import { runDemo } from './demo-run';
import { DEMO_COMPOSE, DEMO_MESSAGES_PER_SECOND, DEMO_OPTED_OUT } from './demo-settings';

const USAGE = 'usage: npm run demo [-- [file.csv] [--mps N]]   (default demo/contacts.csv at 80 messages a second)';

/** `contacts.csv` → `contacts.results.csv`, in the same folder. */
function resultsPathFor(input: string): string {
  const ext = extname(input);
  return join(dirname(input), `${basename(input, ext)}.results${ext || '.csv'}`);
}

async function main(): Promise<number> {
  const startedMs = performance.now();
  let args;
  try {
    args = parseArgs({ allowPositionals: true, options: { mps: { type: 'string' }, help: { type: 'boolean' } } });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  const mps = args.values.mps === undefined ? DEMO_MESSAGES_PER_SECOND : Number(args.values.mps);
  const inputPath = resolve(args.positionals[0] ?? 'demo/contacts.csv');
  const outputPath = resultsPathFor(inputPath);

  // A DATA_DIR the user set is kept (and locked against a running service); otherwise a temp one is removed at exit.
  const ownDataDir = process.env.DATA_DIR ? null : mkdtempSync(join(tmpdir(), 'wa-demo-'));
  const dataDir = process.env.DATA_DIR ?? ownDataDir!;
  const config = loadConfig({
    ...process.env, DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
  });
  let runtime: ServiceRuntime | null = null;
  const cleanUp = async (): Promise<void> => {
    const r = runtime;
    runtime = null;
    await r?.stop();
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    console.error('\nInterrupted: stopping the service.');
    cleanUp().finally(() => process.exit(130));
  });

  try {
    runtime = await startService(config);
    const { account, apiKey } = await runtime.createAccount({
      name: 'Demo sandbox', isSandbox: true, messagesPerSecond: mps, defaultCountry: DEMO_COMPOSE.defaultCountry ?? null,
    });
    console.log(`Service on ${runtime.url} (data in ${dataDir}${ownDataDir ? ', removed at exit' : ''}); `
      + `sandbox account "${account.name}" at ${account.messagesPerSecond} messages a second.`);
    const result = await runDemo({
      client: new DemoClient(runtime.url, apiKey),
      inputPath, outputPath, compose: DEMO_COMPOSE, optedOut: DEMO_OPTED_OUT, out: process.stdout,
    });
    await cleanUp();
    console.log(`Done in ${((performance.now() - startedMs) / 1000).toFixed(1)} s.`);
    return result.isSettled ? 0 : 1;
  } catch (error) {
    console.error(`\n${error instanceof Error ? error.message : String(error)}`);
    await cleanUp().catch(() => {});
    return 1;
  }
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(1);
});
