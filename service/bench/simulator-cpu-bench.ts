// The simulator's own CPU per accepted send, without the service: a load generator that starts a built
// simulator-main.js in a child process, registers ten numbers at 1,000 msg/s whose webhooks go to a local receiver
// answering 200, and sends order_update templates at a fixed total rate over keep-alive connections, as the service
// does (same path, headers and body shape as cloud-api-messenger.ts), with the outcome rates of bench.ts's throughput
// lines (replies and opt-outs). Prints the simulator process's CPU µs per accepted send over the measured window.
// A benchmark, not a test: it prints figures, it asserts nothing.
//
//   npx esbuild service/bench/simulator-cpu-bench.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=dist/bench/simulator-cpu-bench.js
//   node dist/bench/simulator-cpu-bench.js [path/to/simulator-main.js ...] [--rate 4000] [--seconds 10] [--warmup 2]
//
// The simulator defaults to dist/service/simulator-main.js (`node build-service.mjs --quiet`); pass another build's
// to measure another commit. Given several builds, it runs them side by side, each sent the same messages at --rate
// in the same ticks, so that the machine's ups and downs (other processes, a busy host) weigh on both alike: a fairer
// A/B comparison than runs one after the other, though each then shares the machine with the other (two builds at
// --rate 3000 keep this 2-core machine below saturation). Extra node flags for the simulators (e.g. --cpu-prof) go in
// SIM_NODE_ARGS.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { cpuTimesMicros, INBOUND_LOAD, json, machineLoad, nextRecipient, sleep } from './bench-kit';

const SENDERS = 10;
const MPS_PER_SENDER = 1000;
/** Sockets to the simulator; the service's messenger allows 128, of which a few dozen are busy at this rate. */
const CONNECTIONS = 32;
/** Sends in flight at most: past it the generator skips sends (and says so) rather than queue without bound. */
const MAX_IN_FLIGHT = 512;
const TICK_MS = 5;

interface Args {
  simulators: string[];
  rate: number;
  seconds: number;
  warmup: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { simulators: [], rate: 4000, seconds: 10, warmup: 2 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--rate') args.rate = Number(argv[++i]);
    else if (arg === '--seconds') args.seconds = Number(argv[++i]);
    else if (arg === '--warmup') args.warmup = Number(argv[++i]);
    else args.simulators.push(arg);
  }
  if (args.simulators.length === 0) args.simulators.push('dist/service/simulator-main.js');
  if (!(args.rate > 0 && args.seconds > 0 && args.warmup >= 0)) throw new Error(`bad arguments: ${argv.join(' ')}`);
  return args;
}

function startSimulator(script: string): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env.SIM_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script], {
      env: { ...process.env, SIMULATOR_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = /\{"url":"[^"]+"\}/.exec(out);
      if (line) resolve({ child, url: (JSON.parse(line[0]) as { url: string }).url });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}): ${out}`)));
  });
}

/** Answers 200 to every webhook POST, once its body has arrived. */
function startReceiver(): Promise<{ server: Server; url: string }> {
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-length': '0' }).end());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

/** Distinct Brazilian mobiles, never ending in 0001–0013 (the simulator's fixed-outcome recipients). */
/** The body cloud-api-messenger.ts sends for an order_update row (template-params.ts's named body parameters). */
function sendBody(to: string, campaignId: string, messageId: number): string {
  return JSON.stringify({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: 'order_update',
      language: { code: 'en_US' },
      components: [{
        type: 'body',
        parameters: [
          { type: 'text', parameter_name: 'first_name', text: 'Ana' },
          { type: 'text', parameter_name: 'order_id', text: `O${messageId}` },
        ],
      }],
    },
    biz_opaque_callback_data: `${campaignId}.${messageId}`,
  });
}

/** One simulator under load: its process, its ten numbers and what its answers were. */
class Target {
  readonly senders: { phoneNumberId: string; campaignId: string; seq: number; path: string; headers: Record<string, string> }[] = [];
  readonly agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 4_000, pipelining: 1 });
  inFlight = 0;
  accepted = 0;
  refused = 0;
  skipped = 0;
  firstRefusal: string | undefined;
  private turn = 0;
  private readonly origin: string;

  constructor(
    readonly script: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.origin = new URL(url).origin;
  }

  async setUp(receiverUrl: string): Promise<void> {
    await json('POST', `${this.url}/__sim/outcomes`, { outcomes: INBOUND_LOAD });
    for (let i = 1; i <= SENDERS; i++) {
      const phoneNumberId = `7000${i}`;
      await json('POST', `${this.url}/__sim/numbers`, {
        phoneNumberId, wabaId: `8000${i}`, accessToken: `tok${i}`, appSecret: `sec${i}`,
        webhookUrl: `${receiverUrl}/webhooks/whatsapp/a_bench${i}`, messagesPerSecond: MPS_PER_SENDER,
      });
      this.senders.push({
        phoneNumberId, campaignId: `c_bench${i}`, seq: 0, path: `/v23.0/${phoneNumberId}/messages`,
        headers: { authorization: `Bearer tok${i}`, 'content-type': 'application/json' },
      });
    }
  }

  /** One send of the next sender in turn, unless MAX_IN_FLIGHT are already waiting. */
  send(recipient: string): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.skipped++;
      return;
    }
    const sender = this.senders[this.turn++ % this.senders.length]!;
    const messageId = ++sender.seq;
    this.inFlight++;
    const chunks: Buffer[] = [];
    let status = 0;
    const body = sendBody(recipient, sender.campaignId, messageId);
    this.agent.dispatch({ origin: this.origin, path: sender.path, method: 'POST', headers: sender.headers, body }, {
      onConnect: () => undefined,
      onHeaders: (code: number) => {
        status = code;
        return true;
      },
      onData: (chunk: Buffer) => {
        chunks.push(chunk);
        return true;
      },
      onComplete: () => {
        this.inFlight--;
        if (status === 200) this.accepted++;
        else {
          this.refused++;
          this.firstRefusal ??= `${status} ${Buffer.concat(chunks).toString('utf8')}`;
        }
      },
      onError: (error: Error) => {
        this.inFlight--;
        this.refused++;
        this.firstRefusal ??= String(error);
      },
    });
  }

  async stop(): Promise<void> {
    await this.agent.close().catch(() => undefined);
    this.child.kill('SIGTERM');
    await new Promise((resolve) => (this.child.exitCode !== null ? resolve(undefined) : this.child.once('exit', resolve)));
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const receiver = await startReceiver();
  const targets: Target[] = [];
  try {
    for (const script of args.simulators) {
      const { child, url } = await startSimulator(script);
      const target = new Target(script, child, url);
      targets.push(target);
      await target.setUp(receiver.url);
    }
    // Every simulator gets the same sends (the same recipients) in the same ticks.
    const startedAt = performance.now();
    let sent = 0;
    const ticker = setInterval(() => {
      const due = Math.floor((args.rate * (performance.now() - startedAt)) / 1000);
      for (; sent < due; sent++) {
        const recipient = nextRecipient();
        for (const target of targets) target.send(recipient);
      }
    }, TICK_MS);

    await sleep(args.warmup * 1000);
    const before = targets.map((t) => ({ cpu: cpuTimesMicros(t.child.pid!), accepted: t.accepted }));
    const t0 = performance.now();
    await sleep(args.seconds * 1000);
    const after = targets.map((t) => ({ cpu: cpuTimesMicros(t.child.pid!), accepted: t.accepted }));
    const elapsedS = (performance.now() - t0) / 1000;
    clearInterval(ticker);
    await sleep(1500);
    const load = machineLoad();
    for (const [i, target] of targets.entries()) {
      const accepted = after[i]!.accepted - before[i]!.accepted;
      const userMicros = after[i]!.cpu.user - before[i]!.cpu.user;
      const systemMicros = after[i]!.cpu.system - before[i]!.cpu.system;
      const perSend = (micros: number) => (micros / Math.max(1, accepted)).toFixed(1);
      const stats = (await json('GET', `${target.url}/__sim/stats`)) as { webhooks: { eventsDelivered: number; postsDelivered: number } };
      console.log(
        `${targets.length > 1 ? `${target.script}: ` : ''}${perSend(userMicros + systemMicros)} µs CPU/send (user ${perSend(userMicros)}, `
          + `system ${perSend(systemMicros)}); ${accepted} accepted in ${elapsedS.toFixed(1)} s (${(accepted / elapsedS).toFixed(0)}/s, `
          + `sim at ${((userMicros + systemMicros) / 1e4 / elapsedS).toFixed(0)}% of a core); refused ${target.refused}, skipped ${target.skipped}; `
          + `webhooks ${stats.webhooks.postsDelivered} POSTs, ${stats.webhooks.eventsDelivered} events; ${load}`,
      );
      if (target.firstRefusal) console.log(`first refusal: ${target.firstRefusal}`);
    }
  } finally {
    for (const target of targets) await target.stop();
    receiver.server.closeAllConnections();
    receiver.server.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
