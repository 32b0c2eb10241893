// Account isolation (issue 5): every /v1 route of the running app, found by walking Express's router stack, is called
// as account B with account A's campaign ids, row keys and numbers, and without or with a wrong key. Nothing answers
// with A's data, and A's rows in the database are byte-for-byte the same afterwards. A route without a case fails.
// The account routes (export, erasure, contact deletion) are walked like the rest.
import { createHash } from 'node:crypto';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUOTING_REPLY, UNQUOTED_REPLY } from '../../../service/simulator/outcome-rules';
import { signBody } from '../../../service/webhooks/webhook-signature';
import {
  auth, discoverRoutes, leaksIn, removeDir, settle, snapshotAccount, startSandboxService, TEMPLATE, waitFor,
  type DiscoveredRoute, type SandboxService,
} from './sandbox-service';
import type { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';

interface Tenant {
  id: string;
  key: string;
  name: string;
  phoneNumberId: string;
  wabaId: string;
  secrets: { accessToken: string; appSecret: string; verifyToken: string };
}

/** A's numbers: the last four digits pick the simulator's outcome (failed, STOP reply, replies, preference stop). */
const A_ENDINGS = ['0001', '0002', '0003', '0007', '0008', '0009', '0010', '0011', '0020'];
const aNumber = (ending: string, block = '77') => `+919877${block}${ending}`;
const A_SENT = A_ENDINGS.map((e) => aNumber(e));
const A_DRAFT = ['0101', '0102', '0103'].map((e) => aNumber(e, '78'));
const A_SCHEDULED = ['0201', '0202'].map((e) => aNumber(e, '79'));
const A_MANUAL_SUPPRESSION = '+919877790555';
const A_PRIVATE_REPLY = 'Alpha private reply: deliver to 12 Rue Secrète, code 4471';
/** B's numbers end in 0010/0011: sent only or delivered only, so B never receives a reply that A also gets. */
const B_NUMBERS = ['+919866600010', '+919866610011'];

let svc: SandboxService;
let a: Tenant;
let b: Tenant;
let aCampaigns: { finished: string; draft: string; scheduled: string };
let aKeys: string[];
let aNeedles: string[];
let aBefore: Record<string, unknown[]>;
const exercised = new Set<string>();

async function tenant(name: string): Promise<Tenant> {
  const { account, apiKey } = await svc.runtime.createAccount({ name, isSandbox: true, defaultCountry: 'IN' });
  const secrets = (await svc.runtime.store.getAccountSecrets(account.id));
  if (!secrets) throw new Error('no secrets');
  return { id: account.id, key: apiKey, name, phoneNumberId: account.phoneNumberId, wabaId: account.wabaId, secrets };
}

const aParams = (i: number) => ({ 1: `Alphonsine${i}Qv`, 2: `${30 + i}%`, 'button:0': `ALPHACODE${i}X` });
const bParams = { 1: 'Bruno', 2: '5%', 'button:0': 'BRAVO' };

async function createCampaign(key: string, body: Record<string, unknown>): Promise<string> {
  const res = await svc.api().post('/v1/campaigns').set(auth(key)).send({ template: TEMPLATE, ...body });
  expect(res.status, res.text).toBe(201);
  return res.body.id as string;
}

async function addRows(key: string, id: string, numbers: string[], prefix: string, params: (i: number) => object) {
  const rows = numbers.map((to, i) => ({ key: `${prefix}-${i}`, to, params: params(i) }));
  const res = await svc.api().post(`/v1/campaigns/${id}/rows`).set(auth(key)).send({ rows });
  expect(res.body).toEqual({ accepted: numbers.length, duplicates: 0, rejected: [] });
  return rows.map((r) => r.key);
}

async function finish(key: string, id: string): Promise<void> {
  expect((await svc.api().post(`/v1/campaigns/${id}/start`).set(auth(key))).body).toEqual({ state: 'running' });
  await waitFor(async () => {
    const res = await svc.api().get(`/v1/campaigns/${id}`).set(auth(key));
    return res.body.state === 'finished' ? true : undefined;
  });
}

/** Everything of A's that B must never see: identity, secrets, campaigns, rows, replies, wamids. */
function collectNeedles(): string[] {
  const db = (svc.runtime.store as SqliteStore).db;
  const column = (sql: string) => (db.prepare(sql).all(a.id) as Record<string, unknown>[])
    .flatMap((row) => Object.values(row)).filter((v): v is string => typeof v === 'string' && v !== '');
  const numbers = [...A_SENT, ...A_DRAFT, ...A_SCHEDULED, A_MANUAL_SUPPRESSION];
  return [...new Set([
    a.id, a.name, a.phoneNumberId, a.wabaId, a.key, a.secrets.accessToken, a.secrets.appSecret, a.secrets.verifyToken,
    createHash('sha256').update(a.key).digest('hex'),
    ...Object.values(aCampaigns), 'Alpha launch', 'Alpha drafts', 'Alpha later',
    ...aKeys,
    ...numbers.flatMap(forms),
    ...[0, 1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => Object.values(aParams(i))).filter((v) => v.length > 4),
    A_PRIVATE_REPLY, QUOTING_REPLY, UNQUOTED_REPLY,
    ...column('SELECT wamid FROM messages WHERE account_id = ? AND wamid IS NOT NULL'),
    ...column('SELECT reply_text FROM messages WHERE account_id = ? AND reply_text IS NOT NULL'),
  ])];
}

/** "METHOD path" of the request behind `res`, for failure messages. */
function label(res: Response): string {
  const req = (res as unknown as { req?: { method?: string; path?: string } }).req;
  return `${req?.method ?? '?'} ${req?.path ?? '?'}`;
}

function assertNoLeak(res: Response, allowed: readonly string[] = []): void {
  const text = `${res.text ?? ''}${JSON.stringify(res.headers)}`;
  expect(leaksIn(text, aNeedles, allowed), `${label(res)} answered with A's data`).toEqual([]);
}

/** `echoed`: what the caller itself put in the request (a number it asked about may be named in the answer). */
function expectNotFound(res: Response, echoed: readonly string[] = []): void {
  expect(res.status, `${label(res)}: ${res.text}`).toBe(404);
  expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  assertNoLeak(res, echoed);
}

/** A number in the forms a message might show it: E.164, digits only, national. */
const forms = (e164: string): string[] => [e164, e164.slice(1), e164.slice(3)];

/** The path with every `:param` filled in from `values`; an unknown parameter name fails the test. */
function fill(path: string, values: Record<string, string>): string {
  return path.replace(/:(\w+)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no isolation value for :${name} in ${path}; add one`);
    return encodeURIComponent(value);
  });
}

function call(method: string, path: string) {
  const api = svc.api();
  switch (method) {
    case 'GET': return api.get(path);
    case 'POST': return api.post(path);
    case 'PUT': return api.put(path);
    case 'PATCH': return api.patch(path);
    case 'DELETE': return api.delete(path);
    default: throw new Error(`no caller for ${method}`);
  }
}

/** A's campaign ids as B might try them: exact, upper-cased, with a trailing slash. */
function idVariants(): string[] {
  return Object.values(aCampaigns).flatMap((id) => [id, id.toUpperCase(), `${id}/`]);
}

type Case = (route: DiscoveredRoute) => Promise<void>;

const notFoundForEveryACampaign = (body?: () => object): Case => async (route) => {
  for (const id of idVariants()) {
    const path = route.path.replace(':id', encodeURIComponent(id.replace(/\/$/, ''))) + (id.endsWith('/') ? '/' : '');
    const req = call(route.method, path).set(auth(b.key)).query({ after: '0', limit: '5000' });
    expectNotFound(await (body ? req.send(body()) : req));
  }
};

/** B's calls with A's ids, keys and numbers, per route. A route discovered without an entry here fails the walk. */
const CASES: Record<string, Case> = {
  'GET /v1/account': async () => {
    const res = await svc.api().get('/v1/account').set(auth(b.key)).query({ id: a.id, accountId: a.id });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(b.id);
    assertNoLeak(res);
  },
  'PATCH /v1/account': async () => {
    // The body names no account (any other field is refused); the ids go in the query, and are ignored.
    const res = await svc.api().patch('/v1/account').set(auth(b.key)).query({ id: a.id, accountId: a.id }).send({ marketingMessagesApi: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: b.id, marketingMessagesApi: true });
    assertNoLeak(res);
    expect((await svc.api().patch('/v1/account').set(auth(b.key)).send({ marketingMessagesApi: true, accountId: a.id })).status).toBe(400);
    // A's option is untouched by B's write.
    expect((await svc.api().get('/v1/account').set(auth(a.key))).body.marketingMessagesApi).toBe(false);
  },
  'GET /v1/templates': async () => {
    const res = await svc.api().get('/v1/templates').set(auth(b.key)).query({ accountId: a.id, wabaId: a.wabaId });
    expect(res.status).toBe(200);
    expect(res.body.templates.length).toBeGreaterThan(0);
    assertNoLeak(res);
  },
  'POST /v1/campaigns': async () => {
    // Ids and owners in the body are not the caller's to choose.
    const res = await svc.api().post('/v1/campaigns').set(auth(b.key))
      .send({ name: 'Bravo probe', template: TEMPLATE, id: aCampaigns.draft, accountId: a.id, account_id: a.id });
    expect(res.status).toBe(201);
    expect(Object.values(aCampaigns)).not.toContain(res.body.id);
    assertNoLeak(res);
    expect((await svc.api().get(`/v1/campaigns/${res.body.id}`).set(auth(b.key))).status).toBe(200);
    expectNotFound(await svc.api().get(`/v1/campaigns/${res.body.id}`).set(auth(a.key)));
  },
  'GET /v1/campaigns': async () => {
    const res = await svc.api().get('/v1/campaigns').set(auth(b.key)).query({ accountId: a.id });
    expect(res.status).toBe(200);
    expect(res.body.campaigns.length).toBeGreaterThan(0);
    assertNoLeak(res);
  },
  'GET /v1/campaigns/:id': notFoundForEveryACampaign(),
  'GET /v1/campaigns/:id/messages': notFoundForEveryACampaign(),
  'POST /v1/campaigns/:id/rows': notFoundForEveryACampaign(() => ({
    rows: [{ key: aKeys[0], to: A_SENT[0], params: bParams }, { key: 'bravo-new', to: B_NUMBERS[0], params: bParams }],
  })),
  'POST /v1/campaigns/:id/start': notFoundForEveryACampaign(),
  'POST /v1/campaigns/:id/pause': notFoundForEveryACampaign(),
  'POST /v1/campaigns/:id/resume': notFoundForEveryACampaign(),
  'POST /v1/campaigns/:id/cancel': notFoundForEveryACampaign(),
  'POST /v1/campaigns/:id/retry-unknown': notFoundForEveryACampaign(),
  'POST /v1/preview': async () => {
    // A's opted-out numbers and A's keys, previewed by B: no "opted out", nothing but what B sent comes back.
    const numbers = [A_MANUAL_SUPPRESSION, aNumber('0003'), aNumber('0009'), ...A_DRAFT];
    const rows = numbers.map((to, i) => ({ key: aKeys[i] ?? `k${i}`, to, params: bParams }));
    const res = await svc.api().post('/v1/preview').set(auth(b.key)).send({ template: TEMPLATE, rows });
    expect(res.status).toBe(200);
    expect(res.body.counts).toEqual({ valid: numbers.length, invalid: 0, duplicate: 0, optedOut: 0, frequencyCapped: 0 });
    expect(res.body.rows.every((r: { ok: boolean }) => r.ok)).toBe(true);
    assertNoLeak(res, [...numbers.flatMap(forms), ...rows.map((r) => r.key)]);
  },
  'POST /v1/test-send': async () => {
    // A's opt-out list is A's: B's test send to that number goes out and says nothing about A.
    const res = await svc.api().post('/v1/test-send').set(auth(b.key)).send({ to: A_MANUAL_SUPPRESSION, template: TEMPLATE, params: bParams });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'sent', wamid: expect.stringMatching(/^wamid\./) });
    assertNoLeak(res);
  },
  'GET /v1/suppressions': async () => {
    const res = await svc.api().get('/v1/suppressions').set(auth(b.key)).query({ accountId: a.id });
    expect(res.status).toBe(200);
    expect(res.body.suppressions.length).toBeGreaterThan(0);
    assertNoLeak(res);
  },
  'POST /v1/suppressions': async () => {
    const res = await svc.api().post('/v1/suppressions').set(auth(b.key)).send({ to: A_SENT[0], accountId: a.id });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ to: A_SENT[0] });
    const removed = await svc.api().delete(`/v1/suppressions/${encodeURIComponent(A_SENT[0] as string)}`).set(auth(b.key));
    expect(removed.status).toBe(200);
  },
  'GET /v1/account/opt-out-words': async () => {
    const res = await svc.api().get('/v1/account/opt-out-words').set(auth(b.key)).query({ accountId: a.id });
    expect(res.status).toBe(200);
    expect(res.body.custom).not.toContain('a-only-word');
    assertNoLeak(res);
  },
  'PUT /v1/account/opt-out-words': async () => {
    const res = await svc.api().put('/v1/account/opt-out-words').set(auth(b.key)).send({ words: ['b-only-word'], accountId: a.id });
    expect(res.status).toBe(200);
    expect(res.body.custom).toEqual(['b-only-word']);
    assertNoLeak(res);
    // A's own list is untouched by B's write.
    const own = await svc.api().get('/v1/account/opt-out-words').set(auth(a.key));
    expect(own.body.custom).toEqual(['a-only-word']);
  },
  'DELETE /v1/suppressions/:to': async (route) => {
    for (const to of [A_MANUAL_SUPPRESSION, aNumber('0003'), aNumber('0009')]) {
      for (const form of forms(to)) {
        expectNotFound(await svc.api().delete(fill(route.path, { to: form })).set(auth(b.key)), forms(to));
      }
    }
  },
  'GET /v1/account/export': async (route) => {
    const res = await svc.api().get(route.path).set(auth(b.key)).query({ accountId: a.id, id: a.id });
    expect(res.status).toBe(200);
    const exported = JSON.parse(res.text) as { account: { id: string }; campaigns: { name: string }[]; messages: { to: string }[] };
    expect(exported.account.id).toBe(b.id);
    expect(exported.campaigns.map((c) => c.name)).toContain('Bravo run');
    expect(exported.messages.map((m) => m.to)).toEqual(expect.arrayContaining(B_NUMBERS));
    assertNoLeak(res);
  },
  'DELETE /v1/contacts/:to': async (route) => {
    for (const to of [A_SENT[6] as string, A_DRAFT[0] as string, A_MANUAL_SUPPRESSION, aNumber('0003')]) {
      // B holds nothing for A's numbers: nothing erased, and A's opt-outs do not show as B's.
      const res = await svc.api().delete(fill(route.path, { to })).set(auth(b.key));
      expect([200, 404], `${route.path}: ${res.text}`).toContain(res.status);
      if (res.status === 200) expect(res.body).toMatchObject({ erased: { messages: 0, replies: 0 }, suppressed: false });
      assertNoLeak(res, forms(to));
    }
  },
  'DELETE /v1/account': async (route) => {
    // A throwaway account erases itself while naming A every way a careless handler might read.
    const c = await tenant('Charlie');
    const res = await svc.api().delete(route.path).set(auth(c.key)).query({ id: a.id, accountId: a.id }).send({ id: a.id, accountId: a.id });
    expect([200, 204], res.text).toContain(res.status);
    if (res.status === 200) expect(res.body.id).toBe(c.id);
    assertNoLeak(res);
    expect((await svc.api().get('/v1/account').set(auth(c.key))).status).toBe(401);
    expect((await svc.api().get('/v1/account').set(auth(a.key))).body.id).toBe(a.id);
  },
};

beforeAll(async () => {
  svc = await startSandboxService();
  a = await tenant('Alpha Corp Qx7');
  b = await tenant('Bravo Ltd');

  const finished = await createCampaign(a.key, { name: 'Alpha launch' });
  const draft = await createCampaign(a.key, { name: 'Alpha drafts' });
  const scheduled = await createCampaign(a.key, { name: 'Alpha later', sendAt: new Date(Date.now() + 3_600_000).toISOString() });
  aCampaigns = { finished, draft, scheduled };
  aKeys = [
    ...await addRows(a.key, finished, A_SENT, 'alpha-sent', aParams),
    ...await addRows(a.key, draft, A_DRAFT, 'alpha-draft', aParams),
    ...await addRows(a.key, scheduled, A_SCHEDULED, 'alpha-later', aParams),
  ];
  expect((await svc.api().post('/v1/suppressions').set(auth(a.key)).send({ to: A_MANUAL_SUPPRESSION })).status).toBe(201);
  expect((await svc.api().put('/v1/account/opt-out-words').set(auth(a.key)).send({ words: ['a-only-word'] })).status).toBe(200);
  await finish(a.key, finished);
  expect((await svc.api().post(`/v1/campaigns/${scheduled}/start`).set(auth(a.key))).body).toEqual({ state: 'scheduled' });
  await settle(svc);
  svc.runtime.sandboxSimulator.emitInboundText(a.phoneNumberId, (A_SENT[6] as string).slice(1), A_PRIVATE_REPLY);

  const bCampaign = await createCampaign(b.key, { name: 'Bravo run' });
  await addRows(b.key, bCampaign, B_NUMBERS, 'bravo', () => bParams);
  await finish(b.key, bCampaign);
  expect((await svc.api().post('/v1/suppressions').set(auth(b.key)).send({ to: '+919866620055' })).status).toBe(201);
  await settle(svc);

  // A's data really is there: replies, opt-outs from a STOP reply and a preference stop, a failure.
  const feed = await svc.api().get(`/v1/campaigns/${finished}/messages`).set(auth(a.key)).query({ limit: 100 });
  const replies = feed.body.items.map((i: { reply: { text: string } | null }) => i.reply?.text).filter(Boolean);
  expect(replies).toEqual(expect.arrayContaining([QUOTING_REPLY, UNQUOTED_REPLY, A_PRIVATE_REPLY]));
  expect(feed.body.items.some((i: { status: string }) => i.status === 'failed')).toBe(true);
  const suppressed = (await svc.api().get('/v1/suppressions').set(auth(a.key))).body.suppressions.map((s: { to: string }) => s.to);
  expect(suppressed).toEqual(expect.arrayContaining([A_MANUAL_SUPPRESSION, aNumber('0003'), aNumber('0009')]));

  aNeedles = collectNeedles();
  aBefore = snapshotAccount((svc.runtime.store as SqliteStore).db, a.id);
});

afterAll(async () => {
  await svc?.stop();
  if (svc) removeDir(svc.dataDir);
});

describe("another account's ids, keys and numbers", () => {
  it('the walk finds the routes of API.md in the running app', () => {
    const names = discoverRoutes(svc.runtime).map((r) => `${r.method} ${r.path}`);
    for (const expected of ['GET /v1/account', 'POST /v1/campaigns', 'GET /v1/campaigns/:id/messages', 'DELETE /v1/suppressions/:to',
      'GET /v1/account/export', 'DELETE /v1/account', 'DELETE /v1/contacts/:to', 'POST /webhooks/whatsapp/:accountId']) {
      expect(names).toContain(expected);
    }
  });

  it('every /v1 route answers 401 without a key, with an unknown key, and with near-misses of a real key', async () => {
    const rawKeys = [
      null, 'wsk_not_a_real_key', a.key.toUpperCase(), a.key.toLowerCase(), a.key.slice(0, -1), `${a.key}x`, ` ${a.key}x`,
      a.key.slice(4), createHash('sha256').update(a.key).digest('hex'),
    ];
    const v1 = discoverRoutes(svc.runtime).filter((r) => r.path.startsWith('/v1/'));
    for (const route of v1) {
      const path = fill(route.path, { id: aCampaigns.finished, to: A_MANUAL_SUPPRESSION });
      for (const key of rawKeys) {
        const headers: Record<string, string> = key === null ? {} : { Authorization: `Bearer ${key}` };
        const res = await call(route.method, path).set(headers).send({ rows: [], to: A_SENT[0] });
        expect(res.status, `${route.method} ${path} with key ${String(key)}`).toBe(401);
        expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
        assertNoLeak(res);
      }
      for (const header of [`Basic ${Buffer.from(`${a.key}:`).toString('base64')}`, a.key, `Token ${a.key}`]) {
        const res = await call(route.method, path).set('Authorization', header);
        expect(res.status, `${route.method} ${path} with ${header.slice(0, 6)}…`).toBe(401);
        assertNoLeak(res);
      }
    }
  });

  it('every /v1 route, called as B with A\'s ids, keys and numbers, answers 404 or B\'s own data, never A\'s', async () => {
    const routes = discoverRoutes(svc.runtime).filter((r) => r.path.startsWith('/v1/'));
    const missing = routes.map((r) => `${r.method} ${r.path}`).filter((name) => !(name in CASES));
    expect(missing, 'routes with no isolation case: add one to CASES').toEqual([]);
    // Erasure last: it removes an account.
    const ordered = [...routes].sort((x, y) => Number(x.path === '/v1/account' && x.method === 'DELETE')
      - Number(y.path === '/v1/account' && y.method === 'DELETE'));
    for (const route of ordered) {
      const name = `${route.method} ${route.path}`;
      await (CASES[name] as Case)(route);
      exercised.add(name);
    }
    await settle(svc);
    expect(snapshotAccount((svc.runtime.store as SqliteStore).db, a.id)).toEqual(aBefore);
  });

  it("B's signed webhooks cannot touch A's rows, and B's secrets do not open A's webhook endpoint", async () => {
    const db = (svc.runtime.store as SqliteStore).db;
    const aRows = db.prepare('SELECT id, campaign_id, wamid FROM messages WHERE account_id = ? AND wamid IS NOT NULL')
      .all(a.id) as { id: number; campaign_id: string; wamid: string }[];
    expect(aRows.length).toBeGreaterThan(3);
    const value = {
      messaging_product: 'whatsapp',
      metadata: { phone_number_id: b.phoneNumberId, display_phone_number: '15550000000' },
      statuses: aRows.map((row) => ({
        id: row.wamid, status: 'failed', timestamp: '1750030090', recipient_id: (A_SENT[0] as string).slice(1),
        biz_opaque_callback_data: `${row.campaign_id}.${row.id}`,
        errors: [{ code: 131026, title: 'Message undeliverable' }],
      })),
      contacts: [{ wa_id: (A_SENT[6] as string).slice(1), profile: { name: 'x' } }],
      messages: [{ from: (A_SENT[6] as string).slice(1), id: 'wamid.inbound-b-1', timestamp: '1750030091', type: 'text',
        text: { body: 'STOP' }, context: { from: '15550000000', id: aRows[0]?.wamid } }],
    };
    const payload = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: b.wabaId, changes: [{ field: 'messages', value }] }] });
    const inboxBefore = (db.prepare('SELECT COUNT(*) AS n FROM webhook_inbox').get() as { n: number }).n;

    // Signed with B's secret but posted to A's endpoint: refused, nothing stored.
    const forged = await svc.api().post(`/webhooks/whatsapp/${a.id}`).set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', signBody(b.secrets.appSecret, payload)).send(payload);
    expect(forged.status).toBe(401);
    assertNoLeak(forged);
    expect((db.prepare('SELECT COUNT(*) AS n FROM webhook_inbox').get() as { n: number }).n).toBe(inboxBefore);
    const handshake = await svc.api().get(`/webhooks/whatsapp/${a.id}`)
      .query({ 'hub.mode': 'subscribe', 'hub.challenge': '42', 'hub.verify_token': b.secrets.verifyToken });
    expect(handshake.status).toBe(403);
    assertNoLeak(handshake);

    // B's own endpoint, validly signed, naming A's wamids, callback data and numbers: accepted, applied to nothing of A's.
    const own = await svc.api().post(`/webhooks/whatsapp/${b.id}`).set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', signBody(b.secrets.appSecret, payload)).send(payload);
    expect(own.status).toBe(200);
    await settle(svc);
    expect(snapshotAccount((svc.runtime.store as SqliteStore).db, a.id)).toEqual(aBefore);
  });

  it('a sandbox token of B cannot send from A\'s number through the built-in simulator', async () => {
    const body = { messaging_product: 'whatsapp', to: (A_SENT[0] as string).slice(1), type: 'template',
      template: { name: TEMPLATE.name, language: { code: TEMPLATE.language } } };
    for (const token of [b.secrets.accessToken, null]) {
      const req = svc.api().post(`/sandbox/graph/v23.0/${a.phoneNumberId}/messages`);
      const res = await (token ? req.set(auth(token)) : req).send(body);
      expect(res.status, res.text).toBe(401);
      assertNoLeak(res);
    }
  });
});

describe('coverage of the walk', () => {
  it('ran a case for every discovered /v1 route, and every case has its route', () => {
    const v1 = discoverRoutes(svc.runtime).filter((r) => r.path.startsWith('/v1/')).map((r) => `${r.method} ${r.path}`);
    expect([...exercised].sort()).toEqual([...v1].sort());
    expect(Object.keys(CASES).filter((name) => !v1.includes(name)), 'cases for routes that no longer exist').toEqual([]);
  });
});

describe('the per-account rate limit', () => {
  it("is per account: A's spent budget answers A with 429 and leaves B's calls alone", async () => {
    const limited = await startSandboxService({ env: { RATE_LIMIT_PER_SECOND: '1', RATE_LIMIT_BURST: '3' } });
    try {
      const first = await limited.runtime.createAccount({ name: 'Noisy', isSandbox: true });
      const second = await limited.runtime.createAccount({ name: 'Quiet', isSandbox: true });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await limited.api().get('/v1/campaigns').set(auth(first.apiKey))).status);
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses.at(-1)).toBe(429);
      const refused = await limited.api().get('/v1/account').set(auth(first.apiKey));
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
      expect(refused.text).not.toContain(second.account.id);
      for (let i = 0; i < 2; i++) expect((await limited.api().get('/v1/account').set(auth(second.apiKey))).body.id).toBe(second.account.id);
      // Keys that open no account are refused before any bucket: they cannot spend an account's budget.
      for (let i = 0; i < 5; i++) expect((await limited.api().get('/v1/account').set(auth(`${second.apiKey}x`))).status).toBe(401);
      expect((await limited.api().get('/v1/account').set(auth(second.apiKey))).status).toBe(200);
    } finally {
      await limited.stop();
      removeDir(limited.dataDir);
    }
  });
});
