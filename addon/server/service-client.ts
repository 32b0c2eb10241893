// The add-on's HTTP edge and the only file that touches UrlFetchApp: typed calls to the service (API.md) plus the
// raw transport sheet-io uses for one Sheets API read. Every call sets muteHttpExceptions and switches on status.
import { AddonError } from '../core/addon-error';
import { fetchExceptionFor, serviceErrorFor, unreachable } from '../core/error-messages';
import type {
  Account, Campaign, CampaignState, CreateCampaignRequest, MessagesPage, PreviewRequest, PreviewResponse,
  RowUpload, RowsResult, Template, TestSendRequest, TestSendResult,
} from '../core/service-contract';

export interface HttpRequest {
  url: string;
  method: 'get' | 'post' | 'delete';
  headers?: Record<string, string>;
  /** JSON body, already serialised. */
  payload?: string;
}

export interface HttpResult {
  status: number;
  text: string;
}

/**
 * Sends the requests in parallel with one UrlFetchApp.fetchAll (one request: fetch). Throws an AddonError when
 * Apps Script itself fails (unreachable host, daily quota); HTTP error statuses come back as results.
 */
export function sendRaw(requests: readonly HttpRequest[], labelForErrors: string): HttpResult[] {
  const params = requests.map((r) => ({
    url: r.url,
    method: r.method,
    contentType: 'application/json',
    headers: r.headers ?? {},
    muteHttpExceptions: true,
    followRedirects: true,
    ...(r.payload === undefined ? {} : { payload: r.payload }),
  }));
  try {
    const responses = params.length === 1
      ? [UrlFetchApp.fetch(params[0]!.url, params[0] as GoogleAppsScript.URL_Fetch.URLFetchRequestOptions)]
      : UrlFetchApp.fetchAll(params as GoogleAppsScript.URL_Fetch.URLFetchRequest[]);
    return responses.map((res) => ({ status: res.getResponseCode(), text: res.getContentText() }));
  } catch (error) {
    throw fetchExceptionFor(error, labelForErrors);
  }
}

/** Where the service is and how to authenticate; both come from the user's settings. */
export interface ServiceSettings {
  serviceUrl: string;
  apiKey: string;
}

/** Normalises a typed service URL: trims, drops trailing slashes and a pasted `/v1` suffix. */
export function normaliseServiceUrl(url: string): string {
  return url.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** Typed client for the service's v1 API. Methods throw AddonError with words a marketer can act on. */
export class ServiceClient {
  private readonly base: string;
  constructor(private readonly settings: ServiceSettings) {
    this.base = normaliseServiceUrl(settings.serviceUrl);
  }

  account(): Account {
    return this.call<Account>('get', '/v1/account');
  }

  templates(): Template[] {
    return this.call<{ templates: Template[] }>('get', '/v1/templates').templates;
  }

  createCampaign(request: CreateCampaignRequest): { id: string; state: CampaignState } {
    return this.call('post', '/v1/campaigns', request);
  }

  /**
   * Posts each chunk (≤ 5,000 rows) as its own request, all in one fetchAll. Returns per chunk either its result or
   * the AddonError it failed with, so chunks that went through are counted even when another failed.
   */
  uploadRows(campaignId: string, chunks: readonly RowUpload[][]): (RowsResult | AddonError)[] {
    const path = `/v1/campaigns/${encodeURIComponent(campaignId)}/rows`;
    const results = sendRaw(chunks.map((rows) => this.request('post', path, { rows })), this.base);
    return results.map((r) => {
      try {
        return this.parse<RowsResult>(r);
      } catch (error) {
        if (error instanceof AddonError) return error;
        throw error;
      }
    });
  }

  setState(campaignId: string, action: 'start' | 'pause' | 'resume' | 'cancel'): CampaignState {
    return this.call<{ state: CampaignState }>('post', `/v1/campaigns/${encodeURIComponent(campaignId)}/${action}`, {}).state;
  }

  campaign(campaignId: string): Campaign {
    return this.call('get', `/v1/campaigns/${encodeURIComponent(campaignId)}`);
  }

  /** One page of changes after `after` (null: from the beginning). */
  messages(campaignId: string, after: string | null, limit: number): MessagesPage {
    const query = `limit=${limit}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    return this.call('get', `/v1/campaigns/${encodeURIComponent(campaignId)}/messages?${query}`);
  }

  /** Previews each chunk as its own request, in one fetchAll; answers in chunk order. */
  preview(requests: readonly PreviewRequest[]): PreviewResponse[] {
    const results = sendRaw(requests.map((body) => this.request('post', '/v1/preview', body)), this.base);
    return results.map((r) => this.parse<PreviewResponse>(r));
  }

  testSend(request: TestSendRequest): TestSendResult {
    return this.call('post', '/v1/test-send', request);
  }

  /** The account's opt-out list as numbers; an older service without the route answers an empty list. */
  suppressions(): string[] {
    const [r] = sendRaw([this.request('get', '/v1/suppressions')], this.base);
    if (r!.status === 404) return [];
    const body = this.parse<{ suppressions?: (string | { to?: string })[] }>(r!);
    return (body.suppressions ?? []).map((s) => (typeof s === 'string' ? s : s.to ?? '')).filter((s) => s !== '');
  }

  private call<T>(method: HttpRequest['method'], path: string, body?: unknown): T {
    const [result] = sendRaw([this.request(method, path, body)], this.base);
    return this.parse<T>(result!);
  }

  private request(method: HttpRequest['method'], path: string, body?: unknown): HttpRequest {
    return {
      url: this.base + path,
      method,
      headers: { Authorization: `Bearer ${this.settings.apiKey}`, Accept: 'application/json' },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    };
  }

  private parse<T>(result: HttpResult): T {
    let body: unknown = null;
    try {
      body = result.text === '' ? null : JSON.parse(result.text);
    } catch {
      body = null;
    }
    switch (true) {
      case result.status >= 200 && result.status < 300:
        // A 2xx that is not JSON is a captive portal or a proxy page, not the service.
        if (body === null && result.text !== '') throw unreachable(this.base, 'the address answered, but not like the service');
        return body as T;
      default:
        throw serviceErrorFor(result.status, body, this.base);
    }
  }
}
