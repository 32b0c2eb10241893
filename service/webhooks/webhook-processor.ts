// Takes Meta's signed webhooks: verifies, keeps the raw body, answers, then applies it off the request path.
// A crash between the answer and the apply loses nothing: unapplied bodies stay in the inbox and run at start.
// Both the keeping and the applying ride on the engine's group commit, with the senders' writes.
import type { Clock } from '../campaigns/clock';
import type { CampaignEngine } from '../campaigns/campaign-engine';
import type { AccountStore, CampaignStore, Logger, WebhookInbox } from '../campaigns/ports';
import { applyStatusEvents } from './apply-status-events';
import { readMetaEvents, type InboundEvent, type PreferenceEvent, type StatusEvent } from './meta-events';
import { isValidSignature } from './webhook-signature';

/** Handles replies, opt-outs and preference changes (issue 3); statuses are applied here. */
export interface InboundHandler {
  handle(accountId: string, inbound: readonly InboundEvent[], preferences: readonly PreferenceEvent[], nowMs: number): Set<string>;
}

const DRAIN_BATCH = 200;
/**
 * Raw bytes of stored bodies applied in one group commit: about 1,500 statuses. The apply runs on the event loop
 * that times the sends, so a backlog is worked off in slices rather than in one long stall.
 */
const DRAIN_SLICE_BYTES = 128 * 1024;

export type ReceiveResult = 'accepted' | 'unknown_account' | 'bad_signature';

interface AppliedWebhook {
  /** Campaigns with a row that changed: the engine checks whether they are finished. */
  touched: Set<string>;
  /** Accepted sends Meta now reports failed, for the campaigns' error budgets. */
  failed: { campaignId: string; code: string }[];
}

export class WebhookProcessor {
  private isDraining = false;
  private isStopped = false;
  private isDrainRequested = false;
  private readonly secrets = new Map<string, string>();
  /** Bodies whose apply threw: kept in the inbox for the next start, not retried in a loop now. */
  private readonly failedIds = new Set<number>();

  constructor(
    private readonly store: CampaignStore & AccountStore & WebhookInbox,
    private readonly engine: CampaignEngine,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly inbound: InboundHandler | null,
  ) {}

  /**
   * Verifies and stores one POST. Only a committed body is acknowledged (the promise resolves after the group
   * commit), so Meta retries anything not kept. Rejects when the store could not keep it.
   */
  receive(accountId: string, rawBody: Buffer, signatureHeader: string | undefined): Promise<ReceiveResult> {
    const appSecret = this.appSecretOf(accountId);
    if (appSecret === null) return Promise.resolve('unknown_account');
    if (!isValidSignature(appSecret, rawBody, signatureHeader)) return Promise.resolve('bad_signature');
    return new Promise((resolve, reject) => {
      this.engine.commits.add(
        () => this.store.saveWebhook(accountId, rawBody, this.clock.now()),
        () => {
          resolve('accepted');
          this.requestDrain();
        },
        reject,
      );
    });
  }

  /** The account's verify token check for Meta's GET handshake. */
  verifyToken(accountId: string): string | null {
    return this.store.getAccountSecrets(accountId)?.verifyToken ?? null;
  }

  /** Forgets cached secrets (account erased or credentials changed). */
  forget(accountId: string): void {
    this.secrets.delete(accountId);
  }

  /**
   * Applies every stored body, a slice per group commit; safe to call at any time, one drain at a time.
   * The slice's applies commit together with whatever the senders wrote meanwhile.
   */
  requestDrain(): void {
    if (this.isStopped) return;
    if (this.isDraining) {
      this.isDrainRequested = true;
      return;
    }
    this.isDraining = true;
    this.isDrainRequested = false;
    const slice = this.nextSlice();
    if (slice.length === 0) {
      this.isDraining = false;
      return;
    }
    let remaining = slice.length;
    const sliceDone = (): void => {
      if (--remaining > 0) return;
      this.isDraining = false;
      this.requestDrain();
    };
    for (const item of slice) {
      this.engine.commits.add(
        () => this.apply(item),
        ({ touched, failed }) => {
          this.engine.sendsFailedLater(failed);
          this.engine.rowsSettled(touched);
          sliceDone();
        },
        (error) => {
          this.failedIds.add(item.id);
          this.logger.error({ webhookId: item.id, error: String(error) }, 'webhook apply failed; kept for the next start');
          sliceDone();
        },
      );
    }
  }

  /** Shutdown: no more drains through the group commit; what is stored stays for `drainOnce` or the next start. */
  stop(): void {
    this.isStopped = true;
  }

  /** Applies up to `limit` stored bodies now, each in its own transaction (start-up and shutdown); returns how many. */
  drainOnce(limit = DRAIN_BATCH): number {
    const pending = this.store.listPendingWebhooks(limit).filter((item) => !this.failedIds.has(item.id));
    for (const item of pending) {
      let result: AppliedWebhook;
      try {
        result = this.store.transaction(() => this.apply(item));
      } catch (error) {
        this.failedIds.add(item.id);
        this.logger.error({ webhookId: item.id, error: String(error) }, 'webhook apply failed; kept for the next start');
        continue;
      }
      this.engine.sendsFailedLater(result.failed);
      this.engine.rowsSettled(result.touched);
    }
    return pending.length;
  }

  private nextSlice(): { id: number; accountId: string; body: Buffer }[] {
    const slice = [];
    let bytes = 0;
    for (const item of this.store.listPendingWebhooks(DRAIN_BATCH)) {
      if (this.failedIds.has(item.id)) continue;
      if (slice.length > 0 && bytes + item.body.length > DRAIN_SLICE_BYTES) break;
      slice.push(item);
      bytes += item.body.length;
    }
    return slice;
  }

  /** One stored body's statuses, replies and opt-outs, then its removal from the inbox. */
  private apply(item: { id: number; accountId: string; body: Buffer }): AppliedWebhook {
    const touched = new Set<string>();
    let payload: unknown = null;
    try {
      payload = JSON.parse(item.body.toString('utf8'));
    } catch {
      this.logger.warn({ webhookId: item.id }, 'webhook body is not JSON; dropped');
    }
    const { events, skipped } = readMetaEvents(payload);
    if (skipped > 0) this.logger.warn({ webhookId: item.id, skipped }, 'webhook items not understood');
    const now = this.clock.now();
    const statuses = events.filter((e): e is StatusEvent => e.kind === 'status');
    const applied = applyStatusEvents(this.store, item.accountId, statuses, now);
    for (const id of applied.campaignIds) touched.add(id);
    const inbound = events.filter((e): e is InboundEvent => e.kind === 'inbound');
    const preferences = events.filter((e): e is PreferenceEvent => e.kind === 'preference');
    if (this.inbound && (inbound.length > 0 || preferences.length > 0 || applied.optedOut.length > 0)) {
      const optOutPreferences: PreferenceEvent[] = applied.optedOut.map((m) => ({
        kind: 'preference', phoneNumberId: null, waId: m.to.replace(/^\+/, ''), category: 'marketing_messages',
        value: 'stop', timestampMs: now,
      }));
      for (const id of this.inbound.handle(item.accountId, inbound, [...preferences, ...optOutPreferences], now)) touched.add(id);
    }
    this.store.deleteWebhook(item.id);
    return { touched, failed: applied.failed };
  }

  private appSecretOf(accountId: string): string | null {
    const cached = this.secrets.get(accountId);
    if (cached !== undefined) return cached;
    const secrets = this.store.getAccountSecrets(accountId);
    if (!secrets) return null;
    this.secrets.set(accountId, secrets.appSecret);
    return secrets.appSecret;
  }
}
