// `npm run start:postgres [-- --instances N]`: the service on PostgreSQL on a developer machine, in one command. Starts
// a throwaway PostgreSQL server (initdb in a temp folder, gone at exit) and N service instances sharing it, on PORT,
// PORT+1, …, with one SECRET_KEY. For a lasting database, run `npm start` with DATABASE_URL pointing at it instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from './postgres-server';

const MAIN = join(import.meta.dirname, 'main.js');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { instances: { type: 'string', default: '1' } }, strict: true });
  const instances = Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 8) {
    console.error('--instances must be a whole number from 1 to 8.');
    process.exit(2);
  }
  const server = await startPostgres();
  if (!server) {
    console.error('PostgreSQL not found (no initdb). Install it (apt-get install -y postgresql), or run `npm start` with DATABASE_URL.');
    process.exit(1);
  }
  const basePort = Number(process.env.PORT ?? 8080);
  const secretKey = process.env.SECRET_KEY ?? randomBytes(32).toString('hex');
  const dataDirs: string[] = [];
  const children: ChildProcess[] = [];
  console.error(`PostgreSQL at ${server.url} (throwaway: it is removed when this command stops).`);
  for (let i = 0; i < instances; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), `service-${i}-`));
    dataDirs.push(dataDir);
    const port = basePort + i;
    const child = spawn(process.execPath, [MAIN], {
      // Every instance answers for every account: webhooks may point at any of them (or a load balancer before them).
      env: { ...process.env, DATABASE_URL: server.url, SECRET_KEY: secretKey, PORT: String(port), DATA_DIR: dataDir },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
  }
  let isStopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (isStopping) return;
    isStopping = true;
    // SIGTERM: each instance finishes its sends in flight and hands its leases over, then exits.
    await Promise.all(children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal === 'SIGINT' ? 'SIGTERM' : signal);
    })));
    await server.stop();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  for (const child of children) {
    child.once('exit', (code) => {
      if (!isStopping) {
        console.error(`an instance exited (${code}); stopping the others.`);
        void stop('SIGTERM');
      }
    });
  }
}

void main();
