// Synchronous real HTTP for the UrlFetchApp fake: Apps Script's fetch blocks, Node's does not, so a worker thread
// performs the requests (in parallel for fetchAll) while the calling thread waits on Atomics. The service under test
// must run in another process or thread (blocking this thread would stall an in-process server). Shared by the tests
// and the playground (devtools/playground); never bundled into the add-on.
import { Worker } from 'node:worker_threads';

export interface SyncHttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export type SyncHttpResult = { status: number; text: string; headers: Record<string, string> } | { error: string };

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ requests, signal, data, timeoutMs }) => {
  const sig = new Int32Array(signal);
  const results = await Promise.all(requests.map(async (r) => {
    try {
      const res = await fetch(r.url, { method: r.method, headers: r.headers, body: r.body, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
      const headers = {};
      res.headers.forEach((v, k) => { headers[k] = v; });
      return { status: res.status, text: await res.text(), headers };
    } catch (e) {
      const cause = e && e.cause && (e.cause.code || e.cause.message);
      return { error: String((e && e.message) || e) + (cause ? ' (' + cause + ')' : '') };
    }
  }));
  const bytes = Buffer.from(JSON.stringify(results), 'utf8');
  const view = new Uint8Array(data);
  if (bytes.length > view.length) {
    const small = Buffer.from(JSON.stringify(requests.map(() => ({ error: 'response too large for the test bridge' }))));
    view.set(small);
    Atomics.store(sig, 1, small.length);
  } else {
    view.set(bytes);
    Atomics.store(sig, 1, bytes.length);
  }
  Atomics.store(sig, 0, 1);
  Atomics.notify(sig, 0);
});
`;

/** A blocking HTTP client. One per process is enough; call close() to stop its worker. */
export class SyncHttp {
  private readonly worker: Worker;
  private readonly signal = new SharedArrayBuffer(8);
  private readonly data: SharedArrayBuffer;

  constructor(maxResponseBytes = 64 * 1024 * 1024, private readonly timeoutMs = 60_000) {
    this.data = new SharedArrayBuffer(maxResponseBytes);
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
  }

  /** Performs the requests in parallel and blocks until all have answered (or failed). Results keep request order. */
  requestAll(requests: SyncHttpRequest[]): SyncHttpResult[] {
    const sig = new Int32Array(this.signal);
    Atomics.store(sig, 0, 0);
    this.worker.postMessage({ requests, signal: this.signal, data: this.data, timeoutMs: this.timeoutMs });
    const outcome = Atomics.wait(sig, 0, 0, this.timeoutMs + 5_000);
    if (outcome === 'timed-out') return requests.map(() => ({ error: 'Timeout' }));
    const length = Atomics.load(sig, 1);
    const text = Buffer.from(new Uint8Array(this.data, 0, length)).toString('utf8');
    return JSON.parse(text) as SyncHttpResult[];
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}
