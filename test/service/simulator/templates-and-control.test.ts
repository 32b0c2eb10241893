// The simulator's template list (Meta's shape and paging), its `/__sim/` control routes, and mounting the
// handler under a path prefix inside another server.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudApiSimulator } from '../../../service/simulator/cloud-api-simulator';
import type { NumberConfig } from '../../../service/simulator/cloud-api-simulator';
import type { MessageTemplate } from '../../../service/simulator/template-catalog';

const number: NumberConfig = {
  phoneNumberId: '106540352242922',
  wabaId: '102290129340398',
  accessToken: 'token-1',
  appSecret: 'secret-1',
  webhookUrl: 'http://127.0.0.1:9/webhooks',
};
const auth = { authorization: `Bearer ${number.accessToken}` };

let sim: CloudApiSimulator;
afterEach(async () => {
  await sim.close();
});

async function getJson(url: string, headers: Record<string, string> = auth): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() };
}

async function allPages(firstUrl: string): Promise<{ pages: number; data: any[] }> {
  const data: any[] = [];
  let url: string | undefined = firstUrl;
  let pages = 0;
  while (url) {
    const { status, body } = await getJson(url);
    expect(status).toBe(200);
    data.push(...body.data);
    pages++;
    url = body.paging?.next;
  }
  return { pages, data };
}

describe('GET /{version}/{waba-id}/message_templates', () => {
  it('pages through the sample catalog with cursors and a full next URL', async () => {
    sim = new CloudApiSimulator({ numbers: [number] });
    const base = await sim.listen();
    const first = await getJson(`${base}/v23.0/${number.wabaId}/message_templates`);
    expect(first.body.data).toHaveLength(25);
    expect(first.body.paging.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    expect(first.body.paging.next).toMatch(new RegExp(`^${base}/v23.0/${number.wabaId}/message_templates\\?.*after=`));
    const { pages, data } = await allPages(`${base}/v23.0/${number.wabaId}/message_templates?limit=10`);
    expect(pages).toBe(3);
    expect(data).toHaveLength(28);
    expect(new Set(data.map((t) => t.id)).size).toBe(28);
    const last = await getJson(`${base}/v23.0/${number.wabaId}/message_templates?limit=100`);
    expect(last.body.paging.next).toBeUndefined();
  });

  it('describes each template as Meta does, with examples, formats and statuses', async () => {
    sim = new CloudApiSimulator({ numbers: [number] });
    const base = await sim.listen();
    const { data } = await allPages(`${base}/v23.0/${number.wabaId}/message_templates`);
    const find = (name: string, language = 'en_US') => data.find((t) => t.name === name && t.language === language);
    const sale = find('summer_sale');
    expect(sale).toMatchObject({ status: 'APPROVED', category: 'MARKETING', parameter_format: 'POSITIONAL', id: expect.stringMatching(/^\d{15,16}$/) });
    expect(sale.components.find((c: any) => c.type === 'BODY').example.body_text).toEqual([['Maria', '25%']]);
    const buttons = sale.components.find((c: any) => c.type === 'BUTTONS').buttons;
    expect(buttons).toEqual([
      expect.objectContaining({ type: 'URL', url: 'https://shop.example.com/sale/{{1}}', example: [expect.any(String)] }),
      { type: 'QUICK_REPLY', text: 'Stop promotions' },
    ]);
    expect(find('summer_sale', 'es')).toBeDefined();
    expect(find('order_update')).toMatchObject({ parameter_format: 'NAMED', category: 'UTILITY' });
    expect(find('order_update').components[0].example.body_text_named_params.map((p: any) => p.param_name)).toEqual(['first_name', 'order_id']);
    expect(find('new_arrivals').components[0]).toMatchObject({ type: 'HEADER', format: 'IMAGE', example: { header_handle: [expect.any(String)] } });
    expect(find('appointment_reminder').components[0]).toMatchObject({ format: 'TEXT', example: { header_text: ['Maria'] } });
    expect(find('spring_preview').status).toBe('PENDING');
    expect(find('flash_deal').status).toBe('REJECTED');
  });

  it('filters by status and name, projects fields and answers 401 for a foreign token', async () => {
    sim = new CloudApiSimulator({ numbers: [number] });
    const base = await sim.listen();
    const approved = await allPages(`${base}/v23.0/${number.wabaId}/message_templates?status=APPROVED&limit=50`);
    expect(approved.data.every((t) => t.status === 'APPROVED')).toBe(true);
    expect(approved.data).toHaveLength(26);
    const byName = await getJson(`${base}/v23.0/${number.wabaId}/message_templates?name=order_update&fields=name,language,status`);
    expect(byName.body.data).toEqual([
      { name: 'order_update', language: 'en_US', status: 'APPROVED', id: expect.any(String) },
      { name: 'order_update', language: 'es', status: 'APPROVED', id: expect.any(String) },
    ]);
    const denied = await getJson(`${base}/v23.0/${number.wabaId}/message_templates`, { authorization: 'Bearer other' });
    expect(denied.status).toBe(401);
    expect(denied.body.error.code).toBe(190);
  });

  it('serves a catalog set with setTemplates and validates sends against it', async () => {
    sim = new CloudApiSimulator({ numbers: [number] });
    const base = await sim.listen();
    const only: MessageTemplate = {
      name: 'custom', language: 'de', status: 'APPROVED', category: 'UTILITY', parameter_format: 'POSITIONAL',
      components: [{ type: 'BODY', text: 'Hallo {{1}}' }],
    };
    sim.setTemplates(number.wabaId, [only]);
    const list = await getJson(`${base}/v23.0/${number.wabaId}/message_templates`);
    expect(list.body.data.map((t: any) => t.name)).toEqual(['custom']);
    expect(list.body.paging.next).toBeUndefined();
    const sendTo = (name: string) =>
      fetch(`${base}/v23.0/${number.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', to: '+4915123456789', type: 'template', template: { name, language: { code: 'de' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Jörg' }] }] } }),
      });
    expect((await sendTo('custom')).status).toBe(200);
  });
});

describe('mounting and control routes', () => {
  it('works under a basePath inside another server, with next URLs and control routes under it', async () => {
    sim = new CloudApiSimulator({ numbers: [number], basePath: '/sandbox/graph' });
    const host = createServer((req, res) => {
      if (req.url?.startsWith('/sandbox/graph/')) return sim.handle(req, res);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(host.address() as AddressInfo).port}/sandbox/graph`;
      const { pages } = await allPages(`${base}/v23.0/${number.wabaId}/message_templates?limit=20`);
      expect(pages).toBe(2);
      const response = await fetch(`${base}/v23.0/${number.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', to: '+16505551234', type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } }),
      });
      expect(response.status).toBe(200);
      expect((await getJson(`${base}/__sim/stats`, {})).body.accepted).toBe(1);
    } finally {
      host.closeAllConnections();
      await new Promise((resolve) => host.close(resolve));
    }
  });

  it('registers numbers, sets faults, reports stats and the ledger, and clears it over /__sim/', async () => {
    sim = new CloudApiSimulator();
    const base = await sim.listen();
    const post = (path: string, body?: unknown) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await post('/__sim/numbers', { ...number, messagesPerSecond: 2 })).status).toBe(201);
    const sendOne = (to: string, row: string) =>
      fetch(`${base}/v23.0/${number.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'template', biz_opaque_callback_data: row, template: { name: 'hello_world', language: { code: 'en_US' } } }),
      });
    expect((await sendOne('+16505551111', 'row-1')).status).toBe(200);
    expect((await sendOne('+16505552222', 'row-1')).status).toBe(200);
    expect((await sendOne('+16505553333', 'row-2')).status).toBe(429);

    const ledger = await getJson(`${base}/__sim/ledger`, {});
    expect(ledger.body).toEqual({ size: 2, duplicates: [{ bizOpaqueCallbackData: 'row-1', count: 2 }], countsByCallbackData: { 'row-1': 2 } });
    const list = await getJson(`${base}/__sim/ledger?list=1&limit=1&offset=1`, {});
    expect(list.body.entries).toEqual([expect.objectContaining({ to: '16505552222', templateName: 'hello_world', bizOpaqueCallbackData: 'row-1' })]);

    const stats = await getJson(`${base}/__sim/stats`, {});
    expect(stats.body).toMatchObject({
      accepted: 2,
      rejected: 1,
      rejectedByCode: { '130429': 1 },
      numbers: { [number.phoneNumberId]: { messagesPerSecond: 2, busiestWindow: 3, busiestAdmittedWindow: 2 } },
    });

    const faults = await post('/__sim/faults', { serverErrorRate: 1, seed: 1 });
    expect(((await faults.json()) as any).faults).toEqual({ serverErrorRate: 1, seed: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await sendOne('+16505554444', 'row-3')).status).toBeGreaterThanOrEqual(500);
    await post('/__sim/faults', {});

    expect((await post('/__sim/ledger/clear')).status).toBe(200);
    expect((await getJson(`${base}/__sim/ledger`, {})).body.size).toBe(0);
    expect((await post('/__sim/webhooks/idle?timeoutMs=50')).status).toBe(504);
    expect((await getJson(`${base}/__sim/nope`, {})).status).toBe(404);
  });

  it('hides the control routes when exposeControlRoutes is false', async () => {
    sim = new CloudApiSimulator({ numbers: [number], exposeControlRoutes: false });
    const base = await sim.listen();
    const { status, body } = await getJson(`${base}/__sim/stats`, {});
    expect(status).toBe(400);
    expect(body.error.code).toBe(100);
  });
});

describe('standalone entry', () => {
  it('listens on SIMULATOR_PORT, prints its URL as one JSON line and serves the control routes', { timeout: 10_000 }, async () => {
    sim = new CloudApiSimulator();
    // Inside the repository, so the bundle's external packages resolve from its node_modules.
    mkdirSync('node_modules/.cache', { recursive: true });
    const dir = mkdtempSync(join(process.cwd(), 'node_modules/.cache/simulator-main-'));
    await build({ entryPoints: ['service/simulator-main.ts'], outfile: join(dir, 'main.js'), bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'warning' });
    const child = spawn(process.execPath, [join(dir, 'main.js')], { env: { ...process.env, SIMULATOR_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`simulator exited with ${String(code)}`)));
      const [line] = (await Promise.race([once(createInterface({ input: child.stdout! }), 'line'), exited])) as [string];
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const register = await fetch(`${url}/__sim/numbers`, { method: 'POST', body: JSON.stringify(number) });
      expect(register.status).toBe(201);
      expect((await getJson(`${url}/v23.0/${number.wabaId}/message_templates?limit=1`)).body.data).toHaveLength(1);
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('template list for a WABA with no registered number', () => {
  it('registers the number the resolver names, and refuses a WABA the resolver does not know', async () => {
    const asked: string[] = [];
    const simulator = new CloudApiSimulator({
      resolveUnknownWaba: (wabaId) => {
        asked.push(wabaId);
        return wabaId === 'waba-lazy'
          ? { phoneNumberId: 'pn-lazy', wabaId, accessToken: 'tok-lazy', appSecret: 's', webhookUrl: 'http://127.0.0.1:9/none' }
          : undefined;
      },
    });
    const url = await simulator.listen(0);
    try {
      const known = await fetch(`${url}/v23.0/waba-lazy/message_templates`, { headers: { authorization: 'Bearer tok-lazy' } });
      expect(known.status).toBe(200);
      expect(((await known.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
      expect(simulator.getNumber('pn-lazy')?.wabaId).toBe('waba-lazy');
      const unknown = await fetch(`${url}/v23.0/waba-other/message_templates`, { headers: { authorization: 'Bearer tok-lazy' } });
      expect(unknown.status).toBe(400);
      expect(asked).toEqual(['waba-lazy', 'waba-other']);
    } finally {
      await simulator.close();
    }
  });
});
