// An in-memory stand-in for the service's v1 API (API.md), plugged into the UrlFetchApp fake as a handler, for
// server unit tests that must not depend on the real service. The end-to-end test uses the real one. Test-only.
import type { FetchReply, FetchRequest } from '../../../devtools/apps-script/fake-url-fetch-app';
import type { MessageItem, RowUpload, Template } from '../../../addon/core/service-contract';

interface StubMessage extends MessageItem {
  seq: number;
}

interface StubCampaign {
  id: string;
  name: string;
  state: string;
  template: { name: string; language: string };
  sendAt: string | null;
  sheet: unknown;
  messages: Map<string, StubMessage>;
  recipients: Set<string>;
  createdAt: string;
}

export const STUB_URL = 'https://stub.example.com';
export const STUB_KEY = 'key_test_1234';

export const STUB_TEMPLATES: Template[] = [
  {
    name: 'order_update', language: 'en', category: 'UTILITY', status: 'APPROVED', parameterFormat: 'positional',
    parameters: [{ key: '1', component: 'body', example: 'Alice' }, { key: '2', component: 'body', example: 'A-17' }],
  },
  {
    name: 'promo_image', language: 'en', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'named', headerFormat: 'image',
    parameters: [{ key: 'first_name', component: 'body', example: 'Alice' }],
  },
];

export class StubService {
  readonly campaigns = new Map<string, StubCampaign>();
  readonly suppressed = new Set<string>();
  /** Every row post, for "never sent twice" assertions. */
  readonly posts: { campaignId: string; keys: string[] }[] = [];
  /** Set to make the next requests answer this status (e.g. 429), per path fragment. */
  failures: { path: string; status: number; code: string; message: string }[] = [];
  onRowsPosted: (() => void) | null = null;
  /** `GET /v1/account` `health` (API.md "Account health"): set it to play Meta's restrictions and quality flags. */
  health: unknown = { quality: null, messagingLimit: null, restriction: null, events: [] };
  private seq = 0;
  private nextId = 1;

  handler = (r: FetchRequest): FetchReply | null => {
    if (!r.url.startsWith(STUB_URL)) return null;
    const url = new URL(r.url);
    const path = url.pathname;
    const failure = this.failures.find((f) => path.includes(f.path));
    if (failure) return this.error(failure.status, failure.code, failure.message);
    if (r.headers.Authorization !== `Bearer ${STUB_KEY}`) return this.error(401, 'unauthorized', 'Missing or unknown API key.');
    const body = r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : {};
    const route = `${r.method} ${path}`;
    let m: RegExpExecArray | null;
    if (route === 'GET /v1/account') {
      return this.ok({ id: 'acc_1', name: 'Acme', sandbox: true, phoneNumberId: 'pn', messagesPerSecond: 20, dailyLimit: 1000, defaultCountry: 'US', webhookUrl: 'x', serviceAccountEmail: 'writer@svc.iam.gserviceaccount.com', health: this.health });
    }
    if (route === 'GET /v1/templates') return this.ok({ templates: STUB_TEMPLATES });
    if (route === 'GET /v1/suppressions') return this.ok({ suppressions: [...this.suppressed].map((to) => ({ to })) });
    if (route === 'POST /v1/campaigns') {
      const id = `cmp_${this.nextId++}`;
      this.campaigns.set(id, {
        id, name: String(body.name), state: 'draft', template: body.template as StubCampaign['template'],
        sendAt: (body.sendAt as string) ?? null, sheet: body.sheet, messages: new Map(), recipients: new Set(), createdAt: new Date().toISOString(),
      });
      return this.ok({ id, state: 'draft' }, 201);
    }
    if (route === 'POST /v1/preview') {
      const rows = (body.rows as RowUpload[]).map((row) => {
        const to = normalise(row.to);
        const bad = this.paramProblem(body.template as StubCampaign['template'], row);
        if (to === null) return { key: row.key, to: row.to, ok: false, error: { code: 'invalid_phone', message: 'Not a phone number.' }, text: '' };
        if (bad) return { key: row.key, to, ok: false, error: { code: 'template_params', message: bad }, text: '' };
        return { key: row.key, to, ok: true, text: `Hi *${Object.values(row.params)[0] ?? ''}*, update on ${Object.values(row.params)[1] ?? ''}` };
      });
      return this.ok({ rows });
    }
    if (route === 'POST /v1/test-send') return this.ok({ status: 'sent', wamid: 'wamid.test' });
    if ((m = /^\/v1\/campaigns\/([^/]+)(?:\/(\w+))?$/.exec(path))) {
      const c = this.campaigns.get(m[1]!);
      if (!c) return this.error(404, 'not_found', 'No such campaign.');
      const action = m[2];
      if (r.method === 'GET' && !action) return this.ok(this.view(c));
      if (r.method === 'GET' && action === 'messages') return this.ok(this.page(c, url.searchParams.get('after'), Number(url.searchParams.get('limit') ?? 100)));
      if (r.method === 'POST' && action === 'rows') return this.ok(this.addRows(c, body.rows as RowUpload[]));
      if (r.method === 'POST' && action === 'start') {
        if (c.state !== 'draft') return this.error(409, 'invalid_state', 'Already started.');
        c.state = c.sendAt && Date.parse(c.sendAt) > Date.now() ? 'scheduled' : 'running';
        return this.ok({ state: c.state });
      }
      if (r.method === 'POST' && (action === 'pause' || action === 'resume' || action === 'cancel')) {
        c.state = action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'cancelled';
        return this.ok({ state: c.state });
      }
    }
    return this.error(404, 'not_found', `No route ${route}`);
  };

  /** Moves messages of a campaign on, as the Cloud API's webhooks would. */
  advance(campaignId: string, decide: (m: StubMessage, index: number) => Partial<Pick<StubMessage, 'status' | 'reply' | 'error'>> | null): void {
    const c = this.campaigns.get(campaignId)!;
    [...c.messages.values()].forEach((msg, i) => {
      const change = decide(msg, i);
      if (!change) return;
      Object.assign(msg, change);
      if (change.status && change.status !== 'failed') msg.wamid ??= `wamid.${msg.key}`;
      msg.updatedAt = new Date(Date.now() + this.seq).toISOString();
      msg.seq = ++this.seq;
    });
  }

  messagesOf(campaignId: string): StubMessage[] {
    return [...this.campaigns.get(campaignId)!.messages.values()];
  }

  private addRows(c: StubCampaign, rows: RowUpload[]) {
    this.posts.push({ campaignId: c.id, keys: rows.map((r) => r.key) });
    if (rows.length > 5000) return { accepted: 0, duplicates: 0, rejected: [] };
    let accepted = 0;
    let duplicates = 0;
    const rejected: { key: string; code: string; message: string }[] = [];
    for (const row of rows) {
      if (c.messages.has(row.key)) {
        duplicates += 1;
        continue;
      }
      const to = normalise(row.to);
      if (to === null) {
        rejected.push({ key: row.key, code: 'invalid_phone', message: 'Not a phone number' });
        continue;
      }
      if (c.recipients.has(to)) {
        rejected.push({ key: row.key, code: 'duplicate_recipient', message: 'Same number on an earlier row' });
        continue;
      }
      c.recipients.add(to);
      c.messages.set(row.key, {
        key: row.key, to, status: this.suppressed.has(to) ? 'skipped' : 'queued', wamid: null, error: null, reply: null,
        updatedAt: new Date().toISOString(), seq: ++this.seq,
      });
      accepted += 1;
    }
    this.onRowsPosted?.();
    return { accepted, duplicates, rejected };
  }

  private page(c: StubCampaign, after: string | null, limit: number) {
    const from = after === null ? 0 : Number(after);
    const changed = [...c.messages.values()].filter((m) => m.seq > from).sort((a, b) => a.seq - b.seq).slice(0, limit);
    const items: MessageItem[] = changed.map(({ seq: _seq, ...m }) => m);
    return { items, next: changed.length > 0 ? String(changed[changed.length - 1]!.seq) : after };
  }

  private view(c: StubCampaign) {
    const counts: Record<string, number> = {};
    for (const m of c.messages.values()) {
      counts[m.status] = (counts[m.status] ?? 0) + 1;
      if (m.reply) counts.replied = (counts.replied ?? 0) + 1;
    }
    return { id: c.id, name: c.name, state: c.state, template: c.template, sendAt: c.sendAt, createdAt: c.createdAt, finishedAt: null, counts };
  }

  private paramProblem(template: { name: string }, row: RowUpload): string | null {
    const t = STUB_TEMPLATES.find((x) => x.name === template.name);
    if (!t) return 'unknown template';
    for (const p of t.parameters) if (!(p.key in row.params) || row.params[p.key] === '') return `parameter ${p.key} is missing`;
    return null;
  }

  private ok(body: unknown, status = 200): FetchReply {
    return { status, body: JSON.stringify(body) };
  }

  private error(status: number, code: string, message: string): FetchReply {
    return { status, body: JSON.stringify({ error: { code, message } }) };
  }
}

/** E.164 with US as the default country, close enough to the service for tests. */
export function normalise(raw: string): string | null {
  const digits = raw.replace(/[^\d+]/g, '');
  if (/^\+\d{8,15}$/.test(digits)) return digits;
  if (/^\d{10}$/.test(digits)) return `+1${digits}`;
  if (/^1\d{10}$/.test(digits)) return `+${digits}`;
  return null;
}
