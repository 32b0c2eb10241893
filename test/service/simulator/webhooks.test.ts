// The simulator's webhooks: Meta's payload shapes, the deterministic recipient rules, the escaped-unicode
// signature, batching, and retries until a receiver that was down comes back.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import type { CloudApiSimulatorOptions, NumberConfig } from '../../../service/simulator/cloud-api-simulator';
import { planOutcome, QUOTING_REPLY } from '../../../service/simulator/outcome-rules';

const APP_SECRET = 'app-secret-ü';

/** A webhook endpoint that checks signatures the way a careful receiver does (escape, then HMAC). */
class Receiver {
  readonly posts: { raw: string; payload: any; isSignedEscaped: boolean; isSignedRaw: boolean }[] = [];
  status = 200;
  private server: Server | undefined;

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const header = String(req.headers['x-hub-signature-256'] ?? '');
        const escaped = raw.replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
        this.posts.push({ raw, payload: JSON.parse(raw), isSignedEscaped: matches(header, escaped), isSignedRaw: matches(header, raw) });
        res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/whatsapp/acct-1`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Every status item, across all POSTs, entries and changes. */
  statuses(): any[] {
    return this.changes().flatMap((c) => c.value.statuses ?? []);
  }

  messages(): any[] {
    return this.changes().flatMap((c) => c.value.messages ?? []);
  }

  changes(): any[] {
    return this.posts.flatMap((p) => p.payload.entry.flatMap((e: any) => e.changes));
  }
}

function matches(header: string, text: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', APP_SECRET).update(text, 'utf8').digest('hex')}`);
  const actual = Buffer.from(header);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const zeroDelays = { sentMs: 0, deliveredMs: 5, readMs: 10, replyMs: 15 };
let sim: CloudApiSimulator;
let receiver: Receiver;
let base: string;
let number: NumberConfig;

async function start(options: CloudApiSimulatorOptions = {}, receiverPort?: number): Promise<void> {
  receiver = new Receiver();
  const webhookUrl = receiverPort === undefined ? await receiver.start() : `http://127.0.0.1:${receiverPort}/webhooks/whatsapp/acct-1`;
  number = { phoneNumberId: '106540352242922', wabaId: '102290129340398', accessToken: 't', appSecret: APP_SECRET, webhookUrl, displayPhoneNumber: '15550783881' };
  sim = new CloudApiSimulator({ numbers: [number], delays: zeroDelays, webhooks: { batchWindowMs: 10 }, ...options });
  base = await sim.listen();
}

afterEach(async () => {
  await sim.close();
  await receiver.stop();
});

async function send(to: string, extra: Record<string, unknown> = {}, version = 'v23.0'): Promise<string> {
  const response = await fetch(`${base}/${version}/${number.phoneNumberId}/messages`, {
    method: 'POST',
    headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
    body: JSON.stringify({
      messaging_product: 'whatsapp',
      to,
      type: 'template',
      biz_opaque_callback_data: `row/${to}`,
      template: {
        name: 'summer_sale',
        language: { code: 'en_US' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: 'Zoë' }, { type: 'text', text: '25%' }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'S1' }] },
          { type: 'button', sub_type: 'quick_reply', index: '1', parameters: [{ type: 'payload', payload: 'OPT_OUT' }] },
        ],
      },
      ...extra,
    }),
  });
  const body = (await response.json()) as any;
  if (response.status !== 200) throw new Error(JSON.stringify(body));
  return body.messages[0].id;
}

function statusesOf(wamid: string): string[] {
  return receiver.statuses().filter((s) => s.id === wamid).map((s) => s.status);
}

describe('status webhooks', () => {
  it('posts sent, delivered and read in Meta\'s shape, echoing biz_opaque_callback_data, with pricing on sent and delivered', async () => {
    await start({ outcomes: { deliveredRate: 1, readRate: 1, replyRate: 0 } });
    const wamid = await send('+44 7700 900123');
    await sim.idle();
    expect(statusesOf(wamid).sort()).toEqual(['delivered', 'read', 'sent']);
    const post = receiver.posts[0]!.payload;
    expect(post.object).toBe('whatsapp_business_account');
    expect(post.entry[0].id).toBe(number.wabaId);
    const change = receiver.changes()[0];
    expect(change.field).toBe('messages');
    expect(change.value.messaging_product).toBe('whatsapp');
    expect(change.value.metadata).toEqual({ display_phone_number: '15550783881', phone_number_id: number.phoneNumberId });
    const byStatus = Object.fromEntries(receiver.statuses().map((s) => [s.status, s]));
    expect(byStatus.sent).toMatchObject({ id: wamid, recipient_id: '447700900123', biz_opaque_callback_data: 'row/+44 7700 900123' });
    expect(byStatus.sent.timestamp).toMatch(/^\d{10}$/);
    expect(byStatus.sent.pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' });
    expect(byStatus.delivered.pricing).toBeDefined();
    expect(byStatus.read.pricing).toBeUndefined();
    // v23 still carries `conversation`; v24 drops it.
    expect(byStatus.sent.conversation.origin.type).toBe('marketing');
    expect(receiver.posts.some((p) => p.raw.includes('row\\/+44'))).toBe(true);
  });

  it('drops the conversation object from v24.0 on', async () => {
    await start({ outcomes: { deliveredRate: 0 } });
    await send('+44 7700 900124', {}, 'v24.0');
    await sim.idle();
    expect(receiver.statuses()[0].conversation).toBeUndefined();
  });

  it('follows the documented rule for each recipient ending 0001 to 0012', async () => {
    await start({ pairRate: { intervalMs: 50 } });
    const wamids: Record<string, string> = {};
    for (let rule = 1; rule <= 12; rule++) {
      const suffix = String(rule).padStart(4, '0');
      wamids[suffix] = await send(`+1 650 555 ${suffix}`);
    }
    await sim.idle();
    const statusSets: Record<string, string[]> = Object.fromEntries(Object.entries(wamids).map(([s, w]) => [s, statusesOf(w)]));
    expect(statusSets['0001']).toEqual(['failed']);
    expect(statusSets['0002']!.sort()).toEqual(['failed', 'sent']);
    expect(statusSets['0005']!.sort()).toEqual(['read', 'sent']);
    expect(statusSets['0006']!.sort()).toEqual(['delivered', 'read', 'read', 'sent']);
    expect(statusSets['0010']).toEqual(['sent']);
    expect(statusSets['0011']!.sort()).toEqual(['delivered', 'sent']);
    for (const suffix of ['0003', '0004', '0007', '0008', '0009', '0012']) expect(statusSets[suffix]!.sort()).toEqual(['delivered', 'read', 'sent']);
    const failures = receiver.statuses().filter((s) => s.status === 'failed');
    expect(failures.map((s) => s.errors[0].code).sort()).toEqual([131026, 131049]);
    expect(failures[0].errors[0]).toMatchObject({ title: expect.any(String), message: expect.any(String), error_data: { details: expect.any(String) } });
    const readOnly = receiver.statuses().find((s) => s.id === wamids['0005'] && s.status === 'read');
    expect(readOnly.pricing).toBeDefined();

    const messages = receiver.messages();
    const from = (suffix: string) => messages.filter((m) => m.from === `1650555${suffix}`);
    expect(from('0003')).toEqual([expect.objectContaining({ type: 'text', text: { body: 'STOP' } })]);
    expect(from('0003')[0].context).toBeUndefined();
    expect(from('0004')[0]).toMatchObject({ type: 'button', button: { payload: 'OPT_OUT', text: 'Stop promotions' }, context: { id: wamids['0004'], from: '15550783881' } });
    expect(from('0007')[0]).toMatchObject({ type: 'text', text: { body: QUOTING_REPLY }, context: { id: wamids['0007'] } });
    expect(from('0008')[0].context).toBeUndefined();
    expect(from('0008')[0].id).toMatch(/^wamid\./);
    const contacts = receiver.changes().flatMap((c) => c.value.contacts ?? []);
    // Since April 2026 every contact also carries the business-scoped user id.
    expect(contacts).toContainEqual({ profile: { name: expect.any(String) }, wa_id: '16505550007', user_id: expect.stringMatching(/^US\.\d{20}$/) });

    const preferences = receiver.changes().filter((c) => c.field === 'user_preferences').flatMap((c) => c.value.user_preferences);
    expect(preferences).toEqual([
      {
        wa_id: '16505550009',
        user_id: expect.stringMatching(/^US\./),
        detail: expect.any(String),
        category: 'marketing_messages',
        value: 'stop',
        timestamp: expect.any(Number),
      },
    ]);

    // After a marketing stop, Meta accepts marketing sends and fails them with 131050.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const later = await sendAfterPairInterval('+1 650 555 0009');
    await sim.idle();
    expect(receiver.statuses().filter((s) => s.id === later).map((s) => [s.status, s.errors?.[0].code])).toEqual([['failed', 131050]]);
  });

  it('signs the escaped-unicode form while sending raw UTF-8 with escaped slashes, as Meta does', async () => {
    await start();
    await send('+1 650 555 0007');
    await sim.idle();
    const withReply = receiver.posts.find((p) => p.raw.includes('😍'))!;
    expect(withReply.raw).toContain('São Paulo 24\\/7');
    expect(withReply.isSignedEscaped).toBe(true);
    expect(withReply.isSignedRaw).toBe(false);
    expect(receiver.posts.every((p) => p.isSignedEscaped)).toBe(true);
  });

  it('signs the raw bytes in raw signature mode', async () => {
    await start({ signatureMode: 'raw' });
    await send('+1 650 555 0007');
    await sim.idle();
    const withReply = receiver.posts.find((p) => p.raw.includes('😍'))!;
    expect(withReply.isSignedRaw).toBe(true);
    expect(withReply.isSignedEscaped).toBe(false);
  });
});

describe('delivery', () => {
  it('batches many statuses per POST, never more than maxBatchSize, across entries and changes', async () => {
    await start({ outcomes: { deliveredRate: 1, readRate: 1, replyRate: 0 }, webhooks: { batchWindowMs: 100, maxBatchSize: 25 } });
    const wamids = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`+49 151 2345 ${String(6000 + i)}`)));
    await sim.idle();
    expect(receiver.statuses()).toHaveLength(120);
    expect(new Set(receiver.statuses().map((s) => s.id))).toEqual(new Set(wamids));
    const perPost = receiver.posts.map((p) => p.payload.entry.flatMap((e: any) => e.changes).flatMap((c: any) => c.value.statuses ?? []).length);
    expect(Math.max(...perPost)).toBeLessThanOrEqual(25);
    expect(receiver.posts.length).toBeLessThan(20);
    const multiChange = receiver.posts.some((p) => p.payload.entry.length > 1 || p.payload.entry[0].changes.length > 1);
    expect(multiChange).toBe(true);
    expect(sim.stats().webhooks).toMatchObject({ eventsDelivered: 120, eventsPending: 0 });
  });

  it('keeps events while the receiver is down and delivers them once it is back', async () => {
    const probe = new Receiver();
    const url = await probe.start();
    await probe.stop();
    const port = Number(new URL(url).port);
    await start({ outcomes: { deliveredRate: 1, readRate: 0 }, webhooks: { batchWindowMs: 10, retryInitialMs: 50, retryMaxMs: 200 } }, port);
    const wamids = [await send('+1 650 555 7001'), await send('+1 650 555 7002')];
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sim.stats().webhooks.postsFailed).toBeGreaterThan(0);
    expect(sim.stats().webhooks.eventsPending).toBe(4);
    await receiver.start(port);
    await sim.idle(5000);
    expect(receiver.statuses().map((s) => `${s.id}:${s.status}`).sort()).toEqual(
      wamids.flatMap((w) => [`${w}:delivered`, `${w}:sent`]).sort(),
    );
  });

  it('retries a receiver answering non-200 with the same signed body until it answers 200', async () => {
    await start({ outcomes: { deliveredRate: 0 }, webhooks: { batchWindowMs: 5, retryInitialMs: 30, retryMaxMs: 60 } });
    receiver.status = 500;
    const wamid = await send('+1 650 555 7003');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.posts.length).toBeGreaterThan(2);
    expect(new Set(receiver.posts.map((p) => p.raw)).size).toBe(1);
    receiver.status = 200;
    await sim.idle(3000);
    expect(statusesOf(wamid).every((s) => s === 'sent')).toBe(true);
    expect(sim.stats().webhooks.eventsDelivered).toBe(1);
  });

  it('sends events not yet due to the webhookUrl the number has when they fall due', async () => {
    await start({ outcomes: { deliveredRate: 0 }, delays: { sentMs: 100 } });
    const second = new Receiver();
    const wamid = await send('+1 650 555 7005');
    sim.updateNumber(number.phoneNumberId, { webhookUrl: await second.start() });
    await sim.idle(3000);
    expect(receiver.posts).toHaveLength(0);
    expect(second.statuses().map((s) => [s.id, s.status])).toEqual([[wamid, 'sent']]);
    await second.stop();
  });

  it('drops a connection after acceptance but still sends that message\'s webhooks', async () => {
    await start({ faults: { dropAfterAcceptRate: 1 }, outcomes: { deliveredRate: 0 } });
    await expect(send('+1 650 555 7004')).rejects.toThrow();
    await sim.idle();
    const [entry] = sim.ledger.entries();
    expect(statusesOf(entry!.wamid)).toEqual(['sent']);
    expect(receiver.statuses()[0].biz_opaque_callback_data).toBe('row/+1 650 555 7004');
  });

  it('emits inbound texts and preference changes on demand', async () => {
    await start();
    sim.emitInboundText(number.phoneNumberId, '16505559999', 'Olá 👋', { contextWamid: 'wamid.X' });
    sim.emitUserPreference(number.phoneNumberId, '16505559999', 'resume');
    await sim.idle();
    expect(receiver.messages()).toEqual([
      expect.objectContaining({ from: '16505559999', type: 'text', text: { body: 'Olá 👋' }, context: { from: '15550783881', id: 'wamid.X' } }),
    ]);
    expect(receiver.changes().some((c) => c.field === 'user_preferences')).toBe(true);
  });
});

describe('outcome rates', () => {
  const delays = { sentMs: 1, deliveredMs: 2, readMs: 3, replyMs: 4 };
  const input = (waId: string) => ({ phoneNumberId: 'p', waId, bizOpaqueCallbackData: 'row', category: 'utility', quickReplyPayloads: [], hasStoppedMarketing: false });

  it('draws the same outcome for the same recipient on every run, and roughly the configured shares', () => {
    const options = { deliveredRate: 0.8, readRate: 0.5, replyRate: 0.1, seed: 3 };
    const plans = Array.from({ length: 2000 }, (_, i) => planOutcome(input(`4915100${String(20000 + i)}`), options, delays));
    const again = Array.from({ length: 2000 }, (_, i) => planOutcome(input(`4915100${String(20000 + i)}`), options, delays));
    expect(again).toEqual(plans);
    const delivered = plans.filter((p) => p.some((s) => s.kind === 'status' && s.status === 'delivered')).length;
    const read = plans.filter((p) => p.some((s) => s.kind === 'status' && s.status === 'read')).length;
    expect(delivered / 2000).toBeGreaterThan(0.75);
    expect(delivered / 2000).toBeLessThan(0.85);
    expect(read / delivered).toBeGreaterThan(0.44);
    expect(read / delivered).toBeLessThan(0.56);
  });
});

/** A second send to a recipient needs the pair interval to pass; this test simulator uses a short one. */
async function sendAfterPairInterval(to: string): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 60));
  return send(to);
}
