// Export and erasure through the running service (sandbox accounts, the built-in simulator sending webhooks):
// the export holds every record and no secret; erasing a contact keeps an opt-out working; erasing an account
// stops its campaign and leaves none of its ids, numbers, names, parameters or secrets in the database files.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../service/adapters/crypto/api-keys';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import { QUOTING_REPLY } from '../../../service/simulator/outcome-rules';

const TEMPLATE = { name: 'summer_sale', language: 'en_US' };

let dataDir: string;
let runtime: ServiceRuntime;

const api = () => request(runtime.url);
/** The runtime's SQLite connection, for reading sealed columns and checkpointing before a look at the files. */
function sqlite(): SqliteStore['db'] {
  if (!(runtime.store instanceof SqliteStore)) throw new Error('these checks read the SQLite files');
  return runtime.store.db;
}
const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

function params(tag: string): Record<string, string> {
  return { 1: `Name${tag}`, 2: `Off${tag}`, 'button:0': `CODE${tag}` };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Item { key: string; to: string; status: string; wamid: string | null; reply: { text: string } | null }

async function messagesOf(key: string, campaignId: string): Promise<Item[]> {
  const res = await api().get(`/v1/campaigns/${campaignId}/messages`).query({ limit: 1000 }).set(auth(key));
  expect(res.status).toBe(200);
  return res.body.items as Item[];
}

/** Creates a campaign with `rows`, starts it and (when asked) waits until it finished and `settled` holds. */
async function runCampaign(
  key: string, name: string, rows: { key: string; to: string; params: Record<string, string> }[],
  settled?: (items: Item[]) => boolean,
): Promise<string> {
  const created = await api().post('/v1/campaigns').set(auth(key)).send({ name, template: TEMPLATE });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  const added = await api().post(`/v1/campaigns/${id}/rows`).set(auth(key)).send({ rows });
  expect(added.body).toMatchObject({ accepted: rows.length, rejected: [] });
  expect((await api().post(`/v1/campaigns/${id}/start`).set(auth(key))).status).toBe(200);
  if (settled) {
    await waitFor(async () => {
      const campaign = await api().get(`/v1/campaigns/${id}`).set(auth(key));
      if (campaign.body.state !== 'finished') return undefined;
      return settled(await messagesOf(key, id)) ? true : undefined;
    });
  }
  return id;
}

/** The database file and its write-ahead log as latin1 text, with a needle helper matching UTF-8 bytes. */
function rawFiles(): { text: string; has(needle: string): boolean } {
  const path = join(dataDir, 'campaigns.db');
  const text = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('\n');
  return { text, has: (needle) => text.includes(Buffer.from(needle, 'utf8').toString('latin1')) };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'privacy-routes-'));
  runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /v1/account', () => {
  it('shows the retention period', async () => {
    const { apiKey } = await runtime.createAccount({ name: 'Retention shown', isSandbox: true, retentionDays: 45 });
    const res = await api().get('/v1/account').set(auth(apiKey));
    expect(res.body.retentionDays).toBe(45);
  });
});

describe('GET /v1/account/export and DELETE /v1/contacts/:to', () => {
  let key: string;
  let accountId: string;
  let campaignId: string;
  // Ends in 0003: the recipient answers STOP (opt-out); 0007: a reply quoting the message; 0006: read, no reply.
  const optedOut = '+919876540003';
  const replied = '+919876540007';
  const quiet = '+919876540006';

  beforeAll(async () => {
    const created = await runtime.createAccount({ name: 'Contact Co', isSandbox: true, defaultCountry: 'IN' });
    key = created.apiKey;
    accountId = created.account.id;
    campaignId = await runCampaign(key, 'Contacts', [
      { key: 'c-3', to: optedOut, params: params('C3') },
      { key: 'c-7', to: replied, params: params('C7') },
      { key: 'c-6', to: quiet, params: params('C6') },
    ], (items) => items.filter((i) => i.reply).length === 2);
    await waitFor(async () => ((await api().get('/v1/suppressions').set(auth(key))).body.suppressions.length === 1 ? true : undefined));
  });

  it('streams every record of the account as JSON, with no secret and no hash', async () => {
    const res = await api().get('/v1/account/export').set(auth(key)).buffer(true).parse((r, done) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (chunk: string) => { text += chunk; });
      r.on('end', () => done(null, text));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    const text = res.body as string;
    const doc = JSON.parse(text);
    expect(doc.account).toMatchObject({ id: accountId, name: 'Contact Co', sandbox: true, defaultCountry: 'IN', retentionDays: 30 });
    expect(doc.campaigns).toEqual([expect.objectContaining({ id: campaignId, name: 'Contacts', state: 'finished' })]);
    expect(doc.messages).toHaveLength(3);
    expect(doc.messages).toContainEqual(expect.objectContaining({
      campaignId, key: 'c-7', to: replied, params: params('C7'), status: 'read',
      reply: { text: QUOTING_REPLY, at: expect.any(String) },
    }));
    // One person: the number and the business-scoped user id Meta's webhooks named with it.
    expect(doc.suppressions).toEqual([{ to: optedOut, userId: expect.stringMatching(/^IN\./), source: expect.any(String), createdAt: expect.any(String) }]);
    expect(doc.recipientIds).toEqual(expect.arrayContaining([{ userId: expect.stringMatching(/^IN\./), to: optedOut, updatedAt: expect.any(String) }]));
    expect(doc.pendingWebhooks).toEqual(expect.any(Array));

    const secrets = await runtime.store.getAccountSecrets(accountId);
    const sealed = sqlite().prepare('SELECT access_token_enc, app_secret_enc, verify_token_enc, api_key_hash FROM accounts WHERE id = ?')
      .get(accountId) as Record<string, string>;
    for (const secret of [secrets?.accessToken, secrets?.appSecret, secrets?.verifyToken, key, ...Object.values(sealed)]) {
      expect(secret).toBeTruthy();
      expect(text).not.toContain(secret as string);
    }
  });

  it('answers 400 invalid_phone for a number that cannot be one', async () => {
    for (const bad of ['12', 'not-a-number']) {
      const res = await api().delete(`/v1/contacts/${bad}`).set(auth(key));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: 'invalid_phone', message: expect.any(String) } });
    }
  });

  it("erases a contact's messages and replies, given in the account's national form", async () => {
    const res = await api().delete(`/v1/contacts/${encodeURIComponent('098765 40007')}`).set(auth(key));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ to: replied, erased: { messages: 1, replies: 1 }, suppressed: false });
    expect((await messagesOf(key, campaignId)).map((i) => i.to).sort()).toEqual([optedOut, quiet]);
    // The rows go at once; stale copies in page slack at the next retention pass, which compacts the files.
    expect((await runtime.retention.runOnce()).isCompacted).toBe(true);
    const raw = rawFiles();
    expect(raw.has('NameC7')).toBe(false);
    expect(raw.has('CODEC7')).toBe(false);
    expect(raw.has('NameC6')).toBe(true);

    const again = await api().delete(`/v1/contacts/${encodeURIComponent(replied)}`).set(auth(key));
    expect(again.body).toEqual({ to: replied, erased: { messages: 0, replies: 0 }, suppressed: false });
  });

  it('keeps an opted-out number suppressed, at intake and at send, after erasing it', async () => {
    const res = await api().delete(`/v1/contacts/${encodeURIComponent('+91-98765-40003')}`).set(auth(key));
    expect(res.body).toEqual({ to: optedOut, erased: { messages: 1, replies: 1 }, suppressed: true });
    const listed = await api().get('/v1/suppressions').set(auth(key));
    // Erasure took the number ↔ BSUID pair; both ids stay listed, apart, so that neither is ever messaged again.
    expect(listed.body.suppressions).toEqual([
      { to: optedOut, source: expect.any(String), createdAt: expect.any(String) },
      { userId: expect.stringMatching(/^IN\./), source: expect.any(String), createdAt: expect.any(String) },
    ]);
    await runtime.retention.runOnce();
    expect(rawFiles().has('NameC3')).toBe(false);

    const next = await runCampaign(key, 'After erasure', [
      { key: 'n-3', to: '98765 40003', params: params('N3') },
      { key: 'n-11', to: '+919876540011', params: params('N11') },
    ], (items) => items.every((i) => i.status !== 'queued' && i.status !== 'sending'));
    const statuses = Object.fromEntries((await messagesOf(key, next)).map((i) => [i.key, i.status]));
    expect(statuses['n-3']).toBe('skipped');
    expect(statuses['n-11']).not.toBe('skipped');
  });

  it("does not touch another account's contact with the same number", async () => {
    const other = await runtime.createAccount({ name: 'Other Co', isSandbox: true });
    const otherCampaign = await runCampaign(other.apiKey, 'Other', [{ key: 'o-6', to: quiet, params: params('O6') }],
      (items) => items.length === 1);
    const res = await api().delete(`/v1/contacts/${encodeURIComponent(quiet)}`).set(auth(key));
    expect(res.body.erased.messages).toBe(1);
    expect(await messagesOf(other.apiKey, otherCampaign)).toHaveLength(1);
  });
});

describe('GET /v1/account/export of a large account', () => {
  it('streams to a slow reader while the service goes on answering', async () => {
    const big = await runtime.createAccount({ name: 'Big Co', isSandbox: true });
    const created = await api().post('/v1/campaigns').set(auth(big.apiKey)).send({ name: 'Big', template: TEMPLATE });
    const campaignId = created.body.id as string;
    const rowCount = 40_000;
    const rows = Array.from({ length: rowCount }, (_, i) => (
      { key: `b${i}`, to: `+9198770${String(i).padStart(5, '0')}`, params: params(`Big${i}`), headerMedia: null }));
    const inserted = await runtime.store.addMessages(campaignId, big.account.id, rows, ['draft'], Date.now());
    expect(inserted?.every((r) => r === 'inserted')).toBe(true);

    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpGet(`${runtime.url}/v1/account/export`, { headers: auth(big.apiKey) }, resolve).on('error', reject);
    });
    expect(response.statusCode).toBe(200);
    response.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The export is parked on a full socket; other requests, and writes to the database, go on.
    const account = await api().get('/v1/account').set(auth(big.apiKey));
    expect(account.status).toBe(200);
    const added = await api().post(`/v1/campaigns/${campaignId}/rows`).set(auth(big.apiKey))
      .send({ rows: [{ key: 'late', to: '+919877199999', params: params('Late') }] });
    expect(added.body.accepted).toBe(1);

    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => response.on('end', resolve));
    response.resume();
    await ended;
    const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    // The snapshot was taken when the export began: the row added meanwhile is not in it.
    expect(doc.messages).toHaveLength(rowCount);
    expect(doc.messages[0]).toMatchObject({ campaignId, params: expect.any(Object), status: 'queued' });
  });
});

describe('DELETE /v1/account', () => {
  it('stops a running campaign and leaves nothing of the account in the database files', async () => {
    const acme = await runtime.createAccount({ name: 'Acme Erasure Ltd', isSandbox: true, defaultCountry: 'IN', messagesPerSecond: 5 });
    const keeper = await runtime.createAccount({ name: 'Keeper Intact Ltd', isSandbox: true, defaultCountry: 'IN' });
    const acmeNumbers = [3, 7, 8, 6].map((i) => `+9198764${40000 + i}`);
    const finished = await runCampaign(acme.apiKey, 'AcmeSpringSale',
      acmeNumbers.map((to, i) => ({ key: `acme-row-${i}`, to, params: params(`Acme${i}`) })),
      (items) => items.filter((i) => i.reply).length >= 3);
    const keeperCampaign = await runCampaign(keeper.apiKey, 'KeeperSale', [{ key: 'keep-1', to: '+919876720006', params: params('Keep') }],
      (items) => items.length === 1);
    const running = await runCampaign(acme.apiKey, 'AcmeRunningSale',
      Array.from({ length: 200 }, (_, i) => ({ key: `acme-run-${i}`, to: `+9198766${String(10_000 + i)}`, params: params(`Run${i}`) })));
    await waitFor(async () => ((await messagesOf(acme.apiKey, running)).some((i) => i.status !== 'queued') ? true : undefined));

    const acmeRow = sqlite().prepare('SELECT * FROM accounts WHERE id = ?').get(acme.account.id) as Record<string, string>;
    const secrets = await runtime.store.getAccountSecrets(acme.account.id);
    const wamids = (await messagesOf(acme.apiKey, finished)).map((i) => i.wamid).filter((w): w is string => w !== null);
    expect(wamids).toHaveLength(4);
    const traces = [
      acme.account.id, acme.account.name, acme.account.phoneNumberId, acme.account.wabaId, acme.apiKey, hashApiKey(acme.apiKey),
      acmeRow.access_token_enc, acmeRow.app_secret_enc, acmeRow.verify_token_enc,
      secrets?.accessToken, secrets?.appSecret, secrets?.verifyToken,
      finished, running, 'AcmeSpringSale', 'AcmeRunningSale', 'acme-row-0', 'acme-run-0',
      ...acmeNumbers, ...acmeNumbers.map((n) => n.slice(1)), '+919876610000', '919876610199',
      ...[0, 1, 2, 3].flatMap((i) => [`NameAcme${i}`, `OffAcme${i}`, `CODEAcme${i}`]), 'NameRun0', 'CODERun199',
      ...wamids,
    ] as string[];
    expect(traces.every(Boolean)).toBe(true);
    // Before: the database holds them (so the check below can see them at all).
    sqlite().pragma('wal_checkpoint(TRUNCATE)');
    const before = rawFiles();
    expect(traces.filter((t) => !before.has(t) && t !== acme.apiKey && t !== secrets?.accessToken
      && t !== secrets?.appSecret && t !== secrets?.verifyToken)).toEqual([]);

    const res = await api().delete('/v1/account').set(auth(acme.apiKey));
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(acme.account.id);
    expect(res.body.erased).toMatchObject({ campaigns: 2, messages: 204, cancelledCampaigns: 1 });
    expect(res.body.erased.suppressions).toBeGreaterThanOrEqual(1);

    expect((await api().get('/v1/account').set(auth(acme.apiKey))).status).toBe(401);
    // Late webhooks for the erased account are refused and store nothing.
    const late = await api().post(`/webhooks/whatsapp/${acme.account.id}`).set('X-Hub-Signature-256', 'sha256=00').send({ object: 'x' });
    expect(late.status).not.toBe(200);

    const after = rawFiles();
    expect(traces.filter((t) => after.has(t))).toEqual([]);
    expect(existsSync(join(dataDir, 'campaigns.db-wal')) ? readFileSync(join(dataDir, 'campaigns.db-wal')).length : 0)
      .toBeLessThan(before.text.length);
    // The other account is untouched.
    expect(after.has('NameKeep')).toBe(true);
    const kept = await api().get(`/v1/campaigns/${keeperCampaign}`).set(auth(keeper.apiKey));
    expect(kept.body).toMatchObject({ state: 'finished', name: 'KeeperSale' });

    // Nothing of the account comes back once the dust settles (webhooks in flight, the engine's scan).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    sqlite().pragma('wal_checkpoint(TRUNCATE)');
    expect(traces.filter((t) => rawFiles().has(t))).toEqual([]);
  });
});
