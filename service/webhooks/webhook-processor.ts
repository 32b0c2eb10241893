// Takes Meta's signed webhooks: verifies, keeps the raw body, answers, then applies it off the request path.
// A crash between the answer and the apply loses nothing: unapplied bodies stay in the inbox and run at start.
// Both the keeping and the applying ride on the engine's group commit, with the senders' writes. Any instance may
// apply any body: the inbox hands each out to one applier at a time, and every change it makes is forward-only.
import type { Clock } from '../campaigns/clock';
import { DEFAULT_FREQUENCY_CAP_POLICY, type FrequencyCapPolicy } from '../campaigns/frequency-cap';
import type { CampaignEngine } from '../campaigns/campaign-engine';
import type { AccountStore, Logger, PendingWebhook, WebhookApplied, WebhookEffects, WebhookInbox } from '../campaigns/ports';
import { statusChangesFor } from './apply-status-events';
import { identitiesIn, identityChangesIn } from './identity-events';
import { inboundChanges } from './inbound-replies';
import { RecentIdentities } from './recent-identities';
import { readMetaEvents, type InboundEvent, type PreferenceEvent, type StatusEvent } from './meta-events';
import { isValidSignature } from './webhook-signature';
import type { AccountHealthKeeper } from './account-health';
import { hasManagementChanges } from './management-events';

const DRAIN_BATCH = 200;
/**
 * Raw bytes of stored bodies applied in one group commit: about 1,500 statuses. The apply runs on the event loop
 * that times the sends, so a backlog is worked off in slices rather than in one long stall.
 */
const DRAIN_SLICE_BYTES = 128 * 1024;
/** A claimed body not applied within this (its applier died) is handed out again. */
const CLAIM_MS = 15_000;
/** How often the inbox is looked at besides after each POST. */
const SWEEP_MS = 5_000;

export type ReceiveResult = 'accepted' | 'unknown_account' | 'bad_signature';

export class WebhookProcessor {
  private isDraining = false;
  private isStopped = false;
  private isDrainRequested = false;
  private readonly secrets = new Map<string, string>();
  /** Pairs committed lately: not written again by every status that names them. */
  private readonly identities = new RecentIdentities();
  /** Bodies whose apply threw: kept in the inbox for the next start, not retried in a loop now. */
  private readonly failedIds = new Set<number>();
  /** Bodies kept and not yet handed to a drain: the next slice is read only when there is something to read. */
  private drainsRunning: Promise<void> | null = null;
  private cancelSweep: (() => void) | null = null;
  /** Acts on Meta's management webhooks (template status, quality, account); none: they are only stored and dropped. */
  private health: AccountHealthKeeper | null = null;

  constructor(
    private readonly store: AccountStore & WebhookInbox,
    private readonly engine: CampaignEngine,
    private readonly clock: Clock,
    private readonly logger: Logger,
    /** When a frequency-capped (131049) row is tried again. */
    private readonly frequencyCap: FrequencyCapPolicy = DEFAULT_FREQUENCY_CAP_POLICY,
  ) {}

  /**
   * Verifies and stores one POST. Only a committed body is acknowledged (the promise resolves after the group
   * commit), so Meta retries anything not kept. Rejects when the store could not keep it.
   */
  async receive(accountId: string, rawBody: Buffer, signatureHeader: string | undefined): Promise<ReceiveResult> {
    const appSecret = await this.appSecretOf(accountId);
    if (appSecret === null) return 'unknown_account';
    if (!isValidSignature(appSecret, rawBody, signatureHeader)) return 'bad_signature';
    await this.engine.commits.run({ kind: 'save_webhook', accountId, body: rawBody, nowMs: this.clock.now() });
    this.requestDrain();
    return 'accepted';
  }

  /** The account's verify token check for Meta's GET handshake. */
  async verifyToken(accountId: string): Promise<string | null> {
    return (await this.store.getAccountSecrets(accountId))?.verifyToken ?? null;
  }

  /** Management changes in applied bodies are acted on by `keeper` from now on. */
  useHealthKeeper(keeper: AccountHealthKeeper): void {
    this.health = keeper;
  }

  /** Forgets cached secrets (account erased or credentials changed). */
  forget(accountId: string): void {
    this.secrets.delete(accountId);
    this.identities.forget(accountId);
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
    this.drainsRunning = this.drainSlice()
      .catch((error: unknown) => this.logger.error({ error: String(error) }, 'webhook drain failed'))
      .finally(() => {
        this.isDraining = false;
        this.drainsRunning = null;
        if (this.isDrainRequested) this.requestDrain();
      });
  }

  /**
   * Applies what the inbox hands out (up to DRAIN_BATCH bodies, held for this instance), a slice of at most
   * DRAIN_SLICE_BYTES per group commit, then asks for more.
   */
  private async drainSlice(): Promise<void> {
    const claimed = (await this.store.claimPendingWebhooks(DRAIN_BATCH, CLAIM_MS)).filter((item) => !this.failedIds.has(item.id));
    if (claimed.length === 0) return;
    for (const slice of slicesOf(claimed)) {
      await this.apply(slice, true);
      if (this.isStopped) return;
    }
    this.isDrainRequested = true;
  }

  /**
   * Applies the bodies through the group commit and resolves once each has committed or failed. A body whose apply
   * fails stays in the inbox for the next start. `isEngineTold`: the engine hears of settled and failed sends.
   */
  private async apply(items: readonly PendingWebhook[], isEngineTold: boolean): Promise<void> {
    const optOutWords = new Map<string, Promise<readonly string[]>>();
    const applies = await Promise.all(items.map((item) => this.effectsOf(item, optOutWords)));
    // Management changes are acted on first: a body leaves the inbox only once they were (each step is idempotent).
    await Promise.all(applies.map(({ item, payload, effects }) => this.actOnManagement(item, payload).then(() => this.engine.commits.run({
      kind: 'apply_webhook', inboxId: item.id, accountId: item.accountId, effects, nowMs: this.clock.now(),
    })).then(
      (applied) => {
        this.identities.remember(item.accountId, effects.identities, this.clock.now());
        return isEngineTold ? this.afterApply(applied) : undefined;
      },
      (error: unknown) => {
        this.failedIds.add(item.id);
        this.logger.error({ webhookId: item.id, error: String(error) }, 'webhook apply failed; kept for the next start');
      },
    )));
  }

  private async actOnManagement(item: PendingWebhook, payload: unknown): Promise<void> {
    if (this.health !== null && hasManagementChanges(payload)) await this.health.apply(item, payload, this.clock.now());
  }

  private async afterApply(applied: WebhookApplied): Promise<void> {
    if (applied.requeuedCampaignIds.length > 0) await this.engine.rowsRequeuedForLater(applied.requeuedCampaignIds);
    await this.engine.sendsFailedLater(applied.failed);
    await this.engine.rowsSettled(applied.touchedCampaignIds);
  }

  /**
   * Drains now and then every `sweepMs`: bodies kept by an instance that died before applying them (their claim
   * runs out) are applied by whichever instance sweeps next.
   */
  start(sweepMs = SWEEP_MS): void {
    this.requestDrain();
    const sweep = (): void => {
      this.cancelSweep = this.clock.setTimer(sweepMs, () => {
        this.requestDrain();
        if (!this.isStopped) sweep();
      });
    };
    sweep();
  }

  /** Shutdown: no more drains through the group commit; what is stored stays for `drainOnce` or the next start. */
  async stop(): Promise<void> {
    this.isStopped = true;
    this.cancelSweep?.();
    await this.drainsRunning;
  }

  /** Applies up to `limit` stored bodies now, in the next group commit (shutdown); returns how many. */
  async drainOnce(limit = DRAIN_BATCH): Promise<number> {
    const pending = (await this.store.claimPendingWebhooks(limit, CLAIM_MS)).filter((item) => !this.failedIds.has(item.id));
    await this.apply(pending, false);
    return pending.length;
  }

  /**
   * What one stored body changes: its statuses, replies, opt-outs and preferences, as data for the store. The
   * account's opt-out words are read once per account for the bodies applied together (`optOutWords`).
   */
  private async effectsOf(
    item: PendingWebhook, optOutWords: Map<string, Promise<readonly string[]>>,
  ): Promise<{ item: PendingWebhook; payload: unknown; effects: WebhookEffects }> {
    let payload: unknown = null;
    try {
      payload = JSON.parse(item.body.toString('utf8'));
    } catch {
      this.logger.warn({ webhookId: item.id }, 'webhook body is not JSON; dropped');
    }
    const { events, skipped } = readMetaEvents(payload);
    if (skipped > 0) this.logger.warn({ webhookId: item.id, skipped }, 'webhook items not understood');
    const statuses = statusChangesFor(events.filter((e): e is StatusEvent => e.kind === 'status'),
      { policy: this.frequencyCap, nowMs: this.clock.now() });
    const inbound = events.filter((e): e is InboundEvent => e.kind === 'inbound');
    const preferences = events.filter((e): e is PreferenceEvent => e.kind === 'preference');
    let words: Promise<readonly string[]> = Promise.resolve([]);
    if (inbound.length > 0) {
      words = optOutWords.get(item.accountId) ?? this.store.getAccount(item.accountId).then((a) => a?.optOutWords ?? []);
      optOutWords.set(item.accountId, words);
    }
    const changes = inboundChanges(inbound, preferences, await words, this.clock.now());
    return {
      item,
      payload,
      effects: {
        statuses: statuses.changes, ...changes,
        identities: this.identities.unknownAmong(item.accountId, identitiesIn(events), this.clock.now()),
        identityChanges: identityChangesIn(events),
      },
    };
  }

  private async appSecretOf(accountId: string): Promise<string | null> {
    const cached = this.secrets.get(accountId);
    if (cached !== undefined) return cached;
    const secrets = await this.store.getAccountSecrets(accountId);
    if (!secrets) return null;
    this.secrets.set(accountId, secrets.appSecret);
    return secrets.appSecret;
  }
}

/** Bodies in arrival order, cut into slices of at most DRAIN_SLICE_BYTES (a bigger body makes a slice alone). */
function slicesOf(items: readonly PendingWebhook[]): PendingWebhook[][] {
  const slices: PendingWebhook[][] = [];
  let slice: PendingWebhook[] = [];
  let bytes = 0;
  for (const item of items) {
    if (slice.length > 0 && bytes + item.body.length > DRAIN_SLICE_BYTES) {
      slices.push(slice);
      slice = [];
      bytes = 0;
    }
    slice.push(item);
    bytes += item.body.length;
  }
  if (slice.length > 0) slices.push(slice);
  return slices;
}
