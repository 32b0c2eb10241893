// CloudApiMessenger against a local HTTP server standing in for Graph: what it sends, and how each kind of answer
// (or lack of one) becomes accepted, error, no_answer (in doubt) or not_sent (safe to send again).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudApiMessenger } from '../../../../service/adapters/whatsapp-cloud/cloud-api-messenger';
import { GraphEndpoint } from '../../../../service/adapters/whatsapp-cloud/graph-endpoint';
import type { SendRequest } from '../../../../service/campaigns/ports';
import { CloudApiSimulator } from '../../../../service/simulator/cloud-api-simulator';

const SENDER = { accountId: 'a1', isSandbox: false, phoneNumberId: '1234567890', accessToken: 'EAAG-token', marketingMessagesApi: false };
const REQUEST: SendRequest = {
  callbackData: 'c1.42',
  to: '+5511987654321',
  template: { name: 'order_update', language: 'en_US' },
  components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
  isMarketing: false,
  mayLeave: () => true,
};

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server | null = null;
let messenger: CloudApiMessenger | null = null;

afterEach(async () => {
  await messenger?.close();
  messenger = null;
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

/** Starts a Graph stand-in that hands each request (with its body read) to `answer`. */
async function graph(
  answer: (req: Received, res: ServerResponse) => void, timeoutMs?: number, connections?: number,
): Promise<{ received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      received.push(request);
      answer(request, res);
    });
  });
  await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', resolve));
  const { port } = (server as Server).address() as AddressInfo;
  messenger = new CloudApiMessenger({ endpoint: new GraphEndpoint(`http://127.0.0.1:${port}`, 'v23.0', 'http://unused'), timeoutMs, connections });
  return { received };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('CloudApiMessenger', () => {
  it('posts the template message with the callback data and reads the wamid of a 200', async () => {
    const { received } = await graph((_req, res) => json(res, 200, {
      messaging_product: 'whatsapp', contacts: [{ input: '+5511987654321', wa_id: '5511987654321' }],
      messages: [{ id: 'wamid.HBgLNTUxMTk4NzY1NDMyMRUCABEYEjQ=' }],
    }));
    const result = await (messenger as CloudApiMessenger).send(SENDER, REQUEST);

    expect(result).toEqual({ kind: 'accepted', wamid: 'wamid.HBgLNTUxMTk4NzY1NDMyMRUCABEYEjQ=' });
    expect(received).toHaveLength(1);
    const [request] = received as [Received];
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v23.0/1234567890/messages');
    expect(request.headers.authorization).toBe('Bearer EAAG-token');
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({
      messaging_product: 'whatsapp', recipient_type: 'individual', to: '+5511987654321', type: 'template',
      template: { name: 'order_update', language: { code: 'en_US' }, components: REQUEST.components },
      biz_opaque_callback_data: 'c1.42',
    });
  });

  it('reads an answer that arrives in several pieces, a multi-byte character split between them', async () => {
    await graph((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      const body = Buffer.from(JSON.stringify({ error: { code: 132000, message: 'Número de parâmetros', type: 'OAuthException' } }));
      const split = body.indexOf(Buffer.from('ú')) + 1;
      res.write(body.subarray(0, split));
      setTimeout(() => res.end(body.subarray(split)), 20);
    });
    const result = await (messenger as CloudApiMessenger).send(SENDER, REQUEST);

    expect(result).toEqual({ kind: 'error', httpStatus: 400, code: 132000, message: 'Número de parâmetros' });
  });

  it("returns Meta's code and details for a refused message", async () => {
    await graph((_req, res) => json(res, 400, {
      error: { message: '(#131026) Message undeliverable', type: 'OAuthException', code: 131026, error_data: { details: 'Receiver is incapable of receiving this message' } },
    }));

    expect(await (messenger as CloudApiMessenger).send(SENDER, REQUEST)).toEqual({
      kind: 'error', httpStatus: 400, code: 131026, message: 'Receiver is incapable of receiving this message',
    });
  });

  it('treats a gateway error without a Graph body as in doubt: Meta may have the message', async () => {
    await graph((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });

    expect((await (messenger as CloudApiMessenger).send(SENDER, REQUEST)).kind).toBe('no_answer');
  });

  it('treats a connection dropped after the request was read as in doubt, never as not sent', async () => {
    await graph((req, res) => res.socket?.destroy());

    expect((await (messenger as CloudApiMessenger).send(SENDER, REQUEST)).kind).toBe('no_answer');
  });

  it('treats a 200 whose body breaks off as in doubt', async () => {
    await graph((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
      res.write('{"messaging_product":"whatsapp","messages":[{"id":"wamid.');
      setTimeout(() => res.socket?.destroy(), 20);
    });

    expect((await (messenger as CloudApiMessenger).send(SENDER, REQUEST)).kind).toBe('no_answer');
  });

  it('gives up after its timeout and calls the send in doubt', async () => {
    await graph(() => { /* never answers */ }, 200);

    const result = await (messenger as CloudApiMessenger).send(SENDER, REQUEST);
    expect(result.kind).toBe('no_answer');
  });

  it('withholds a request whose mayLeave turns false while its connection opens: nothing reaches the server', async () => {
    const { received } = await graph((_req, res) => json(res, 200, { messages: [{ id: 'wamid.A' }] }));
    let mayLeave = true;
    const pending = (messenger as CloudApiMessenger).send(SENDER, { ...REQUEST, mayLeave: () => mayLeave });
    // The sender froze after the launch, before the connection was open, and woke past its lease deadline.
    mayLeave = false;

    expect(await pending).toEqual({ kind: 'withheld' });
    expect((await (messenger as CloudApiMessenger).send(SENDER, REQUEST)).kind).toBe('accepted');
    expect(received).toHaveLength(1);
  });

  it('withholds a request that waited for a free socket and may no longer leave when one frees', async () => {
    const { received } = await graph((_req, res) => setTimeout(() => json(res, 200, { messages: [{ id: 'wamid.A' }] }), 50), undefined, 1);
    const first = (messenger as CloudApiMessenger).send(SENDER, REQUEST);
    let mayLeave = true;
    const second = (messenger as CloudApiMessenger).send(SENDER, { ...REQUEST, callbackData: 'c1.43', mayLeave: () => mayLeave });
    mayLeave = false;

    expect(await first).toEqual({ kind: 'accepted', wamid: 'wamid.A' });
    expect(await second).toEqual({ kind: 'withheld' });
    expect(received.map((r) => JSON.parse(r.body).biz_opaque_callback_data)).toEqual(['c1.42']);
  });

  it('says not_sent when nothing listens: the request never left, so sending again is safe', async () => {
    await graph((_req, res) => json(res, 200, {}));
    const { port } = (server as Server).address() as AddressInfo;
    await new Promise<void>((resolve) => (server as Server).close(() => resolve()));
    server = null;
    await (messenger as CloudApiMessenger).close();
    messenger = new CloudApiMessenger({ endpoint: new GraphEndpoint(`http://127.0.0.1:${port}`, 'v23.0', 'http://unused') });

    const result = await messenger.send(SENDER, REQUEST);
    expect(result.kind).toBe('not_sent');
  });
});

describe('CloudApiMessenger routing by category (Marketing Messages API, CLOUD_API.md §13), against the simulator', () => {
  const number = {
    phoneNumberId: '106540352242922', wabaId: '102290129340398', accessToken: 'sim-token', appSecret: 's',
    // Status webhooks go nowhere useful here: a port nothing listens on (the dispatcher gives up at close).
    webhookUrl: 'http://127.0.0.1:9/hook',
  };
  const sender = { accountId: 'a1', isSandbox: false, phoneNumberId: number.phoneNumberId, accessToken: number.accessToken };
  const summerSale: SendRequest = {
    callbackData: 'c1.1', to: '+447700900101', template: { name: 'summer_sale', language: 'en_US' }, isMarketing: true, mayLeave: () => true,
    components: [
      { type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '25%' }] },
      { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'SUMMER25' }] },
    ],
  };
  const helloWorld: SendRequest = {
    callbackData: 'c1.2', to: '+447700900102', template: { name: 'hello_world', language: 'en_US' }, components: [], isMarketing: false,
    mayLeave: () => true,
  };
  let sim: CloudApiSimulator | null = null;

  afterEach(async () => {
    await sim?.close();
    sim = null;
  });

  async function start(patch: { marketingOnMessagesDisabled?: boolean } = {}): Promise<CloudApiSimulator> {
    sim = new CloudApiSimulator({ numbers: [{ ...number, ...patch }], webhooks: { batchWindowMs: 5, retryMaxMs: 10 } });
    const url = await sim.listen();
    messenger = new CloudApiMessenger({ endpoint: new GraphEndpoint(url, 'v23.0', 'http://unused') });
    return sim;
  }

  it('sends a marketing template through /marketing_messages when the option is on, a utility one through /messages', async () => {
    const simulator = await start();
    const on = { ...sender, marketingMessagesApi: true };
    expect((await (messenger as CloudApiMessenger).send(on, summerSale)).kind).toBe('accepted');
    expect((await (messenger as CloudApiMessenger).send(on, helloWorld)).kind).toBe('accepted');
    expect(simulator.ledger.entries().map((e) => [e.templateName, e.endpoint])).toEqual([
      ['summer_sale', 'marketing_messages'], ['hello_world', 'messages'],
    ]);
  });

  it('sends everything through /messages when the option is off; there 131063 comes back once marketing is off', async () => {
    const simulator = await start({ marketingOnMessagesDisabled: true });
    const off = { ...sender, marketingMessagesApi: false };
    expect(await (messenger as CloudApiMessenger).send(off, summerSale)).toMatchObject({ kind: 'error', code: 131063 });
    expect((await (messenger as CloudApiMessenger).send(off, helloWorld)).kind).toBe('accepted');
    expect((await (messenger as CloudApiMessenger).send({ ...off, marketingMessagesApi: true }, summerSale)).kind).toBe('accepted');
    expect(simulator.ledger.entries().map((e) => [e.templateName, e.endpoint])).toEqual([
      ['hello_world', 'messages'], ['summer_sale', 'marketing_messages'],
    ]);
  });
});
