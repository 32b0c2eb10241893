// Keeps every campaign moving: starts scheduled ones on time, runs one SenderPipeline per sender whose lease this
// instance holds, finishes drained campaigns and turns long-unsettled sends into `unknown`. The store is the truth;
// this re-reads it on every signal and on an interval, so pause, resume, crash recovery and a takeover by another
// instance all converge on the same state. Every state change is a compare-and-set in the store.
import type { CampaignCommand, StateReason } from './campaign';
import { transitionOf } from './campaign';
import type { Clock } from './clock';
import { GroupCommit } from './group-commit';
import type { Account, AccountStore, Campaign, CampaignStore, LeaseStore, Logger, Messenger, SuppressionStore } from './ports';
import { SenderPipeline, type PipelineLease, type SenderPipelineOptions } from './sender-pipeline';

export interface CampaignEngineOptions {
  /** A `sending` row no webhook settled within this becomes `unknown` (must exceed the send timeout). */
  reconcileAfterMs: number;
  /** How often the store is re-read for due, new, paused and finished campaigns, and free leases tried. */
  scanIntervalMs: number;
  /** How long a write waits for others to share its commit (group commit). */
  groupCommitMs: number;
  /** This instance's name in leases: unique per process. */
  instanceId: string;
  /** A sender lease lasts this long unless renewed; a dead holder's senders are taken over within about this. */
  leaseTtlMs: number;
  /** How often a held lease is renewed. */
  leaseRenewMs: number;
  /**
   * A holder stops launching sends this long before its lease could expire, so that a successor (which takes over
   * only after expiry) starts its throughput window at least a second after the last send of this one.
   */
  leaseLaunchMarginMs: number;
  pipeline: Partial<Omit<SenderPipelineOptions, 'ratePerSecond' | 'dailyLimit'>>;
}

export const DEFAULT_ENGINE_OPTIONS: CampaignEngineOptions = {
  reconcileAfterMs: 10 * 60 * 1000,
  scanIntervalMs: 1000,
  groupCommitMs: 8,
  instanceId: 'local',
  leaseTtlMs: 10_000,
  leaseRenewMs: 2_000,
  leaseLaunchMarginMs: 2_000,
  pipeline: {},
};

/** A throughput window: a lease given up stays unclaimable this long (see LeaseStore.releaseSenderLease). */
const RELEASE_QUIET_MS = 1000;

type EngineStore = CampaignStore & AccountStore & SuppressionStore & LeaseStore;

interface HeldSender {
  pipeline: SenderPipeline;
  lease: PipelineLease;
  /** The account's settings the pipeline was set up with (settingsOf): when the store's differ, it is set up again. */
  settings: string;
  /** Settings the pipeline switched to itself (131063), until the store shows them: not a reason to set it up again. */
  pendingSettings: string | null;
}

/** What a sender is built from and may change while it runs: its limits and its route for marketing templates. */
function settingsOf(account: Pick<Account, 'messagesPerSecond' | 'dailyLimit' | 'marketingMessagesApi'>): string {
  return JSON.stringify([account.messagesPerSecond, account.dailyLimit, account.marketingMessagesApi]);
}

export class CampaignEngine {
  private readonly senders = new Map<string, HeldSender>();
  /** Accounts whose sender is being set up (lease asked, limits restored): one set-up at a time per account. */
  private readonly starting = new Map<string, Promise<HeldSender | null>>();
  private readonly scheduleTimers = new Map<string, () => void>();
  private cancelScan: (() => void) | null = null;
  private cancelRenew: (() => void) | null = null;
  private isRunning = false;
  private isScanning = false;
  /** Instances alive at the last scan (this one included), and accounts with a running campaign then. */
  private liveInstances = 1;
  private busyAccounts = new Set<string>();
  private readonly options: CampaignEngineOptions;
  /** Every sender's writes and the webhook intake's share these commits. */
  readonly commits: GroupCommit;

  constructor(
    private readonly store: EngineStore,
    private readonly messenger: Messenger,
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: Partial<CampaignEngineOptions> = {},
  ) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    this.commits = new GroupCommit(store, clock, this.options.groupCommitMs,
      (error) => logger.error({ error: String(error) }, 'after-commit step failed'));
  }

  /** Picks up running and scheduled campaigns (after a restart too) and starts the periodic scan. */
  start(): void {
    this.isRunning = true;
    void this.scan();
    this.scheduleRenewal();
  }

  /** Finishes what is in flight, then gives the leases up so another instance takes over at once (SIGTERM). */
  async stop(): Promise<void> {
    this.isRunning = false;
    this.cancelScan?.();
    this.cancelRenew?.();
    for (const cancel of this.scheduleTimers.values()) cancel();
    this.scheduleTimers.clear();
    await Promise.allSettled(this.starting.values());
    const senders = [...this.senders.entries()];
    this.senders.clear();
    await Promise.all(senders.map(([, held]) => held.pipeline.stop()));
    await this.commits.commit();
    await Promise.all(senders.map(([, held]) => this.releaseLease(held)));
    await this.store.leaveInstances(this.options.instanceId).catch(() => undefined);
  }

  /** Call after any change of a campaign's state in the store (HTTP routes do). */
  async campaignChanged(campaignId: string): Promise<void> {
    const campaign = await this.store.getCampaignById(campaignId);
    if (!campaign || !this.isRunning) return;
    await this.follow(campaign);
  }

  /** New rows were stored for a campaign. */
  async rowsAdded(campaignId: string): Promise<void> {
    const campaign = await this.store.getCampaignById(campaignId);
    if (campaign) this.senders.get(campaign.accountId)?.pipeline.wake(campaignId);
  }

  /** Rows of the campaign went back to `queued` below the read cursor (a marketer's re-send of unknown rows). */
  async rowsRequeued(campaignId: string): Promise<void> {
    const campaign = await this.store.getCampaignById(campaignId);
    if (campaign) this.senders.get(campaign.accountId)?.pipeline.wake(campaignId, true);
  }

  /** Rows of these campaigns are back in the queue for a later attempt, or due sooner: their sender reads them again. */
  async rowsRequeuedForLater(campaignIds: Iterable<string>): Promise<void> {
    for (const campaignId of campaignIds) {
      const campaign = await this.store.getCampaignById(campaignId);
      if (!campaign || !this.isRunning) continue;
      // A finished campaign the store reopened for its waiting row is followed like a started one.
      const pipeline = this.senders.get(campaign.accountId)?.pipeline;
      if (pipeline?.hasCampaign(campaignId)) pipeline.rereadWaiting(campaignId);
      else await this.follow(campaign);
    }
  }

  /** A webhook settled rows of these campaigns: a drained one may now be finished. */
  async rowsSettled(campaignIds: Iterable<string>): Promise<void> {
    for (const id of campaignIds) await this.finishIfDone(id);
  }

  /** Meta reported these accepted sends as failed (status webhooks), with its error code. */
  async sendsFailedLater(failures: readonly { campaignId: string; code: string }[]): Promise<void> {
    for (const { campaignId, code } of failures) {
      const campaign = await this.store.getCampaignById(campaignId);
      if (campaign?.state === 'running') this.senders.get(campaign.accountId)?.pipeline.failedLater(campaignId, code);
    }
  }

  /**
   * Pauses a running or scheduled campaign with `reason` (Meta paused its template, restricted the account), as a
   * compare-and-set; false when it was in neither state. Every instance's scan drops it from its sender.
   */
  pause(campaignId: string, reason: StateReason): Promise<boolean> {
    return this.transition(campaignId, 'pause', reason);
  }

  /**
   * The account's limits (messages a second, daily limit) changed in the store: a sender held here is set up again
   * with them at the next scan. A sender another instance holds keeps its limits until it is set up again there
   * (its lease moves, or that instance restarts): the instance that applies the webhook restarts only its own.
   */
  async limitsChanged(accountId: string): Promise<void> {
    if (this.senders.has(accountId) || this.starting.has(accountId)) await this.forgetAccount(accountId, RELEASE_QUIET_MS);
  }

  /** True while this instance holds the account's sender lease (tests, diagnostics). */
  isSendingFor(accountId: string): boolean {
    return this.senders.has(accountId);
  }

  private async follow(campaign: Campaign): Promise<void> {
    if (campaign.state === 'running') {
      if (this.hasRoomFor(campaign.accountId)) (await this.senderFor(campaign.accountId))?.pipeline.addCampaign(campaign);
    } else {
      this.senders.get(campaign.accountId)?.pipeline.removeCampaign(campaign.id);
    }
    if (campaign.state === 'scheduled') this.scheduleStart(campaign);
    else this.unschedule(campaign.id);
  }

  /**
   * Whether this instance may take one more sender: with several instances, each takes at most its fair share of
   * the accounts that have work (rounded up), so the numbers spread over them; the others' scans take the rest.
   */
  private hasRoomFor(accountId: string): boolean {
    if (this.senders.has(accountId) || this.starting.has(accountId)) return true;
    const busy = new Set(this.busyAccounts).add(accountId).size;
    return this.senders.size + this.starting.size < Math.ceil(busy / this.liveInstances);
  }

  /** The account's sender on this instance: set up when this instance can take the lease, else null. */
  private senderFor(accountId: string): Promise<HeldSender | null> {
    const held = this.senders.get(accountId);
    if (held) return Promise.resolve(held);
    const pending = this.starting.get(accountId);
    if (pending) return pending;
    const setUp = this.setUpSender(accountId).finally(() => this.starting.delete(accountId));
    this.starting.set(accountId, setUp);
    return setUp;
  }

  private async setUpSender(accountId: string): Promise<HeldSender | null> {
    if (!this.isRunning) return null;
    const askedAtMs = this.clock.now();
    const granted = await this.store.acquireSenderLease(accountId, this.options.instanceId, this.options.leaseTtlMs);
    if (!granted) return null;
    const lease: PipelineLease = {
      fence: { accountId, token: granted.token },
      launchDeadlineMs: this.deadlineFor(askedAtMs, granted.validForMs),
    };
    const account = await this.store.getAccount(accountId);
    const secrets = await this.store.getAccountSecrets(accountId);
    if (!account || !secrets || !this.isRunning) {
      await this.store.releaseSenderLease(lease.fence, this.options.instanceId, 0);
      return null;
    }
    const pipeline = new SenderPipeline(
      {
        accountId, isSandbox: account.isSandbox, phoneNumberId: account.phoneNumberId, accessToken: secrets.accessToken,
        marketingMessagesApi: account.marketingMessagesApi,
      },
      this.store, this.messenger, this.clock, this.logger,
      {
        onHalt: (campaignId, reason) => this.background(this.transition(campaignId, 'pause', reason)),
        onWaiting: (campaignId, reason) => this.background(this.setWaiting(campaignId, reason)),
        onDrained: (campaignId) => this.background(this.finishIfDone(campaignId)),
        onLeaseLost: () => this.dropSender(accountId, pipeline),
        // The running pipeline switched already; the store keeps it for the next set-up (a restart, a takeover).
        onMarketingMessagesApi: () => {
          held.pendingSettings = settingsOf({ ...account, marketingMessagesApi: true });
          this.background(this.store.setMarketingMessagesApi(accountId, true));
        },
      },
      this.commits,
      lease,
      { ...this.options.pipeline, ratePerSecond: account.messagesPerSecond, dailyLimit: account.dailyLimit },
    );
    // The rate window, the pair guard and the daily tier come back from the store before the first send.
    await pipeline.restoreLimits();
    const held: HeldSender = { pipeline, lease, settings: settingsOf(account), pendingSettings: null };
    this.senders.set(accountId, held);
    this.logger.info({ accountId, leaseToken: granted.token }, 'sending for the account');
    return held;
  }

  private deadlineFor(askedAtMs: number, validForMs: number): number {
    // Counted from before the request: the store granted it later, so the lease lasts at least this long here.
    return askedAtMs + validForMs - this.options.leaseLaunchMarginMs;
  }

  private dropSender(accountId: string, pipeline: SenderPipeline): void {
    if (this.senders.get(accountId)?.pipeline === pipeline) this.senders.delete(accountId);
  }

  /**
   * Drops the sender of an account whose credentials or limits changed, or that was erased. `quietMs`: the lease
   * stays unclaimable that long (a sender set up again with new limits starts with an empty throughput window, so
   * it must start after the old one's last second has passed).
   */
  async forgetAccount(accountId: string, quietMs = 0): Promise<void> {
    await this.starting.get(accountId);
    const held = this.senders.get(accountId);
    this.senders.delete(accountId);
    if (!held) return;
    await held.pipeline.stop();
    await this.commits.commit();
    await this.releaseLease(held, quietMs);
  }

  private async retire(accountId: string, held: HeldSender): Promise<void> {
    this.senders.delete(accountId);
    await held.pipeline.stop();
    await this.commits.commit();
    // Set up again meanwhile (a campaign started): the new pipeline sends under the same lease; keep it.
    if (this.senders.has(accountId) || this.starting.has(accountId)) return;
    await this.releaseLease(held);
  }

  private async releaseLease(held: HeldSender, quietMs = RELEASE_QUIET_MS): Promise<void> {
    try {
      await this.store.releaseSenderLease(held.lease.fence, this.options.instanceId, quietMs);
    } catch (error) {
      this.logger.warn({ error: String(error) }, 'could not release a sender lease; it expires on its own');
    }
  }

  /** Applies `command` as a compare-and-set; false when the campaign was not in a state it applies to. */
  private async transition(campaignId: string, command: CampaignCommand, reason: StateReason | null): Promise<boolean> {
    const { from, to } = transitionOf(command);
    const isMoved = await this.store.transitionCampaign({
      campaignId, from, to, reason, nowMs: this.clock.now(), onlyIfNoOpenRows: command === 'finish',
    });
    if (!isMoved) return false;
    this.logger.info({ campaignId, command, state: to, reason: reason?.code }, 'campaign state');
    const campaign = await this.store.getCampaignById(campaignId);
    if (campaign) await this.follow(campaign);
    return true;
  }

  private async setWaiting(campaignId: string, reason: StateReason | null): Promise<void> {
    await this.store.transitionCampaign({ campaignId, from: ['running'], to: 'running', reason, nowMs: this.clock.now() });
  }

  private async finishIfDone(campaignId: string): Promise<void> {
    const campaign = await this.store.getCampaignById(campaignId);
    if (campaign?.state !== 'running') return;
    const held = this.senders.get(campaign.accountId);
    if (held && !held.pipeline.isDrained(campaignId)) return;
    // Sent from another instance (or from none): an unlocked look first, so that every instance's scan does not take
    // the account's lock once a second, waiting for its sender's commit and holding up the next one.
    if (!held && (await this.store.hasOpenRows(campaignId))) return;
    // The store decides in one step: still running and no row queued or sending.
    await this.transition(campaignId, 'finish', null);
  }

  private scheduleStart(campaign: Campaign): void {
    this.unschedule(campaign.id);
    const delayMs = Math.max(0, (campaign.sendAt ?? 0) - this.clock.now());
    this.scheduleTimers.set(campaign.id, this.clock.setTimer(delayMs, () => {
      this.scheduleTimers.delete(campaign.id);
      // Every instance may fire this; the compare-and-set starts the campaign once.
      this.background(this.transition(campaign.id, 'due', null));
    }));
  }

  private unschedule(campaignId: string): void {
    this.scheduleTimers.get(campaignId)?.();
    this.scheduleTimers.delete(campaignId);
  }

  private background(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.logger.error({ error: String(error) }, 'campaign engine step failed'));
  }

  private async scan(): Promise<void> {
    if (!this.isRunning || this.isScanning) return;
    this.isScanning = true;
    const now = this.clock.now();
    try {
      if (await this.store.acquireJobLease('reconcile', this.options.instanceId, this.options.scanIntervalMs * 5)) {
        const settled = await this.store.markUnsettledUnknown(now - this.options.reconcileAfterMs, now);
        if (settled > 0) this.logger.warn({ rows: settled }, 'sends with no outcome marked unknown');
      }
      this.liveInstances = await this.store.heartbeat(this.options.instanceId, this.options.scanIntervalMs * 3);
      const open = await this.store.listCampaignsInStates(['scheduled', 'running']);
      const running = new Map<string, Campaign[]>();
      for (const campaign of open) {
        if (campaign.state === 'scheduled') {
          if ((campaign.sendAt ?? 0) <= now) await this.transition(campaign.id, 'due', null);
          else if (!this.scheduleTimers.has(campaign.id)) this.scheduleStart(campaign);
          continue;
        }
        const list = running.get(campaign.accountId) ?? [];
        list.push(campaign);
        running.set(campaign.accountId, list);
      }
      // Campaigns paused or cancelled through another instance stop here too.
      for (const [accountId, held] of this.senders) {
        const runningIds = new Set((running.get(accountId) ?? []).map((c) => c.id));
        for (const id of held.pipeline.campaignIds()) if (!runningIds.has(id)) held.pipeline.removeCampaign(id);
      }
      // A sender with nothing left to send gives its lease up, so that the numbers spread over the instances.
      for (const [accountId, held] of [...this.senders]) {
        if (!running.has(accountId) && held.pipeline.campaignCount === 0) await this.retire(accountId, held);
      }
      // New limits or route, written through another instance (a PATCH, Meta's webhook applied there): set up again.
      for (const [accountId, held] of [...this.senders]) {
        const account = await this.store.getAccount(accountId);
        const stored = account ? settingsOf(account) : held.settings;
        if (stored === held.pendingSettings) {
          held.settings = stored;
          held.pendingSettings = null;
        }
        if (stored !== held.settings && this.senders.get(accountId) === held) {
          this.logger.info({ accountId }, 'account settings changed; the sender is set up again with them');
          await this.forgetAccount(accountId, RELEASE_QUIET_MS);
        }
      }
      this.busyAccounts = new Set(running.keys());
      for (const [accountId, campaigns] of running) {
        const held = this.hasRoomFor(accountId) ? await this.senderFor(accountId) : null;
        for (const campaign of campaigns) {
          // A campaign already sending takes what changed in the store since (a template's new category).
          if (held?.pipeline.hasCampaign(campaign.id)) held.pipeline.updateCampaign(campaign);
          else held?.pipeline.addCampaign(campaign);
          await this.finishIfDone(campaign.id);
        }
      }
    } catch (error) {
      this.logger.error({ error: String(error) }, 'campaign scan failed');
    } finally {
      this.isScanning = false;
    }
    if (this.isRunning) this.cancelScan = this.clock.setTimer(this.options.scanIntervalMs, () => void this.scan());
  }

  /**
   * Renews every held lease at a fixed rate (counted from each renewal's start, so a slow store does not stretch
   * the period past the launch deadline); a lease found taken over stops its pipeline at once.
   */
  private scheduleRenewal(delayMs = this.options.leaseRenewMs): void {
    this.cancelRenew = this.clock.setTimer(delayMs, () => {
      const startedAtMs = this.clock.now();
      void this.renewLeases().finally(() => {
        if (this.isRunning) this.scheduleRenewal(Math.max(0, this.options.leaseRenewMs - (this.clock.now() - startedAtMs)));
      });
    });
  }

  private async renewLeases(): Promise<void> {
    for (const [accountId, held] of [...this.senders]) {
      const askedAtMs = this.clock.now();
      let granted;
      try {
        granted = await this.store.acquireSenderLease(accountId, this.options.instanceId, this.options.leaseTtlMs);
      } catch (error) {
        // Cut off from the store: the deadline stands, and past it nothing is launched.
        this.logger.warn({ error: String(error) }, 'could not renew a sender lease');
        continue;
      }
      if (this.senders.get(accountId) !== held) continue;
      if (!granted || granted.token !== held.lease.fence.token) {
        this.logger.warn({ accountId }, 'sender lease taken over; this instance stops sending for the account');
        held.pipeline.abandon();
        this.senders.delete(accountId);
        continue;
      }
      held.lease.launchDeadlineMs = this.deadlineFor(askedAtMs, granted.validForMs);
    }
  }
}
