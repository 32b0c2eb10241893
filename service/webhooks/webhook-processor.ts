// Takes Meta's signed webhooks: verifies, keeps the raw body, answers, then applies it off the request path.
// A crash between the answer and the apply loses nothing: unapplied bodies stay in the inbox and run at start.
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

export type ReceiveResult = 'accepted' | 'unknown_account' | 'bad_signature';

export class WebhookProcessor {
  private isDraining = false;
  private isDrainRequested = false;
  private readonly secrets = new Map<string, string>();

  constructor(
    private readonly store: CampaignStore & AccountStore & WebhookInbox,
    private readonly engine: CampaignEngine,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly inbound: InboundHandler | null,
  ) {}

  /** Verifies and stores one POST. Only a stored body is acknowledged, so Meta retries anything not kept. */
  receive(accountId: string, rawBody: Buffer, signatureHeader: string | undefined): ReceiveResult {
    const appSecret = this.appSecretOf(accountId);
    if (appSecret === null) return 'unknown_account';
    if (!isValidSignature(appSecret, rawBody, signatureHeader)) return 'bad_signature';
    this.store.saveWebhook(accountId, rawBody, this.clock.now());
    this.requestDrain();
    return 'accepted';
  }

  /** The account's verify token check for Meta's GET handshake. */
  verifyToken(accountId: string): string | null {
    return this.store.getAccountSecrets(accountId)?.verifyToken ?? null;
  }

  /** Forgets cached secrets (account erased or credentials changed). */
  forget(accountId: string): void {
    this.secrets.delete(accountId);
  }

  /** Applies every stored body; safe to call at any time, runs one drain at a time. */
  requestDrain(): void {
    if (this.isDraining) {
      this.isDrainRequested = true;
      return;
    }
    this.isDraining = true;
    this.isDrainRequested = false;
    // One stored body per turn of the event loop: a batch of 1,000 statuses must not hold up the sends
    // waiting behind it (their start times are what Meta's throughput window sees).
    this.clock.setTimer(0, () => {
      let applied = 0;
      try {
        applied = this.drainOnce(1);
      } finally {
        this.isDraining = false;
        if (applied > 0 || this.isDrainRequested) this.requestDrain();
      }
    });
  }

  /** Applies up to a batch of stored bodies; returns how many. */
  drainOnce(limit = DRAIN_BATCH): number {
    const pending = this.store.listPendingWebhooks(limit);
    for (const item of pending) {
      const touched = new Set<string>();
      try {
        this.store.transaction(() => {
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
        });
      } catch (error) {
        this.logger.error({ webhookId: item.id, error: String(error) }, 'webhook apply failed; kept for retry');
        continue;
      }
      this.engine.rowsSettled(touched);
    }
    return pending.length;
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
