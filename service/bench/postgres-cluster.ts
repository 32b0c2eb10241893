// The PostgreSQL side of the bench: one database of the bench's throwaway server (service/devtools/postgres-server.ts)
// and service instances on it, run as `npm run start:postgres` runs them (one DATABASE_URL and SECRET_KEY, a PORT and
// DATA_DIR each); which instance holds which sender lease (sender_leases); and the CPU of the server's processes.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createScratchDatabase, type PostgresServer } from '../devtools/postgres-server';
import { serviceProfileArgs, startNode, type BenchEnv, type ServiceCluster } from './bench-kit';
import { freePort } from './free-port';

const CLOCK_TICKS_PER_SECOND = 100;

export interface ServiceInstance {
  /** 1, 2, …: how the lines name it. */
  number: number;
  url: string;
  pid: number;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
}

/** A sender lease as sender_leases holds it, with the instance whose holder id (`hostname:pid:random`) it carries. */
export interface LeaseRow {
  accountId: string;
  holder: string;
  token: number;
  /** expires_at − now at the server, ms; ≤ 0 once expired. */
  msLeft: number;
  /** The holding instance, or null (released: holder '', or a process that is not one of ours). */
  instance: ServiceInstance | null;
}

/** One fresh database and the service instances sharing it. */
export class PostgresCluster {
  readonly instances: ServiceInstance[] = [];
  private readonly dataDirs: string[] = [];
  private readonly secretKey = randomBytes(32).toString('hex');

  private constructor(
    readonly databaseUrl: string,
    private readonly simUrl: string,
    private readonly client: pg.Client,
    private readonly postmasterPid: number,
  ) {}

  /** Creates (or recreates) database `name` on `server` and connects to it; no instance runs yet. */
  static async open(server: PostgresServer, name: string, simUrl: string): Promise<PostgresCluster> {
    const databaseUrl = await createScratchDatabase(process.env.BENCH_PG_SOCKET ? server.socketUrl : server.url, name);
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('error', () => {}); // the server stopping under us fails the next query instead
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    // A backend is a child of the postmaster: its parent is the server whose processes we count.
    const postmasterPid = parentPid(rows[0]!.pid);
    if (commandOf(postmasterPid) !== 'postgres') throw new Error(`the parent of backend ${rows[0]!.pid} is not postgres`);
    return new PostgresCluster(databaseUrl, simUrl, client, postmasterPid);
  }

  /** Starts one more instance (`extraEnv` e.g. LEASE_TTL_MS) and waits until it listens. */
  async addInstance(extraEnv: NodeJS.ProcessEnv = {}): Promise<ServiceInstance> {
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-pg-'));
    this.dataDirs.push(dataDir);
    const port = await freePort();
    const env = {
      ...process.env, DATABASE_URL: this.databaseUrl, SECRET_KEY: this.secretKey, PORT: String(port), DATA_DIR: dataDir,
      GRAPH_API_URL: this.simUrl, LOG_LEVEL: 'error', ...extraEnv,
    };
    const child = await startNode('main.js', serviceProfileArgs(), env, '"listening"');
    const instance = { number: this.instances.length + 1, url: `http://127.0.0.1:${port}`, pid: child.pid as number, env, child };
    this.instances.push(instance);
    return instance;
  }

  /** The account CLI's environment (any instance's: they share the database and the SECRET_KEY). */
  get serviceEnv(): NodeJS.ProcessEnv {
    const first = this.instances[0];
    if (!first) throw new Error('no instance started');
    return first.env;
  }

  /** The running instances as measureThroughput's cluster, with the server's CPU. */
  asServiceCluster(): ServiceCluster {
    return {
      simUrl: this.simUrl,
      serviceEnv: this.serviceEnv,
      instances: this.instances.filter(isRunning),
      databaseCpuMicros: () => this.serverCpuMicros(),
    };
  }

  /** One instance as the scenarios written for one service process see it. */
  benchEnv(instance: ServiceInstance): BenchEnv {
    return { simUrl: this.simUrl, serviceUrl: instance.url, servicePid: instance.pid, serviceEnv: instance.env };
  }

  /** The sender_leases rows of `accountIds`. */
  async leases(accountIds: readonly string[]): Promise<LeaseRow[]> {
    const { rows } = await this.client.query<{ account_id: string; holder: string; token: string; ms_left: string }>(
      `SELECT account_id, holder, token,
              (extract(epoch FROM expires_at - statement_timestamp()) * 1000)::bigint AS ms_left
       FROM sender_leases WHERE account_id = ANY($1)`,
      [accountIds],
    );
    return rows.map((r) => ({
      accountId: r.account_id, holder: r.holder, token: Number(r.token), msLeft: Number(r.ms_left), instance: this.instanceOf(r.holder),
    }));
  }

  /** The instance whose process id a lease holder (`hostname:pid:random`) names. */
  instanceOf(holder: string): ServiceInstance | null {
    const pid = Number(holder.split(':').at(-2));
    return this.instances.find((i) => i.pid === pid) ?? null;
  }

  /**
   * User + system CPU (µs) of every process of the server: the postmaster and its children alive now (backends,
   * checkpointer, WAL writer, …), plus the children that have exited (the postmaster's cutime/cstime: it waits for them).
   */
  serverCpuMicros(): number {
    let ticks = 0;
    const postmaster = statFields(this.postmasterPid);
    if (postmaster) ticks += Number(postmaster[11]) + Number(postmaster[12]) + Number(postmaster[13]) + Number(postmaster[14]);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const fields = statFields(Number(entry));
      if (fields && Number(fields[1]) === this.postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return (ticks / CLOCK_TICKS_PER_SECOND) * 1e6;
  }

  /** SIGTERM to one instance (it hands its leases over), resolved once it exited. */
  stopInstance(instance: ServiceInstance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return new Promise((resolve) => {
      if (!isRunning(instance)) return resolve();
      instance.child.once('exit', () => resolve());
      instance.child.kill(signal);
    });
  }

  /** Stops every instance, closes the connection and removes the instances' data folders (the database stays). */
  async close(): Promise<void> {
    await Promise.all(this.instances.map((i) => this.stopInstance(i)));
    await this.client.end().catch(() => {});
    for (const dir of this.dataDirs) rmSync(dir, { recursive: true, force: true });
  }
}

const isRunning = (instance: ServiceInstance): boolean => instance.child.exitCode === null && instance.child.signalCode === null;

/** /proc/PID/stat from field 3 (state) on, so [1] = ppid, [11] utime, [12] stime, [13] cutime, [14] cstime; null when gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return null;
  }
}

function parentPid(pid: number): number {
  const fields = statFields(pid);
  if (!fields) throw new Error(`no process ${pid} on this machine: is the PostgreSQL server local?`);
  return Number(fields[1]);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
