// GET/PUT /v1/account/opt-out-words: an account's own opt-out words, and a reply that is one of them putting the
// number on that account's opt-out list (and only that account's).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import { signBody } from '../../../service/webhooks/webhook-signature';

let dataDir: string;
let runtime: ServiceRuntime;
let keyA: string;
let keyB: string;
let accountA: string;

const api = () => request(runtime.url);
const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'opt-out-words-'));
  runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
  const a = await runtime.createAccount({ name: 'A', isSandbox: true });
  const b = await runtime.createAccount({ name: 'B', isSandbox: true });
  keyA = a.apiKey;
  keyB = b.apiKey;
  accountA = a.account.id;
});

afterAll(async () => {
  await runtime.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A signed inbound text message, shaped like Meta's. */
async function inboundText(from: string, text: string): Promise<number> {
  const secrets = (await runtime.store.getAccountSecrets(accountA));
  if (!secrets) throw new Error('no secrets');
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: 'waba', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000000', phone_number_id: 'x' },
      contacts: [{ profile: { name: 'R' }, wa_id: from }],
      messages: [{ from, id: `wamid.in.${from}.${text.length}`, timestamp: '1750030000', type: 'text', text: { body: text } }],
    } }] }],
  });
  const res = await api().post(`/webhooks/whatsapp/${accountA}`).set('Content-Type', 'application/json')
    .set('X-Hub-Signature-256', signBody(secrets.appSecret, body)).send(body);
  return res.status;
}

async function suppressed(key: string): Promise<string[]> {
  const res = await api().get('/v1/suppressions').set(auth(key));
  return (res.body.suppressions as { to: string }[]).map((s) => s.to);
}

async function eventually(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  throw new Error('timed out');
}

describe('account opt-out words', () => {
  it('lists the built-in words and none of its own at first', async () => {
    const res = await api().get('/v1/account/opt-out-words').set(auth(keyA));
    expect(res.status).toBe(200);
    expect(res.body.custom).toEqual([]);
    expect(res.body.builtIn).toEqual(expect.arrayContaining(['stop', 'unsubscribe', 'baja', 'sair', 'berhenti', 'توقف']));
  });

  it('replaces the list, kept as matched, without repeating built-in words', async () => {
    const res = await api().put('/v1/account/opt-out-words').set(auth(keyA)).send({ words: ['  Chega! ', 'chega', 'STOP', 'Nao quero mais'] });
    expect(res.status).toBe(200);
    expect(res.body.custom).toEqual(['chega', 'nao quero mais']);
    expect((await api().get('/v1/account/opt-out-words').set(auth(keyA))).body.custom).toEqual(['chega', 'nao quero mais']);
    expect((await api().get('/v1/account/opt-out-words').set(auth(keyB))).body.custom).toEqual([]);
  });

  it('refuses a malformed list with 400 and changes nothing', async () => {
    for (const body of [{}, { words: 'chega' }, { words: [42] }, { words: ['!!!'] }, { words: ['x'.repeat(61)] },
      { words: Array.from({ length: 201 }, (_, i) => `w${i}`) }]) {
      const res = await api().put('/v1/account/opt-out-words').set(auth(keyA)).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    }
    expect((await api().get('/v1/account/opt-out-words').set(auth(keyA))).body.custom).toEqual(['chega', 'nao quero mais']);
  });

  it('a reply that is one of the account\'s words opts the number out of that account only', async () => {
    expect(await inboundText('5511987650001', 'Chega.')).toBe(200);
    expect(await inboundText('5511987650002', 'chega de promo amanhã')).toBe(200);
    await eventually(async () => (await suppressed(keyA)).includes('+5511987650001'));
    const listA = await suppressed(keyA);
    expect(listA).toContain('+5511987650001');
    // A sentence that merely contains the word is a reply, not an opt-out.
    expect(listA).not.toContain('+5511987650002');
    expect(await suppressed(keyB)).toEqual([]);
  });

  it('needs the API key', async () => {
    expect((await api().get('/v1/account/opt-out-words')).status).toBe(401);
    expect((await api().put('/v1/account/opt-out-words').send({ words: [] })).status).toBe(401);
  });
});
