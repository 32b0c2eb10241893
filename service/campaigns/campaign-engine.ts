// Keeps every campaign moving: starts scheduled ones on time, runs one SenderPipeline per sender, finishes drained
// campaigns and turns long-unsettled sends into `unknown`. The store is the truth; this re-reads it on every signal
// and on an interval, so pause, resume and crash recovery all converge on the same state.
import type { CampaignState, StateReason } from './campaign';
import { assertTransition } from './campaign';
import type { Clock } from './clock';
import { GroupCommit } from './group-commit';
import type { AccountStore, Campaign, CampaignStore, Logger, Messenger, SuppressionStore } from './ports';
import { SenderPipeline, type SenderPipelineOptions } from './sender-pipeline';

export interface CampaignEngineOptions {
  /** A `sending` row no webhook settled within this becomes `unknown` (must exceed the send timeout). */
  reconcileAfterMs: number;
  /** How often the store is re-read for due, new and finished campaigns. */
  scanIntervalMs: number;
  /** How long a write waits for others to share its commit (group commit). */
  groupCommitMs: number;
  pipeline: Partial<Omit<SenderPipelineOptions, 'ratePerSecond' | 'dailyLimit'>>;
}

export const DEFAULT_ENGINE_OPTIONS: CampaignEngineOptions = {
  reconcileAfterMs: 10 * 60 * 1000,
  scanIntervalMs: 1000,
  groupCommitMs: 8,
  pipeline: {},
};

type EngineStore = CampaignStore & AccountStore & SuppressionStore;

export class CampaignEngine {
  private readonly pipelines = new Map<string, SenderPipeline>();
  private readonly scheduleTimers = new Map<string, () => void>();
  private cancelScan: (() => void) | null = null;
  private isRunning = false;
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
    this.scan();
  }

  async stop(): Promise<void> {
    this.isRunning = false;
    this.cancelScan?.();
    for (const cancel of this.scheduleTimers.values()) cancel();
    this.scheduleTimers.clear();
    await Promise.all([...this.pipelines.values()].map((p) => p.stop()));
    this.pipelines.clear();
    this.commits.commit();
  }

  /** Call after any change of a campaign's state in the store (HTTP routes do). */
  campaignChanged(campaignId: string): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (!campaign || !this.isRunning) return;
    this.follow(campaign);
  }

  /** New rows were stored for a campaign. */
  rowsAdded(campaignId: string): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (campaign) this.pipelines.get(campaign.accountId)?.wake(campaignId);
  }

  /** Rows of the campaign went back to `queued` below the read cursor (a marketer's re-send of unknown rows). */
  rowsRequeued(campaignId: string): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (campaign) this.pipelines.get(campaign.accountId)?.wake(campaignId, true);
  }

  /** A webhook settled rows of these campaigns: a drained one may now be finished. */
  rowsSettled(campaignIds: Iterable<string>): void {
    for (const id of campaignIds) this.finishIfDone(id);
  }

  /** Meta reported these accepted sends as failed (status webhooks), with its error code. */
  sendsFailedLater(failures: readonly { campaignId: string; code: string }[]): void {
    for (const { campaignId, code } of failures) {
      const campaign = this.store.getCampaignById(campaignId);
      if (campaign?.state === 'running') this.pipelines.get(campaign.accountId)?.failedLater(campaignId, code);
    }
  }

  private follow(campaign: Campaign): void {
    const pipeline = this.pipelines.get(campaign.accountId);
    if (campaign.state === 'running') {
      this.pipelineFor(campaign.accountId)?.addCampaign(campaign);
    } else {
      pipeline?.removeCampaign(campaign.id);
    }
    if (campaign.state === 'scheduled') this.scheduleStart(campaign);
    else this.unschedule(campaign.id);
  }

  private pipelineFor(accountId: string): SenderPipeline | null {
    const existing = this.pipelines.get(accountId);
    if (existing) return existing;
    const account = this.store.getAccount(accountId);
    const secrets = this.store.getAccountSecrets(accountId);
    if (!account || !secrets) return null;
    const pipeline = new SenderPipeline(
      { accountId, isSandbox: account.isSandbox, phoneNumberId: account.phoneNumberId, accessToken: secrets.accessToken },
      this.store, this.messenger, this.clock, this.logger,
      {
        onHalt: (campaignId, reason) => this.transition(campaignId, 'pause', reason),
        onWaiting: (campaignId, reason) => this.setWaiting(campaignId, reason),
        onDrained: (campaignId) => this.finishIfDone(campaignId),
      },
      this.commits,
      { ...this.options.pipeline, ratePerSecond: account.messagesPerSecond, dailyLimit: account.dailyLimit },
    );
    this.pipelines.set(accountId, pipeline);
    return pipeline;
  }

  /** Drops the sender of an account whose credentials or limits changed, or that was erased. */
  async forgetAccount(accountId: string): Promise<void> {
    const pipeline = this.pipelines.get(accountId);
    this.pipelines.delete(accountId);
    await pipeline?.stop();
  }

  private transition(campaignId: string, command: 'pause' | 'due' | 'finish', reason: StateReason | null): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (!campaign) return;
    let next: CampaignState;
    try {
      next = assertTransition(campaign.state, command);
    } catch {
      return;
    }
    this.store.updateCampaignState(campaignId, next, reason, this.clock.now());
    // Not from/to: those keys are redacted as phone numbers.
    this.logger.info({ campaignId, previousState: campaign.state, state: next, reason: reason?.code }, 'campaign state');
    this.follow({ ...campaign, state: next, stateReason: reason });
  }

  private setWaiting(campaignId: string, reason: StateReason | null): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (campaign?.state === 'running') this.store.updateCampaignState(campaignId, 'running', reason, this.clock.now());
  }

  private finishIfDone(campaignId: string): void {
    const campaign = this.store.getCampaignById(campaignId);
    if (campaign?.state !== 'running') return;
    const pipeline = this.pipelines.get(campaign.accountId);
    if (pipeline && !pipeline.isDrained(campaignId)) return;
    if (this.store.countOpen(campaignId) === 0) this.transition(campaignId, 'finish', null);
  }

  private scheduleStart(campaign: Campaign): void {
    this.unschedule(campaign.id);
    const delayMs = Math.max(0, (campaign.sendAt ?? 0) - this.clock.now());
    this.scheduleTimers.set(campaign.id, this.clock.setTimer(delayMs, () => {
      this.scheduleTimers.delete(campaign.id);
      this.transition(campaign.id, 'due', null);
    }));
  }

  private unschedule(campaignId: string): void {
    this.scheduleTimers.get(campaignId)?.();
    this.scheduleTimers.delete(campaignId);
  }

  private scan(): void {
    if (!this.isRunning) return;
    const now = this.clock.now();
    try {
      const settled = this.store.markUnsettledUnknown(now - this.options.reconcileAfterMs, now);
      if (settled > 0) this.logger.warn({ rows: settled }, 'sends with no outcome marked unknown');
      for (const campaign of this.store.listCampaignsInStates(['scheduled', 'running'])) {
        if (campaign.state === 'scheduled' && (campaign.sendAt ?? 0) <= now) {
          this.transition(campaign.id, 'due', null);
          continue;
        }
        const pipeline = this.pipelines.get(campaign.accountId);
        if (campaign.state === 'scheduled' && !this.scheduleTimers.has(campaign.id)) this.scheduleStart(campaign);
        if (campaign.state === 'running') {
          if (!pipeline?.hasCampaign(campaign.id)) this.follow(campaign);
          this.finishIfDone(campaign.id);
        }
      }
    } catch (error) {
      this.logger.error({ error: String(error) }, 'campaign scan failed');
    }
    this.cancelScan = this.clock.setTimer(this.options.scanIntervalMs, () => this.scan());
  }
}
