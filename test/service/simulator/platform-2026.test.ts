// The simulator's model of Meta's 2026 platform: BSUIDs and usernames in every messages webhook, sends by
// `recipient`, the 131049 frequency cap, the Marketing Messages API, management webhooks and system messages.

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import type { CloudApiSimulatorOptions, NumberConfig } from '../../../service/simulator/cloud-api-simulator';
import { planOutcome } from '../../../service/simulator/outcome-rules';
import { sampleTemplates } from '../../../service/simulator/sample-templates';
import type { MessageTemplate } from '../../../service/simulator/template-catalog';
import { regionOf, UserDirectory } from '../../../service/simulator/user-directory';

const BSUID = /^[A-Z]{2}\.\d{20}$/;

/** Collects every webhook POST. */
class Receiver {
  readonly posts: any[] = [];
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  changes(field?: string): any[] {
    return this.posts.flatMap((p) => p.entry.flatMap((e: any) => e.changes)).filter((c: any) => !field || c.field === field);
  }

  statuses(wamid?: string): any[] {
    return this.changes('messages').flatMap((c) => c.value.statuses ?? []).filter((s: any) => !wamid || s.id === wamid);
  }

  messages(): any[] {
    return this.changes('messages').flatMap((c) => c.value.messages ?? []);
  }

  /** Every change carrying statuses, with its contacts block. */
  statusChanges(): any[] {
    return this.changes('messages').filter((c) => c.value.statuses);
  }
}

const authTemplate: MessageTemplate = {
  name: 'login_code',
  language: 'en_US',
  status: 'APPROVED',
  category: 'AUTHENTICATION',
  parameter_format: 'POSITIONAL',
  components: [
    { type: 'BODY', text: '{{1}} is your verification code.', example: { body_text: [['123456']] } },
    { type: 'BUTTONS', buttons: [{ type: 'COPY_CODE', text: 'Copy code' }] },
  ],
};

let sim: CloudApiSimulator;
let receiver: Receiver;
let base: string;
let number: NumberConfig;
let clockOffsetMs = 0;
let isStarted = false;

async function start(options: CloudApiSimulatorOptions = {}, numberPatch: Partial<NumberConfig> = {}): Promise<void> {
  receiver = new Receiver();
  isStarted = true;
  clockOffsetMs = 0;
  number = {
    phoneNumberId: '106540352242922',
    wabaId: '102290129340398',
    accessToken: 't',
    appSecret: 's',
    webhookUrl: await receiver.start(),
    displayPhoneNumber: '15550783881',
    ...numberPatch,
  };
  sim = new CloudApiSimulator({
    numbers: [number],
    delays: { sentMs: 0, deliveredMs: 5, readMs: 10, replyMs: 15 },
    webhooks: { batchWindowMs: 5 },
    pairRate: { intervalMs: 1 },
    outcomes: { deliveredRate: 1, readRate: 1, replyRate: 0 },
    // A fake clock: real time plus an offset the tests move (webhook timers still run on real time).
    now: () => Date.now() + clockOffsetMs,
    ...options,
  });
  sim.setTemplates(number.wabaId, [...sampleTemplates(number.wabaId), authTemplate]);
  base = await sim.listen();
}

afterEach(async () => {
  if (!isStarted) return;
  isStarted = false;
  await sim.close();
  await receiver.stop();
});

async function post(path: string, body: unknown, token = 't'): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const helloWorld = { name: 'hello_world', language: { code: 'en_US' } };
const summerSale = {
  name: 'summer_sale',
  language: { code: 'en_US' },
  components: [
    { type: 'body', parameters: [{ type: 'text', text: 'Zoë' }, { type: 'text', text: '25%' }] },
    { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S1' }] },
  ],
};

function send(address: { to?: string; recipient?: string }, template: object = helloWorld, edge = 'messages') {
  return post(`/v25.0/${number.phoneNumberId}/${edge}`, { messaging_product: 'whatsapp', ...address, type: 'template', template });
}

async function sendOk(address: { to?: string; recipient?: string }, template: object = helloWorld, edge = 'messages'): Promise<string> {
  const answer = await send(address, template, edge);
  if (answer.status !== 200) throw new Error(JSON.stringify(answer.body));
  return answer.body.messages[0].id;
}

async function control(path: string, body: unknown): Promise<any> {
  const answer = await post(`/__sim/${path}`, body);
  if (answer.status !== 200) throw new Error(`${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

describe('business-scoped user ids', () => {
  it('are the phone\'s ISO region, a dot and 20 digits, stable per portfolio and different across portfolios', () => {
    const directory = new UserDirectory(() => ({}));
    const us = directory.identify('waba-1', '16505551234');
    expect(us.userId).toMatch(/^US\.\d{20}$/);
    expect(us.parentUserId).toMatch(/^US\.ENT\.\d{20}$/);
    expect(new UserDirectory(() => ({})).identify('waba-1', '16505551234').userId).toBe(us.userId);
    expect(directory.identify('waba-2', '16505551234').userId).not.toBe(us.userId);
    expect(directory.identify('waba-2', '16505551234').parentUserId).toBe(us.parentUserId);
    expect(directory.resolve('waba-1', us.userId)?.waId).toBe('16505551234');
    expect(directory.resolve('waba-2', us.userId)).toBeUndefined();
    expect([regionOf('447700900123'), regionOf('5511999990000'), regionOf('4915123456000'), regionOf('14165550000')]).toEqual(['GB', 'BR', 'DE', 'CA']);
  });

  it('put the BSUID and a contacts block on sent, delivered and read, with the username on delivered and read only', async () => {
    // Statuses far enough apart to arrive in POSTs of their own.
    await start({ delays: { sentMs: 0, deliveredMs: 60, readMs: 120, replyMs: 180 } });
    sim.setUsername('447700900123', 'zoe.0123');
    const wamid = await sendOk({ to: '+44 7700 900123' });
    await sim.idle();
    const { user_id: userId } = sim.userIdentity(number.phoneNumberId, '447700900123');
    expect(userId).toMatch(/^GB\.\d{20}$/);
    const byStatus = Object.fromEntries(receiver.statuses(wamid).map((s) => [s.status, s]));
    for (const status of ['sent', 'delivered', 'read']) {
      expect(byStatus[status]).toMatchObject({ id: wamid, recipient_id: '447700900123', recipient_user_id: userId });
    }
    const contactsOf = (status: string) => receiver.statusChanges().find((c) => c.value.statuses.some((s: any) => s.status === status)).value.contacts;
    expect(contactsOf('sent')).toEqual([{ wa_id: '447700900123', user_id: userId }]);
    expect(contactsOf('delivered')).toEqual([{ profile: { username: 'zoe.0123' }, wa_id: '447700900123', user_id: userId }]);
    expect(contactsOf('read')).toEqual([{ profile: { username: 'zoe.0123' }, wa_id: '447700900123', user_id: userId }]);
  });

  it('leave failed statuses of a phone send without contacts block and without recipient_user_id', async () => {
    await start();
    const wamid = await sendOk({ to: '+1 650 555 0001' });
    await sim.idle();
    const [failed] = receiver.statuses(wamid);
    expect(failed).toMatchObject({ status: 'failed', recipient_id: '16505550001', errors: [{ code: 131026 }] });
    expect(failed.recipient_user_id).toBeUndefined();
    expect(receiver.statusChanges()[0].value.contacts).toBeUndefined();
  });
});

describe('username users, whose phone is withheld', () => {
  it('reply, tap buttons, answer STOP and stop marketing with only their BSUID and username: from and wa_id omitted', async () => {
    await start({ outcomes: { deliveredRate: 1, readRate: 1, replyRate: 0, usernameShare: 1 } });
    for (const suffix of ['0003', '0004', '0007', '0009']) await sendOk({ to: `+1 650 555 ${suffix}` }, summerSale);
    await sim.idle();
    const messages = receiver.messages();
    expect(messages).toHaveLength(3);
    for (const message of messages) {
      expect(message).not.toHaveProperty('from');
      expect(message.from_user_id).toMatch(BSUID);
    }
    expect(messages.map((m) => m.type).sort()).toEqual(['button', 'text', 'text']);
    const contacts = receiver.changes('messages').flatMap((c) => c.value.contacts ?? []).filter((c: any) => c.profile?.name);
    expect(contacts).toContainEqual({ profile: { name: expect.any(String), username: 'mateo.0003' }, user_id: sim.userIdentity(number.phoneNumberId, '16505550003').user_id });
    for (const contact of contacts) expect(contact).not.toHaveProperty('wa_id');
    const [preferences] = receiver.changes('user_preferences');
    expect(preferences.value.user_preferences).toEqual([
      { user_id: expect.stringMatching(BSUID), detail: expect.any(String), category: 'marketing_messages', value: 'stop', timestamp: expect.any(Number) },
    ]);
    expect(preferences.value.contacts[0]).not.toHaveProperty('wa_id');
    // Statuses of these phone sends still carry the phone: we messaged that number.
    expect(receiver.statuses().every((s) => s.recipient_id?.startsWith('1650555'))).toBe(true);
  });

  it('are addressed by BSUID in the inbound and user-preferences control routes', async () => {
    await start();
    sim.setUsername('5511999990000', 'ana.0000');
    const { user_id: userId } = sim.userIdentity(number.phoneNumberId, '5511999990000');
    const { wamid } = await control('inbound', { phoneNumberId: number.phoneNumberId, fromUserId: userId, text: 'Olá' });
    await control('user-preferences', { phoneNumberId: number.phoneNumberId, userId, value: 'stop' });
    expect((await post('/__sim/inbound', { phoneNumberId: number.phoneNumberId, fromUserId: 'BR.99999999999999999999', text: 'x' })).status).toBe(404);
    await sim.idle();
    expect(receiver.messages()).toEqual([{ from_user_id: userId, id: wamid, type: 'text', text: { body: 'Olá' }, timestamp: expect.any(String) }]);
    expect(receiver.changes('user_preferences')[0].value.user_preferences[0]).toMatchObject({ user_id: userId, value: 'stop' });
    expect(receiver.changes('user_preferences')[0].value.user_preferences[0]).not.toHaveProperty('wa_id');
    // The stop holds for the person, whichever way they are addressed.
    const later = await sendOk({ recipient: userId }, summerSale);
    await sim.idle();
    expect(receiver.statuses(later).map((s) => s.errors?.[0].code)).toEqual([131050]);
  });
});

describe('sends by recipient (BSUID)', () => {
  it('answer contacts [{input, user_id}] and omit recipient_id for a user who withholds the phone; the ledger keeps both ids', async () => {
    await start();
    sim.setUsername('447700900123', 'zoe.0123');
    const { user_id: userId } = sim.userIdentity(number.phoneNumberId, '447700900123');
    const answer = await send({ recipient: userId });
    expect(answer.status).toBe(200);
    expect(answer.body.contacts).toEqual([{ input: userId, user_id: userId }]);
    expect(answer.body.messages[0].message_status).toBe('accepted');
    // Every status of the BSUID send is out before the phone send: their changes cannot share a batch.
    await sim.idle();
    const byPhone = await sendOk({ to: '+44 7700 900123' });
    await sim.idle();
    const byBsuid = answer.body.messages[0].id;
    for (const status of receiver.statuses(byBsuid)) {
      expect(status).not.toHaveProperty('recipient_id');
      expect(status.recipient_user_id).toBe(userId);
    }
    // The phone is withheld: every change of the BSUID send names the person by BSUID only.
    const changes = receiver.statusChanges().filter((c) => c.value.statuses.some((s: any) => s.id === byBsuid));
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) {
      expect(change.value.statuses.every((s: any) => s.id === byBsuid)).toBe(true);
      expect(change.value.contacts).toContainEqual(expect.objectContaining({ user_id: userId }));
      for (const contact of change.value.contacts) expect(contact).not.toHaveProperty('wa_id');
    }
    expect(sim.ledger.entries().map((e) => [e.to, e.userId, e.isAddressedByUserId])).toEqual([
      ['447700900123', userId, true],
      ['447700900123', userId, false],
    ]);
    expect(sim.ledger.duplicateRecipients()).toEqual([
      { phoneNumberId: number.phoneNumberId, to: '447700900123', templateName: 'hello_world', count: 2, wamids: [byBsuid, byPhone] },
    ]);
  });

  it('let `to` win over `recipient`, accept parent BSUIDs and refuse a malformed one with 131009', async () => {
    await start();
    const { user_id: userId, parent_user_id: parentId } = sim.userIdentity(number.phoneNumberId, '16505556000');
    expect((await send({ to: '+1 650 555 6001', recipient: userId })).body.contacts).toEqual([{ input: '+1 650 555 6001', wa_id: '16505556001' }]);
    expect((await send({ recipient: parentId })).body.contacts).toEqual([{ input: parentId, user_id: parentId }]);
    expect(sim.ledger.entries()[1]).toMatchObject({ to: '16505556000', userId });
    const malformed = await send({ recipient: 'not-a-bsuid' });
    expect([malformed.status, malformed.body.error.code]).toEqual([400, 131009]);
  });

  it('refuse authentication templates with 131062 in Meta\'s error body', async () => {
    await start();
    const { user_id: userId } = sim.userIdentity(number.phoneNumberId, '16505556002');
    const template = { name: 'login_code', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: '123456' }] }] };
    const answer = await send({ recipient: userId }, template);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({
      message: '(#131062) Business-scoped User ID (BSUID) recipients are not supported for this message',
      type: 'OAuthException',
      code: 131062,
      error_data: { messaging_product: 'whatsapp', details: expect.any(String) },
      fbtrace_id: expect.any(String),
    });
    expect((await send({ to: '+1 650 555 6002' }, template)).status).toBe(200);
  });

  it('accept a well-formed BSUID never issued, then fail it 131026 with recipient_user_id only', async () => {
    await start();
    const unknown = 'US.12345678901234567890';
    const answer = await send({ recipient: unknown });
    expect(answer.body.contacts).toEqual([{ input: unknown, user_id: unknown }]);
    await sim.idle();
    const [failed] = receiver.statuses();
    expect(failed).toMatchObject({ status: 'failed', recipient_user_id: unknown, errors: [{ code: 131026 }] });
    expect(failed).not.toHaveProperty('recipient_id');
    expect(sim.ledger.entries()[0]).toMatchObject({ to: '', userId: unknown, isAddressedByUserId: true });
  });
});

describe('frequency cap 131049', () => {
  it('fails every marketing template to +1 with usMarketingBlocked, not utility ones, not other countries', async () => {
    await start({ usMarketingBlocked: true });
    const us = await sendOk({ to: '+1 650 555 7100' }, summerSale);
    const utility = await sendOk({ to: '+1 650 555 7101' });
    const br = await sendOk({ to: '+55 11 99999 7102' }, summerSale);
    await sim.idle();
    expect(receiver.statuses(us)).toEqual([
      {
        id: us,
        status: 'failed',
        timestamp: expect.any(String),
        recipient_id: '16505557100',
        errors: [
          {
            code: 131049,
            title: 'This message was not delivered to maintain healthy ecosystem engagement.',
            message: 'This message was not delivered to maintain healthy ecosystem engagement.',
            error_data: { details: expect.any(String) },
            href: '/documentation/business-messaging/whatsapp/support/error-codes',
          },
        ],
      },
    ]);
    expect(receiver.statuses(utility).map((s) => s.status).sort()).toEqual(['delivered', 'read', 'sent']);
    expect(receiver.statuses(br).map((s) => s.status).sort()).toEqual(['delivered', 'read', 'sent']);
  });

  it('spares a recipient who wrote in the last 24 h, on the fake clock', async () => {
    await start({}, { usMarketingBlocked: true });
    sim.emitInboundText(number.phoneNumberId, '16505557200', 'hi');
    const inWindow = await sendOk({ to: '+1 650 555 7200' }, summerSale);
    clockOffsetMs = 24 * 3600 * 1000 + 1;
    const afterWindow = await sendOk({ to: '+1 650 555 7200' }, summerSale);
    await sim.idle();
    expect(receiver.statuses(inWindow).map((s) => s.status)).not.toContain('failed');
    expect(receiver.statuses(afterWindow).map((s) => s.errors?.[0].code)).toEqual([131049]);
  });

  it('is off by default and switchable per number through PATCH /__sim/numbers/{id}', async () => {
    await start();
    const before = await sendOk({ to: '+1 650 555 7300' }, summerSale);
    const patched = await fetch(`${base}/__sim/numbers/${number.phoneNumberId}`, { method: 'PATCH', body: JSON.stringify({ usMarketingBlocked: true }) });
    expect(((await patched.json()) as any).usMarketingBlocked).toBe(true);
    const after = await sendOk({ to: '+1 650 555 7301' }, summerSale);
    await sim.idle();
    expect(receiver.statuses(before).map((s) => s.status)).not.toContain('failed');
    expect(receiver.statuses(after).map((s) => s.errors?.[0].code)).toEqual([131049]);
  });

  it('draws frequencyCapShare deterministically per recipient, for marketing only', () => {
    const delays = { sentMs: 1, deliveredMs: 2, readMs: 3, replyMs: 4 };
    const plan = (waId: string, category: string) =>
      planOutcome({ phoneNumberId: 'p', waId, bizOpaqueCallbackData: 'row', category, quickReplyPayloads: [], hasStoppedMarketing: false }, { frequencyCapShare: 0.3 }, delays);
    const capped = (category: string) =>
      Array.from({ length: 2000 }, (_, i) => plan(`4915100${25000 + i}`, category)).filter((p) => p.some((s) => s.kind === 'failed' && s.errorCode === 131049)).length;
    expect(capped('marketing')).toBe(capped('marketing'));
    expect(capped('marketing') / 2000).toBeGreaterThan(0.25);
    expect(capped('marketing') / 2000).toBeLessThan(0.35);
    expect(capped('utility')).toBe(0);
  });
});

describe('Marketing Messages API', () => {
  it('accepts marketing templates with message_status accepted; their statuses are priced marketing_lite', async () => {
    await start();
    const answer = await send({ to: '+44 7700 900200' }, summerSale, 'marketing_messages');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: '+44 7700 900200', wa_id: '447700900200' }],
      messages: [{ id: expect.stringMatching(/^wamid\./), message_status: 'accepted' }],
    });
    await sim.idle();
    const sent = receiver.statuses().find((s) => s.status === 'sent');
    expect(sent.pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing_lite' });
    expect(sim.ledger.entries()[0]!.endpoint).toBe('marketing_messages');
  });

  it('refuses non-marketing templates and text, and checks the token like /messages', async () => {
    await start();
    expect((await send({ to: '+44 7700 900201' }, helloWorld, 'marketing_messages')).body.error.code).toBe(100);
    const text = await post(`/v25.0/${number.phoneNumberId}/marketing_messages`, { messaging_product: 'whatsapp', to: '+447700900201', type: 'text', text: { body: 'hi' } });
    expect(text.body.error.code).toBe(100);
    const badToken = await post(`/v25.0/${number.phoneNumberId}/marketing_messages`, { messaging_product: 'whatsapp', to: '+447700900201', type: 'template', template: summerSale }, 'wrong');
    expect([badToken.status, badToken.body.error.code]).toEqual([401, 190]);
  });

  it('is the only way for marketing once marketingOnMessagesDisabled: /messages answers 131063', async () => {
    await start({}, { marketingOnMessagesDisabled: true });
    const refused = await send({ to: '+44 7700 900202' }, summerSale);
    expect([refused.status, refused.body.error.code]).toEqual([400, 131063]);
    expect((await send({ to: '+44 7700 900202' })).status).toBe(200);
    expect((await send({ to: '+44 7700 900203' }, summerSale, 'marketing_messages')).status).toBe(200);
  });
});

describe('management webhooks', () => {
  it('post message_template_status_update and act on it: paused sends fail 132015, disabled 132016, reinstated ones go out', async () => {
    await start();
    await control('webhooks/template-status', { wabaId: number.wabaId, name: 'summer_sale', language: 'en_US', event: 'PAUSED', reason: 'LOW_QUALITY' });
    const paused = await send({ to: '+44 7700 900300' }, summerSale);
    expect([paused.status, paused.body.error.code]).toEqual([400, 132015]);
    sim.emitTemplateStatusUpdate({ phoneNumberId: number.phoneNumberId }, { name: 'summer_sale', language: 'en_US', event: 'DISABLED' });
    expect((await send({ to: '+44 7700 900300' }, summerSale)).body.error.code).toBe(132016);
    sim.emitTemplateStatusUpdate({ wabaId: number.wabaId }, { name: 'summer_sale', language: 'en_US', event: 'REINSTATED' });
    expect((await send({ to: '+44 7700 900300' }, summerSale)).status).toBe(200);
    await sim.idle();
    const entry = receiver.posts.flatMap((p) => p.entry).find((e: any) => e.changes[0].field === 'message_template_status_update');
    expect(entry).toMatchObject({ id: number.wabaId, time: expect.any(Number) });
    const values = receiver.changes('message_template_status_update').map((c) => c.value);
    const templateId = Number(sim.templates(number.wabaId).find((t) => t.name === 'summer_sale' && t.language === 'en_US')!.id);
    expect(values[0]).toEqual({
      event: 'PAUSED',
      message_template_id: templateId,
      message_template_name: 'summer_sale',
      message_template_language: 'en_US',
      reason: 'LOW_QUALITY',
      message_template_category: 'MARKETING',
      other_info: { title: 'FIRST_PAUSE', description: expect.any(String) },
    });
    expect(values.map((v) => v.event)).toEqual(['PAUSED', 'DISABLED', 'REINSTATED']);
    expect(values[1].disable_info).toEqual({ disable_date: expect.stringMatching(/^\d{10}$/) });
  });

  it('post template_category_update in impending and completed forms; only completed changes the template list', async () => {
    await start();
    const category = () => sim.templates(number.wabaId).find((t) => t.name === 'order_update' && t.language === 'en_US')!.category;
    await control('webhooks/template-category', { phoneNumberId: number.phoneNumberId, name: 'order_update', language: 'en_US', newCategory: 'MARKETING', stage: 'impending' });
    expect(category()).toBe('UTILITY');
    await control('webhooks/template-category', { phoneNumberId: number.phoneNumberId, name: 'order_update', language: 'en_US', newCategory: 'MARKETING' });
    expect(category()).toBe('MARKETING');
    const list = await fetch(`${base}/v25.0/${number.wabaId}/message_templates?name=order_update`, { headers: { authorization: 'Bearer t' } });
    expect(((await list.json()) as any).data.map((t: any) => t.category)).toEqual(['MARKETING', 'UTILITY']);
    await sim.idle();
    const [impending, completed] = receiver.changes('template_category_update').map((c) => c.value);
    const head = { message_template_id: expect.any(Number), message_template_name: 'order_update', message_template_language: 'en_US' };
    expect(impending).toEqual({ ...head, correct_category: 'MARKETING', new_category: 'UTILITY', category_update_timestamp: expect.any(Number) });
    expect(completed).toEqual({ ...head, previous_category: 'UTILITY', new_category: 'MARKETING' });
  });

  it('post phone_number_quality_update, account_update and any {field, value}, signed to the number\'s URL', async () => {
    await start();
    await control('webhooks/phone-number-quality', { phoneNumberId: number.phoneNumberId, event: 'THROUGHPUT_UPGRADE', currentLimit: 'TIER_UNLIMITED' });
    await control('webhooks/phone-number-quality', { phoneNumberId: number.phoneNumberId, event: 'DOWNGRADE', currentLimit: 'TIER_2K', oldLimit: 'TIER_10K' });
    await control('webhooks/account-update', {
      wabaId: number.wabaId,
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1767225600 }],
    });
    await control('webhooks/account-update', { wabaId: number.wabaId, event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: '2026-09-01' } });
    await control('webhooks/management', { wabaId: number.wabaId, field: 'message_template_quality_update', value: { previous_quality_score: 'GREEN', new_quality_score: 'YELLOW' } });
    expect((await post('/__sim/webhooks/management', { wabaId: 'nope', field: 'x', value: {} })).status).toBe(404);
    await sim.idle();
    expect(receiver.changes('phone_number_quality_update').map((c) => c.value)).toEqual([
      { display_phone_number: '15550783881', event: 'THROUGHPUT_UPGRADE', current_limit: 'TIER_UNLIMITED', max_daily_conversations_per_business: 'TIER_UNLIMITED' },
      { display_phone_number: '15550783881', event: 'DOWNGRADE', old_limit: 'TIER_10K', current_limit: 'TIER_2K', max_daily_conversations_per_business: 'TIER_2K' },
    ]);
    expect(sim.getNumber(number.phoneNumberId)!.messagesPerSecond).toBe(1000);
    expect(receiver.changes('account_update').map((c) => c.value)).toEqual([
      { phone_number: '15550783881', event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1767225600 }] },
      { phone_number: '15550783881', event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: '2026-09-01' } },
    ]);
    expect(receiver.changes('message_template_quality_update')[0].value).toEqual({ previous_quality_score: 'GREEN', new_quality_score: 'YELLOW' });
    expect(receiver.posts.every((p) => p.object === 'whatsapp_business_account')).toBe(true);
  });
});

describe('system messages', () => {
  it('report a number change with the new wa_id, user_id and previous_user_id; the old BSUID then resolves to nobody', async () => {
    await start();
    const before = sim.userIdentity(number.phoneNumberId, '447700900400');
    const changed = await control('users/change-number', { phoneNumberId: number.phoneNumberId, waId: '447700900400', newWaId: '+44 7700 900401' });
    expect(changed).toEqual({ wa_id: '447700900401', user_id: expect.stringMatching(/^GB\./), parent_user_id: expect.any(String), previous_user_id: before.user_id });
    expect(changed.user_id).not.toBe(before.user_id);
    await sim.idle();
    const [change] = receiver.changes('messages');
    expect(change.value.contacts).toBeUndefined();
    expect(change.value.messages).toEqual([
      {
        from: '447700900400',
        from_user_id: before.user_id,
        id: expect.stringMatching(/^wamid\./),
        type: 'system',
        system: {
          body: expect.stringContaining('changed from 447700900400 to 447700900401'),
          wa_id: '447700900401',
          type: 'user_changed_number',
          user_id: changed.user_id,
          previous_user_id: before.user_id,
        },
        timestamp: expect.any(String),
      },
    ]);
    const stale = await sendOk({ recipient: before.user_id });
    await sim.idle();
    expect(receiver.statuses(stale).map((s) => s.errors?.[0].code)).toEqual([131026]);
  });

  it('report user_changed_user_id, without any phone, for a new BSUID and for a username user\'s number change', async () => {
    await start({}, { emitsParentUserIds: true });
    const before = sim.userIdentity(number.phoneNumberId, '16505557400');
    const changed = await control('users/change-user-id', { phoneNumberId: number.phoneNumberId, userId: before.user_id });
    await control('users/username', { waId: '16505557401', username: 'kenji.7401' });
    const hidden = sim.userIdentity(number.phoneNumberId, '16505557401');
    await control('users/change-number', { phoneNumberId: number.phoneNumberId, userId: hidden.user_id, newWaId: '16505557402' });
    await sim.idle();
    const [first, second] = receiver.messages();
    expect(first).toEqual({
      from_user_id: before.user_id,
      id: expect.any(String),
      type: 'system',
      system: {
        body: expect.any(String),
        type: 'user_changed_user_id',
        user_id: changed.user_id,
        previous_user_id: before.user_id,
        parent_user_id: changed.parent_user_id,
        previous_parent_user_id: before.parent_user_id,
      },
      timestamp: expect.any(String),
    });
    expect(second.system.type).toBe('user_changed_user_id');
    expect(second).not.toHaveProperty('from');
    expect(second.system).not.toHaveProperty('wa_id');
    expect(sim.userIdentity(number.phoneNumberId, '16505557402').username).toBe('kenji.7401');
  });
});
