// UrlFetchApp for tests: real HTTP (through SyncHttp) to a real service, or an in-process handler for unit tests.
// Mirrors Apps Script's behaviour the add-on relies on: muteHttpExceptions, an exception for unreachable hosts, the
// urlFetchWhitelist check, fetchAll in request order. Counts calls and keeps a request log. Shared by the tests and the
// playground (devtools/playground); never bundled into the add-on.
import type { CallCounter } from './call-counter';
import { SyncHttp } from './sync-http';

export interface FetchRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  payload?: string;
}

export interface FetchReply {
  status: number;
  body: string;
}

/** Answers a request in-process; return null to fall through to real HTTP (when enabled). */
export type FetchHandler = (request: FetchRequest) => FetchReply | null;

export class FakeHttpResponse {
  constructor(private readonly status: number, private readonly text: string, private readonly headers: Record<string, string> = {}) {}
  getResponseCode(): number { return this.status; }
  getContentText(): string { return this.text; }
  getHeaders(): Record<string, string> { return this.headers; }
  getAllHeaders(): Record<string, string> { return this.headers; }
}

interface RequestOptions {
  url?: string;
  method?: string;
  headers?: Record<string, string>;
  payload?: string;
  contentType?: string;
  muteHttpExceptions?: boolean;
}

export class FakeUrlFetchApp {
  readonly log: FetchRequest[] = [];
  /** Handlers tried in order before real HTTP. */
  readonly handlers: FetchHandler[] = [];
  /** urlFetchWhitelist prefixes; empty means no allowlist (as in a test deployment). */
  allowlist: string[] = [];
  /** Set to a string to make every fetch throw it (e.g. the daily UrlFetch quota). */
  failWith: string | null = null;
  private http: SyncHttp | null = null;

  constructor(private readonly calls: CallCounter, private readonly realHttp: boolean) {}

  fetch(url: string, options: RequestOptions = {}): FakeHttpResponse {
    this.calls.hit('UrlFetchApp.fetch');
    return this.run([{ ...options, url }])[0]!;
  }

  fetchAll(requests: (RequestOptions & { url: string })[]): FakeHttpResponse[] {
    this.calls.hit('UrlFetchApp.fetchAll');
    return this.run(requests);
  }

  /** Requests sent so far whose URL contains `part`. */
  requestsTo(part: string, method?: string): FetchRequest[] {
    return this.log.filter((r) => r.url.includes(part) && (method === undefined || r.method === method.toUpperCase()));
  }

  close(): Promise<number> | undefined {
    return this.http?.close();
  }

  private run(requests: (RequestOptions & { url: string })[]): FakeHttpResponse[] {
    if (this.failWith) throw new Error(this.failWith);
    this.calls.hit('UrlFetchApp.requests', requests.length);
    const normalised: FetchRequest[] = requests.map((r) => {
      if (this.allowlist.length > 0 && !this.allowlist.some((p) => r.url.startsWith(p))) {
        throw new Error(`Exception: Request failed because URL is not whitelisted: ${r.url}`);
      }
      const headers: Record<string, string> = { ...(r.headers ?? {}) };
      if (r.payload !== undefined) headers['Content-Type'] = r.contentType ?? 'application/x-www-form-urlencoded';
      return { url: r.url, method: (r.method ?? 'get').toUpperCase(), headers, ...(r.payload === undefined ? {} : { payload: r.payload }) };
    });
    this.log.push(...normalised);
    const out: (FakeHttpResponse | null)[] = normalised.map((r) => {
      for (const h of this.handlers) {
        const reply = h(r);
        if (reply) return new FakeHttpResponse(reply.status, reply.body);
      }
      return null;
    });
    const remaining = normalised.filter((_, i) => out[i] === null);
    if (remaining.length > 0) {
      if (!this.realHttp) throw new Error(`Exception: Address unavailable: ${remaining[0]!.url}`);
      this.http ??= new SyncHttp();
      const results = this.http.requestAll(
        remaining.map((r) => ({ url: r.url, method: r.method, headers: r.headers, ...(r.payload === undefined ? {} : { body: r.payload }) })),
      );
      let j = 0;
      for (let i = 0; i < out.length; i += 1) {
        if (out[i] !== null) continue;
        const res = results[j++]!;
        if ('error' in res) throw new Error(`Exception: Address unavailable: ${normalised[i]!.url} (${res.error})`);
        out[i] = new FakeHttpResponse(res.status, res.text, res.headers);
      }
    }
    // muteHttpExceptions is what the add-on always sets; without it Apps Script throws on >= 400.
    requests.forEach((r, i) => {
      const res = out[i]!;
      if (!r.muteHttpExceptions && res.getResponseCode() >= 400) {
        throw new Error(`Exception: Request failed for ${r.url} returned code ${res.getResponseCode()}.`);
      }
    });
    return out as FakeHttpResponse[];
  }
}
