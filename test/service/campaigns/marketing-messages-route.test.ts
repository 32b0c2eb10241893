// The Marketing Messages API route end to end (issue 11, CLOUD_API.md §13): the engine, its pipeline, the real
// messenger and an in-memory SQLite store against the simulator, whose number has marketing turned off on /messages
// (131063). A marketing campaign must finish with every row sent exactly once, through /marketing_messages, and the
// account's option switched on in the store, with no row failed for 131063.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { SystemClock } from '../../../service/adapters/system/system-clock';
import { CloudApiMessenger } from '../../../service/adapters/whatsapp-cloud/cloud-api-messenger';
import { CloudTemplateCatalog } from '../../../service/adapters/whatsapp-cloud/cloud-template-catalog';
import { GraphEndpoint } from '../../../service/adapters/whatsapp-cloud/graph-endpoint';
import { CampaignEngine } from '../../../service/campaigns/campaign-engine';
import type { Account, Campaign, Logger } from '../../../service/campaigns/ports';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import { waitFor } from '../security/sandbox-service';
import { plainCipher } from '../store-contract/store-contract';

const NUMBER = { phoneNumberId: '106540352242922', wabaId: '102290129340398', accessToken: 'sim-token', appSecret: 's' };

let cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A webhook receiver that takes everything and keeps nothing: this test reads the store and the ledger. */
async function sink(): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

interface Run {
  sim: CloudApiSimulator;
  store: SqliteStore;
  account: Account;
  campaign: Campaign;
  warnings: { fields: Record<string, unknown>; message: string }[];
}

/**
 * The engine with the real messenger and an in-memory store, sending a running campaign of `rowCount` rows of the
 * simulator's MARKETING template summer_sale to a number with the given settings, at `mps`.
 */
async function startRun(
  id: string, rowCount: number, mps: number, number: { marketingOnMessagesDisabled?: boolean } = {},
): Promise<Run> {
  const sim = new CloudApiSimulator({
    numbers: [{ ...NUMBER, webhookUrl: await sink(), messagesPerSecond: mps, ...number }],
    delays: { sentMs: 0, deliveredMs: 5, readMs: 10, replyMs: 15 },
    outcomes: { deliveredRate: 1, readRate: 1, replyRate: 0 },
    pairRate: { intervalMs: 1 },
  });
  const graphUrl = await sim.listen();
  cleanup.push(() => sim.close());
  const store = new SqliteStore(':memory:', plainCipher);
  cleanup.push(() => store.close());
  const clock = new SystemClock();
  const warnings: Run['warnings'] = [];
  const logger: Logger = { info: () => {}, warn: (fields, message) => warnings.push({ fields, message }), error: () => {} };
  const account: Account = {
    id: `acct_${id}`, name: id, isSandbox: false, phoneNumberId: NUMBER.phoneNumberId, wabaId: NUMBER.wabaId,
    messagesPerSecond: mps, dailyLimit: null, defaultCountry: null, retentionDays: 30, optOutWords: [],
    marketingMessagesApi: false, createdAt: clock.now(),
  };
  const secrets = { accessToken: NUMBER.accessToken, appSecret: NUMBER.appSecret, verifyToken: 'v' };
  await store.insertAccount({ account, secrets, apiKeyHash: 'h' });
  const endpoint = new GraphEndpoint(graphUrl, 'v23.0', 'http://unused');
  const summerSale = (await new CloudTemplateCatalog(endpoint, () => clock.now()).list(account, secrets))
    .find((t) => t.name === 'summer_sale' && t.language === 'en_US');
  expect(summerSale?.category).toBe('MARKETING');
  const campaign: Campaign = {
    id: `cmp_${id}`, accountId: account.id, name: 'Summer', template: { name: 'summer_sale', language: 'en_US' },
    templateDefinition: summerSale!, sendAt: null, defaultCountry: null, sheet: null, state: 'running', stateReason: null,
    createdAt: clock.now(), startedAt: clock.now(), finishedAt: null,
  };
  await store.insertCampaign(campaign);
  await store.addMessages(campaign.id, account.id, Array.from({ length: rowCount }, (_, i) => ({
    key: `k${i}`, to: `+4477009${String(10_000 + i)}`, params: { 1: 'Ana', 2: '25%', 'button:0': `S${i}` }, headerMedia: null,
  })), ['running'], clock.now());
  const messenger = new CloudApiMessenger({ endpoint, timeoutMs: 5000 });
  cleanup.push(() => messenger.close());
  const engine = new CampaignEngine(store, messenger, clock, logger, { scanIntervalMs: 50, groupCommitMs: 2 });
  engine.start();
  cleanup.push(() => engine.stop());
  return { sim, store, account, campaign, warnings };
}

/** The ledger's accepted sends of the run's campaign. */
function sendsOf({ sim, campaign }: Run) {
  return sim.ledger.entries().filter((e) => e.bizOpaqueCallbackData?.startsWith(`${campaign.id}.`));
}

describe('marketing templates when the WABA turned marketing off on /messages (131063)', () => {
  it('switches the account to /marketing_messages and finishes with every row sent once there, none failed', async () => {
    const rowCount = 300;
    const run = await startRun('mm', rowCount, 200, { marketingOnMessagesDisabled: true });
    const { store, account, campaign, warnings } = run;

    const finished = await waitFor(async () => {
      const c = await store.getCampaignById(campaign.id);
      return c?.state === 'finished' ? c : undefined;
    });
    expect(finished.stateReason).toBeNull();
    expect(await store.countByStatus(campaign.id)).toMatchObject({ sent: rowCount, failed: 0, queued: 0, sending: 0, unknown: 0 });
    const rows = await store.listMessagesChangedAfter(campaign.id, 0, 10_000);
    expect(rows.filter((r) => r.error?.code === '131063')).toEqual([]);

    // The ledger has accepted sends only: each row once, all through the Marketing Messages API.
    const sends = sendsOf(run);
    expect(sends).toHaveLength(rowCount);
    expect(new Set(sends.map((e) => e.bizOpaqueCallbackData)).size).toBe(rowCount);
    expect(sends.every((e) => e.endpoint === 'marketing_messages')).toBe(true);

    // The option is on in the store (for the next set-up of the sender), said once in a warn line without numbers.
    expect((await store.getAccount(account.id))?.marketingMessagesApi).toBe(true);
    const switched = warnings.filter((w) => w.message.includes('/marketing_messages'));
    expect(switched).toHaveLength(1);
    expect(JSON.stringify(switched)).not.toMatch(/\+?44770/);
  }, 30_000);

  it('follows what another instance wrote to the store: the option turned on, then the template moved to UTILITY', async () => {
    const rowCount = 240;
    const run = await startRun('follow', rowCount, 40);
    const { store, account, campaign } = run;
    const sends = () => sendsOf(run);

    // Written as another instance would (its PATCH, its webhook apply): this engine is not told, it reads the store.
    await waitFor(async () => (sends().length >= 20 ? true : undefined));
    await store.setMarketingMessagesApi(account.id, true);
    await waitFor(async () => (sends().some((e) => e.endpoint === 'marketing_messages') ? true : undefined));
    expect(await store.recategoriseTemplate(account.id, campaign.template, 'UTILITY')).toEqual([campaign.id]);

    await waitFor(async () => ((await store.getCampaignById(campaign.id))?.state === 'finished' ? true : undefined));
    expect(await store.countByStatus(campaign.id)).toMatchObject({ sent: rowCount, failed: 0, unknown: 0 });
    const all = sends();
    expect(new Set(all.map((e) => e.bizOpaqueCallbackData)).size).toBe(rowCount);
    // In order: /messages, then /marketing_messages once the option is on, then /messages once the template is UTILITY.
    const runs = all.map((e) => e.endpoint).filter((endpoint, i, list) => i === 0 || list[i - 1] !== endpoint);
    expect(runs).toEqual(['messages', 'marketing_messages', 'messages']);
  }, 30_000);
});
