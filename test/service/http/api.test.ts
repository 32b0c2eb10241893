// The HTTP API of API.md against a running in-process service with sandbox accounts (the built-in Cloud API
// simulator posts signed webhooks back over HTTP): auth, account isolation, intake, lifecycle, the changes feed,
// the webhook endpoint and preview.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import { signBody } from '../../../service/webhooks/webhook-signature';

const TEMPLATE = { name: 'summer_sale', language: 'en_US' };
const PARAMS = { 1: 'Ann', 2: '20%', 'button:0': 'SUMMER25' };

let dataDir: string;
let runtime: ServiceRuntime;
let keyA: string;
let keyB: string;
let accountA: string;

/** Indian mobile numbers whose last four digits (11xx) follow the simulator's default outcomes. */
function phone(i: number): string {
  return `+91 98765 ${41100 + i}`;
}

function e164(i: number): string {
  return phone(i).replace(/\s/g, '');
}

function api() {
  return request(runtime.url);
}

function auth(key: string): { Authorization: string } {
  return { Authorization: `Bearer ${key}` };
}

async function createCampaign(key: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api().post('/v1/campaigns').set(auth(key)).send({ name: 'Spring', template: TEMPLATE, ...extra });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function addRows(key: string, id: string, rows: unknown[]): Promise<request.Response> {
  return api().post(`/v1/campaigns/${id}/rows`).set(auth(key)).send({ rows });
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Item {
  key: string;
  to: string;
  status: string;
  wamid: string | null;
  error: { code: string; message: string } | null;
}

/** One pass over the changes feed from `after`, page by page. */
async function readFeed(key: string, id: string, after: string, limit: number): Promise<{ items: Item[]; next: string; pages: number }> {
  const items: Item[] = [];
  let cursor = after;
  let pages = 0;
  for (;;) {
    const res = await api().get(`/v1/campaigns/${id}/messages`).query({ after: cursor, limit }).set(auth(key));
    expect(res.status).toBe(200);
    pages++;
    items.push(...(res.body.items as Item[]));
    if (res.body.items.length === 0) return { items, next: res.body.next as string, pages };
    expect(Number(res.body.next)).toBeGreaterThan(Number(cursor));
    cursor = res.body.next as string;
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'api-test-'));
  runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
  const a = await runtime.createAccount({ name: 'T', isSandbox: true });
  const b = await runtime.createAccount({ name: 'U', isSandbox: true });
  keyA = a.apiKey;
  keyB = b.apiKey;
  accountA = a.account.id;
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('auth', () => {
  it('answers 401 with the error shape without a key, with a malformed header, and with an unknown key', async () => {
    for (const headers of [{}, { Authorization: keyA }, { Authorization: 'Bearer wsk_not_a_real_key' }]) {
      const res = await api().get('/v1/campaigns').set(headers);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    }
    expect((await api().get('/v1/account').set(auth(keyA))).status).toBe(200);
  });

  it("answers 404 on every campaign route for another account's campaign, as for one that does not exist", async () => {
    const theirs = await createCampaign(keyB);
    for (const id of [theirs, 'c_does_not_exist']) {
      const calls = [
        api().get(`/v1/campaigns/${id}`),
        api().get(`/v1/campaigns/${id}/messages`),
        api().post(`/v1/campaigns/${id}/rows`).send({ rows: [{ key: 'x', to: phone(0), params: PARAMS }] }),
        api().post(`/v1/campaigns/${id}/start`),
        api().post(`/v1/campaigns/${id}/pause`),
        api().post(`/v1/campaigns/${id}/resume`),
        api().post(`/v1/campaigns/${id}/cancel`),
        api().post(`/v1/campaigns/${id}/retry-unknown`),
      ];
      for (const call of calls) {
        const res = await call.set(auth(keyA));
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
    }
    const listed = await api().get('/v1/campaigns').set(auth(keyA));
    expect(listed.body.campaigns.map((c: { id: string }) => c.id)).not.toContain(theirs);
    // Nothing above changed B's campaign.
    const own = await api().get(`/v1/campaigns/${theirs}`).set(auth(keyB));
    expect(own.body).toMatchObject({ state: 'draft', counts: { queued: 0 } });
  });
});

describe('PATCH /v1/account', () => {
  it('sets marketingMessagesApi (GET /v1/account shows it, default false), per account, and refuses a bad body', async () => {
    expect((await api().get('/v1/account').set(auth(keyB))).body.marketingMessagesApi).toBe(false);
    const on = await api().patch('/v1/account').set(auth(keyB)).send({ marketingMessagesApi: true });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ marketingMessagesApi: true, retentionDays: 30 });
    expect((await api().get('/v1/account').set(auth(keyB))).body.marketingMessagesApi).toBe(true);
    expect((await api().get('/v1/account').set(auth(keyA))).body.marketingMessagesApi).toBe(false);
    for (const body of [{}, { marketingMessagesApi: 'yes' }, { retentionDays: 3 }]) {
      expect((await api().patch('/v1/account').set(auth(keyB)).send(body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await api().patch('/v1/account').set(auth(keyB)).send({ marketingMessagesApi: false })).body.marketingMessagesApi).toBe(false);
  });
});

describe('POST /v1/campaigns', () => {
  it('answers 400 naming the field for a bad body', async () => {
    for (const body of [{}, { name: 'x' }, { name: 'x', template: TEMPLATE, sendAt: 'tomorrow' }, { name: 'x', template: TEMPLATE, defaultCountry: 'India' }]) {
      const res = await api().post('/v1/campaigns').set(auth(keyA)).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    }
  });

  it('answers 422 for a template the account does not have approved', async () => {
    for (const template of [{ name: 'no_such_template', language: 'en_US' }, { name: 'summer_sale', language: 'fr' }]) {
      const res = await api().post('/v1/campaigns').set(auth(keyA)).send({ name: 'x', template });
      expect(res.status).toBe(422);
      expect(res.body.error).toEqual({ code: 'template_not_found', message: expect.stringContaining(template.name) });
    }
  });

  it('creates a draft', async () => {
    const res = await api().post('/v1/campaigns').set(auth(keyA)).send({ name: 'Spring', template: TEMPLATE });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.any(String), state: 'draft' });
  });
});

describe('POST /v1/campaigns/:id/rows', () => {
  it('accepts good rows and rejects each bad one with its code', async () => {
    const id = await createCampaign(keyA);
    const res = await addRows(keyA, id, [
      { key: 'ok1', to: phone(0), params: PARAMS },
      { key: 'ok2', to: 919876541101, params: PARAMS },
      { key: 'bad-phone', to: '12', params: PARAMS },
      { key: 'dup-number', to: '0091 98765 41100', params: PARAMS },
      { key: 'missing-param', to: phone(2), params: { 1: 'Ann' } },
      { key: 'tab-param', to: phone(3), params: { ...PARAMS, 1: 'A\tB' } },
      { key: 'no-to', params: PARAMS },
      'not a row',
      { key: 'ok1', to: phone(4), params: PARAMS },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(2);
    expect(res.body.duplicates).toBe(1);
    expect(res.body.rejected.map((r: { key: string | null; code: string }) => [r.key, r.code])).toEqual([
      ['bad-phone', 'invalid_phone'],
      ['dup-number', 'duplicate_recipient'],
      ['missing-param', 'template_params'],
      ['tab-param', 'template_params'],
      ['no-to', 'invalid_row'],
      [null, 'invalid_row'],
    ]);
    for (const r of res.body.rejected as { message: string }[]) expect(r.message.length).toBeGreaterThan(5);

    // Posting a key again never makes a second message.
    const again = await addRows(keyA, id, [{ key: 'ok1', to: phone(0), params: PARAMS }]);
    expect(again.body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    const feed = await readFeed(keyA, id, '0', 100);
    expect(feed.items.map((i) => [i.key, i.to, i.status])).toEqual([
      ['ok1', e164(0), 'queued'],
      ['ok2', e164(1), 'queued'],
    ]);
  });

  it('answers 400 for more than 5,000 rows and stores none of them', async () => {
    const id = await createCampaign(keyA);
    const rows = Array.from({ length: 5001 }, (_, i) => ({ key: `k${i}`, to: `+91987650${String(i).padStart(4, '0')}`, params: PARAMS }));
    const res = await addRows(keyA, id, rows);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'bad_request', message: expect.stringContaining('5000') });
    expect((await readFeed(keyA, id, '0', 100)).items).toEqual([]);
  });

  it('answers 413 for a body over the size limit', async () => {
    const id = await createCampaign(keyA);
    const huge = `{"rows":[{"key":"k","to":"${phone(0)}","params":{"1":"${'x'.repeat(17 * 1024 * 1024)}"}}]}`;
    const res = await api().post(`/v1/campaigns/${id}/rows`).set(auth(keyA)).set('Content-Type', 'application/json').send(huge);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('answers 400 with the error shape for malformed JSON', async () => {
    const id = await createCampaign(keyA);
    const res = await api().post(`/v1/campaigns/${id}/rows`).set(auth(keyA)).set('Content-Type', 'application/json').send('{"rows": [');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'bad_request', message: expect.stringMatching(/JSON/) } });
  });
});

describe('campaign lifecycle', () => {
  async function command(id: string, verb: string): Promise<request.Response> {
    return api().post(`/v1/campaigns/${id}/${verb}`).set(auth(keyA));
  }

  async function stateOf(id: string): Promise<string> {
    return (await api().get(`/v1/campaigns/${id}`).set(auth(keyA))).body.state as string;
  }

  it('refuses to pause or resume a draft with 409, and cancels it', async () => {
    const id = await createCampaign(keyA);
    for (const verb of ['pause', 'resume']) {
      const res = await command(id, verb);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('campaign_state');
    }
    expect((await command(id, 'cancel')).body).toEqual({ state: 'cancelled' });
    expect(await stateOf(id)).toBe('cancelled');
  });

  it('schedules a campaign whose sendAt is ahead, and moves it through pause, resume and cancel', async () => {
    const sendAt = new Date(Date.now() + 3600_000).toISOString();
    const id = await createCampaign(keyA, { sendAt });
    await addRows(keyA, id, [{ key: 'a', to: phone(0), params: PARAMS }]);
    expect((await command(id, 'start')).body).toEqual({ state: 'scheduled' });
    expect((await command(id, 'start')).status).toBe(409);
    expect((await command(id, 'pause')).body).toEqual({ state: 'paused' });
    // Resumed before its time, it waits again.
    expect((await command(id, 'resume')).body).toEqual({ state: 'scheduled' });
    expect((await command(id, 'cancel')).body).toEqual({ state: 'cancelled' });
    for (const verb of ['start', 'pause', 'resume', 'cancel']) expect((await command(id, verb)).status).toBe(409);
    expect((await addRows(keyA, id, [{ key: 'b', to: phone(1), params: PARAMS }])).status).toBe(409);
    const view = await api().get(`/v1/campaigns/${id}`).set(auth(keyA));
    expect(view.body).toMatchObject({ state: 'cancelled', sendAt, counts: { cancelled: 1, queued: 0, sent: 0 } });
  });

  it('runs, pauses with rows still queued, resumes, and cancels what is left', async () => {
    const id = await createCampaign(keyA);
    const rows = Array.from({ length: 400 }, (_, i) => ({ key: `r${i}`, to: `+9198766${String(10000 + i)}`, params: PARAMS }));
    expect((await addRows(keyA, id, rows)).body.accepted).toBe(400);
    expect((await command(id, 'start')).body).toEqual({ state: 'running' });
    expect((await command(id, 'pause')).body).toEqual({ state: 'paused' });
    const paused = await api().get(`/v1/campaigns/${id}`).set(auth(keyA));
    expect(paused.body.state).toBe('paused');
    expect(paused.body.counts.queued).toBeGreaterThan(200);
    expect((await command(id, 'resume')).body).toEqual({ state: 'running' });
    expect((await command(id, 'cancel')).body).toEqual({ state: 'cancelled' });
    const cancelled = await api().get(`/v1/campaigns/${id}`).set(auth(keyA));
    expect(cancelled.body.counts.queued).toBe(0);
    expect(cancelled.body.counts.cancelled).toBeGreaterThan(0);
    expect((await command(id, 'resume')).status).toBe(409);
  });
});

describe('a campaign to the sandbox', () => {
  it('runs to finished, the feed pages every row once, and webhooks are verified before they move a status', async () => {
    const id = await createCampaign(keyA);
    const rows = Array.from({ length: 20 }, (_, i) => ({ key: `row-${i}`, to: phone(i), params: PARAMS }));
    expect((await addRows(keyA, id, rows)).body).toEqual({ accepted: 20, duplicates: 0, rejected: [] });
    expect((await api().post(`/v1/campaigns/${id}/start`).set(auth(keyA))).body).toEqual({ state: 'running' });

    const finished = await waitFor(async () => {
      const res = await api().get(`/v1/campaigns/${id}`).set(auth(keyA));
      return res.body.state === 'finished' ? res.body : undefined;
    });
    expect(finished.finishedAt).toEqual(expect.any(String));
    expect(finished.counts.queued + finished.counts.sending).toBe(0);
    expect((await api().post(`/v1/campaigns/${id}/pause`).set(auth(keyA))).status).toBe(409);

    // Wait until the simulator's status webhooks stop changing rows.
    let cursor = '0';
    let quietSince = Date.now();
    while (Date.now() - quietSince < 800) {
      const page = await readFeed(keyA, id, cursor, 500);
      if (page.items.length > 0) quietSince = Date.now();
      cursor = page.next;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const pass = await readFeed(keyA, id, '0', 7);
    expect(pass.pages).toBe(4);
    expect(pass.items.map((i) => i.key).sort()).toEqual(rows.map((r) => r.key).sort());
    expect(new Set(pass.items.map((i) => i.key)).size).toBe(20);
    expect(pass.next).toBe(cursor);
    for (const item of pass.items) {
      expect(item.wamid).toMatch(/^wamid\./);
      expect(['sent', 'delivered', 'read']).toContain(item.status);
    }

    const target = pass.items[0] as Item;
    const payload = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: 'waba', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { phone_number_id: 'x', display_phone_number: 'x' },
        statuses: [{ id: target.wamid, status: 'failed', timestamp: '1750030090', recipient_id: target.to.slice(1),
          errors: [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'Não entregue ✉' } }] }],
      } }] }],
    });
    const secrets = (await runtime.store.getAccountSecrets(accountA));
    if (!secrets) throw new Error('no secrets');
    const writeBatch = vi.spyOn(runtime.store, 'writeBatch');
    const savedBodies = () => writeBatch.mock.calls.flatMap(([writes]) => writes).filter((w) => w.kind === 'save_webhook');
    try {
      const forged = await api().post(`/webhooks/whatsapp/${accountA}`)
        .set('Content-Type', 'application/json').set('X-Hub-Signature-256', signBody('not-the-app-secret', payload)).send(payload);
      expect(forged.status).toBe(401);
      const unsigned = await api().post(`/webhooks/whatsapp/${accountA}`).set('Content-Type', 'application/json').send(payload);
      expect(unsigned.status).toBe(401);
      expect(savedBodies()).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await readFeed(keyA, id, cursor, 100)).items).toEqual([]);

      const signed = await api().post(`/webhooks/whatsapp/${accountA}`)
        .set('Content-Type', 'application/json').set('X-Hub-Signature-256', signBody(secrets.appSecret, payload)).send(payload);
      expect(signed.status).toBe(200);
      expect(savedBodies()).toHaveLength(1);
    } finally {
      writeBatch.mockRestore();
    }
    const changed = await waitFor(async () => {
      const page = await readFeed(keyA, id, cursor, 100);
      return page.items.length > 0 ? page.items : undefined;
    });
    expect(changed).toEqual([expect.objectContaining({ key: target.key, status: 'failed', error: expect.objectContaining({ code: '131026' }) })]);
    const view = await api().get(`/v1/campaigns/${id}`).set(auth(keyA));
    expect(view.body.counts.failed).toBe(1);
  });
});

describe('webhook verification handshake', () => {
  it('echoes the challenge for the right verify token and answers 403 otherwise', async () => {
    const secrets = (await runtime.store.getAccountSecrets(accountA));
    if (!secrets) throw new Error('no secrets');
    const ok = await api().get(`/webhooks/whatsapp/${accountA}`)
      .query({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': secrets.verifyToken });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('1158201444');

    for (const query of [
      { 'hub.mode': 'subscribe', 'hub.challenge': '1', 'hub.verify_token': `${secrets.verifyToken}x` },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.challenge': '1', 'hub.verify_token': secrets.verifyToken },
    ]) {
      expect((await api().get(`/webhooks/whatsapp/${accountA}`).query(query)).status).toBe(403);
    }
    const otherAccount = await api().get('/webhooks/whatsapp/a_nobody')
      .query({ 'hub.mode': 'subscribe', 'hub.challenge': '1', 'hub.verify_token': secrets.verifyToken });
    expect(otherAccount.status).toBe(403);
  });
});

describe('POST /v1/preview', () => {
  it('answers per-row results and counts, and stores nothing', async () => {
    const before = (await api().get('/v1/campaigns').set(auth(keyA))).body.campaigns.length as number;
    const res = await api().post('/v1/preview').set(auth(keyA)).send({
      template: TEMPLATE,
      defaultCountry: 'in',
      rows: [
        { key: 'a', to: '98765 41100', params: PARAMS },
        { key: 'b', to: '12', params: PARAMS },
        { key: 'c', to: phone(0), params: PARAMS },
        { key: 'd', to: phone(5), params: { 1: 'Bo' } },
        { key: 'e' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.rows.map((r: { key: string; ok: boolean; error?: { code: string } }) => [r.key, r.ok, r.error?.code])).toEqual([
      ['a', true, undefined],
      ['b', false, 'invalid_phone'],
      ['c', false, 'duplicate_recipient'],
      ['d', false, 'template_params'],
      ['e', false, 'invalid_row'],
    ]);
    expect(res.body.rows[0]).toMatchObject({ to: e164(0), text: expect.stringContaining('Hi Ann, enjoy 20% off') });
    expect(res.body.counts).toEqual({ valid: 1, invalid: 3, duplicate: 1, optedOut: 0, frequencyCapped: 0 });
    expect((await api().get('/v1/campaigns').set(auth(keyA))).body.campaigns.length).toBe(before);
  });

  it('counts the rows WhatsApp will refuse for certain: a marketing template to a US (+1) number (131049)', async () => {
    const res = await api().post('/v1/preview').set(auth(keyA)).send({
      template: TEMPLATE, defaultCountry: 'in',
      rows: [{ key: 'us', to: '+1 650 555 0100', params: PARAMS }, { key: 'in', to: '98765 41101', params: PARAMS }],
    });
    expect(res.body.rows.map((r: { key: string; frequencyCapped?: boolean }) => [r.key, r.frequencyCapped ?? false])).toEqual([['us', true], ['in', false]]);
    expect(res.body.counts.frequencyCapped).toBe(1);
  });
});
