// POST /v1/test-send when the WABA turned marketing off on /messages (131063, CLOUD_API.md §13): as a campaign's
// sender does, the account switches to the Marketing Messages API and the message goes there, once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';

const SUMMER_SALE = { name: 'summer_sale', language: 'en_US' };
const PARAMS = { 1: 'Ann', 2: '20%', 'button:0': 'SUMMER25' };

let dataDir: string;
let runtime: ServiceRuntime;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'test-send-'));
  runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('POST /v1/test-send', () => {
  it('on 131063 from /messages switches the account to /marketing_messages and sends the test there', async () => {
    const { account, apiKey } = await runtime.createAccount({ name: 'Test send', isSandbox: true, messagesPerSecond: 80 });
    const auth = { Authorization: `Bearer ${apiKey}` };
    // The sandbox learns the number at its first Graph call (the template list behind a new campaign).
    expect((await request(runtime.url).post('/v1/campaigns').set(auth).send({ name: 'Draft', template: SUMMER_SALE })).status).toBe(201);
    runtime.sandboxSimulator.updateNumber(account.phoneNumberId, { marketingOnMessagesDisabled: true });

    const sent = await request(runtime.url).post('/v1/test-send').set(auth)
      .send({ to: '+91 98765 43210', template: SUMMER_SALE, params: PARAMS });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ status: 'sent', wamid: expect.any(String) });
    expect((await request(runtime.url).get('/v1/account').set(auth)).body.marketingMessagesApi).toBe(true);
    const tries = runtime.sandboxSimulator.ledger.entries().filter((e) => e.to === '919876543210');
    // The ledger keeps accepted sends only: the one through the Marketing Messages API.
    expect(tries.map((e) => e.endpoint)).toEqual(['marketing_messages']);
  });
});
