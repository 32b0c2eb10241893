// The service's real pino logs through a whole campaign (sends, injected Cloud API faults, failures, replies,
// opt-outs, an auth-halted campaign, forged and malformed webhooks, API errors) never contain an access token, an
// app secret, a verify token, an API key, a phone number in any form, or the text of a message or reply.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../service/adapters/system/pino-logger';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import { QUOTING_REPLY, UNQUOTED_REPLY } from '../../../service/simulator/outcome-rules';
import { signBody } from '../../../service/webhooks/webhook-signature';
import { auth, leaksIn, removeDir, settle, sleep, startSandboxService, TEMPLATE, waitFor, type SandboxService } from './sandbox-service';
import type { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';

const SECRETS = {
  accessToken: 'EAAGlogtestACCESStoken7f3k9q2ZZ',
  appSecret: 'appsecretLOGTEST4c3b2a1z',
  verifyToken: 'verifyLOGTEST1a2b3cQ',
};
const PHONE_NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';
/** Last four digits pick the simulator's outcome: failures, a STOP reply, an opt-out tap, replies, a preference stop. */
const ENDINGS = ['0001', '0002', '0003', '0004', '0005', '0007', '0008', '0009', '0010', '0011', '0012'];
const NUMBERS = [...ENDINGS.map((e) => `+91987554${e}`), ...Array.from({ length: 14 }, (_, i) => `+91987556${String(3000 + i)}`)];
const PRIVATE_REPLY = 'LEAKYREPLY please call me at home, my pin is 7788';
const name = (i: number) => `Leakname${i}Zx`;

const lines: string[] = [];
let svc: SandboxService;
let simulator: CloudApiSimulator;
let apiKey: string;
let accountId: string;
let sandboxKey: string;
let sandboxSecrets: { accessToken: string; appSecret: string; verifyToken: string };

function api() {
  return svc.api();
}

async function webhook(body: string, signature: string | null, id = accountId) {
  const req = api().post(`/webhooks/whatsapp/${id}`).set('Content-Type', 'application/json');
  return (signature === null ? req : req.set('X-Hub-Signature-256', signature)).send(body);
}

async function runToEnd(key: string, id: string): Promise<void> {
  await waitFor(async () => {
    const res = await api().get(`/v1/campaigns/${id}`).set(auth(key));
    // Running and waiting only for rows WhatsApp held back (131049, retried in 24 h) is the end of the run too.
    const isOnlyWaiting = res.body.state === 'running' && res.body.stateReason?.code === 'frequency_cap';
    return ['finished', 'paused', 'cancelled'].includes(res.body.state) || isOnlyWaiting ? true : undefined;
  }, 30_000);
}

beforeAll(async () => {
  simulator = new CloudApiSimulator({
    faults: { serverErrorRate: 0.1, dropAfterAcceptRate: 0.08, slowRate: 0.05, slowMs: 1500, seed: 11 },
    delays: { sentMs: 5, deliveredMs: 15, readMs: 30, replyMs: 50 },
    outcomes: { replyRate: 0.3, seed: 3 },
    webhooks: { batchWindowMs: 10 },
  });
  const graphUrl = await simulator.listen(0);
  const logger = createLogger('trace', { write: (line: string) => void lines.push(line) });
  svc = await startSandboxService({ logger, env: { GRAPH_API_URL: graphUrl, SEND_TIMEOUT_MS: '500', RECONCILE_AFTER_MS: '1000' } });
  const created = await svc.runtime.createAccount({
    name: 'Log Co', isSandbox: false, phoneNumberId: PHONE_NUMBER_ID, wabaId: WABA_ID, ...SECRETS,
    messagesPerSecond: 80, dailyLimit: null, defaultCountry: 'IN',
  });
  apiKey = created.apiKey;
  accountId = created.account.id;
  simulator.registerNumber({
    phoneNumberId: PHONE_NUMBER_ID, wabaId: WABA_ID, accessToken: SECRETS.accessToken, appSecret: SECRETS.appSecret,
    webhookUrl: `${svc.runtime.url}/webhooks/whatsapp/${accountId}`, messagesPerSecond: 80,
  });
  const sandbox = await svc.runtime.createAccount({ name: 'Sandbox Log', isSandbox: true, defaultCountry: 'IN' });
  sandboxKey = sandbox.apiKey;
  sandboxSecrets = (await svc.runtime.store.getAccountSecrets(sandbox.account.id)) as typeof sandboxSecrets;
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await simulator?.close();
  if (svc) removeDir(svc.dataDir);
});

describe('the service log', () => {
  it('through a whole campaign with faults, replies, opt-outs and hostile requests, holds no secret, number or text', async () => {
    // API errors, each with something private in the request.
    expect((await api().get('/v1/campaigns').set(auth(`${apiKey}x`))).status).toBe(401);
    expect((await api().get('/v1/campaigns').set('Authorization', apiKey)).status).toBe(401);
    expect((await api().post('/v1/campaigns').set(auth(apiKey)).set('Content-Type', 'application/json')
      .send(`{"name": "${NUMBERS[0]}", "template": `)).status).toBe(400);
    expect((await api().post('/v1/test-send').set(auth(apiKey)).send({ to: `${NUMBERS[0]}999`, template: TEMPLATE,
      params: { 1: name(0), 2: '5%', 'button:0': 'X' } })).body.error.code).toBe('invalid_phone');
    expect((await api().post('/v1/suppressions').set(auth(apiKey)).send({ to: ['not', NUMBERS[1]] })).status).toBe(400);
    expect((await api().delete(`/v1/suppressions/${encodeURIComponent(NUMBERS[2] as string)}`).set(auth(apiKey))).status).toBe(404);
    expect((await api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'x', template: { name: 'nope', language: 'en_US' } })).status).toBe(422);
    const huge = `{"name":"${NUMBERS[3]}${'x'.repeat(17 * 1024 * 1024)}"}`;
    expect((await api().post('/v1/campaigns').set(auth(apiKey)).set('Content-Type', 'application/json').send(huge)).status).toBe(413);

    // The campaign: some rows suppressed up front, the rest sent through injected 5xx, slow answers and drops.
    expect((await api().post('/v1/suppressions').set(auth(apiKey)).send({ to: NUMBERS.at(-1) })).status).toBe(201);
    const id = (await api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'Spring', template: TEMPLATE })).body.id as string;
    const rows = NUMBERS.map((to, i) => ({ key: `row-${i}`, to, params: { 1: name(i), 2: `${i}%`, 'button:0': `CODE${i}Q` } }));
    const added = await api().post(`/v1/campaigns/${id}/rows`).set(auth(apiKey))
      .send({ rows: [...rows, { key: 'bad', to: '12', params: {} }, { key: 'dup', to: NUMBERS[0], params: rows[0]?.params }] });
    expect(added.body).toMatchObject({ accepted: NUMBERS.length, rejected: [{ key: 'bad' }, { key: 'dup' }] });
    expect((await api().post(`/v1/campaigns/${id}/start`).set(auth(apiKey))).body).toEqual({ state: 'running' });
    expect((await api().post(`/v1/campaigns/${id}/start`).set(auth(apiKey))).status).toBe(409);
    await runToEnd(apiKey, id);
    await simulator.idle(15_000);
    simulator.emitInboundText(PHONE_NUMBER_ID, (NUMBERS[20] as string).slice(1), PRIVATE_REPLY);
    await simulator.idle(15_000);
    await settle(svc);

    // Forged, unsigned and malformed-but-signed webhooks, and handshakes with the wrong and the right token.
    const statusBody = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: WABA_ID, changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: PHONE_NUMBER_ID, display_phone_number: '15550001111' },
      contacts: [{ wa_id: (NUMBERS[21] as string).slice(1), profile: { name: 'Profile Leakname' } }],
      messages: [{ from: (NUMBERS[21] as string).slice(1), id: 'wamid.in-1', timestamp: '1750030091', type: 'text', text: { body: PRIVATE_REPLY } }],
    } }] }] });
    expect((await webhook(statusBody, signBody('wrong-secret', statusBody))).status).toBe(401);
    expect((await webhook(statusBody, null)).status).toBe(401);
    expect((await webhook(statusBody, signBody(SECRETS.appSecret, statusBody), 'a_nobody')).status).toBe(404);
    for (const malformed of [`{"entry": [${NUMBERS[5]}`, JSON.stringify({ entry: [{ changes: [{ field: 'messages', value: {
      statuses: [{ id: 42, recipient_id: (NUMBERS[6] as string).slice(1), status: { text: PRIVATE_REPLY } }],
      messages: [{ from: (NUMBERS[7] as string).slice(1), text: PRIVATE_REPLY }] } }] }] })]) {
      expect((await webhook(malformed, signBody(SECRETS.appSecret, malformed))).status).toBe(200);
    }
    for (const token of ['wrong', SECRETS.verifyToken]) {
      await api().get(`/webhooks/whatsapp/${accountId}`).query({ 'hub.mode': 'subscribe', 'hub.challenge': '7', 'hub.verify_token': token });
    }

    // A test send, and a second campaign halted by a revoked token (an account-level error).
    expect((await api().post('/v1/test-send').set(auth(apiKey)).send({ to: NUMBERS[22], template: TEMPLATE,
      params: { 1: name(22), 2: '1%', 'button:0': 'T' } })).status).toBe(200);
    simulator.setFaults({});
    simulator.updateNumber(PHONE_NUMBER_ID, { accessToken: 'revoked-elsewhere' });
    const halted = (await api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'Halted', template: TEMPLATE })).body.id as string;
    await api().post(`/v1/campaigns/${halted}/rows`).set(auth(apiKey))
      .send({ rows: [{ key: 'h1', to: '+919875570001', params: { 1: name(90), 2: '1%', 'button:0': 'H' } }] });
    await api().post(`/v1/campaigns/${halted}/start`).set(auth(apiKey));
    await runToEnd(apiKey, halted);

    // The sandbox path too: a small campaign through the built-in simulator.
    const sid = (await api().post('/v1/campaigns').set(auth(sandboxKey)).send({ name: 'Sandbox', template: TEMPLATE })).body.id as string;
    await api().post(`/v1/campaigns/${sid}/rows`).set(auth(sandboxKey))
      .send({ rows: ['0003', '0007', '0008'].map((e, i) => ({ key: `s${i}`, to: `+91987558${e}`, params: { 1: name(50 + i), 2: '2%', 'button:0': 'S' } })) });
    await api().post(`/v1/campaigns/${sid}/start`).set(auth(sandboxKey));
    await runToEnd(sandboxKey, sid);
    await settle(svc);

    // The account routes: an export, a contact erased, the sandbox account erased.
    expect((await api().get('/v1/account/export').set(auth(sandboxKey))).status).toBe(200);
    expect((await api().delete(`/v1/contacts/${encodeURIComponent(NUMBERS[10] as string)}`).set(auth(apiKey))).status).toBe(200);
    expect((await api().delete('/v1/account').set(auth(sandboxKey))).status).toBe(200);
    await sleep(1500); // one reconcile pass for any send left without an outcome

    const log = lines.join('');
    // The log is not empty: the paths above really logged.
    for (const message of ['campaign state', 'webhook body is not JSON; dropped', 'webhook items not understood', 'campaign halted', 'account erased']) {
      expect(log, `expected a "${message}" line`).toContain(message);
    }
    const db = (svc.runtime.store as SqliteStore).db;
    const stored = (sql: string) => (db.prepare(sql).all() as Record<string, unknown>[]).flatMap((r) => Object.values(r))
      .filter((v): v is string => typeof v === 'string' && v.length > 3);
    const replies = stored('SELECT reply_text FROM messages WHERE reply_text IS NOT NULL');
    expect(replies).toEqual(expect.arrayContaining([QUOTING_REPLY, UNQUOTED_REPLY, PRIVATE_REPLY]));
    expect(stored("SELECT to_e164 FROM suppressions WHERE source != 'api'").length).toBeGreaterThan(1);
    const allNumbers = [...NUMBERS, '+919875570001', '+919875580003', '+919875580007', '+919875580008'];
    const needles = [
      ...Object.values(SECRETS), ...Object.values(sandboxSecrets), apiKey, sandboxKey, apiKey.slice(4), sandboxKey.slice(4),
      createHash('sha256').update(apiKey).digest('hex'),
      ...allNumbers.flatMap((n) => [n, n.slice(1), n.slice(3)]),
      ...replies, PRIVATE_REPLY, 'Profile Leakname', 'Leakname', 'Hi Leakname',
    ];
    expect(leaksIn(log, needles)).toEqual([]);
    // Redaction keeps the log useful: states, reasons and ids are readable.
    expect(log).toMatch(/"state":"finished"/);
    expect(log).toMatch(/"reason":"meta_190"/);
    expect(log).toContain(id);
  });
});

describe('a careless log line', () => {
  it('masks numbers, keys and tokens inside strings, and redacted keys at any depth, keeping the rest readable', () => {
    const out: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void out.push(line) });
    const key = 'wsk_Q2hlY2tUaGlzS2V5SXNOZXZlckxvZ2dlZDEyMzQ1';
    const error = new Error('(#100) Invalid parameter: +91 98765 41100 is not a valid WhatsApp user; call (415) 555-0100');
    logger.error({ error: String(error), stack: error.stack }, 'send failed for +919876541102');
    logger.warn({ request: { headers: { Authorization: `Bearer ${key}` }, query: { token: SECRETS.verifyToken } } }, 'auth');
    logger.warn({ a: { b: { c: { d: { e: { to: '+919876541103', text: PRIVATE_REPLY } } } } } }, 'deep');
    logger.info({ rows: [{ key: 'r1', to: 919876541104, params: { 1: name(1) } }], note: `key ${key} and ${SECRETS.accessToken}` }, 'rows');
    logger.error({ err: new Error(`token EAAGm0PX4ZCpsBAHZBexampletoken expired; retry to 14155550100`) }, 'graph');
    logger.info({ campaignId: 'c_5jL5LPbexFsx', state: 'running', at: '2026-11-22T20:43:09.123Z', attempts: 3, webhookId: 12 }, 'kept');
    logger.error({ error: 'connect ECONNREFUSED postgres://svc:Pg-s3cret-pw@db.internal:5432/campaigns' }, 'database');
    logger.error({ err: { code: '23505', detail: 'Key (campaign_id, to_e164)=(c_1, +919876541105) already exists.' } }, 'pg');
    const log = out.join('');
    expect(log).toContain('postgres://svc:[password]@db.internal:5432/campaigns');
    expect(leaksIn(log, ['Pg-s3cret-pw', '919876541105',
      '98765 41100', '9876541100', '(415) 555-0100', '555-0100', '919876541102', '919876541103', '919876541104', '14155550100',
      key, key.slice(4), SECRETS.verifyToken, SECRETS.accessToken, 'EAAGm0PX4ZCpsBAHZBexampletoken', PRIVATE_REPLY, name(1),
    ])).toEqual([]);
    for (const kept of ['c_5jL5LPbexFsx', '"state":"running"', '2026-11-22T20:43:09.123Z', '"attempts":3', 'Invalid parameter', 'send failed', '"key":"r1"']) {
      expect(log).toContain(kept);
    }
  });
});
