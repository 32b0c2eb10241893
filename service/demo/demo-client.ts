// The demo's HTTP client for the service's v1 API (API.md), the calls the add-on makes, over fetch. Types come from
// the add-on's wire contract so the demo speaks exactly what the add-on speaks; nothing here knows about CSV.
import type {
  Campaign, CampaignState, CreateCampaignRequest, MessageItem, MessagesPage, RowUpload, RowsResult, Template,
} from '../../addon/core/service-contract';

/** `GET /v1/campaigns/:id` plus the service's documented extra: why a campaign paused itself. */
export type CampaignView = Campaign & { stateReason?: { code: string; message: string } | null };

/** A 4xx/5xx answer, with the service's error code and message. */
export class ServiceCallError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ServiceCallError';
  }
}

/** Tries per request when the service answers 429. */
const MAX_ATTEMPTS = 5;

export class DemoClient {
  constructor(private readonly baseUrl: string, private readonly apiKey: string) {}

  async templates(): Promise<Template[]> {
    return (await this.call<{ templates: Template[] }>('GET', '/v1/templates')).templates;
  }

  /** Puts a number on the account's opt-out list (idempotent). */
  async addSuppression(to: string): Promise<string> {
    return (await this.call<{ to: string }>('POST', '/v1/suppressions', { to })).to;
  }

  async suppressionCount(): Promise<number> {
    return (await this.call<{ suppressions: unknown[] }>('GET', '/v1/suppressions')).suppressions.length;
  }

  createCampaign(request: CreateCampaignRequest): Promise<{ id: string; state: CampaignState }> {
    return this.call('POST', '/v1/campaigns', request);
  }

  /** One request; the caller keeps it to at most 5,000 rows (API.md). */
  uploadRows(campaignId: string, rows: readonly RowUpload[]): Promise<RowsResult> {
    return this.call('POST', `/v1/campaigns/${encodeURIComponent(campaignId)}/rows`, { rows });
  }

  setState(campaignId: string, command: 'start' | 'cancel'): Promise<{ state: CampaignState }> {
    return this.call('POST', `/v1/campaigns/${encodeURIComponent(campaignId)}/${command}`);
  }

  campaign(campaignId: string): Promise<CampaignView> {
    return this.call('GET', `/v1/campaigns/${encodeURIComponent(campaignId)}`);
  }

  messages(campaignId: string, after: string | null, limit: number): Promise<MessagesPage> {
    const query = new URLSearchParams({ limit: String(limit), ...(after === null ? {} : { after }) });
    return this.call('GET', `/v1/campaigns/${encodeURIComponent(campaignId)}/messages?${query}`);
  }

  /** Every change of the campaign, oldest first, following `next` until a short page. */
  async allMessages(campaignId: string, pageSize = 5000): Promise<MessageItem[]> {
    const items: MessageItem[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page = await this.messages(campaignId, cursor, pageSize);
      items.push(...page.items);
      if (page.next !== null) cursor = page.next;
      if (page.items.length < pageSize || page.next === null) return items;
    }
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: Response;
    // A 429 (the per-account rate limit) is refused before the body is read, so the same request can be sent again.
    for (let attempt = 1; ; attempt += 1) {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (response.status !== 429 || attempt >= MAX_ATTEMPTS) break;
      await response.arrayBuffer();
      const retryAfterS = Number(response.headers.get('retry-after'));
      await new Promise((resolve) => setTimeout(resolve, Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : 1000));
    }
    const text = await response.text();
    if (!response.ok) {
      let code = 'http_error';
      let message = text;
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // Not the service's JSON error body (a proxy page, say): keep the raw text as the message.
      }
      throw new ServiceCallError(response.status, code, `${method} ${path.split('?')[0]}: ${message} (${code})`);
    }
    return JSON.parse(text) as T;
  }
}
