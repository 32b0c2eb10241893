// The simulator's POST /{version}/{phone-number-id}/messages: auth, Meta's validation codes, throughput and
// pair-rate limits, the ledger and injected faults, over real HTTP.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import type { CloudApiSimulatorOptions, NumberConfig } from '../../../service/simulator/cloud-api-simulator';
import { FaultInjector } from '../../../service/simulator/fault-injector';

const number: NumberConfig = {
  phoneNumberId: '106540352242922',
  wabaId: '102290129340398',
  accessToken: 'token-1',
  appSecret: 'secret-1',
  // Nothing listens here; these tests do not look at webhooks.
  webhookUrl: 'http://127.0.0.1:9/webhooks',
};

let sim: CloudApiSimulator;
let base: string;

async function start(options: CloudApiSimulatorOptions = {}): Promise<void> {
  sim = new CloudApiSimulator({ numbers: [number], ...options });
  base = await sim.listen();
}

afterEach(async () => {
  await sim.close();
});

let recipientCounter = 0;
/** A fresh recipient per call (ending in 5xxx: outside the fixed outcome rules), so pair rates never interfere. */
function nextRecipient(): string {
  const n = 5555000 + 5000 + (recipientCounter++ % 4000);
  return `+1 (650) ${String(n).slice(0, 3)}-${String(n).slice(3)}`;
}

function summerSale(to: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    biz_opaque_callback_data: `row-${to}`,
    template: {
      name: 'summer_sale',
      language: { code: 'en_US' },
      components: [
        { type: 'body', parameters: [{ type: 'text', text: 'Maria' }, { type: 'text', text: '25%' }] },
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'SUMMER25' }] },
        { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'STOP_ROW_1' }] },
      ],
    },
    ...overrides,
  };
}

async function send(body: unknown, options: { token?: string | null; version?: string; id?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? number.accessToken}`;
  const response = await fetch(`${base}/${options.version ?? 'v23.0'}/${options.id ?? number.phoneNumberId}/messages`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

function template(name: string, language: string, components: unknown[]): Record<string, unknown> {
  return { messaging_product: 'whatsapp', to: nextRecipient(), type: 'template', template: { name, language: { code: language }, components } };
}

const body2 = (a: string, b: string) => ({ type: 'body', parameters: [{ type: 'text', text: a }, { type: 'text', text: b }] });

describe('accepting a send', () => {
  beforeEach(() => start());

  it('answers Meta\'s success shape, echoes the input and records the message in the ledger', async () => {
    const { status, body } = await send(summerSale('+1 (650) 555-1234'));
    expect(status).toBe(200);
    expect(body.messaging_product).toBe('whatsapp');
    expect(body.contacts).toEqual([{ input: '+1 (650) 555-1234', wa_id: '16505551234' }]);
    expect(body.messages[0].id).toMatch(/^wamid\./);
    expect(body.messages[0].message_status).toBe('accepted');
    const [entry] = sim.ledger.entries();
    expect(entry).toMatchObject({
      wamid: body.messages[0].id,
      phoneNumberId: number.phoneNumberId,
      to: '16505551234',
      bizOpaqueCallbackData: 'row-+1 (650) 555-1234',
      templateName: 'summer_sale',
    });
    expect(sim.ledger.find(body.messages[0].id)?.to).toBe('16505551234');
    expect(sim.countsByCallbackData().get('row-+1 (650) 555-1234')).toBe(1);
  });

  it('gives every accepted message a distinct wamid and keeps them distinct after the ledger is cleared', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await send(summerSale(nextRecipient()))).body.messages[0].id);
    sim.clearLedger();
    expect(sim.ledger.size).toBe(0);
    for (let i = 0; i < 5; i++) ids.add((await send(summerSale(nextRecipient()))).body.messages[0].id);
    expect(ids.size).toBe(10);
    expect(sim.ledger.size).toBe(5);
  });

  it('accepts named parameters in any order, a text header parameter, an image header and plain text', async () => {
    const named = template('order_update', 'en_US', [
      { type: 'body', parameters: [
        { type: 'text', parameter_name: 'order_id', text: 'SB-1001' },
        { type: 'text', parameter_name: 'first_name', text: 'Jessica' },
      ] },
    ]);
    expect((await send(named)).status).toBe(200);
    const header = template('appointment_reminder', 'en_US', [
      { type: 'header', parameters: [{ type: 'text', text: 'Maria' }] },
      body2('June 3', '10:00'),
    ]);
    expect((await send(header)).status).toBe(200);
    const image = template('new_arrivals', 'en_US', [
      { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.jpg' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Maria' }] },
    ]);
    expect((await send(image)).status).toBe(200);
    expect((await send(template('hello_world', 'en_US', []))).status).toBe(200);
    expect((await send(template('summer_sale', 'es', [body2('María', '25 %'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'V' }] }]))).status).toBe(200);
    const text = { messaging_product: 'whatsapp', to: nextRecipient(), type: 'text', text: { body: 'Hi!' } };
    expect((await send(text)).status).toBe(200);
  });

  it('registers an unknown number through resolveUnknownNumber', async () => {
    await sim.close();
    await start({ resolveUnknownNumber: (id) => (id === '42' ? { ...number, phoneNumberId: '42', accessToken: 'lazy' } : undefined) });
    expect((await send(summerSale(nextRecipient()), { id: '42', token: 'lazy' })).status).toBe(200);
    const unknown = await send(summerSale(nextRecipient()), { id: '43' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe(100);
  });
});

describe('rejecting a send with Meta\'s codes', () => {
  beforeEach(() => start());

  it('answers 401 with code 190 for a missing or wrong token, in Meta\'s error shape', async () => {
    const missing = await send(summerSale(nextRecipient()), { token: null });
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe(190);
    const wrong = await send(summerSale(nextRecipient()), { token: 'nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({
      error: {
        message: expect.stringMatching(/^\(#190\) /),
        type: 'OAuthException',
        code: 190,
        error_data: { messaging_product: 'whatsapp', details: expect.any(String) },
        fbtrace_id: expect.any(String),
      },
    });
    expect(sim.ledger.size).toBe(0);
  });

  const cases: [string, () => unknown, number, string?][] = [
    ['invalid JSON', () => '{"messaging_product":', 100],
    ['a missing messaging_product', () => ({ ...summerSale(nextRecipient()), messaging_product: undefined }), 131008],
    ['a wrong messaging_product', () => summerSale(nextRecipient(), { messaging_product: 'sms' }), 100],
    ['a missing to', () => summerSale('', {}), 131008],
    ['letters in to', () => summerSale('+1 650 CALL NOW'), 131009],
    ['too few digits', () => summerSale('+1234567'), 131009],
    ['too many digits', () => summerSale('+1234567890123456'), 131009],
    ['a missing template name', () => ({ messaging_product: 'whatsapp', to: nextRecipient(), type: 'template', template: { language: { code: 'en_US' } } }), 131008],
    ['an unknown template', () => template('no_such_template', 'en_US', []), 132001],
    ['an unknown language', () => template('hello_world', 'fr', []), 132001],
    ['a PENDING template', () => template('spring_preview', 'en_US', [{ type: 'body', parameters: [{ type: 'text', text: 'x' }] }]), 132001],
    ['a REJECTED template', () => template('flash_deal', 'en_US', [{ type: 'body', parameters: [{ type: 'text', text: 'x' }] }]), 132001],
    ['too few body parameters', () => template('order_update', 'en_US', [{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'J' }] }]), 132000],
    ['a missing body component', () => template('appointment_reminder', 'en_US', [{ type: 'header', parameters: [{ type: 'text', text: 'M' }] }]), 132000],
    ['a missing header parameter', () => template('appointment_reminder', 'en_US', [body2('a', 'b')]), 132000],
    ['a positional value on a named template', () => template('order_update', 'en_US', [body2('Jessica', 'SB-1')]), 132000],
    ['an unknown parameter name', () => template('order_update', 'en_US', [{ type: 'body', parameters: [
      { type: 'text', parameter_name: 'first_name', text: 'J' }, { type: 'text', parameter_name: 'coupon', text: 'X' }] }]), 132000],
    ['a video for an image header', () => template('new_arrivals', 'en_US', [
      { type: 'header', parameters: [{ type: 'video', video: { link: 'https://example.com/a.mp4' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'M' }] }]), 132012],
    ['a missing media header', () => template('new_arrivals', 'en_US', [{ type: 'body', parameters: [{ type: 'text', text: 'M' }] }]), 131008],
    ['a missing URL button suffix', () => template('summer_sale', 'en_US', [body2('a', 'b')]), 131008],
    ['a newline in a parameter (v23)', () => template('summer_sale', 'en_US', [body2('Maria\nJones', 'b'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S' }] }]), 132018],
    ['five spaces in a parameter (v23)', () => template('summer_sale', 'en_US', [body2('Maria     Jones', 'b'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S' }] }]), 132018],
    ['a tab in a parameter (v22)', () => template('summer_sale', 'en_US', [body2('Maria\tJones', 'b'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S' }] }]), 100, 'v22.0'],
    ['a hydrated body over 1024 characters', () => template('summer_sale', 'en_US', [body2('M'.repeat(1000), 'b'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S' }] }]), 132005],
    ['a hydrated header over 60 characters', () => template('appointment_reminder', 'en_US', [
      { type: 'header', parameters: [{ type: 'text', text: 'M'.repeat(60) }] }, body2('a', 'b')]), 132005],
    ['a text message without a body', () => ({ messaging_product: 'whatsapp', to: nextRecipient(), type: 'text', text: {} }), 131008],
  ];

  it.each(cases)('rejects %s', async (_name, makeBody, code, version) => {
    const { status, body } = await send(makeBody(), version ? { version } : {});
    expect(status).toBe(400);
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(new RegExp(`^\\(#${code}\\) `));
    expect(body.error.type).toBe('OAuthException');
    expect(body.error.error_data.messaging_product).toBe('whatsapp');
    expect(sim.ledger.size).toBe(0);
    expect(sim.stats().rejectedByCode[String(code)]).toBe(1);
  });
});

describe('throughput and pair rate', () => {
  it('refuses arrivals past messagesPerSecond within one sliding second with 130429 (HTTP 429) and accepts again after it', async () => {
    await start({ numbers: [{ ...number, messagesPerSecond: 10 }] });
    const results = await Promise.all(Array.from({ length: 15 }, () => send(summerSale(nextRecipient()))));
    const started = Date.now();
    const accepted = results.filter((r) => r.status === 200);
    const throttled = results.filter((r) => r.status === 429);
    expect(accepted).toHaveLength(10);
    expect(throttled).toHaveLength(5);
    expect(throttled.every((r) => r.body.error.code === 130429)).toBe(true);
    expect(sim.ledger.size).toBe(10);
    const stats = sim.stats().numbers[number.phoneNumberId]!;
    expect(stats).toMatchObject({ messagesPerSecond: 10, accepted: 10, busiestWindow: 15, busiestAdmittedWindow: 10 });
    expect((await send(summerSale(nextRecipient()))).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 1010 - (Date.now() - started)));
    expect((await send(summerSale(nextRecipient()))).status).toBe(200);
  });

  it('counts arrivals rejected by validation against the window', async () => {
    await start({ numbers: [{ ...number, messagesPerSecond: 3 }] });
    for (let i = 0; i < 3; i++) expect((await send(template('no_such', 'en_US', []))).body.error.code).toBe(132001);
    expect((await send(summerSale(nextRecipient()))).body.error.code).toBe(130429);
  });

  it('refuses a second message to the same recipient within 6 s with 131056 and accepts other recipients', async () => {
    await start();
    expect((await send(summerSale('+16505550100'))).status).toBe(200);
    const again = await send(summerSale('16505550100'));
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe(131056);
    expect((await send(summerSale('+16505550101'))).status).toBe(200);
    expect(sim.ledger.size).toBe(2);
  });

  it('lets a quiet pair burst when a burst allowance is configured, then spaces it', async () => {
    await start({ pairRate: { intervalMs: 200, burst: 3 } });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await send(summerSale('+16505550100'))).status);
    expect(codes).toEqual([200, 200, 200, 400]);
    await new Promise((resolve) => setTimeout(resolve, 220));
    expect((await send(summerSale('+16505550100'))).status).toBe(200);
  });
});

describe('injected faults', () => {
  it('answers 5xx with 131000 or 131016 and does not accept the message', async () => {
    await start({ faults: { serverErrorRate: 1, seed: 7 } });
    const results = await Promise.all(Array.from({ length: 10 }, () => send(summerSale(nextRecipient()))));
    for (const result of results) {
      expect([500, 503]).toContain(result.status);
      expect([131000, 131016]).toContain(result.body.error.code);
      expect(result.body.error.code === 131000 ? 500 : 503).toBe(result.status);
    }
    expect(sim.ledger.size).toBe(0);
  });

  it('answers late when slow, accepting the message only after the delay', async () => {
    await start({ faults: { slowRate: 1, slowMs: 150 } });
    const started = Date.now();
    const pending = send(summerSale(nextRecipient()));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sim.ledger.size).toBe(0);
    expect((await pending).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    expect(sim.ledger.size).toBe(1);
  });

  it('drops the connection after accepting: the client sees an error, the ledger has the message', async () => {
    await start({ faults: { dropAfterAcceptRate: 1 } });
    await expect(send(summerSale('+16505550142'))).rejects.toThrow();
    expect(sim.ledger.entries().map((e) => e.to)).toEqual(['16505550142']);
    sim.setFaults({});
    expect((await send(summerSale(nextRecipient()))).status).toBe(200);
  });

  it('repeats the same fault sequence for the same seed', () => {
    const decide = (seed: number) => {
      const faults = new FaultInjector({ serverErrorRate: 0.3, dropAfterAcceptRate: 0.2, slowRate: 0.1, seed });
      return Array.from({ length: 50 }, () => faults.decide());
    };
    expect(decide(1)).toEqual(decide(1));
    expect(decide(1)).not.toEqual(decide(2));
  });
});
