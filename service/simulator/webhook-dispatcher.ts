// Delivers webhook events like Meta: held until due, batched per URL and app secret, a few POSTs in flight,
// retried with backoff until the receiver answers 200. Owns timers and HTTP; event content comes from its callers.

import { Agent, request } from 'undici';
import { DelayQueue } from './delay-queue';
import { buildPayload } from './webhook-payload';
import type { WebhookEvent, WebhookTarget } from './webhook-payload';
import { signatureOfBytes } from './webhook-signature';
import type { SignatureMode } from './webhook-signature';

/** Delivery settings; every field has a Meta-like default. */
export interface WebhookDeliveryOptions {
  /** How long the first event of a batch waits for company, in ms. Default 50. */
  batchWindowMs?: number;
  /** Events per POST at most (Meta: up to 1000, CLOUD_API.md §5.5). Default 1000. */
  maxBatchSize?: number;
  /** POSTs in flight per URL; more than one lets batches arrive out of order, as with Meta. Default 4. */
  maxInFlightPerUrl?: number;
  /** First retry delay after a failed POST, doubled per consecutive failure, in ms. Default 100. */
  retryInitialMs?: number;
  /** Retry delay cap in ms. Default 5000. Meta keeps retrying for 7 days; so does this, until `close()`. */
  retryMaxMs?: number;
  /** A POST without an answer after this many ms counts as failed. Default 10000. */
  requestTimeoutMs?: number;
  /** Default `escaped-unicode`; see `SignatureMode`. */
  signatureMode?: SignatureMode;
}

/** Counters for `GET /__sim/stats`. */
export interface WebhookStats {
  postsDelivered: number;
  postsFailed: number;
  eventsDelivered: number;
  /** Events scheduled, batched or in flight. */
  eventsPending: number;
}

interface PreparedPost {
  /** A Buffer rather than a string: undici sends a string body at about three times the CPU cost. */
  body: Buffer;
  signature: string;
  eventCount: number;
}

/** One URL + app secret: its open batch, its ready POSTs and its retry state. */
interface Route {
  url: string;
  appSecret: string;
  batch: WebhookEvent[];
  batchTimer: NodeJS.Timeout | undefined;
  outbox: PreparedPost[];
  inFlight: number;
  consecutiveFailures: number;
  retryTimer: NodeJS.Timeout | undefined;
}

/** Shortest spacing between two drains of due events, in ms. */
const DUE_TICK_MS = 5;

export class WebhookDispatcher {
  private readonly scheduled = new DelayQueue<WebhookEvent>();
  private readonly routes = new Map<string, Route>();
  private readonly agent: Agent;
  private readonly options: Required<WebhookDeliveryOptions>;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueTimerAt = Number.POSITIVE_INFINITY;
  private lastDrainAt = 0;
  private postCounter = 0;
  private isClosed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly stats: WebhookStats = { postsDelivered: 0, postsFailed: 0, eventsDelivered: 0, eventsPending: 0 };

  constructor(
    private readonly targetOf: (phoneNumberId: string) => WebhookTarget | undefined,
    options: WebhookDeliveryOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = {
      batchWindowMs: options.batchWindowMs ?? 50,
      maxBatchSize: options.maxBatchSize ?? 1000,
      maxInFlightPerUrl: options.maxInFlightPerUrl ?? 4,
      retryInitialMs: options.retryInitialMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      signatureMode: options.signatureMode ?? 'escaped-unicode',
    };
    this.agent = new Agent({ connections: this.options.maxInFlightPerUrl, pipelining: 1 });
  }

  /**
   * Holds `event` for `delayMs` after `nowMs` (epoch ms), then batches it for its number's webhook URL.
   * `nowMs` must not go backwards between calls (pass the current time).
   */
  schedule(delayMs: number, nowMs: number, event: WebhookEvent): void {
    if (this.isClosed) return;
    this.stats.eventsPending++;
    this.scheduled.push(delayMs, nowMs, event);
    if (nowMs + delayMs < this.dueTimerAt) this.armDueTimer();
  }

  getStats(): WebhookStats {
    return { ...this.stats };
  }

  /**
   * Sends every already-due and batched event now (without waiting for batch windows) and resolves once those
   * POSTs succeeded. Events scheduled for later stay scheduled. Rejects after `timeoutMs` (e.g. receiver down).
   */
  async flush(timeoutMs = 10_000): Promise<void> {
    this.moveDue();
    for (const route of this.routes.values()) this.closeBatch(route);
    await this.waitFor(() => [...this.routes.values()].every((r) => r.outbox.length === 0 && r.inFlight === 0 && r.batch.length === 0), timeoutMs);
  }

  /** Resolves when nothing is scheduled, batched, queued or in flight; rejects after `timeoutMs`. */
  idle(timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.stats.eventsPending === 0, timeoutMs);
  }

  /** Stops timers and drops everything not yet delivered. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.dueTimer);
    for (const route of this.routes.values()) {
      clearTimeout(route.batchTimer);
      clearTimeout(route.retryTimer);
    }
    this.scheduled.clear();
    this.routes.clear();
    this.stats.eventsPending = 0;
    this.notifyIdle();
    await this.agent.destroy().catch(() => undefined);
  }

  private waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
    if (condition() || this.isClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== check);
        reject(new Error(`webhooks still pending after ${timeoutMs} ms: ${JSON.stringify(this.stats)}`));
      }, timeoutMs);
      const check = () => {
        if (!condition() && !this.isClosed) return;
        clearTimeout(timer);
        this.idleWaiters = this.idleWaiters.filter((w) => w !== check);
        resolve();
      };
      this.idleWaiters.push(check);
    });
  }

  private notifyIdle(): void {
    for (const waiter of [...this.idleWaiters]) waiter();
  }

  private armDueTimer(): void {
    const earliest = this.scheduled.peekDueAt();
    if (earliest === undefined || earliest >= this.dueTimerAt) return;
    // Drain at most every DUE_TICK_MS: at 10,000 sends/s something is due every millisecond, and one timer
    // per millisecond costs more than the few ms of extra delay (batches wait batchWindowMs anyway).
    const dueAt = Math.max(earliest, this.lastDrainAt + DUE_TICK_MS);
    if (dueAt >= this.dueTimerAt) return;
    clearTimeout(this.dueTimer);
    this.dueTimerAt = dueAt;
    this.dueTimer = setTimeout(() => {
      this.dueTimerAt = Number.POSITIVE_INFINITY;
      this.lastDrainAt = this.now();
      this.moveDue();
      this.armDueTimer();
    }, Math.max(0, dueAt - this.now()));
    this.dueTimer.unref();
  }

  private moveDue(): void {
    // Thousands of events per drain share a handful of numbers: resolve each number's route once.
    const routeByNumber = new Map<string, Route | undefined>();
    for (const event of this.scheduled.drainDue(this.now())) {
      let route = routeByNumber.get(event.phoneNumberId);
      if (route === undefined && !routeByNumber.has(event.phoneNumberId)) {
        const target = this.targetOf(event.phoneNumberId);
        route = target && this.routeFor(target);
        routeByNumber.set(event.phoneNumberId, route);
      }
      if (!route) {
        // The number was removed: Meta would stop sending for it too.
        this.stats.eventsPending--;
        continue;
      }
      route.batch.push(event);
      if (route.batch.length >= this.options.maxBatchSize) this.closeBatch(route);
      else if (!route.batchTimer) {
        route.batchTimer = setTimeout(() => this.closeBatch(route), this.options.batchWindowMs);
        route.batchTimer.unref();
      }
    }
    this.notifyIdle();
  }

  private routeFor(target: WebhookTarget): Route {
    const key = `${target.webhookUrl}\n${target.appSecret}`;
    let route = this.routes.get(key);
    if (!route) {
      route = { url: target.webhookUrl, appSecret: target.appSecret, batch: [], batchTimer: undefined, outbox: [], inFlight: 0, consecutiveFailures: 0, retryTimer: undefined };
      this.routes.set(key, route);
    }
    return route;
  }

  /** Serialises and signs the open batch once; retries resend the same bytes, as Meta does. */
  private closeBatch(route: Route): void {
    clearTimeout(route.batchTimer);
    route.batchTimer = undefined;
    if (this.isClosed || route.batch.length === 0) return;
    const events = route.batch;
    route.batch = [];
    const variant = this.postCounter++;
    const body = buildPayload(events, this.targetOf, Math.floor(this.now() / 1000), variant);
    const bytes = Buffer.from(body, 'utf8');
    const signature = signatureOfBytes(body, bytes, route.appSecret, this.options.signatureMode);
    route.outbox.push({ body: bytes, signature, eventCount: events.length });
    this.pump(route);
  }

  private pump(route: Route): void {
    // After a failure only one POST probes the receiver until it answers again.
    const limit = route.consecutiveFailures > 0 ? 1 : this.options.maxInFlightPerUrl;
    while (!this.isClosed && !route.retryTimer && route.inFlight < limit && route.outbox.length) {
      const post = route.outbox.shift()!;
      route.inFlight++;
      void this.send(route, post);
    }
  }

  private async send(route: Route, post: PreparedPost): Promise<void> {
    let isDelivered = false;
    try {
      const response = await request(route.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': post.signature, 'user-agent': 'facebookexternalua' },
        body: post.body,
        headersTimeout: this.options.requestTimeoutMs,
        bodyTimeout: this.options.requestTimeoutMs,
      });
      await response.body.dump();
      // Meta treats anything but 200 as a failure (CLOUD_API.md §5.5).
      isDelivered = response.statusCode === 200;
    } catch {
      isDelivered = false;
    }
    route.inFlight--;
    if (this.isClosed) return;
    if (isDelivered) {
      route.consecutiveFailures = 0;
      this.stats.postsDelivered++;
      this.stats.eventsDelivered += post.eventCount;
      this.stats.eventsPending -= post.eventCount;
      this.pump(route);
      this.notifyIdle();
      return;
    }
    this.stats.postsFailed++;
    route.outbox.unshift(post);
    route.consecutiveFailures++;
    if (!route.retryTimer) {
      const delay = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** (route.consecutiveFailures - 1));
      route.retryTimer = setTimeout(() => {
        route.retryTimer = undefined;
        this.pump(route);
      }, delay);
      route.retryTimer.unref();
    }
  }
}
