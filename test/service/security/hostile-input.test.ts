// Hostile input (issue 5): thousands of malformed requests from a seeded generator — wrong types, huge strings, deep
// nesting, prototype keys, invalid JSON, wrong content types, unicode oddities, forged and malformed webhooks,
// oversize bodies — each answered with a 4xx and the error shape (or, where API.md reports bad rows in a 200, with
// every row rejected), never a 5xx; and none of them writes anything: the connection's change counter does not move,
// nothing reaches the Cloud API, and the database is the same afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Test } from 'supertest';
import { normalisePhoneNumber } from '../../../service/campaigns/phone-number';
import { signBody } from '../../../service/webhooks/webhook-signature';
import { auth, removeDir, settle, snapshotTables, startSandboxService, TEMPLATE, waitFor, type SandboxService } from './sandbox-service';
import { seededRandom as seeded } from '../../fakes/seeded-random';
import type { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';

/** FUZZ_SEED=n explores another sequence; failures print the round to reproduce. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_605);
const ROUNDS = 500;
const PARAMS = { 1: 'Ann', 2: '20%', 'button:0': 'SUMMER25' };


const random = seeded(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
const chance = (p: number) => random() < p;

const ODD_STRINGS = [
  '', ' ', '\u0000', '\ud800', '\udfff\ud800', '\u202eevil', 'a\u200db', 'e\u0301\u0301\u0301', '😀'.repeat(40), '𝟗𝟖𝟕𝟔𝟓',
  '\ufeff{}', 'NaN', 'Infinity', '-Infinity', '1e309', '-0', '0x1F', '__proto__', 'constructor', 'prototype', 'toString',
  '<script>alert(1)</script>', "'; DROP TABLE messages; --", '../../etc/passwd', '%00', '\\u0000', 'null', 'undefined',
  'true', '{}', '[]', '\r\n\r\n', '\t', 'ǅ', 'ﬀ', 'İ',
];
const ODD_NUMBERS = [0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 1e-320, 12];

/** Numbers no country makes valid; checked against the normaliser before the run so the test stays deterministic. */
const BAD_PHONES: (string | number)[] = [
  '', ' ', '12', '+', '++91', 'abc', '+91', '+91 12', '0', '0000000000', '+000000000000', '+1 555', '9'.repeat(40),
  '+9'.padEnd(64, '9'), 'NaN', '1e12', '+91 98765 4110O', '٩٨٧', '☎️', '\u0000', '+\u202e91', 'tel:', 0, -1, 12, 1.5, 1e308,
];

function junkString(): string {
  switch (int(5)) {
    case 0: return pick(ODD_STRINGS);
    case 1: return 'x'.repeat(1 + int(5000));
    case 2: return String.fromCodePoint(...Array.from({ length: 1 + int(30) }, () => int(0x10ffff + 1)).filter((c) => c < 0xd800 || c > 0xdfff));
    case 3: return `${pick(ODD_STRINGS)}${int(1e9)}`;
    default: return Array.from({ length: 1 + int(12) }, () => String.fromCharCode(int(0x80))).join('');
  }
}

/** encodeURIComponent without its URIError on lone surrogates. */
function encode(text: string): string {
  return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd'));
}

function junk(depth = 0): unknown {
  switch (int(depth > 3 ? 5 : 9)) {
    case 0: return null;
    case 1: return chance(0.5);
    case 2: return pick(ODD_NUMBERS);
    case 3: case 4: return junkString();
    case 5: return Array.from({ length: int(4) }, () => junk(depth + 1));
    case 6: return protoObject(depth);
    case 7: return nested(1 + int(200));
    default: return Object.fromEntries(Array.from({ length: 1 + int(4) }, () => [junkString().slice(0, 40), junk(depth + 1)]));
  }
}

/** An object whose own keys are __proto__, constructor and prototype (as JSON.parse makes them). */
function protoObject(depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    Object.defineProperty(out, key, { value: depth > 2 ? 1 : { polluted: 'yes', toString: 'x', ...(chance(0.5) ? { name: 'p' } : {}) }, enumerable: true });
  }
  return out;
}

function nested(depth: number): unknown {
  let value: unknown = 'core';
  for (let i = 0; i < depth; i++) value = chance(0.5) ? [value] : { a: value };
  return value;
}

/** Raw bodies that are not JSON, or JSON the parser must refuse. */
const RAW_BODIES = [
  '{', '{"a":}', "{'a':1}", 'NaN', '{"limit": NaN}', '{"a":1,}', '[1,2', '\ufeff{"name":"x"}', '\u0000', 'null', '"string"',
  '12', 'true', '{"rows": Infinity}', `${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`,
  '{"__proto__": {"polluted": "yes"}}', '{"constructor": {"prototype": {"polluted": "yes"}}}', 'name=x&template=y',
  '--boundary\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n--boundary--',
];
const CONTENT_TYPES = [
  'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=boundary',
  'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/xml', '', 'application/json; charset="utf-8"',
];

interface Hostile {
  label: string;
  request: () => Test;
  /** What a correct answer looks like beyond "not 5xx". */
  expect: 'error' | 'rows' | 'preview' | 'webhook-accepted';
  /** Shown when the answer is wrong. */
  detail?: string;
  /** Rows in the body, for answers that report each row. */
  rowCount?: number;
}

let svc: SandboxService;
let key: string;
let otherKey: string;
let accountId: string;
let appSecret: string;
let otherSecret: string;
let draftId: string;
let finishedId: string;
let realWamids: string[];

function api() {
  return svc.api();
}

function withBody(test: Test, body: unknown): Test {
  if (chance(0.15)) {
    return test.set('Content-Type', pick(CONTENT_TYPES)).send(pick(RAW_BODIES));
  }
  if (chance(0.08)) return test.set('Content-Type', pick(CONTENT_TYPES)).send(JSON.stringify(body));
  return test.set('Content-Type', 'application/json').send(JSON.stringify(body));
}

/** Copies `base` with 1–3 of its fields replaced by values from `bad` (each of which makes the body invalid). */
function mutate(base: Record<string, unknown>, bad: Record<string, readonly unknown[]>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  const fields = Object.keys(bad);
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    const field = pick(fields);
    const choices = bad[field] as readonly unknown[];
    const value = pick(choices);
    if (value === MISSING) delete out[field];
    else out[field] = value;
  }
  if (chance(0.3)) Object.assign(out, protoObject(0));
  if (chance(0.2)) out[junkString().slice(0, 30) || 'extra'] = junk();
  return out;
}

const MISSING = Symbol('missing');

const BAD_TEMPLATE = [
  MISSING, null, 'summer_sale', 1, [], {}, { name: 'summer_sale' }, { language: 'en_US' }, { name: '', language: 'en_US' },
  { name: 'summer_sale', language: 'e' }, { name: 123, language: 'en_US' }, { name: 'summer_sale', language: 'en_US'.repeat(4) },
  { name: 'no_such_template', language: 'en_US' }, { name: 'summer_sale', language: 'fr' }, { name: 'x'.repeat(513), language: 'en_US' },
  { name: ['summer_sale'], language: 'en_US' }, { name: 'summer_sale\u0000', language: 'en_US' },
];

const BAD_CAMPAIGN: Record<string, readonly unknown[]> = {
  name: [MISSING, '', '   ', 0, 12, null, true, [], {}, 'x'.repeat(201), ['Spring'], '\u0000'.repeat(201)],
  template: BAD_TEMPLATE,
  sendAt: ['tomorrow', '', 0, 1750000000, true, {}, [], '2026-13-45T25:61:00Z', '2026-01-01', 'NaN', '2026-01-01T00:00:00Z junk'],
  defaultCountry: ['India', 'I', 'IND', '1N', 12, true, {}, [], '', 'İN', 'ＩＮ'],
  sheet: ['sheet', 1, [], {}, { spreadsheetId: 'short', sheetName: 'x' }, { spreadsheetId: 'abcdefghij/../x', sheetName: 'x' },
    { spreadsheetId: 'abcdefghijkl', sheetName: '' }, { spreadsheetId: 'abcdefghijkl' }, { spreadsheetId: 'a'.repeat(201), sheetName: 'x' }],
};

/** `base` plus an own property `key` (as JSON.parse makes `{"__proto__": …}`), which plain assignment cannot create. */
function withOwn(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  return Object.defineProperty({ ...base }, key, { value, enumerable: true, writable: true, configurable: true });
}

const BAD_ROW: Record<string, readonly unknown[]> = {
  key: [MISSING, '', '   ', null, true, {}, [], 'k'.repeat(201), ['k'], { toString: 'k' }],
  to: [MISSING, null, true, {}, [], 'x'.repeat(65), ...BAD_PHONES],
  params: ['x', 1, [], null, { 1: {} }, { 1: [] }, { 1: null }, { ...PARAMS, 1: 'x'.repeat(2001) }, { ['k'.repeat(101)]: 'x', ...PARAMS },
    { 1: 'Ann' }, { ...PARAMS, 99: 'x' }, { ...PARAMS, 1: 'A\tB' }, { ...PARAMS, 2: 'a     b' }, { ...PARAMS, 1: '' }, {},
    { ...PARAMS, header: 'x' }, { ...PARAMS, 'button:1': 'x' }, { ...PARAMS, 1: 'x'.repeat(1100) }, { ...PARAMS, 'button:0': 'x'.repeat(1999) },
    withOwn(PARAMS, '__proto__', 'x'), withOwn(PARAMS, '__proto__', { polluted: 'yes' }), withOwn(PARAMS, 'constructor', 'x'),
    withOwn(PARAMS, 'toString', 'x'), withOwn({ 2: '20%', 'button:0': 'S' }, '__proto__', { 1: 'inherited' })],
  headerMedia: ['x', 1, [], {}, { type: 'gif', link: 'https://x.example/a.gif' }, { type: 'image', link: 'not a url' },
    { type: 'image', link: `https://${'a'.repeat(2001)}` }, { type: 'image', link: 'https://x.example/a.jpg' }, { type: 'image' }],
};

let rowSerial = 0;

function badRow(): unknown {
  if (chance(0.1)) return junk();
  const n = rowSerial++;
  const base = { key: `fuzz-${n}`, to: `+9198${String(70_000_000 + n).padStart(8, '0')}`, params: { ...PARAMS } };
  const row = mutate(base, BAD_ROW);
  if (chance(0.2)) Object.defineProperty(row, '__proto__', { value: { key: 'p', to: '+919876500000', params: PARAMS }, enumerable: true });
  return row;
}

function badRows(): unknown[] {
  return Array.from({ length: chance(0.1) ? int(300) : 1 + int(6) }, badRow);
}

function rowsRequest(): Hostile {
  const body = chance(0.25)
    ? pick<unknown>([junk(), { rows: junk() }, { rows: {} }, { rows: 'x' }, { rows: null }, {}, [badRow()], { Rows: badRows() }, protoObject(0)])
    : { rows: badRows(), ...(chance(0.2) ? protoObject(0) : {}) };
  const isArrayBody = typeof body === 'object' && body !== null && Array.isArray((body as { rows?: unknown }).rows);
  return {
    label: 'rows',
    request: () => withBody(api().post(`/v1/campaigns/${draftId}/rows`).set(auth(key)), body),
    expect: isArrayBody ? 'rows' : 'error',
    rowCount: isArrayBody ? (body as { rows: unknown[] }).rows.length : 0,
  };
}

function previewRequest(): Hostile {
  const base = { template: TEMPLATE, defaultCountry: 'IN', rows: badRows() };
  const body = chance(0.4)
    ? mutate(base, { template: BAD_TEMPLATE, defaultCountry: BAD_CAMPAIGN.defaultCountry as unknown[], rows: [MISSING, 'x', {}, null, 1] })
    : base;
  return { label: 'preview', request: () => withBody(api().post('/v1/preview').set(auth(key)), body), expect: 'preview' };
}

function campaignRequest(): Hostile {
  const body = chance(0.2) ? junk() : mutate({ name: 'Fuzz', template: TEMPLATE, defaultCountry: 'IN' }, BAD_CAMPAIGN);
  return { label: 'create campaign', request: () => withBody(api().post('/v1/campaigns').set(auth(key)), body), expect: 'error' };
}

function testSendRequest(): Hostile {
  const body = chance(0.2) ? junk() : mutate({ to: '+919876541100', template: TEMPLATE, params: { ...PARAMS } }, {
    to: [MISSING, null, {}, [], true, 'x'.repeat(65), ...BAD_PHONES],
    template: BAD_TEMPLATE,
    params: BAD_ROW.params as unknown[],
    headerMedia: BAD_ROW.headerMedia as unknown[],
  });
  return { label: 'test-send', request: () => withBody(api().post('/v1/test-send').set(auth(key)), body), expect: 'error' };
}

function suppressionRequest(): Hostile {
  if (chance(0.35)) {
    const raw = pick([encode(String(pick(BAD_PHONES))), '%', '%zz', '%E0%A4%A', '%ff%fe', encode(junkString()).slice(0, 500), '..%2F..%2F']);
    return { label: 'delete suppression', request: () => api().delete(`/v1/suppressions/${raw || '%20'}`).set(auth(key)), expect: 'error' };
  }
  const body = chance(0.3) ? junk() : mutate({ to: '+919876541100' }, { to: [MISSING, null, {}, [], true, 'x'.repeat(65), ...BAD_PHONES] });
  return { label: 'add suppression', request: () => withBody(api().post('/v1/suppressions').set(auth(key)), body), expect: 'error' };
}

function readRequest(): Hostile {
  const query = pick<Record<string, unknown>>([
    { after: '-1' }, { after: 'abc' }, { after: '1e5' }, { after: '9'.repeat(16) }, { after: ['1', '2'] },
    { limit: '0' }, { limit: '5001' }, { limit: 'abc' }, { limit: '1.5' }, { limit: '-1' }, { limit: 'NaN' }, { limit: 'Infinity' },
    { limit: ['1', '2'] }, { after: '' }, { after: ' 1' }, { after: '0x10' },
  ]);
  if (chance(0.3)) {
    const id = pick([encode(junkString()).slice(0, 300) || 'x', '%', '%zz', `${finishedId}%00`, '..%2Fcampaigns', 'c_%2F..']);
    const verb = pick(['', '/messages', '/start', '/pause', '/resume', '/cancel', '/retry-unknown', '/rows']);
    const method = verb === '' || verb === '/messages' ? 'get' : 'post';
    return { label: 'campaign id', request: () => api()[method](`/v1/campaigns/${id}${verb}`).set(auth(key)), expect: 'error' };
  }
  return { label: 'messages query', detail: JSON.stringify(query), request: () => api().get(`/v1/campaigns/${finishedId}/messages`).query(query).set(auth(key)), expect: 'error' };
}

/** A webhook body Meta would never sign: not JSON, not the payload's shape, or events about nothing that exists. */
function malformedWebhookBody(): string {
  const junkFrom = pick(['', 'abc', '+', '---', '💥', '0', ' ', '12', '+91', 'null', '9'.repeat(40), '٩٨٧٦٥٤٣٢١٠']);
  const shapes: (() => unknown)[] = [
    () => junk(),
    () => ({ object: pick(['page', '', 1, null, 'whatsapp_business_account']), entry: junk() }),
    () => ({ object: 'whatsapp_business_account', entry: [{ id: junk(), changes: junk() }] }),
    () => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: junk(), value: junk() }] }] }),
    () => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: {
      statuses: junk(), messages: junk(), user_preferences: junk(), metadata: junk() } }] }] }),
    () => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: {
      messages: [{ from: junkFrom, id: `wamid.fuzz${int(1e6)}`, type: 'text', text: { body: pick(['STOP', 'stop promotions', 'baja', junkString()]) } }],
      contacts: [{ wa_id: junkFrom }],
    } }] }] }),
    () => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: {
      user_preferences: [{ wa_id: junkFrom, category: 'marketing_messages', value: pick(['stop', 'resume', junkString()]) }],
    } }] }] }),
    () => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: {
      statuses: Array.from({ length: 1 + int(3) }, () => ({
        id: chance(0.5) ? pick(realWamids) : `wamid.none${int(1e6)}`,
        status: chance(0.5) ? pick(['bogus', '', 'READ ', 'deleted', 'warning']) : pick(['read', 'failed']),
        timestamp: junk(),
        recipient_id: junkFrom,
        biz_opaque_callback_data: pick([`${finishedId}.999999`, '.', 'x.1', `${finishedId}.-1`, `${finishedId}.1e3`, `${draftId}.0`, junkString()]),
        errors: junk(),
      })).map((s) => (s.status === 'read' || s.status === 'failed' ? { ...s, id: `wamid.none${int(1e6)}` } : s)),
    } }] }] }),
  ];
  if (chance(0.15)) return pick(RAW_BODIES);
  return JSON.stringify(pick(shapes)());
}

function webhookRequest(): Hostile {
  const body = malformedWebhookBody();
  if (chance(0.5)) {
    const right = signBody(appSecret, body);
    const signature = pick<string | null>([
      null, '', 'sha256=', `sha256=${'0'.repeat(64)}`, right.slice(0, -1), `${right}0`, right.replace('sha256=', 'sha1='),
      right.replace('sha256=', ''), signBody(otherSecret, body), signBody(appSecret.toUpperCase(), body), `sha256=${junkString()}`.replace(/[^\x20-\x7e]/g, '').slice(0, 200),
    ]);
    const target = chance(0.2) ? pick(['a_nobody', '%', encode(junkString()).slice(0, 100) || 'x']) : accountId;
    return {
      label: 'forged webhook',
      request: () => {
        const req = api().post(`/webhooks/whatsapp/${target}`).set('Content-Type', pick(CONTENT_TYPES) || 'application/json');
        return (signature === null ? req : req.set('X-Hub-Signature-256', signature)).send(body);
      },
      expect: 'error',
    };
  }
  return {
    label: 'signed malformed webhook',
    request: () => api().post(`/webhooks/whatsapp/${accountId}`).set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', signBody(appSecret, body)).send(body),
    expect: 'webhook-accepted',
  };
}

function unauthenticatedRequest(): Hostile {
  const header = pick([junkString().slice(0, 200).replace(/[^\x20-\x7e]/g, ''), 'Bearer', 'Bearer ', `Bearer ${otherKey}x`, 'Basic Og==', `Bearer ${'a'.repeat(8000)}`]);
  const path = pick(['/v1/campaigns', '/v1/preview', '/v1/test-send', `/v1/campaigns/${draftId}/rows`, '/v1/suppressions']);
  return { label: 'bad auth', request: () => withBody(api().post(path).set('Authorization', header), junk()), expect: 'error' };
}

const GENERATORS = [rowsRequest, previewRequest, campaignRequest, testSendRequest, suppressionRequest, readRequest, webhookRequest, unauthenticatedRequest];

function changes(): number {
  return ((svc.runtime.store as SqliteStore).db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
}

function inboxSize(): number {
  return ((svc.runtime.store as SqliteStore).db.prepare('SELECT COUNT(*) AS n FROM webhook_inbox').get() as { n: number }).n;
}

function assertErrorShape(status: number, body: unknown, label: string): void {
  expect(status, label).toBeGreaterThanOrEqual(400);
  expect(status, label).toBeLessThan(500);
  expect(body, label).toEqual({ error: { code: expect.stringMatching(/^[a-z][a-z_]*$/), message: expect.any(String) } });
  expect((body as { error: { message: string } }).error.message.length, label).toBeGreaterThan(5);
}

function snapshot(): Record<string, unknown[]> {
  return snapshotTables((svc.runtime.store as SqliteStore).db);
}

beforeAll(async () => {
  svc = await startSandboxService();
  const a = await svc.runtime.createAccount({ name: 'Fuzz', isSandbox: true, defaultCountry: 'IN' });
  const b = await svc.runtime.createAccount({ name: 'Other', isSandbox: true });
  key = a.apiKey;
  otherKey = b.apiKey;
  accountId = a.account.id;
  appSecret = (await svc.runtime.store.getAccountSecrets(accountId))?.appSecret as string;
  otherSecret = (await svc.runtime.store.getAccountSecrets(b.account.id))?.appSecret as string;

  const create = async (name: string) => (await api().post('/v1/campaigns').set(auth(key)).send({ name, template: TEMPLATE })).body.id as string;
  finishedId = await create('Sent');
  await api().post(`/v1/campaigns/${finishedId}/rows`).set(auth(key))
    .send({ rows: ['0007', '0011', '0020'].map((e, i) => ({ key: `s${i}`, to: `+91987650${e}`, params: PARAMS })) });
  await api().post(`/v1/campaigns/${finishedId}/start`).set(auth(key));
  await waitFor(async () => ((await api().get(`/v1/campaigns/${finishedId}`).set(auth(key))).body.state === 'finished' ? true : undefined));
  draftId = await create('Draft');
  expect((await api().post(`/v1/campaigns/${draftId}/rows`).set(auth(key))
    .send({ rows: [{ key: 'd0', to: '+919876510000', params: PARAMS }] })).body.accepted).toBe(1);
  await api().post('/v1/suppressions').set(auth(key)).send({ to: '+919876520000' });
  await settle(svc);
  realWamids = ((svc.runtime.store as SqliteStore).db.prepare('SELECT wamid FROM messages WHERE wamid IS NOT NULL').all() as { wamid: string }[]).map((r) => r.wamid);
  expect(realWamids.length).toBe(3);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  if (svc) removeDir(svc.dataDir);
});

describe('hostile input', () => {
  it('the phone numbers used as bad input are bad for every country the test uses', () => {
    for (const raw of BAD_PHONES) {
      for (const country of ['IN', null]) expect(normalisePhoneNumber(raw, country).ok, `${String(raw)} (${country})`).toBe(false);
    }
  });

  it(`${ROUNDS * GENERATORS.length} seeded malformed requests: 4xx with the error shape or every row rejected, never a 5xx, nothing written`, async () => {
    const before = snapshot();
    const sentBefore = svc.runtime.sandboxSimulator.stats().accepted;
    const seen = new Map<string, number>();
    const statuses = new Map<number, number>();
    let signedAccepted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const generate of GENERATORS) {
        const hostile = generate();
        const changesBefore = changes();
        const res = await hostile.request();
        const label = `${hostile.label} ${hostile.detail ?? ''} #${round}: ${res.status} ${res.text.slice(0, 300)}`;
        seen.set(hostile.label, (seen.get(hostile.label) ?? 0) + 1);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, label).toBeLessThan(500);
        if (hostile.expect === 'webhook-accepted') {
          expect(res.status, label).toBe(200);
          signedAccepted++;
          // Let it be applied (and dropped) before the next request counts changes.
          await waitFor(() => (inboxSize() === 0 ? true : undefined), 5_000, 1);
          continue;
        }
        // Nothing but a signed webhook may write, not even a row that is rolled back.
        expect(changes(), label).toBe(changesBefore);
        if (res.status >= 400) {
          assertErrorShape(res.status, res.body, label);
        } else if (hostile.expect === 'rows') {
          expect(res.status, label).toBe(200);
          expect(res.body.accepted, label).toBe(0);
          expect(res.body.duplicates, label).toBe(0);
          expect(res.body.rejected.length, label).toBe(hostile.rowCount);
          for (const r of res.body.rejected) expect(['invalid_row', 'invalid_phone', 'template_params'], label).toContain(r.code);
        } else if (hostile.expect === 'preview') {
          expect(res.status, label).toBe(200);
          expect(res.body.counts.valid, label).toBe(0);
          expect(res.body.rows.every((r: { ok: boolean }) => !r.ok), label).toBe(true);
        } else {
          throw new Error(`expected an error: ${label}`);
        }
      }
    }
    await settle(svc);
    expect(snapshot()).toEqual(before);
    expect(svc.runtime.sandboxSimulator.stats().accepted).toBe(sentBefore);
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(signedAccepted).toBeGreaterThan(50);
    console.info(`hostile requests by kind: ${JSON.stringify(Object.fromEntries(seen))}; by status: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  it('bodies over the limit answer 413 with the error shape and store nothing', async () => {
    const before = snapshot();
    const big = `{"name":"${'x'.repeat(17 * 1024 * 1024)}"}`;
    for (const path of ['/v1/campaigns', `/v1/campaigns/${draftId}/rows`, '/v1/preview', '/v1/test-send', '/v1/suppressions']) {
      const res = await api().post(path).set(auth(key)).set('Content-Type', 'application/json').send(big);
      expect(res.status, path).toBe(413);
      assertErrorShape(res.status, res.body, path);
    }
    const hook = `{"object":"whatsapp_business_account","entry":[],"pad":"${'x'.repeat(3.5 * 1024 * 1024)}"}`;
    const res = await api().post(`/webhooks/whatsapp/${accountId}`).set('Content-Type', 'application/json')
      .set('X-Hub-Signature-256', signBody(appSecret, hook)).send(hook);
    expect(res.status).toBe(413);
    assertErrorShape(res.status, res.body, 'webhook');
    const tooMany = { rows: Array.from({ length: 5001 }, (_, i) => ({ key: `m${i}`, to: `+9198766${String(10000 + i)}`, params: PARAMS })) };
    const rows = await api().post(`/v1/campaigns/${draftId}/rows`).set(auth(key)).send(tooMany);
    expect(rows.status).toBe(400);
    assertErrorShape(rows.status, rows.body, 'too many rows');
    await settle(svc);
    expect(snapshot()).toEqual(before);
  });

  it('still serves valid requests afterwards', async () => {
    expect((await api().get('/healthz')).body).toEqual({ ok: true });
    const res = await api().post('/v1/preview').set(auth(key)).send({ template: TEMPLATE, rows: [{ key: 'ok', to: '+919876541100', params: PARAMS }] });
    expect(res.body.counts).toMatchObject({ valid: 1 });
  });
});
