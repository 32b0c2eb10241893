// The simulator's own CPU per accepted send, without the service: a load generator that starts a built
// simulator-main.js in a child process, registers ten numbers at 1,000 msg/s whose webhooks go to a local receiver
// answering 200, and sends order_update templates at a fixed total rate over keep-alive connections, as the service
// does (same path, headers and body shape as cloud-api-messenger.ts), with the outcome rates of bench.ts's throughput
// lines (replies and opt-outs). Prints the simulator process's CPU µs per accepted send over the measured window.
// A benchmark, not a test: it prints figures, it asserts nothing.
//
//   npx esbuild service/bench/simulator-cpu-bench.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=dist/bench/simulator-cpu-bench.js
//   node dist/bench/simulator-cpu-bench.js [path/to/simulator-main.js] [--rate 4000] [--seconds 10] [--warmup 2]
//
// The simulator defaults to dist/service/simulator-main.js (`node build-service.mjs --quiet`); pass another build's
// to compare two commits. Extra node flags for the simulator (e.g. --cpu-prof) go in SIM_NODE_ARGS.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';

const CLOCK_TICKS_PER_SECOND = 100;
const SENDERS = 10;
const MPS_PER_SENDER = 1000;
/** bench.ts's INBOUND_LOAD: about 10% of recipients reply and 10% answer STOP. */
const OUTCOMES = { replyRate: 0.175, optOutRate: 0.105 };
/** Sockets to the simulator; the service's messenger allows 128, of which a few dozen are busy at this rate. */
const CONNECTIONS = 32;
/** Sends in flight at most: past it the generator skips sends (and says so) rather than queue without bound. */
const MAX_IN_FLIGHT = 512;
const TICK_MS = 5;

interface Args {
  simulator: string;
  rate: number;
  seconds: number;
  warmup: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { simulator: 'dist/service/simulator-main.js', rate: 4000, seconds: 10, warmup: 2 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--rate') args.rate = Number(argv[++i]);
    else if (arg === '--seconds') args.seconds = Number(argv[++i]);
    else if (arg === '--warmup') args.warmup = Number(argv[++i]);
    else args.simulator = arg;
  }
  if (!(args.rate > 0 && args.seconds > 0 && args.warmup >= 0)) throw new Error(`bad arguments: ${argv.join(' ')}`);
  return args;
}

/** User and system CPU of a process, in microseconds (Linux /proc), as bench-kit.ts's cpuMicros. */
function cpuMicros(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { user: (Number(fields[11]) / CLOCK_TICKS_PER_SECOND) * 1e6, system: (Number(fields[12]) / CLOCK_TICKS_PER_SECOND) * 1e6 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** Answers 200 to every webhook POST; counts them and their bytes. */
function startReceiver(): Promise<{ server: Server; url: string; counts: { posts: number; bytes: number } }> {
  const counts = { posts: 0, bytes: 0 };
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.on('data', (chunk: Buffer) => (counts.bytes += chunk.length));
    req.on('end', () => {
      counts.posts++;
      res.writeHead(200, { 'content-length': '0' }).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts }));
  });
}

async function control(method: string, url: string, body?: unknown): Promise<unknown> {
  const response = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (response.status >= 400) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Distinct Brazilian mobiles, never ending in 0001–0013 (the simulator's fixed-outcome recipients). */
let recipientSeq = 0;
function nextRecipient(): string {
  let n = recipientSeq++;
  while (n % 10_000 >= 1 && n % 10_000 <= 13) n = recipientSeq++;
  return `+55119${String(60_000_000 + n)}`;
}

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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const receiver = await startReceiver();
  const { child, url: simUrl } = await startSimulator(args.simulator);
  const origin = new URL(simUrl).origin;
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 4_000, pipelining: 1 });
  try {
    await control('POST', `${simUrl}/__sim/outcomes`, { outcomes: OUTCOMES });
    const senders: { phoneNumberId: string; campaignId: string; seq: number; path: string; headers: Record<string, string> }[] = [];
    for (let i = 1; i <= SENDERS; i++) {
      const sender = { phoneNumberId: `7000${i}`, wabaId: `8000${i}`, accessToken: `tok${i}`, appSecret: `sec${i}`, campaignId: `c_bench${i}`, seq: 0 };
      await control('POST', `${simUrl}/__sim/numbers`, {
        phoneNumberId: sender.phoneNumberId, wabaId: sender.wabaId, accessToken: sender.accessToken, appSecret: sender.appSecret,
        webhookUrl: `${receiver.url}/webhooks/whatsapp/a_bench${i}`, messagesPerSecond: MPS_PER_SENDER,
      });
      senders.push({ ...sender, path: `/v23.0/${sender.phoneNumberId}/messages`, headers: { authorization: `Bearer ${sender.accessToken}`, 'content-type': 'application/json' } });
    }

    let inFlight = 0;
    let accepted = 0;
    let refused = 0;
    let skipped = 0;
    let firstRefusal: string | undefined;
    let turn = 0;
    const sendOne = () => {
      const sender = senders[turn++ % senders.length]!;
      const messageId = ++sender.seq;
      inFlight++;
      const chunks: Buffer[] = [];
      let status = 0;
      agent.dispatch({ origin, path: sender.path, method: 'POST', headers: sender.headers, body: sendBody(nextRecipient(), sender.campaignId, messageId) }, {
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
          inFlight--;
          if (status === 200) accepted++;
          else {
            refused++;
            firstRefusal ??= `${status} ${Buffer.concat(chunks).toString('utf8')}`;
          }
        },
        onError: (error: Error) => {
          inFlight--;
          refused++;
          firstRefusal ??= String(error);
        },
      });
    };

    const startedAt = performance.now();
    let sent = 0;
    const ticker = setInterval(() => {
      const due = Math.floor((args.rate * (performance.now() - startedAt)) / 1000);
      while (sent < due) {
        sent++;
        if (inFlight >= MAX_IN_FLIGHT) skipped++;
        else sendOne();
      }
    }, TICK_MS);

    await sleep(args.warmup * 1000);
    const cpuBefore = cpuMicros(child.pid!);
    const acceptedBefore = accepted;
    const t0 = performance.now();
    await sleep(args.seconds * 1000);
    const cpuAfter = cpuMicros(child.pid!);
    const acceptedInWindow = accepted - acceptedBefore;
    const userMicros = cpuAfter.user - cpuBefore.user;
    const systemMicros = cpuAfter.system - cpuBefore.system;
    const perSend = (micros: number) => (micros / Math.max(1, acceptedInWindow)).toFixed(1);
    const elapsedS = (performance.now() - t0) / 1000;
    clearInterval(ticker);
    await sleep(1500);
    const stats = (await control('GET', `${simUrl}/__sim/stats`)) as { webhooks: { eventsDelivered: number } };
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    console.log(
      `${perSend(userMicros + systemMicros)} µs CPU/send (user ${perSend(userMicros)}, system ${perSend(systemMicros)}); `
        + `${acceptedInWindow} accepted in ${elapsedS.toFixed(1)} s (${(acceptedInWindow / elapsedS).toFixed(0)}/s, `
        + `sim at ${((userMicros + systemMicros) / 1e4 / elapsedS).toFixed(0)}% of a core); `
        + `refused ${refused}, skipped ${skipped}; webhooks ${receiver.counts.posts} POSTs, ${stats.webhooks.eventsDelivered} events; load ${load}`,
    );
    if (firstRefusal) console.log(`first refusal: ${firstRefusal}`);
  } finally {
    await agent.close().catch(() => undefined);
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    receiver.server.closeAllConnections();
    receiver.server.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
