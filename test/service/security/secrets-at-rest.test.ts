// Secrets at rest (issue 5): after accounts with distinctive credentials ran a campaign, no byte of the data directory
// (database, -wal, -shm, the key file) holds an access token, app secret, verify token or API key, raw or encoded;
// only the API key's SHA-256 is stored. And a key, verify token or signature that is merely close never opens a door.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../service/config';
import { openStore } from '../../../service/service-runtime';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import { signBody } from '../../../service/webhooks/webhook-signature';
import { auth, removeDir, settle, startSandboxService, TEMPLATE, waitFor, type SandboxService } from './sandbox-service';

const REAL = {
  phoneNumberId: '109990001112223',
  wabaId: '109990001112999',
  accessToken: 'EAAGatRestAccessTokenZ9Y8X7W6V5U4',
  appSecret: 'atRestAppSecret0f1e2d3c4b5a',
  verifyToken: 'atRestVerifyTokenQwErTy',
};

let simulator: CloudApiSimulator;
let svc: SandboxService;
let dataDir: string;
const accounts: { id: string; apiKey: string; secrets: { accessToken: string; appSecret: string; verifyToken: string } }[] = [];

/** Every file under `dir` (the database, its -wal and -shm, the key file, anything else written there). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * `secret` as it could sit in a file: UTF-8, UTF-16, hex, and base64/base64url at each of the three byte
 * alignments (a secret inside a longer encoded value is encoded from a different offset).
 */
function encodings(secret: string): { form: string; bytes: Buffer }[] {
  const utf8 = Buffer.from(secret, 'utf8');
  const forms: { form: string; bytes: Buffer }[] = [
    { form: 'utf8', bytes: utf8 },
    { form: 'utf16le', bytes: Buffer.from(secret, 'utf16le') },
    { form: 'hex', bytes: Buffer.from(utf8.toString('hex')) },
    { form: 'HEX', bytes: Buffer.from(utf8.toString('hex').toUpperCase()) },
  ];
  for (const alphabet of ['base64', 'base64url'] as const) {
    for (let offset = 0; offset < 3; offset++) {
      const encoded = Buffer.concat([Buffer.alloc(offset), utf8]).toString(alphabet);
      const full = encoded.slice(offset === 0 ? 0 : 4, Math.floor((offset + utf8.length) / 3) * 4);
      forms.push({ form: `${alphabet}@${offset}`, bytes: Buffer.from(full) });
    }
  }
  return forms;
}

function findSecrets(files: string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const bytes = readFileSync(file);
    for (const account of accounts) {
      const secrets = { ...account.secrets, apiKey: account.apiKey, apiKeyBody: account.apiKey.slice(4) };
      for (const [name, value] of Object.entries(secrets)) {
        for (const { form, bytes: needle } of encodings(value)) {
          if (bytes.includes(needle)) found.push(`${name} of ${account.id} as ${form} in ${file}`);
        }
      }
    }
  }
  return found;
}

async function runCampaign(apiKey: string, numbers: string[]): Promise<void> {
  const id = (await svc.api().post('/v1/campaigns').set(auth(apiKey)).send({ name: 'At rest', template: TEMPLATE })).body.id as string;
  const rows = numbers.map((to, i) => ({ key: `k${i}`, to, params: { 1: `Name${i}`, 2: '10%', 'button:0': 'C' } }));
  expect((await svc.api().post(`/v1/campaigns/${id}/rows`).set(auth(apiKey)).send({ rows })).body.accepted).toBe(numbers.length);
  expect((await svc.api().post(`/v1/campaigns/${id}/start`).set(auth(apiKey))).status).toBe(200);
  await waitFor(async () => ((await svc.api().get(`/v1/campaigns/${id}`).set(auth(apiKey))).body.state === 'finished' ? true : undefined));
}

beforeAll(async () => {
  simulator = new CloudApiSimulator({ delays: { sentMs: 5, deliveredMs: 10, readMs: 20, replyMs: 30 }, webhooks: { batchWindowMs: 10 } });
  const graphUrl = await simulator.listen(0);
  svc = await startSandboxService({ env: { GRAPH_API_URL: graphUrl } });
  dataDir = svc.dataDir;
  const real = await svc.runtime.createAccount({ name: 'At Rest Real', isSandbox: false, ...REAL, dailyLimit: null, defaultCountry: 'IN' });
  simulator.registerNumber({ ...REAL, webhookUrl: `${svc.runtime.url}/webhooks/whatsapp/${real.account.id}`, messagesPerSecond: 80 });
  const sandbox = await svc.runtime.createAccount({ name: 'At Rest Sandbox', isSandbox: true, defaultCountry: 'IN' });
  for (const created of [real, sandbox]) {
    const secrets = (await svc.runtime.store.getAccountSecrets(created.account.id));
    if (!secrets) throw new Error('no secrets');
    accounts.push({ id: created.account.id, apiKey: created.apiKey, secrets });
  }
  expect(accounts[0]?.secrets).toMatchObject({ accessToken: REAL.accessToken, appSecret: REAL.appSecret, verifyToken: REAL.verifyToken });

  // A campaign each (with replies and opt-outs), a test send, a verify handshake: every path that reads secrets.
  const numbers = ['0003', '0007', '0008', '0011', '0020'].map((e) => `+91987660${e}`);
  await runCampaign(real.apiKey, numbers);
  await runCampaign(sandbox.apiKey, numbers);
  for (const account of accounts) {
    expect((await svc.api().post('/v1/test-send').set(auth(account.apiKey))
      .send({ to: '+919876600099', template: TEMPLATE, params: { 1: 'T', 2: '1%', 'button:0': 'T' } })).body.status).toBe('sent');
    expect((await svc.api().get(`/webhooks/whatsapp/${account.id}`)
      .query({ 'hub.mode': 'subscribe', 'hub.challenge': '5', 'hub.verify_token': account.secrets.verifyToken })).text).toBe('5');
  }
  await simulator.idle(15_000);
  await settle(svc);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await simulator?.close();
  if (dataDir) removeDir(dataDir);
});

describe('secrets at rest', () => {
  it('the encodings searched for are the ones a careless store would write', () => {
    const secret = 'abcdefghijklmnop';
    const stored = Buffer.from(`prefix:${Buffer.from(`xy${secret}`).toString('base64')}`);
    expect(encodings(secret).some(({ bytes }) => stored.includes(bytes))).toBe(true);
    expect(encodings(secret).some(({ bytes }) => Buffer.from(`"${Buffer.from(secret).toString('hex')}"`).includes(bytes))).toBe(true);
  });

  it('while the service runs, the database and its WAL hold no token, secret or API key', () => {
    const files = filesUnder(dataDir);
    expect(files.some((f) => f.endsWith('campaigns.db-wal'))).toBe(true);
    expect(findSecrets(files)).toEqual([]);
  });

  it('after the store is closed, no file of the data directory holds one either; the key hashes and sealed secrets are there', async () => {
    await svc.stop();
    const files = filesUnder(dataDir);
    expect(files.some((f) => f.endsWith('campaigns.db'))).toBe(true);
    expect(findSecrets(files)).toEqual([]);

    const db = Buffer.concat(files.filter((f) => /campaigns\.db(-wal|-shm)?$/.test(f)).map((f) => readFileSync(f)));
    for (const account of accounts) {
      expect(db.includes(Buffer.from(createHash('sha256').update(account.apiKey).digest('hex')))).toBe(true);
    }
    expect(db.includes(Buffer.from('At Rest Real'))).toBe(true);
    expect(db.includes(Buffer.from('v1:'))).toBe(true);
    if (existsSync(join(dataDir, 'secret.key'))) expect(statSync(join(dataDir, 'secret.key')).mode & 0o077).toBe(0);

    // The sealed values are the real secrets: reopened with the key, they decrypt to them.
    const store = await openStore(loadConfig({ DATA_DIR: dataDir }));
    try {
      for (const account of accounts) expect((await store.getAccountSecrets(account.id))).toEqual(account.secrets);
    } finally {
      await store.close();
    }
  });
});

describe('near misses', () => {
  let near: SandboxService;
  let apiKey: string;
  let accountId: string;
  let secrets: { appSecret: string; verifyToken: string };

  beforeAll(async () => {
    near = await startSandboxService();
    const created = await near.runtime.createAccount({ name: 'Near', isSandbox: true });
    apiKey = created.apiKey;
    accountId = created.account.id;
    secrets = (await near.runtime.store.getAccountSecrets(accountId)) as typeof secrets;
  });

  afterAll(async () => {
    await near?.stop();
    if (near) removeDir(near.dataDir);
  });

  it('an API key answers only exactly: never a prefix, an extension, another case or its hash', async () => {
    expect((await near.api().get('/v1/account').set(auth(apiKey))).status).toBe(200);
    expect((await near.api().get('/v1/account').set('Authorization', `bearer ${apiKey}`)).status).toBe(200);
    const flipped = apiKey.replace(/[a-z]/, (c) => c.toUpperCase());
    const variants = [
      apiKey.toUpperCase(), apiKey.toLowerCase(), flipped, apiKey.slice(0, -1), apiKey.slice(0, 20), `${apiKey}=`, `${apiKey}A`,
      apiKey.slice(4), `WSK_${apiKey.slice(4)}`, `${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}`,
      createHash('sha256').update(apiKey).digest('hex'), Buffer.from(apiKey).toString('base64'),
    ];
    expect(new Set(variants).has(apiKey)).toBe(false);
    for (const variant of variants) {
      const res = await near.api().get('/v1/account').set(auth(variant));
      expect(res.status, variant).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('a verify token answers only exactly, and a webhook signature only when it is the full HMAC', async () => {
    const handshake = (token: string) => near.api().get(`/webhooks/whatsapp/${accountId}`)
      .query({ 'hub.mode': 'subscribe', 'hub.challenge': '9', 'hub.verify_token': token });
    expect((await handshake(secrets.verifyToken)).status).toBe(200);
    for (const token of [secrets.verifyToken.toUpperCase(), secrets.verifyToken.slice(0, -1), `${secrets.verifyToken}x`, '']) {
      expect((await handshake(token)).status, token).toBe(403);
    }
    const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
    const good = signBody(secrets.appSecret, body);
    const post = (signature: string) => near.api().post(`/webhooks/whatsapp/${accountId}`)
      .set('Content-Type', 'application/json').set('X-Hub-Signature-256', signature).send(body);
    expect((await post(good)).status).toBe(200);
    for (const signature of [good.slice(0, -1), good.slice(0, 20), `${good}0`, good.replace('sha256=', ''), `sha256=${'0'.repeat(64)}`,
      signBody(secrets.appSecret.toUpperCase(), body), signBody(secrets.appSecret.slice(0, -1), body)]) {
      expect((await post(signature)).status, signature).toBe(401);
    }
  });
});
