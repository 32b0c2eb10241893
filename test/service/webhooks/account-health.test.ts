// Meta's management webhooks acted on, end to end: the in-process service with a sandbox account whose simulator
// posts the signed webhooks back over HTTP. A template paused while its campaign sends pauses the campaign with a
// reason naming the template; a phone_number_quality_update shows in GET /v1/account and moves the daily limit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../service/config';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import { AccountHealthKeeper, EMPTY_HEALTH, healthAsOf } from '../../../service/webhooks/account-health';
import { waitFor } from '../security/sandbox-service';

const TEMPLATE = { name: 'summer_sale', language: 'en_US' };
const PARAMS = { 1: 'Ann', 2: '20%', 'button:0': 'SUMMER25' };

let dataDir: string;
let runtime: ServiceRuntime;

function api() {
  return request(runtime.url);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'account-health-test-'));
  runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }), { isLockFree: true });
});

afterAll(async () => {
  await runtime?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function sandboxAccount(messagesPerSecond = 80) {
  const { account, apiKey } = await runtime.createAccount({ name: 'Health', isSandbox: true, messagesPerSecond });
  return { account, auth: { Authorization: `Bearer ${apiKey}` } };
}

describe('management webhooks', () => {
  it('pauses a running campaign whose template Meta paused, naming the template and what Meta said', async () => {
    const { account, auth } = await sandboxAccount(4);
    const created = await api().post('/v1/campaigns').set(auth).send({ name: 'Summer', template: TEMPLATE });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const rows = Array.from({ length: 40 }, (_, i) => ({ key: `r${i}`, to: `+91 98765 ${41100 + i}`, params: PARAMS }));
    expect((await api().post(`/v1/campaigns/${id}/rows`).set(auth).send({ rows })).status).toBe(200);
    expect((await api().post(`/v1/campaigns/${id}/start`).set(auth)).body).toEqual({ state: 'running' });
    await waitFor(async () => ((await api().get(`/v1/campaigns/${id}`).set(auth)).body.counts.sent > 0 ? true : undefined));

    // As Meta posts it; the simulator's own catalog is left as it is, so only the webhook can pause the campaign.
    runtime.sandboxSimulator.emitManagementWebhook({ phoneNumberId: account.phoneNumberId }, 'message_template_status_update', {
      event: 'PAUSED', message_template_id: 1, message_template_name: 'summer_sale', message_template_language: 'en_US',
      reason: 'NONE', message_template_category: 'MARKETING',
      other_info: { title: 'FIRST_PAUSE', description: 'Your message template has been paused for 3 hours due to low quality.' },
    });
    const paused = await waitFor(async () => {
      const body = (await api().get(`/v1/campaigns/${id}`).set(auth)).body;
      return body.state === 'paused' ? body : undefined;
    });
    expect(paused.stateReason.code).toBe('template_paused');
    expect(paused.stateReason.message).toContain('Meta paused the template summer_sale (en_US): PAUSED: FIRST_PAUSE');
    expect(paused.stateReason.message).toContain('low quality');
    // Nothing is sent after the pause settles.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const sent = (await api().get(`/v1/campaigns/${id}`).set(auth)).body.counts.sent as number;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect((await api().get(`/v1/campaigns/${id}`).set(auth)).body.counts.sent).toBe(sent);
    expect(sent).toBeLessThan(40);

    const health = (await api().get('/v1/account').set(auth)).body.health;
    expect(health.events[0]).toMatchObject({ type: 'message_template_status_update', detail: expect.stringContaining('summer_sale (en_US): PAUSED') });

    // REINSTATED is news only: the marketer resumes.
    runtime.sandboxSimulator.emitManagementWebhook({ phoneNumberId: account.phoneNumberId }, 'message_template_status_update', {
      event: 'REINSTATED', message_template_id: 1, message_template_name: 'summer_sale', message_template_language: 'en_US', reason: 'NONE',
    });
    await waitFor(async () => ((await api().get('/v1/account').set(auth)).body.health.events.length === 2 ? true : undefined));
    expect((await api().get(`/v1/campaigns/${id}`).set(auth)).body.state).toBe('paused');
  });

  it('shows a phone_number_quality_update in GET /v1/account health and moves the daily limit and throughput', async () => {
    const { account, auth } = await sandboxAccount();
    const before = (await api().get('/v1/account').set(auth)).body;
    expect(before.health).toEqual({ quality: null, messagingLimit: null, restriction: null, events: [] });
    // The simulator learns a sandbox number at its first Graph call (here: the template list behind a new campaign).
    expect((await api().post('/v1/campaigns').set(auth).send({ name: 'Draft', template: TEMPLATE })).status).toBe(201);

    runtime.sandboxSimulator.emitPhoneNumberQualityUpdate(account.phoneNumberId, {
      event: 'FLAGGED', oldLimit: 'TIER_2K', currentLimit: 'TIER_250',
    });
    const flagged = await waitFor(async () => {
      const body = (await api().get('/v1/account').set(auth)).body;
      return body.health.messagingLimit ? body : undefined;
    });
    expect(flagged.dailyLimit).toBe(250);
    expect(flagged.health).toMatchObject({
      quality: { rating: 'FLAGGED', at: expect.any(String) },
      messagingLimit: { tier: 'TIER_250', dailyLimit: 250, at: expect.any(String) },
      restriction: null,
      events: [{ type: 'phone_number_quality_update', detail: expect.stringContaining('TIER_2K → TIER_250'), at: expect.any(String) }],
    });

    runtime.sandboxSimulator.emitPhoneNumberQualityUpdate(account.phoneNumberId, { event: 'THROUGHPUT_UPGRADE', currentLimit: 'UNLIMITED' });
    const upgraded = await waitFor(async () => {
      const body = (await api().get('/v1/account').set(auth)).body;
      return body.health.events.length === 2 ? body : undefined;
    });
    expect(upgraded).toMatchObject({ dailyLimit: null, messagesPerSecond: 1000 });
    expect(upgraded.health.messagingLimit).toMatchObject({ tier: 'UNLIMITED', dailyLimit: null });
  });

  it("moves the account's open campaigns of a recategorised template to its new category once Meta completes it", async () => {
    const { account, auth } = await sandboxAccount();
    const draft = (await api().post('/v1/campaigns').set(auth).send({ name: 'Summer', template: TEMPLATE })).body.id as string;
    const categoryOf = async () => (await runtime.store.getCampaignById(draft))?.templateDefinition.category;
    expect(await categoryOf()).toBe('MARKETING');

    // Impending (Meta's `correct_category`): news only, nothing moves yet.
    runtime.sandboxSimulator.emitManagementWebhook({ phoneNumberId: account.phoneNumberId }, 'template_category_update', {
      message_template_id: 1, message_template_name: 'summer_sale', message_template_language: 'en_US',
      new_category: 'MARKETING', correct_category: 'UTILITY', category_update_timestamp: 1_767_225_600,
    });
    await waitFor(async () => ((await api().get('/v1/account').set(auth)).body.health.events.length === 1 ? true : undefined));
    expect(await categoryOf()).toBe('MARKETING');

    runtime.sandboxSimulator.emitManagementWebhook({ phoneNumberId: account.phoneNumberId }, 'template_category_update', {
      message_template_id: 1, message_template_name: 'summer_sale', message_template_language: 'en_US',
      previous_category: 'MARKETING', new_category: 'UTILITY',
    });
    expect(await waitFor(async () => ((await categoryOf()) === 'UTILITY' ? 'UTILITY' : undefined))).toBe('UTILITY');

    // A template's quality score: in the health log, nothing paused (Meta's own PAUSED update would do that).
    runtime.sandboxSimulator.emitManagementWebhook({ phoneNumberId: account.phoneNumberId }, 'message_template_quality_update', {
      previous_quality_score: 'GREEN', new_quality_score: 'YELLOW', message_template_id: 1,
      message_template_name: 'summer_sale', message_template_language: 'en_US',
    });
    const events = await waitFor(async () => {
      const list = (await api().get('/v1/account').set(auth)).body.health.events as { type: string; detail: string }[];
      return list.some((e) => e.type === 'message_template_quality_update') ? list : undefined;
    });
    expect(events[0]).toMatchObject({ type: 'message_template_quality_update', detail: 'Template summer_sale (en_US): quality GREEN → YELLOW' });
  });

  it('records an account restriction and pauses the running and scheduled campaigns of the account', async () => {
    const { account, auth } = await sandboxAccount();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await api().post('/v1/campaigns').set(auth).send({ name: 'Later', template: TEMPLATE, sendAt: later });
    const id = scheduled.body.id as string;
    await api().post(`/v1/campaigns/${id}/rows`).set(auth).send({ rows: [{ key: 'a', to: '+91 98765 41100', params: PARAMS }] });
    expect((await api().post(`/v1/campaigns/${id}/start`).set(auth)).body).toEqual({ state: 'scheduled' });

    runtime.sandboxSimulator.emitAccountUpdate({ phoneNumberId: account.phoneNumberId }, {
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2030-04-19T13:59:20+0000' }],
    });
    const paused = await waitFor(async () => {
      const body = (await api().get(`/v1/campaigns/${id}`).set(auth)).body;
      return body.state === 'paused' ? body : undefined;
    });
    expect(paused.stateReason).toMatchObject({ code: 'account_restricted', message: expect.stringContaining('RESTRICTED_BIZ_INITIATED_MESSAGING') });
    const health = (await api().get('/v1/account').set(auth)).body.health;
    expect(health.restriction).toMatchObject({
      type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiresAt: '2030-04-19T13:59:20.000Z', at: expect.any(String),
    });
  });

  it('no longer shows a restriction once its expiry has passed; the campaigns it paused stay paused', async () => {
    const { account, auth } = await sandboxAccount();
    const id = (await api().post('/v1/campaigns').set(auth).send({ name: 'Soon', template: TEMPLATE,
      sendAt: new Date(Date.now() + 3_600_000).toISOString() })).body.id as string;
    await api().post(`/v1/campaigns/${id}/rows`).set(auth).send({ rows: [{ key: 'a', to: '+91 98765 41100', params: PARAMS }] });
    await api().post(`/v1/campaigns/${id}/start`).set(auth);
    const expiresAt = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000);
    runtime.sandboxSimulator.emitAccountUpdate({ phoneNumberId: account.phoneNumberId }, {
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [{ restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: Math.floor(expiresAt.getTime() / 1000) }],
    });
    const restricted = await waitFor(async () => (await api().get('/v1/account').set(auth)).body.health.restriction ?? undefined);
    expect(restricted).toMatchObject({ type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiresAt: expiresAt.toISOString() });

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt.getTime() - Date.now()) + 50));
    const after = (await api().get('/v1/account').set(auth)).body.health;
    expect(after.restriction).toBeNull();
    expect(after.events[0]).toMatchObject({ type: 'account_update' });
    expect((await api().get(`/v1/campaigns/${id}`).set(auth)).body.state).toBe('paused');
  });
});

describe('healthAsOf', () => {
  it('drops a restriction whose every part has run out, and keeps one with a part that never does', async () => {
    const restriction = { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', detail: 'x', expiresAtMs: 1000, atMs: 0 };
    expect(healthAsOf({ ...EMPTY_HEALTH, restriction }, 999).restriction).toEqual(restriction);
    expect(healthAsOf({ ...EMPTY_HEALTH, restriction }, 1000).restriction).toBeNull();
    expect(healthAsOf({ ...EMPTY_HEALTH, restriction: { ...restriction, expiresAtMs: null } }, 1e15).restriction).not.toBeNull();

    // A ban beside an expiring restriction: the whole never runs out.
    const recorded: unknown[] = [];
    const keeper = new AccountHealthKeeper({ getHealth: async () => EMPTY_HEALTH, recordHealth: async (u) => void recorded.push(u) }, {
      getAccount: async () => ({ id: 'a', dailyLimit: null, messagesPerSecond: 80 }), listCampaigns: async () => [],
      pauseCampaign: async () => false, limitsChanged: async () => {}, templatesChanged: () => {}, recategoriseTemplate: async () => [],
    }, { info: () => {}, warn: () => {} });
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ id: 'w', time: 1, changes: [{ field: 'account_update', value: {
        event: 'ACCOUNT_RESTRICTION', ban_info: { waba_ban_state: 'SCHEDULE_FOR_DISABLE', waba_ban_date: '2030-01-01' },
        restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1_900_000_000 }],
      } }] }],
    };
    await keeper.apply({ id: 1, accountId: 'a', body: Buffer.from('') }, body, 0);
    expect(recorded).toMatchObject([{ restriction: { value: { expiresAtMs: null } } }]);
  });
});
