// `npm run bench webhooks`: how many status webhooks a second the service takes, and how fast it answers them,
// while a campaign sends.
//
// One sender at `sendRate` msg/s. Campaign A is sent first with the simulator's statuses held back (an hour's delay),
// so its rows sit at `sent` with real wamids. Then campaign B sends on the same sender (its own statuses also held
// back, so the only webhooks are ours) while this process posts signed sent/delivered/read webhooks for A's wamids
// to POST /webhooks/whatsapp/:accountId, in Meta's payload shape (service/simulator/webhook-payload.ts, HMAC as
// service/simulator/webhook-signature.ts), at 1×, 3× and 5× the send rate, a few seconds each. Each POST carries
// 1 to 100 statuses (sizes cycling 1, 1, 2, 5, 10, 25, 50, 100: mean 24), up to 16 in flight: Meta batches up to
// 1,000 but does not promise to, and delivers concurrently (CLOUD_API.md 5.5).
//
// Per step it reports: statuses answered 200 per second, statuses applied per second (seen through the campaign's
// counts: a row at `read` has had its three applied, one at `delivered` two; `sent` is a no-op on a row the API's
// 200 already made `sent`), each POST's latency from send to 200 (median, p99, max), the send rate the simulator
// saw meanwhile, and the service's CPU.
import { Agent, request } from 'undici';
import { buildPayload, type StatusEvent, type WebhookTarget } from '../simulator/webhook-payload';
import { signatureFor } from '../simulator/webhook-signature';
import {
  addRows, campaignCounts, cpuMicros, fmt, json, machineLoad, makeAccount, nextRecipient, percentile, sleep, type BenchEnv,
} from './bench-kit';

const HOLD_MS = 3_600_000;
/** The simulator's defaults (outcome-rules.ts), put back afterwards. */
const DEFAULT_DELAYS = { sentMs: 20, deliveredMs: 100, readMs: 300, replyMs: 500 };
const BATCH_SIZES = [1, 1, 2, 5, 10, 25, 50, 100];
const MAX_IN_FLIGHT = 16;
const STATUS_WORDS = ['sent', 'delivered', 'read'] as const;

interface LedgerEntry {
  wamid: string;
  phoneNumberId: string;
  to: string;
  bizOpaqueCallbackData?: string;
}

interface StepStats {
  multiple: number;
  offeredPerS: number;
  startMs: number;
  endMs: number;
  posted: number;
  answered: number;
  errors: number;
  posts: number;
  latenciesMs: number[];
}

/** Posts statuses for `messages` in stream order: message k's sent, delivered, read, then message k + 1's. */
class StatusPoster {
  cursor = 0;
  inFlight = 0;
  private postCount = 0;
  private readonly agent = new Agent({ connections: MAX_IN_FLIGHT, pipelining: 1 });
  private readonly target: WebhookTarget;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    appSecret: string,
    wabaId: string,
    private readonly messages: readonly LedgerEntry[],
  ) {
    this.target = { webhookUrl: url, appSecret, wabaId, displayPhoneNumber: '15550000000' };
  }

  get total(): number {
    return this.messages.length * 3;
  }

  get nextSize(): number {
    return BATCH_SIZES[this.postCount % BATCH_SIZES.length] as number;
  }

  post(size: number, step: StepStats): void {
    const events: StatusEvent[] = [];
    for (const end = Math.min(this.total, this.cursor + size); this.cursor < end; this.cursor++) {
      const message = this.messages[Math.floor(this.cursor / 3)] as LedgerEntry;
      const status = STATUS_WORDS[this.cursor % 3] as StatusEvent['status'];
      events.push({
        kind: 'status', phoneNumberId: message.phoneNumberId, wamid: message.wamid, status, recipientId: message.to,
        bizOpaqueCallbackData: message.bizOpaqueCallbackData, category: 'marketing', hasPricing: status !== 'read',
        hasConversation: false,
      });
    }
    const body = buildPayload(events, () => this.target, Math.floor(Date.now() / 1000), this.postCount++);
    const signature = signatureFor(body, this.target.appSecret, 'escaped-unicode');
    const sentAt = performance.now();
    step.posted += events.length;
    step.posts++;
    this.inFlight++;
    const done = request(this.url, {
      method: 'POST', dispatcher: this.agent, body: Buffer.from(body),
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    }).then(async (response) => {
      await response.body.dump();
      if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`);
      step.latenciesMs.push(performance.now() - sentAt);
      step.answered += events.length;
    }).catch(() => {
      step.errors++;
    }).finally(() => {
      this.inFlight--;
      this.pending.delete(done);
    });
    this.pending.add(done);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.agent.close();
  }
}

/** Statuses applied so far, as the campaign's counts show them. */
function appliedOf(counts: Record<string, number>): number {
  return 3 * (counts.read ?? 0) + 2 * (counts.delivered ?? 0);
}

async function waitForCount(env: BenchEnv, apiKey: string, campaignId: string, status: string, wanted: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await campaignCounts(env.serviceUrl, apiKey, campaignId);
    if ((counts[status] ?? 0) >= wanted) return;
    if (Date.now() > deadline) throw new Error(`campaign ${campaignId}: ${counts[status] ?? 0} of ${wanted} ${status} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

function makeRows(count: number, prefix: string): unknown[] {
  return Array.from({ length: count }, (_, i) => ({ key: `${prefix}${i}`, to: nextRecipient(), params: { first_name: 'Ana', order_id: `O${i}` } }));
}

/** Runs the scenario; returns the table lines (one per step, then the drain after the last step). */
export async function measureWebhookIntake(
  env: BenchEnv,
  sendRate = 1000,
  multiples: readonly number[] = [1, 3, 5],
  stepSeconds = 5,
): Promise<string[]> {
  const account = await makeAccount(env, sendRate);
  const statusesNeeded = multiples.reduce((sum, m) => sum + m * sendRate * stepSeconds, 0);
  const messageCount = Math.ceil((statusesNeeded / 3) * 1.1);
  const template = { name: 'order_update', language: 'en_US' };
  // Nothing the simulator would post may land during the measurement: hold every status back for an hour.
  await json('POST', `${env.simUrl}/__sim/outcomes`, {
    outcomes: { replyRate: 0 }, delays: { sentMs: HOLD_MS, deliveredMs: HOLD_MS, readMs: HOLD_MS, replyMs: HOLD_MS },
  });
  const lines: string[] = [];
  let poster: StatusPoster | null = null;
  let campaignB: string | null = null;
  try {
    // Campaign A: the wamids the statuses are about.
    const ledgerBase = ((await json('GET', `${env.simUrl}/__sim/ledger`)) as { size: number }).size;
    const campaignA = (await json('POST', `${env.serviceUrl}/v1/campaigns`, { name: 'webhook source', template }, account.apiKey)).id as string;
    await addRows(env.serviceUrl, account.apiKey, campaignA, makeRows(messageCount, 'a'));
    await json('POST', `${env.serviceUrl}/v1/campaigns/${campaignA}/start`, undefined, account.apiKey);
    await waitForCount(env, account.apiKey, campaignA, 'sent', messageCount, 60_000 + (messageCount / sendRate) * 3000);
    const ledger = (await json('GET', `${env.simUrl}/__sim/ledger?list=1&offset=${ledgerBase}&limit=100000`)) as { entries: LedgerEntry[] };
    const messages = ledger.entries.filter((e) => e.phoneNumberId === account.phoneNumberId);
    if (messages.length !== messageCount) throw new Error(`ledger holds ${messages.length} of campaign A's ${messageCount} messages`);

    // Campaign B: the sends going on meanwhile.
    const totalSeconds = multiples.length * stepSeconds;
    campaignB = (await json('POST', `${env.serviceUrl}/v1/campaigns`, { name: 'sending meanwhile', template }, account.apiKey)).id as string;
    await addRows(env.serviceUrl, account.apiKey, campaignB, makeRows(Math.ceil(sendRate * (totalSeconds + 8)), 'b'));
    await json('POST', `${env.serviceUrl}/v1/campaigns/${campaignB}/start`, undefined, account.apiKey);
    await sleep(1500);

    poster = new StatusPoster(`${env.serviceUrl}/webhooks/whatsapp/${account.accountId}`, account.appSecret, account.wabaId, messages);
    const steps: StepStats[] = [];
    const samples: { counts: Record<string, number>; accepted: number; throttled: number; cpu: number; atMs: number }[] = [];
    const sample = async () => {
      const stats = await json('GET', `${env.simUrl}/__sim/stats`);
      samples.push({
        counts: await campaignCounts(env.serviceUrl, account.apiKey, campaignA),
        accepted: (stats.numbers[account.phoneNumberId]?.accepted ?? 0) as number,
        throttled: (stats.rejectedByCode?.['130429'] ?? 0) as number,
        cpu: cpuMicros(env.servicePid),
        atMs: performance.now(),
      });
    };
    await sample();
    for (const multiple of multiples) {
      const rate = multiple * sendRate;
      const step: StepStats = { multiple, offeredPerS: rate, startMs: performance.now(), endMs: 0, posted: 0, answered: 0, errors: 0, posts: 0, latenciesMs: [] };
      steps.push(step);
      const startCursor = poster.cursor;
      const endAt = step.startMs + stepSeconds * 1000;
      // Open loop: the schedule says how many statuses are due; a full batch leaves when there is one and a
      // connection is free. A service too slow to answer shows as a step posting less than it was offered.
      for (let now = performance.now(); now < endAt; now = performance.now()) {
        const due = Math.min(poster.total, startCursor + Math.floor((rate * (now - step.startMs)) / 1000));
        while (due - poster.cursor >= poster.nextSize && poster.inFlight < MAX_IN_FLIGHT) poster.post(poster.nextSize, step);
        await sleep(2);
      }
      step.endMs = performance.now();
      await sample();
    }
    await poster.close();
    const lastAnswerAt = performance.now();
    const sentTotal = poster.cursor;
    // What the counts show once all of it is applied: 3 per whole message, 2 when the last one got only sent + delivered.
    const drainTarget = Math.floor(sentTotal / 3) * 3 + (sentTotal % 3 === 2 ? 2 : 0);
    // The inbox drains after the answers: how long until every posted status shows in the counts.
    let drainMs = Number.NaN;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
      if (appliedOf(await campaignCounts(env.serviceUrl, account.apiKey, campaignA)) >= drainTarget) {
        drainMs = performance.now() - lastAnswerAt;
        break;
      }
    }
    await json('POST', `${env.serviceUrl}/v1/campaigns/${campaignB}/cancel`, undefined, account.apiKey).catch(() => {});

    steps.forEach((step, i) => {
      const before = samples[i]!;
      const after = samples[i + 1]!;
      const seconds = (after.atMs - before.atMs) / 1000;
      const sorted = [...step.latenciesMs].sort((a, b) => a - b);
      const answeredPerS = step.answered / ((step.endMs - step.startMs) / 1000);
      const appliedPerS = (appliedOf(after.counts) - appliedOf(before.counts)) / seconds;
      const sendPerS = (after.accepted - before.accepted) / seconds;
      const cpuShare = (after.cpu - before.cpu) / 1e6 / seconds;
      const median = percentile(sorted, 0.5);
      const p99 = percentile(sorted, 0.99);
      // Kept up: answered (nearly) all that was offered, at least 3× what was sent meanwhile. Measured against the
      // offer, not 3× the sends: a sender at 998 msg/s against an offer of 3,000 statuses/s is not a shortfall.
      const keptUp = step.offeredPerS >= 3 * sendPerS && answeredPerS >= 0.99 * step.offeredPerS && appliedPerS >= 0.95 * step.offeredPerS;
      const verdict = step.multiple >= 3
        ? ` ≥ 3× the send rate, median < 50 ms, p99 < 250 ms: **${keptUp && median < 50 && p99 < 250 && step.errors === 0 ? 'met' : 'not met'}**`
        : '';
      lines.push(`| webhook intake at ${step.multiple}× (${fmt(step.offeredPerS)} statuses/s offered) while one sender sends at ${fmt(sendRate)} msg/s `
        + `| answered ${fmt(answeredPerS)}/s, applied ${fmt(appliedPerS)}/s `
        + `| POST → 200 median ${fmt(median, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(sorted.at(-1) ?? Number.NaN, 0)} ms over ${fmt(step.posts)} POSTs`
        + `${step.errors ? `, ${step.errors} failed` : ''} `
        + `| sends ${fmt(sendPerS)} msg/s (130429s: ${after.throttled - before.throttled}); service CPU ${fmt(cpuShare * 100)}% of a core;${verdict} |`);
    });
    lines.push(`| webhook intake: inbox drained after the last POST | all ${fmt(sentTotal)} posted statuses applied ${Number.isNaN(drainMs) ? 'not within 60 s' : `${fmt(drainMs)} ms after the last 200`} `
      + `| ${fmt(messageCount)} messages × sent, delivered, read; POSTs of 1–100 statuses, ≤ ${MAX_IN_FLIGHT} in flight | ${machineLoad()} |`);
    return lines;
  } finally {
    await poster?.close().catch(() => {});
    if (campaignB) await json('POST', `${env.serviceUrl}/v1/campaigns/${campaignB}/cancel`, undefined, account.apiKey).catch(() => {});
    await json('POST', `${env.simUrl}/__sim/outcomes`, { outcomes: { replyRate: 0 }, delays: DEFAULT_DELAYS });
  }
}
