// The service process: loads config, starts the runtime, prints how to reach it, and shuts down cleanly on signals.
// On a fresh data directory it makes a sandbox account, so `npm start` alone gives a working key.
import { loadConfig } from './config';
import { startService } from './service-runtime';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const runtime = await startService(config);
  console.log(JSON.stringify({ listening: runtime.url, publicUrl: config.publicUrl, dataDir: config.DATA_DIR }));
  // Instances starting together on an empty database: only the one that takes this lease makes the sandbox account.
  const isFirst = await runtime.store.acquireJobLease('first-start', `${process.pid}:${runtime.url}`, 60_000);
  if (isFirst && (await runtime.store.listAccounts()).length === 0) {
    const { account, apiKey, webhookUrl } = await runtime.createAccount({ name: 'Sandbox', isSandbox: true });
    console.log(JSON.stringify({ accountId: account.id, apiKey, webhookUrl, sandbox: true }));
    console.error('A sandbox account was created: keep the apiKey above, it is shown only once.');
  }

  let isStopping = false;
  const stop = (signal: string): void => {
    if (isStopping) return;
    isStopping = true;
    console.error(`${signal}: finishing in-flight sends, then exiting.`);
    runtime.stop().then(() => process.exit(0), (error) => {
      console.error(error);
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // State is durable: on a bug, exit and let the supervisor restart us rather than run in an unknown state.
  process.on('unhandledRejection', (error) => {
    console.error('unhandled rejection', error);
    process.exit(70);
  });
}

void main();
