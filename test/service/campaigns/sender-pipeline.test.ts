// SenderPipeline against an in-memory SQLite store, a fake clock and a scripted Messenger: the per-sender cap,
// exactly-once sends, what each kind of Cloud API answer does to a row, and the daily, pair and error budgets.
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { StateReason } from '../../../service/campaigns/campaign';
import type {
  Account, Campaign, Logger, Messenger, SenderCredentials, SendRequest, SendResult, WebhookEffects,
} from '../../../service/campaigns/ports';
import { GroupCommit } from '../../../service/campaigns/group-commit';
import { SenderPipeline, type PipelineLease, type SenderPipelineOptions } from '../../../service/campaigns/sender-pipeline';
import type { TemplateDefinition } from '../../../service/campaigns/template';
import { DEFAULT_FREQUENCY_CAP_POLICY } from '../../../service/campaigns/frequency-cap';
import { statusChangesFor } from '../../../service/webhooks/apply-status-events';
import { FakeClock } from '../../fakes/fake-clock';
import { applyEffects, plainCipher } from '../store-contract/store-contract';
import { maxInAnyWindow } from './busiest-window';

const ACCOUNT_ID = 'a_test';
const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}!', footerText: null, buttons: [],
  parameters: [{ key: '1', component: 'body', example: 'Ann' }],
};

interface Call {
  to: string;
  callbackData: string;
  atMs: number;
  /** The send went to /marketing_messages (the sender's route flag and the template's category). */
  isViaMarketingApi: boolean;
}

/** A Messenger whose answers the test scripts; records who was sent to and when (fake time). */
class ScriptedMessenger implements Messenger {
  readonly calls: Call[] = [];
  private wamids = 0;

  constructor(private readonly clock: FakeClock, public answer: (request: SendRequest, call: Call) => SendResult = () => ({ kind: 'accepted', wamid: '' })) {}

  /** How long a request takes, after its launch, to be written (a connection opening, a process frozen meanwhile). */
  writeDelayMs = 0;

  send(sender: SenderCredentials, request: SendRequest): Promise<SendResult> {
    if (this.writeDelayMs === 0) return Promise.resolve(this.write(sender, request));
    return new Promise((resolve) => this.clock.setTimer(this.writeDelayMs, () => resolve(this.write(sender, request))));
  }

  /** Like the real messenger: asks mayLeave the instant before writing, and records only what was written. */
  private write(sender: SenderCredentials, request: SendRequest): SendResult {
    if (!request.mayLeave()) return { kind: 'withheld' };
    const call = { to: request.to, callbackData: request.callbackData, atMs: this.clock.now(), isViaMarketingApi: sender.marketingMessagesApi && request.isMarketing };
    this.calls.push(call);
    const result = this.answer(request, call);
    return result.kind === 'accepted' && result.wamid === '' ? { kind: 'accepted', wamid: `wamid.${++this.wamids}` } : result;
  }

  callsTo(to: string): Call[] {
    return this.calls.filter((c) => c.to === to);
  }
}

const metaError = (code: number, httpStatus = 400): SendResult => ({ kind: 'error', httpStatus, code, message: `(#${code})` });

interface Harness {
  clock: FakeClock;
  store: SqliteStore;
  messenger: ScriptedMessenger;
  pipeline: SenderPipeline;
  halts: { campaignId: string; reason: StateReason }[];
  waits: { campaignId: string; reason: StateReason | null }[];
  drained: string[];
  lease: PipelineLease;
  leaseLost: number;
  /** Times the pipeline said it switched to /marketing_messages (a 131063). */
  marketingApiSwitches: number;
  campaign(id: string, numbers: readonly string[]): Promise<Campaign>;
  statusOf(campaignId: string, to: string): Promise<{ status: string; error: { code: string; message: string } | null }>;
}

let open: Harness | null = null;

afterEach(async () => {
  if (open) {
    await open.pipeline.stop();
    await open.store.close();
    open = null;
  }
});

function number(i: number): string {
  return `+9198${String(10_000_000 + i).padStart(8, '0')}`;
}

async function harness(options: Partial<SenderPipelineOptions> = {}, commitDelayMs = 2): Promise<Harness> {
  const clock = new FakeClock();
  const store = new SqliteStore(':memory:', plainCipher);
  const account: Account = {
    id: ACCOUNT_ID, name: 'T', isSandbox: true, phoneNumberId: '100', wabaId: '200', messagesPerSecond: 80,
    dailyLimit: null, defaultCountry: null, retentionDays: 30, optOutWords: [], marketingMessagesApi: false, createdAt: clock.now(),
  };
  await store.insertAccount({ account, secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: 'h' });
  const lease = await store.acquireSenderLease(ACCOUNT_ID, 'test', 3_600_000);
  if (!lease) throw new Error('no lease');
  const pipelineLease: PipelineLease = { fence: { accountId: ACCOUNT_ID, token: lease.token }, launchDeadlineMs: Infinity };
  const messenger = new ScriptedMessenger(clock);
  const halts: Harness['halts'] = [];
  const waits: Harness['waits'] = [];
  const drained: string[] = [];
  // Acts like the engine: a halted campaign is paused, so the pipeline stops sending it.
  const pipeline: SenderPipeline = new SenderPipeline(
    { accountId: ACCOUNT_ID, isSandbox: true, phoneNumberId: '100', accessToken: 't', marketingMessagesApi: false },
    store, messenger, clock, silentLogger,
    {
      onHalt: (campaignId, reason) => {
        halts.push({ campaignId, reason });
        pipeline.removeCampaign(campaignId);
      },
      onWaiting: (campaignId, reason) => waits.push({ campaignId, reason }),
      onDrained: (campaignId) => drained.push(campaignId),
      onLeaseLost: () => {
        h.leaseLost++;
      },
      onMarketingMessagesApi: () => {
        h.marketingApiSwitches++;
      },
    },
    new GroupCommit(store, clock, commitDelayMs, (error) => { throw error; }),
    pipelineLease,
    { ratePerSecond: 80, dailyLimit: null, ...options },
  );
  await pipeline.restoreLimits();
  const h: Harness = {
    clock, store, messenger, pipeline, halts, waits, drained, lease: pipelineLease, leaseLost: 0, marketingApiSwitches: 0,
    async campaign(id, numbers) {
      const campaign: Campaign = {
        id, accountId: ACCOUNT_ID, name: id, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
        sendAt: null, defaultCountry: null, sheet: null, state: 'running', stateReason: null, createdAt: clock.now(),
        startedAt: clock.now(), finishedAt: null,
      };
      await store.insertCampaign(campaign);
      await store.addMessages(id, ACCOUNT_ID,
        numbers.map((to, i) => ({ key: `k${i}`, to, params: { 1: `P${i}` }, headerMedia: null })), ['running'], clock.now());
      return campaign;
    },
    async statusOf(campaignId, to) {
      const row = (await store.listMessagesChangedAfter(campaignId, 0, 100_000)).find((m) => m.to === to);
      if (!row) throw new Error(`no row for ${to}`);
      return { status: row.status, error: row.error };
    },
  };
  open = h;
  return h;
}

/**
 * Applies webhook effects as the webhook processor does (the body saved, then applied), then has the sender read its
 * requeued rows again, as the engine does.
 */
async function applyWebhook(h: Harness, effects: Partial<WebhookEffects>): Promise<void> {
  const applied = await applyEffects(h.store, ACCOUNT_ID, effects, h.clock.now());
  for (const id of applied.requeuedCampaignIds) h.pipeline.rereadWaiting(id);
}

/** Meta's failed status webhook (131049) for the row of `to` in campaign c1; returns when it failed. */
async function capWith131049(h: Harness, to: string): Promise<number> {
  const row = (await h.store.listMessagesChangedAfter('c1', 0, 100)).find((v) => v.to === to) as { wamid: string | null };
  const failedAtMs = h.clock.now();
  const { changes } = statusChangesFor([{
    kind: 'status', phoneNumberId: '100', wamid: row.wamid as string, status: 'failed', timestampMs: failedAtMs,
    recipientId: null, recipientUserId: null, callbackData: null, error: { code: '131049', message: 'Held back.' },
  }], { policy: DEFAULT_FREQUENCY_CAP_POLICY, nowMs: failedAtMs });
  await applyWebhook(h, { statuses: changes });
  return failedAtMs;
}

function callsInside(calls: readonly Call[], fromMs: number, toMs: number): number {
  return calls.filter((c) => c.atMs >= fromMs && c.atMs < toMs).length;
}

describe('SenderPipeline', () => {
  it('keeps 99% of 1,000/s while each send waits 4 ms for its commit: a send leaves when its place frees', async () => {
    const h = await harness({ ratePerSecond: 1000 }, 4);
    const numbers = Array.from({ length: 12_000 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(12_000);

    const startMs = h.messenger.calls[0]?.atMs ?? 0;
    const times = h.messenger.calls.map((c) => c.atMs - startMs);
    expect(maxInAnyWindow(times)).toBeLessThanOrEqual(1000);
    // Each place is reused 1 s plus the limiter's 2 ms margin after its last send, and not a commit later:
    // 7,000 sends take no more than 7 × 1,002.5 ms (without starting ahead they took 7 × 1,006 ms).
    expect((times[8000] as number) - (times[1000] as number)).toBeLessThanOrEqual(7 * 1002.5);
    expect(new Set(h.messenger.calls.map((c) => c.to)).size).toBe(h.messenger.calls.length);
  });

  it('sends 2,000 rows at 80/s without ever exceeding 80 starts in any rolling second, each row once', async () => {
    const h = await harness();
    const numbers = Array.from({ length: 2000 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(30_000);

    expect(h.messenger.calls).toHaveLength(2000);
    expect(new Set(h.messenger.calls.map((c) => c.callbackData)).size).toBe(2000);
    expect(new Set(h.messenger.calls.map((c) => c.to))).toEqual(new Set(numbers));
    expect(maxInAnyWindow(h.messenger.calls.map((c) => c.atMs))).toBeLessThanOrEqual(80);
    // ...and close to the cap: 2,000 rows take about 25 s, not much longer.
    const spanMs = (h.messenger.calls.at(-1) as Call).atMs - (h.messenger.calls[0] as Call).atMs;
    expect(spanMs).toBeLessThan(25_500);
    expect(await h.store.countByStatus('c1')).toMatchObject({ sent: 2000, queued: 0, sending: 0 });
    expect(h.drained).toEqual(['c1']);
  });

  it('requeues rows refused with 130429 and slows the sender down when such errors are a real share', async () => {
    const h = await harness();
    const numbers = Array.from({ length: 600 }, (_, i) => number(i));
    const refused = new Set(numbers.slice(300, 305));
    let throttledAt: number | null = null;
    h.messenger.answer = (request, call) => {
      if (refused.delete(request.to)) {
        throttledAt ??= call.atMs;
        return metaError(130429);
      }
      return { kind: 'accepted', wamid: '' };
    };
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(20_000);

    expect(throttledAt).not.toBeNull();
    const at = throttledAt as unknown as number;
    const before = h.messenger.calls.filter((c) => c.atMs < at).map((c) => c.atMs);
    const busiestBefore = maxInAnyWindow(before);
    expect(busiestBefore).toBeGreaterThanOrEqual(79);
    // Five refusals in a second of 80 sends: clearly slower in the second after them (the rate drops 5-10%).
    expect(callsInside(h.messenger.calls, at + 100, at + 1100)).toBeLessThanOrEqual(busiestBefore - 3);
    // Each row is sent again later, and only once more.
    for (const to of numbers.slice(300, 305)) {
      expect(h.messenger.callsTo(to)).toHaveLength(2);
      expect((await h.statusOf('c1', to)).status).toBe('sent');
    }
    expect(h.messenger.calls).toHaveLength(605);
  });

  it('retries a row refused by a stray 130429 without slowing the sender', async () => {
    const h = await harness();
    const numbers = Array.from({ length: 600 }, (_, i) => number(i));
    let throttledAt: number | null = null;
    h.messenger.answer = (request, call) => {
      if (request.to === number(300) && throttledAt === null) {
        throttledAt = call.atMs;
        return metaError(130429);
      }
      return { kind: 'accepted', wamid: '' };
    };
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(20_000);
    const at = throttledAt as unknown as number;
    expect(callsInside(h.messenger.calls, at + 100, at + 1100)).toBeGreaterThanOrEqual(79);
    expect(h.messenger.callsTo(number(300))).toHaveLength(2);
    expect((await h.statusOf('c1', number(300))).status).toBe('sent');
    expect(h.messenger.calls).toHaveLength(601);
  });

  it('retries a 131056 (pair rate) after 4^X seconds while other recipients go on', async () => {
    const h = await harness();
    const target = number(1);
    let failures = 0;
    h.messenger.answer = (request) => {
      if (request.to === target && failures < 3) {
        failures++;
        return metaError(131056);
      }
      return { kind: 'accepted', wamid: '' };
    };
    h.pipeline.addCampaign(await h.campaign('c1', [target, number(2), number(3)]));
    await h.clock.advance(5000);
    expect(await h.statusOf('c1', target)).toMatchObject({ status: 'queued', error: { code: '131056' } });
    expect((await h.statusOf('c1', number(2))).status).toBe('sent');
    expect((await h.statusOf('c1', number(3))).status).toBe('sent');

    await h.clock.advance(60_000);
    const times = h.messenger.callsTo(target).map((c) => c.atMs);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // Backoff 1 s, 4 s, 16 s; the 6-second pair spacing is the floor under the first two.
    gaps.forEach((gap, x) => expect(gap).toBeGreaterThanOrEqual(Math.max(4 ** x * 1000, 6000)));
    // Exactly the backoff, plus the few ms a send waits for its `sending` row's group commit.
    expect(gaps[2]).toBeGreaterThanOrEqual(16_000);
    expect(gaps[2]).toBeLessThan(16_010);
    expect((await h.statusOf('c1', target)).status).toBe('sent');
  });

  it('a frequency-capped row (131049) waits 24 h, says so, goes again once; a reply from the person makes it due at once', async () => {
    const h = await harness();
    const DAY = 24 * 3600 * 1000;
    const [capped, other] = [number(1), number(2)];
    h.pipeline.addCampaign(await h.campaign('c1', [capped, other]));
    await h.clock.advance(1000);
    expect(h.messenger.calls.map((c) => c.to)).toEqual([capped, other]);

    const failedAtMs = await capWith131049(h, capped);
    await h.clock.advance(5000);
    expect(await h.statusOf('c1', capped)).toMatchObject({ status: 'queued', error: { code: '131049' } });
    expect(h.waits.at(-1)).toMatchObject({ campaignId: 'c1', reason: { code: 'frequency_cap' } });
    // Not drained while the row waits in memory: the engine does not finish the campaign meanwhile.
    expect(h.pipeline.isDrained('c1')).toBe(false);

    await h.clock.advance(DAY - 10_000);
    expect(h.messenger.callsTo(capped)).toHaveLength(1);
    await h.clock.advance(10_000);
    const retries = h.messenger.callsTo(capped);
    expect(retries).toHaveLength(2);
    expect((retries[1] as Call).atMs).toBeGreaterThanOrEqual(failedAtMs + DAY);
    expect((retries[1] as Call).atMs).toBeLessThan(failedAtMs + DAY + 1000);
    expect(h.messenger.callsTo(other)).toHaveLength(1);
    expect((await h.statusOf('c1', capped)).status).toBe('sent');
    expect(h.waits.at(-1)).toMatchObject({ campaignId: 'c1', reason: null });

    // Capped again; an hour later the person writes: their row goes within a second, not a day later.
    await capWith131049(h, capped);
    await h.clock.advance(3_600_000);
    expect(h.messenger.callsTo(capped)).toHaveLength(2);
    await applyWebhook(h, {
      replies: [{ contextWamid: null, recipients: [capped], userId: null, text: 'Is the sale still on?', atMs: h.clock.now(), isOptOut: false }],
    });
    await h.clock.advance(1000);
    expect(h.messenger.callsTo(capped)).toHaveLength(3);
    expect(h.messenger.callsTo(other)).toHaveLength(1);
  });

  it('names the next frequency-cap retry still ahead, not one that has gone already', async () => {
    const h = await harness();
    const DAY = 24 * 3600 * 1000;
    const [first, second] = [number(1), number(2)];
    h.pipeline.addCampaign(await h.campaign('c1', [first, second]));
    await h.clock.advance(1000);
    const firstRetryAt = (await capWith131049(h, first)) + DAY;
    await h.clock.advance(3_600_000);
    const secondRetryAt = (await capWith131049(h, second)) + DAY;
    await h.clock.advance(1000);
    const reason = () => (h.waits.at(-1)?.reason?.message ?? '');
    expect(reason()).toContain(`held back 2 marketing messages`);
    expect(reason()).toContain(new Date(firstRetryAt).toISOString());

    await h.clock.advance(firstRetryAt - h.clock.now() + 1000);
    expect(h.messenger.callsTo(first)).toHaveLength(2);
    expect(reason()).toContain('held back 1 marketing message ');
    expect(reason()).toContain(new Date(secondRetryAt).toISOString());
  });

  for (const [label, answer] of [
    ['131026 (undeliverable)', metaError(131026)],
    ['132000 (parameter count mismatch)', metaError(132000)],
  ] as const) {
    it(`fails a row refused with ${label} with the code, and never retries it`, async () => {
      const h = await harness();
      h.messenger.answer = (request) => (request.to === number(1) ? answer : { kind: 'accepted', wamid: '' });
      h.pipeline.addCampaign(await h.campaign('c1', [number(1), number(2)]));
      await h.clock.advance(120_000);

      const row = await h.statusOf('c1', number(1));
      expect(row.status).toBe('failed');
      expect(row.error?.code).toBe(String((answer as { code: number }).code));
      expect(row.error?.message).toMatch(/[a-z]/);
      expect(h.messenger.callsTo(number(1))).toHaveLength(1);
      expect((await h.statusOf('c1', number(2))).status).toBe('sent');
      expect(h.halts).toEqual([]);
    });
  }

  it('pauses the campaign through onHalt on an account error (190) and keeps its rows queued', async () => {
    const h = await harness();
    h.messenger.answer = () => metaError(190, 401);
    h.pipeline.addCampaign(await h.campaign('c1', [number(1), number(2), number(3)]));
    await h.clock.advance(60_000);

    expect(h.halts).toHaveLength(1);
    expect(h.halts[0]).toMatchObject({ campaignId: 'c1', reason: { code: 'meta_190' } });
    expect(h.halts[0]?.reason.message).toMatch(/token/i);
    expect(await h.store.countByStatus('c1')).toMatchObject({ queued: 3, failed: 0, sending: 0 });
    const callsAtHalt = h.messenger.calls.length;
    await h.clock.advance(60_000);
    expect(h.messenger.calls.length).toBe(callsAtHalt);
    expect(callsAtHalt).toBeLessThanOrEqual(3);
  });

  it('on 131063 from /messages switches to /marketing_messages once and sends each refused row again there, failing none', async () => {
    const h = await harness();
    // Marketing is off on /messages for this WABA: only the Marketing Messages API takes the marketing template.
    h.messenger.answer = (_request, call) => (call.isViaMarketingApi ? { kind: 'accepted', wamid: '' } : metaError(131063));
    const numbers = Array.from({ length: 200 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(10_000);

    expect(await h.store.countByStatus('c1')).toMatchObject({ sent: 200, failed: 0, queued: 0, sending: 0 });
    expect(h.marketingApiSwitches).toBe(1);
    expect(h.halts).toEqual([]);
    for (const to of numbers) expect(h.messenger.callsTo(to).filter((c) => c.isViaMarketingApi), to).toHaveLength(1);
    // The sender switched once for all: after its first send through the MM API, none went to /messages, and only
    // the sends launched before the first refusal was answered met /messages (a pump's worth, not the campaign).
    const firstViaMm = h.messenger.calls.findIndex((c) => c.isViaMarketingApi);
    expect(h.messenger.calls.slice(firstViaMm).filter((c) => !c.isViaMarketingApi)).toEqual([]);
    expect(firstViaMm).toBeGreaterThan(0);
    expect(firstViaMm).toBeLessThan(20);
  });

  it('pauses on a 131063 from /marketing_messages itself (nothing left to switch to), never looping', async () => {
    const h = await harness();
    h.messenger.answer = () => metaError(131063);
    h.pipeline.addCampaign(await h.campaign('c1', [number(1), number(2)]));
    await h.clock.advance(10_000);
    expect(h.marketingApiSwitches).toBe(1);
    expect(h.halts).toHaveLength(1);
    expect(h.halts[0]).toMatchObject({ campaignId: 'c1', reason: { code: 'meta_131063' } });
    expect(h.messenger.calls.length).toBeLessThanOrEqual(4);
    expect(await h.store.countByStatus('c1')).toMatchObject({ queued: 2, failed: 0 });
  });

  it('pauses a campaign whose sends mostly fail (error budget), leaving the rest queued', async () => {
    const h = await harness();
    h.messenger.answer = () => metaError(131026);
    const numbers = Array.from({ length: 200 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(10_000);

    expect(h.halts).toEqual([{ campaignId: 'c1', reason: expect.objectContaining({ code: 'error_budget' }) }]);
    const counts = await h.store.countByStatus('c1');
    expect(counts.failed).toBeGreaterThanOrEqual(20);
    expect(counts.failed).toBeLessThan(40);
    expect(counts.queued).toBe(200 - counts.failed);
    expect(h.messenger.calls).toHaveLength(counts.failed);
  });

  it('pauses on an account or template code that arrives later in a failed status webhook', async () => {
    const h = await harness();
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 100 }, (_, i) => number(i))));
    await h.clock.advance(300);
    h.pipeline.failedLater('c1', '132015');
    expect(h.halts).toEqual([{ campaignId: 'c1', reason: expect.objectContaining({ code: 'meta_132015' }) }]);
    expect(h.halts[0]?.reason.message).toMatch(/template/i);
    const callsAtHalt = h.messenger.calls.length;
    // Rows already committed as `sending` still leave (else they would end `unknown`); nothing else does.
    const claimedAtHalt = (await h.store.countByStatus('c1')).sending;
    await h.clock.advance(5_000);
    expect(h.messenger.calls.length - callsAtHalt).toBeLessThanOrEqual(claimedAtHalt);
    expect((await h.store.countByStatus('c1')).queued).toBe(100 - h.messenger.calls.length);
  });

  it('pauses a campaign whose accepted sends mostly fail later (a broken header image): the error budget', async () => {
    const h = await harness();
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 400 }, (_, i) => number(i))));
    // Every accepted send comes back failed (131053) in a status webhook soon after.
    let reported = 0;
    for (let t = 0; t < 3000 && h.halts.length === 0; t += 50) {
      await h.clock.advance(50);
      while (reported < h.messenger.calls.length - 5) {
        h.pipeline.failedLater('c1', '131053');
        reported++;
      }
    }
    expect(h.halts).toEqual([{ campaignId: 'c1', reason: expect.objectContaining({ code: 'error_budget' }) }]);
    expect(h.messenger.calls.length).toBeLessThan(60);
  });

  it('does not pause for a few later failures, nor for a campaign it no longer sends', async () => {
    const h = await harness();
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 200 }, (_, i) => number(i))));
    for (let t = 0; t < 3000; t += 100) {
      await h.clock.advance(100);
      if (t % 500 === 0) h.pipeline.failedLater('c1', '131026');
    }
    h.pipeline.failedLater('no-such-campaign', '132015');
    expect(h.halts).toEqual([]);
  });

  it('does not pause a campaign where only a few sends fail', async () => {
    const h = await harness();
    let n = 0;
    h.messenger.answer = () => (++n % 10 === 0 ? metaError(131026) : { kind: 'accepted', wamid: '' });
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 200 }, (_, i) => number(i))));
    await h.clock.advance(10_000);

    expect(h.halts).toEqual([]);
    expect(await h.store.countByStatus('c1')).toMatchObject({ sent: 180, failed: 20, queued: 0 });
  });

  it('leaves a row `sending` when the send got no answer, and never sends it again', async () => {
    const h = await harness();
    h.messenger.answer = (request) => (request.to === number(1) ? { kind: 'no_answer', reason: 'timeout' } : { kind: 'accepted', wamid: '' });
    h.pipeline.addCampaign(await h.campaign('c1', [number(1), number(2)]));
    await h.clock.advance(120_000);

    expect((await h.statusOf('c1', number(1))).status).toBe('sending');
    expect(h.messenger.callsTo(number(1))).toHaveLength(1);
    expect((await h.statusOf('c1', number(2))).status).toBe('sent');
  });

  it('launches nothing at or past the lease deadline, and claims nothing it could not launch in time', async () => {
    const h = await harness();
    const deadline = h.clock.now() + 1000;
    h.lease.launchDeadlineMs = deadline;
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 400 }, (_, i) => number(i))));
    await h.clock.advance(5_000);
    expect(h.messenger.calls.length).toBeGreaterThan(60);
    expect(h.messenger.calls.every((c) => c.atMs < deadline)).toBe(true);
    const counts = await h.store.countByStatus('c1');
    // Claimed before the deadline and not launched: at most the few a pump takes ahead, never a second's worth.
    expect(counts.sending).toBeLessThanOrEqual(3);
    expect(counts.queued).toBe(400 - h.messenger.calls.length - counts.sending);
    // Renewed: sending goes on.
    h.lease.launchDeadlineMs = Infinity;
    await h.clock.advance(10_000);
    expect((await h.store.countByStatus('c1')).queued).toBe(0);
    expect(new Set(h.messenger.calls.map((c) => c.to)).size).toBe(h.messenger.calls.length);
  });

  it('withholds a send launched before the lease deadline but written after it (a freeze in between), then sends it once', async () => {
    const h = await harness();
    h.messenger.writeDelayMs = 300;
    const deadline = h.clock.now() + 1000;
    h.lease.launchDeadlineMs = deadline;
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 400 }, (_, i) => number(i))));
    await h.clock.advance(5_000);
    // Launched up to the deadline, but only what was written by then left; the rest went back to `queued`.
    expect(h.messenger.calls.length).toBeGreaterThan(30);
    expect(h.messenger.calls.every((c) => c.atMs < deadline)).toBe(true);
    const counts = await h.store.countByStatus('c1');
    expect(counts.sent).toBe(h.messenger.calls.length);
    expect(counts.sending ?? 0).toBeLessThanOrEqual(3);
    expect(counts.queued).toBe(400 - h.messenger.calls.length - (counts.sending ?? 0));

    h.lease.launchDeadlineMs = Infinity;
    await h.clock.advance(20_000);
    expect((await h.store.countByStatus('c1')).queued ?? 0).toBe(0);
    expect(new Set(h.messenger.calls.map((c) => c.to)).size).toBe(h.messenger.calls.length);
    expect(h.messenger.calls.length).toBeGreaterThanOrEqual(400 - 3);
  });

  it('stops at once when a write finds the lease taken over: nothing more is sent or written', async () => {
    const h = await harness();
    h.pipeline.addCampaign(await h.campaign('c1', Array.from({ length: 400 }, (_, i) => number(i))));
    await h.clock.advance(1_000);
    const sentBefore = h.messenger.calls.length;
    expect(sentBefore).toBeGreaterThan(60);
    // Another instance takes the lease over (the old one expired while this holder was frozen).
    await h.store.releaseSenderLease(h.lease.fence, 'test', 0);
    const taken = await h.store.acquireSenderLease(ACCOUNT_ID, 'other', 60_000);
    expect(taken?.token).toBeGreaterThan(h.lease.fence.token);
    await h.clock.advance(5_000);
    expect(h.leaseLost).toBe(1);
    // At most the sends already committed before the takeover (a pump's worth) left after it.
    expect(h.messenger.calls.length - sentBefore).toBeLessThanOrEqual(3);
    const counts = await h.store.countByStatus('c1');
    expect(counts.queued + counts.sending + counts.sent).toBe(400);
    expect(counts.queued).toBeGreaterThan(300);
  });

  it('sends again a row whose request never left (not_sent)', async () => {
    const h = await harness();
    let refused = 0;
    h.messenger.answer = () => (refused++ < 1 ? { kind: 'not_sent', reason: 'ECONNREFUSED' } : { kind: 'accepted', wamid: '' });
    h.pipeline.addCampaign(await h.campaign('c1', [number(1)]));
    await h.clock.advance(500);
    expect(await h.statusOf('c1', number(1))).toMatchObject({ status: 'queued', error: { code: 'network' } });

    await h.clock.advance(60_000);
    const calls = h.messenger.callsTo(number(1));
    expect(calls).toHaveLength(2);
    expect((calls[1] as Call).atMs - (calls[0] as Call).atMs).toBeGreaterThanOrEqual(1000);
    expect((await h.statusOf('c1', number(1))).status).toBe('sent');
  });

  it('stops at the daily limit of unique recipients, reports waiting, and resumes when 24 h have passed', async () => {
    const h = await harness({ dailyLimit: 5 });
    const numbers = Array.from({ length: 8 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    await h.clock.advance(10_000);

    expect(h.messenger.calls).toHaveLength(5);
    expect(h.waits).toHaveLength(1);
    expect(h.waits[0]).toMatchObject({ campaignId: 'c1', reason: { code: 'daily_limit' } });
    expect(await h.store.countByStatus('c1')).toMatchObject({ sent: 5, queued: 3 });

    await h.clock.advance(23 * 3600_000);
    expect(h.messenger.calls).toHaveLength(5);

    await h.clock.advance(3600_000);
    expect(h.messenger.calls).toHaveLength(8);
    expect(h.waits.at(-1)).toEqual({ campaignId: 'c1', reason: null });
    expect(await h.store.countByStatus('c1')).toMatchObject({ sent: 8, queued: 0 });
    const firstResend = (h.messenger.calls[5] as Call).atMs - (h.messenger.calls[0] as Call).atMs;
    expect(firstResend).toBeGreaterThanOrEqual(24 * 3600_000);
  });

  it('gives a recipient refused by Meta its place in the daily limit back: the place goes to the next row', async () => {
    const h = await harness({ dailyLimit: 2 });
    h.messenger.answer = (request) => (request.to === number(0) ? metaError(131026) : { kind: 'accepted', wamid: '' });
    h.pipeline.addCampaign(await h.campaign('c1', [number(0), number(1), number(2)]));
    await h.clock.advance(10_000);

    expect(h.messenger.calls.map((c) => c.to)).toEqual([number(0), number(1), number(2)]);
    expect(await h.store.countByStatus('c1')).toMatchObject({ failed: 1, sent: 2 });
  });

  it('spaces messages to the same recipient across two campaigns by 6 s, without holding others back', async () => {
    const h = await harness();
    const shared = number(1);
    h.pipeline.addCampaign(await h.campaign('c1', [shared]));
    h.pipeline.addCampaign(await h.campaign('c2', [shared, number(2)]));
    await h.clock.advance(20_000);

    const times = h.messenger.callsTo(shared).map((c) => c.atMs);
    expect(times).toHaveLength(2);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(6000);
    expect(h.messenger.callsTo(number(2))[0]?.atMs).toBeLessThan((times[0] as number) + 1000);
    expect((await h.statusOf('c1', shared)).status).toBe('sent');
    expect((await h.statusOf('c2', shared)).status).toBe('sent');
  });

  it('marks rows of numbers that opted out since intake as skipped, never sending them', async () => {
    const h = await harness();
    const campaign = await h.campaign('c1', [number(1), number(2)]);
    (h.store as SqliteStore).db.prepare('INSERT INTO suppressions(account_id, to_e164, source, created_at) VALUES (?, ?, ?, ?)')
      .run(ACCOUNT_ID, number(1), 'test', h.clock.now());
    h.pipeline.addCampaign(campaign);
    await h.clock.advance(5000);

    expect((await h.statusOf('c1', number(1))).status).toBe('skipped');
    expect(h.messenger.callsTo(number(1))).toHaveLength(0);
    expect((await h.statusOf('c1', number(2))).status).toBe('sent');
  });

  it('skips a row whose number opts out while the row already waits in memory for its turn', async () => {
    const h = await harness();
    const numbers = Array.from({ length: 200 }, (_, i) => number(i));
    h.pipeline.addCampaign(await h.campaign('c1', numbers));
    // At 80/s the first second sends about 80 rows; all 200 were read into memory at the start.
    await h.clock.advance(1000);
    expect(h.messenger.callsTo(number(150))).toHaveLength(0);
    await h.store.addSuppression(ACCOUNT_ID, number(150), 'reply', h.clock.now());
    await h.clock.advance(5000);

    expect((await h.statusOf('c1', number(150))).status).toBe('skipped');
    expect(h.messenger.callsTo(number(150))).toHaveLength(0);
    expect(h.messenger.calls).toHaveLength(199);
    expect((await h.statusOf('c1', number(151))).status).toBe('sent');
  });
});
