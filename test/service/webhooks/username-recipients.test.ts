// A campaign to people some of whom use WhatsApp usernames and withhold their numbers (Meta, 2026): their replies
// and opt-outs name them only by business-scoped user id, and still land on their rows and on the opt-out list.
// The real service (SQLite) against the simulator, which models username-only users as Meta describes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import { auth, removeDir, settle, startSandboxService, TEMPLATE, waitFor, type SandboxService } from '../security/sandbox-service';

const PHONE_NUMBER_ID = '990000000001';
const WABA_ID = '990000000002';
const SECRETS = { accessToken: 'token-usernames', appSecret: 'secret-usernames', verifyToken: 'verify-usernames' };
/** +91 numbers ending 0006 (read, no reply in the simulator's fixed rules): replies below are the test's own. */
const numbers = Array.from({ length: 6 }, (_, i) => `+9198761${i}0006`);
const [replier, quitter, prefStopper, phoneUser] = numbers as [string, string, string, string];
const digits = (e164: string): string => e164.slice(1);

let simulator: CloudApiSimulator;
let svc: SandboxService;
let apiKey: string;
let campaignId: string;

interface Item { key: string; to: string; status: string; reply: { text: string } | null; userId?: string }

async function items(): Promise<Item[]> {
  return (await svc.api().get(`/v1/campaigns/${campaignId}/messages?limit=500`).set(auth(apiKey))).body.items as Item[];
}

beforeAll(async () => {
  simulator = new CloudApiSimulator({ delays: { sentMs: 5, deliveredMs: 10, readMs: 20, replyMs: 30 }, outcomes: { replyRate: 0 } });
  const graphUrl = await simulator.listen(0);
  svc = await startSandboxService({ env: { GRAPH_API_URL: graphUrl } });
  const created = await svc.runtime.createAccount({
    name: 'Usernames Co', isSandbox: false, phoneNumberId: PHONE_NUMBER_ID, wabaId: WABA_ID, ...SECRETS,
    messagesPerSecond: 80, dailyLimit: null, defaultCountry: 'IN',
  });
  apiKey = created.apiKey;
  simulator.registerNumber({
    phoneNumberId: PHONE_NUMBER_ID, wabaId: WABA_ID, accessToken: SECRETS.accessToken, appSecret: SECRETS.appSecret,
    webhookUrl: `${svc.runtime.url}/webhooks/whatsapp/${created.account.id}`,
  });
  // Three of the recipients use usernames: Meta withholds their numbers from what they send us.
  for (const to of [replier, quitter, prefStopper]) simulator.setUsername(digits(to), `user${to.slice(-8)}`);

  campaignId = (await svc.api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'Usernames', template: TEMPLATE })).body.id as string;
  const rows = numbers.map((to, i) => ({ key: `r${i}`, to, params: { 1: `Name${i}`, 2: '10%', 'button:0': `C${i}` } }));
  const added = await svc.api().post(`/v1/campaigns/${campaignId}/rows`).set(auth(apiKey)).send({ rows });
  expect(added.body).toMatchObject({ accepted: numbers.length, rejected: [] });
  await svc.api().post(`/v1/campaigns/${campaignId}/start`).set(auth(apiKey));
  await waitFor(async () => ((await items()).every((i) => i.status === 'read') ? true : undefined), 20_000);
  await simulator.idle(15_000);
  await settle(svc);

  // They answer by BSUID only (no `from`, no `wa_id`), without quoting the campaign's message.
  const userId = (to: string): string => simulator.userIdentity(PHONE_NUMBER_ID, digits(to)).user_id;
  simulator.emitInboundText(PHONE_NUMBER_ID, userId(replier), 'What sizes do you have?');
  simulator.emitInboundText(PHONE_NUMBER_ID, userId(quitter), 'STOP');
  simulator.emitUserPreference(PHONE_NUMBER_ID, userId(prefStopper), 'stop');
  simulator.emitInboundText(PHONE_NUMBER_ID, digits(phoneUser), 'Thanks!');
  await simulator.idle(15_000);
  await settle(svc);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await simulator?.close();
  if (svc) removeDir(svc.dataDir);
});

describe('username-only recipients', () => {
  it('their replies land on their own rows, found through the BSUID learnt from the statuses of our sends', async () => {
    const byTo = new Map((await items()).map((i) => [i.to, i]));
    expect(byTo.get(replier)?.reply?.text).toBe('What sizes do you have?');
    expect(byTo.get(quitter)?.reply?.text).toBe('STOP');
    expect(byTo.get(phoneUser)?.reply?.text).toBe('Thanks!');
    for (const to of [numbers[4], numbers[5]]) expect(byTo.get(to as string)?.reply).toBeNull();
    // Every row carries its recipient's BSUID: the delivered and read statuses named it with the number.
    for (const to of numbers) expect(byTo.get(to)?.userId).toMatch(/^IN\.\d+$/);
  });

  it('their opt-outs (STOP by BSUID, marketing stop with only user_id) put the person on the list: number and BSUID', async () => {
    const listed = (await svc.api().get('/v1/suppressions').set(auth(apiKey))).body.suppressions as { to?: string; userId?: string }[];
    const userIdOf = new Map((await items()).map((i) => [i.to, i.userId]));
    expect(listed.map((s) => [s.to, s.userId]).sort()).toEqual([
      [quitter, userIdOf.get(quitter)], [prefStopper, userIdOf.get(prefStopper)],
    ].sort());
  });

  it('a later campaign reaches neither of them, by number or by BSUID; a BSUID row of a known person goes to their number', async () => {
    const userIdOf = new Map((await items()).map((i) => [i.to, i.userId as string]));
    const later = (await svc.api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'Later', template: TEMPLATE })).body.id as string;
    const params = { 1: 'X', 2: '5%', 'button:0': 'L' };
    const added = await svc.api().post(`/v1/campaigns/${later}/rows`).set(auth(apiKey)).send({ rows: [
      { key: 'q-phone', to: quitter, params },
      { key: 'p-bsuid', to: userIdOf.get(prefStopper), params },
      { key: 'r-bsuid', to: userIdOf.get(replier), params },
      { key: 'r-phone', to: replier, params },
    ] });
    // The replier's BSUID row goes to their known number, so the same number again is a duplicate.
    expect(added.body.accepted).toBe(3);
    expect(added.body.rejected).toEqual([expect.objectContaining({ key: 'r-phone', code: 'duplicate_recipient' })]);
    await svc.api().post(`/v1/campaigns/${later}/start`).set(auth(apiKey));
    await waitFor(async () => {
      const res = await svc.api().get(`/v1/campaigns/${later}/messages?limit=50`).set(auth(apiKey));
      const rows = res.body.items as Item[];
      return rows.every((i) => i.status !== 'queued' && i.status !== 'sending') ? rows : undefined;
    }, 20_000).then((rows) => {
      expect(Object.fromEntries(rows.map((i) => [i.key, i.status]))).toMatchObject({ 'q-phone': 'skipped', 'p-bsuid': 'skipped' });
      expect(rows.find((i) => i.key === 'r-bsuid')?.status).not.toBe('skipped');
    });
    // Nobody on the list was messaged again: the simulator's ledger (accepted sends, by phone whichever id the send
    // named) has one message each for them, the first campaign's.
    for (const person of [quitter, prefStopper]) {
      expect(simulator.ledger.entries().filter((e) => e.to === digits(person)), person).toHaveLength(1);
    }
  });
});
