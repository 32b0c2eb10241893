// Sends the queued rows of one sender's (one phone number id's) running campaigns, as fast as Meta allows and
// never a row twice. Owns the per-sender limits; does not decide campaign states (the engine does, via callbacks).
import type { StateReason } from './campaign';
import type { Clock } from './clock';
import { DailyTierBudget } from './daily-tier-budget';
import { FREQUENCY_CAP_CODE } from './frequency-cap';
import { DEFAULT_ERROR_BUDGET, ErrorBudget, type ErrorBudgetOptions } from './error-budget';
import type { GroupCommit } from './group-commit';
import { classifyMetaError } from './meta-error-table';
import { MinHeap } from './min-heap';
import { PairRateGuard } from './pair-rate-guard';
import {
  LeaseLostError,
  type Campaign, type CampaignStore, type Logger, type Messenger, type QueuedMessage, type SenderCredentials,
  type SenderFence, type SendOutcome, type SendRequest, type SendResult, usesMarketingMessagesApi,
} from './ports';
import { SenderLimiter } from './sender-limiter';
import { buildComponents } from './template-params';

export interface SenderPipelineOptions {
  /** Meta's throughput for the number: 80 by default, up to 1,000. */
  ratePerSecond: number;
  /** Unique recipients per moving 24 h, or null for unlimited. */
  dailyLimit: number | null;
  /** Sends awaiting an answer at once; bounds memory and sockets when Meta answers slowly. */
  maxInFlight: number;
  /** Rows read from the store at a time per campaign: a million-row campaign never sits in memory. */
  loadBatchSize: number;
  /** Attempts before a transient error fails the row. */
  maxAttempts: number;
  /** Least time between two pumps: each pump's starts are written (as `sending`) together. */
  minPumpIntervalMs: number;
  /**
   * A pump takes the window's places that free up within this many ms past the group commit's delay and the pump
   * interval, and each send leaves at its place's time once its `sending` row is committed. Without it every send
   * would leave that much after its place freed, and a strict window counted from real starts loses that time for good.
   */
  startAheadSlackMs: number;
  errorBudget: ErrorBudgetOptions;
}

export const DEFAULT_PIPELINE_OPTIONS: Omit<SenderPipelineOptions, 'ratePerSecond' | 'dailyLimit'> = {
  maxInFlight: 256,
  loadBatchSize: 2000,
  maxAttempts: 6,
  minPumpIntervalMs: 3,
  startAheadSlackMs: 1,
  errorBudget: DEFAULT_ERROR_BUDGET,
};

export interface SenderPipelineEvents {
  /** Stop the campaign: an account or template problem, or its error budget is spent. */
  onHalt(campaignId: string, reason: StateReason): void;
  /** The campaign cannot send for now (daily limit), or can again (null). */
  onWaiting(campaignId: string, reason: StateReason | null): void;
  /** Nothing of the campaign is queued in memory or in flight: the engine may check whether it is finished. */
  onDrained(campaignId: string): void;
  /** A fenced write found the sender's lease held elsewhere: this pipeline has stopped and must be dropped. */
  onLeaseLost(): void;
  /**
   * `/messages` refused a marketing template with 131063 (the WABA turned marketing off there): this pipeline now
   * sends marketing templates through `/marketing_messages`; the engine stores the account's option. Once per pipeline.
   */
  onMarketingMessagesApi(): void;
}

/** The sender's lease as the pipeline sees it; the engine renews it and moves the deadline. */
export interface PipelineLease {
  readonly fence: SenderFence;
  /** No send leaves at or after this time (by the pipeline's clock): past it another instance may be sending. */
  launchDeadlineMs: number;
}

interface CampaignSlot {
  campaign: Campaign;
  /** Highest row id read from the store so far. */
  cursor: number;
  isExhausted: boolean;
  held: number;
  errorBudget: ErrorBudget;
  waiting: StateReason | null;
  isDrainNotified: boolean;
  /** Grows at every wake: a read that started before it must not call the campaign exhausted. */
  generation: number;
  /**
   * Rows held in `delayed` that wait for a frequency-cap retry (131049), by id, with their retry times: the waiting
   * reason names how many and the earliest retry still ahead.
   */
  capRetries: Map<number, number>;
}

/** A send whose `sending` row is committed, waiting for its place in the throughput window or on its way. */
interface Launch {
  message: QueuedMessage;
  campaign: Campaign;
  /** Its place in the SenderLimiter, and when that place is free. */
  ticket: number;
  atMs: number;
  /** When the daily tier budget counted the recipient (the pump): a send that did not happen gives it back. */
  countedAtMs: number;
}

/** The most a slow store may add to how far ahead sends are claimed (see startAheadMs), and what is remembered. */
const MAX_EXTRA_LEAD_MS = 20;
const LATENESS_WINDOW_MS = 3000;
const LATENESS_KEPT = 64;

/** How often a pipeline at the end of its lease looks whether the lease was renewed. */
const LEASE_WAIT_POLL_MS = 100;

/** "Marketing messages are disabled on Cloud API for this WhatsApp Business Account" (on `/messages`; CLOUD_API.md §13). */
export const MARKETING_OFF_ON_MESSAGES_CODE = 131063;
const MARKETING_CATEGORY = 'MARKETING';

/** A row's callback data: the campaign id and the row id, echoed back by Meta in every status webhook. */
export function callbackDataFor(campaignId: string, messageId: number): string {
  return `${campaignId}.${messageId}`;
}

export class SenderPipeline {
  private readonly limiter: SenderLimiter;
  private readonly pairGuard = new PairRateGuard();
  private readonly budget: DailyTierBudget;
  private readonly campaigns = new Map<string, CampaignSlot>();
  private ready: QueuedMessage[] = [];
  private readyHead = 0;
  private readonly delayed = new MinHeap<QueuedMessage>();
  /** Row id → campaign id of every row in memory: ready, delayed or in flight. */
  private readonly held = new Map<number, string>();
  private inFlight = 0;
  private pendingOutcomes: SendOutcome[] = [];
  private pendingRequeues: { message: QueuedMessage; dueAtMs: number }[] = [];
  /** A write of pendingOutcomes is queued in the group commit. */
  private isFlushQueued = false;
  private cancelPump: (() => void) | null = null;
  /** Committed sends waiting for their place's time, in that order (places are taken in time order). */
  private launches: Launch[] = [];
  private launchHead = 0;
  private cancelLaunch: (() => void) | null = null;
  private pumpAtMs = Infinity;
  private lastPumpAtMs = -Infinity;
  private isStopped = false;
  private isRefilling = false;
  /** How far claims' commits ran past the base lead (a ring; see startAheadMs). */
  private readonly lateness: { atMs: number; lateMs: number }[] = [];
  private latenessNext = 0;
  /** The lease was lost: nothing more is sent or written. */
  private isAbandoned = false;
  private idleWaiters: (() => void)[] = [];
  private readonly options: SenderPipelineOptions;
  /**
   * Campaigns whose template Meta treats as marketing (131063) though its category when the campaign was created was
   * not MARKETING (it changed since): they go to `/marketing_messages` too, so that a refused row is not refused again.
   */
  private readonly learntMarketing = new Set<string>();

  constructor(
    /** Its `marketingMessagesApi` is the route flag: switched on here at a 131063, read by the messenger per send. */
    private readonly sender: SenderCredentials,
    private readonly store: CampaignStore,
    private readonly messenger: Messenger,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly events: SenderPipelineEvents,
    /** Shared by every sender and the webhook intake: their writes commit together. */
    private readonly commits: GroupCommit,
    private readonly lease: PipelineLease,
    options: Partial<SenderPipelineOptions> & Pick<SenderPipelineOptions, 'ratePerSecond' | 'dailyLimit'>,
  ) {
    this.options = { ...DEFAULT_PIPELINE_OPTIONS, ...options };
    this.limiter = new SenderLimiter(this.options.ratePerSecond);
    this.budget = new DailyTierBudget(this.options.dailyLimit);
  }

  /**
   * Restores the per-number limits from what the store says was sent (after a restart or a takeover): the daily
   * tier from the last 24 h and the pair guard from the last minute. Call once, before adding campaigns.
   */
  async restoreLimits(): Promise<void> {
    const now = this.clock.now();
    const recent = await this.store.recentRecipients(this.sender.accountId, now - 24 * 3600 * 1000);
    this.budget.restore(recent.map((r) => ({ to: r.to, atMs: r.firstAtMs })));
    for (const r of recent) if (r.lastAtMs > now - 60_000) this.pairGuard.record(r.to, r.lastAtMs);
  }

  /** Starts (or keeps) sending this running campaign's queued rows. Idempotent. */
  addCampaign(campaign: Campaign): void {
    const slot = this.campaigns.get(campaign.id);
    if (slot) {
      slot.campaign = campaign;
      this.wake(campaign.id);
      return;
    }
    let inFlightOfCampaign = 0;
    for (const campaignId of this.held.values()) if (campaignId === campaign.id) inFlightOfCampaign++;
    this.campaigns.set(campaign.id, {
      campaign, cursor: 0, isExhausted: false, held: inFlightOfCampaign,
      errorBudget: new ErrorBudget(this.options.errorBudget), waiting: null, isDrainNotified: false, generation: 0,
      capRetries: new Map(),
    });
    this.schedulePump(this.clock.now());
  }

  /** The campaign as the store has it now (a template's new category): later sends follow it. */
  updateCampaign(campaign: Campaign): void {
    const slot = this.campaigns.get(campaign.id);
    if (!slot) return;
    // What a 131063 taught about the old category does not outlive Meta's new one.
    if (slot.campaign.templateDefinition.category !== campaign.templateDefinition.category) this.learntMarketing.delete(campaign.id);
    slot.campaign = campaign;
  }

  /** Stops sending the campaign (paused, cancelled): rows not yet marked `sending` stay `queued` in the store. */
  removeCampaign(campaignId: string): void {
    if (!this.campaigns.delete(campaignId)) return;
    const isKept = (m: QueuedMessage): boolean => {
      if (m.campaignId !== campaignId) return true;
      this.held.delete(m.id);
      return false;
    };
    this.ready = this.ready.slice(this.readyHead).filter(isKept);
    this.readyHead = 0;
    this.delayed.filter(isKept);
  }

  /**
   * Rows of the campaign waiting in memory for a later attempt may be due sooner now (a frequency-capped person
   * wrote): they are dropped from memory and read again with their new times.
   */
  rereadWaiting(campaignId: string): void {
    const slot = this.campaigns.get(campaignId);
    if (!slot) return;
    this.delayed.filter((m) => {
      if (m.campaignId !== campaignId) return true;
      this.release(m);
      return false;
    });
    slot.capRetries.clear();
    this.wake(campaignId, true);
  }

  /** New rows (or rows put back to queued) may be in the store for this campaign. */
  wake(campaignId: string, fromStart = false): void {
    const slot = this.campaigns.get(campaignId);
    if (!slot) return;
    slot.isExhausted = false;
    slot.isDrainNotified = false;
    slot.generation++;
    if (fromStart) slot.cursor = 0;
    this.schedulePump(this.clock.now());
  }

  hasCampaign(campaignId: string): boolean {
    return this.campaigns.has(campaignId);
  }

  get campaignCount(): number {
    return this.campaigns.size;
  }

  /**
   * Meta reported a message of the campaign as failed after accepting it (status webhook). An account or template
   * code pauses the campaign, as it would have in the HTTP answer; any other failure counts against the error budget
   * (a broken header image, a list of numbers not on WhatsApp).
   */
  failedLater(campaignId: string, code: string): void {
    const slot = this.campaigns.get(campaignId);
    if (!slot) return;
    // Meta's frequency cap says nothing about the campaign: the row waits for its retry (or is given up) alone.
    if (code === FREQUENCY_CAP_CODE) return;
    const numeric = /^\d+$/.test(code) ? Number(code) : null;
    const rule = classifyMetaError(numeric, null);
    if (rule.action === 'halt') this.halt(slot, { code: `meta_${code}`, message: rule.message });
    else if (slot.errorBudget.recordLateFailure()) this.halt(slot, null);
  }

  /** Rows sent or queued in memory for the campaign (0 and exhausted means drained). */
  isDrained(campaignId: string): boolean {
    const slot = this.campaigns.get(campaignId);
    return !slot || (slot.isExhausted && slot.held === 0);
  }

  /** Resolves when nothing is in flight and all results are written. */
  async stop(): Promise<void> {
    this.isStopped = true;
    this.cancelPump?.();
    this.cancelPump = null;
    // Rows already queued for `sending` are committed and sent: leaving them would turn them into `unknown`.
    await this.commits.commit();
    // An abandoned pipeline owns nothing any more: its sends in flight are the new holder's to settle.
    if (this.inFlight > 0 && !this.isAbandoned) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.commits.commit();
  }

  /**
   * The lease is gone: sends nothing more and writes nothing more (the new holder owns the rows). Rows claimed and
   * not yet launched stay `sending`, for a webhook or the reconciler to settle: never a second send.
   */
  abandon(): void {
    if (this.isAbandoned) return;
    this.isAbandoned = true;
    this.isStopped = true;
    this.cancelPump?.();
    this.cancelPump = null;
    this.cancelLaunch?.();
    this.cancelLaunch = null;
    this.launches = [];
    this.launchHead = 0;
    this.campaigns.clear();
    this.ready = [];
    this.readyHead = 0;
    this.delayed.filter(() => false);
    this.held.clear();
    this.pendingOutcomes = [];
    this.pendingRequeues = [];
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** The campaigns this pipeline sends for now. */
  campaignIds(): string[] {
    return [...this.campaigns.keys()];
  }

  private leaseLost(error: unknown): boolean {
    if (!(error instanceof LeaseLostError)) return false;
    if (!this.isAbandoned) {
      this.logger.warn({ accountId: this.sender.accountId }, 'sender lease lost; this instance stops sending for the number');
      this.abandon();
      this.events.onLeaseLost();
    }
    return true;
  }

  private schedulePump(requestedAtMs: number): void {
    const atMs = this.paced(requestedAtMs);
    if (this.isStopped || atMs >= this.pumpAtMs) return;
    this.cancelPump?.();
    this.pumpAtMs = atMs;
    this.cancelPump = this.clock.setTimer(Math.max(0, atMs - this.clock.now()), () => {
      this.cancelPump = null;
      this.pumpAtMs = Infinity;
      this.pump();
    });
  }

  private readyCount(): number {
    return this.ready.length - this.readyHead;
  }

  private pump(): void {
    if (this.isStopped) return;
    const now = this.clock.now();
    this.lastPumpAtMs = now;
    while (this.delayed.size > 0 && (this.delayed.peekKey() as number) <= now) {
      const message = this.delayed.pop() as QueuedMessage;
      this.campaigns.get(message.campaignId)?.capRetries.delete(message.id);
      this.ready.push(message);
    }
    if (this.readyCount() < this.options.loadBatchSize / 2) this.refill();
    if (now + this.startAheadMs() >= this.lease.launchDeadlineMs) {
      // Near the end of the lease nothing is claimed: a claimed row that may not leave would end `unknown`. The
      // engine moves the deadline when it renews; look again shortly.
      this.schedulePump(now + LEASE_WAIT_POLL_MS);
      return;
    }

    const batch: QueuedMessage[] = [];
    /** The limiter's ticket of each message of the batch, and when its place is free, in order. */
    const tickets: number[] = [];
    const placeAt: number[] = [];
    const horizon = now + this.startAheadMs();
    let blockedByBudget = false;
    while (this.readyHead < this.ready.length && this.inFlight + batch.length < this.options.maxInFlight) {
      const message = this.ready[this.readyHead] as QueuedMessage;
      const slot = this.campaigns.get(message.campaignId);
      if (!slot) {
        this.readyHead++;
        this.held.delete(message.id);
        continue;
      }
      const pairAt = this.pairGuard.nextAllowedAtMs(message.to, now);
      if (pairAt > now) {
        this.readyHead++;
        this.delayed.push(pairAt, message);
        continue;
      }
      if (!this.budget.allows(message.to, now)) {
        blockedByBudget = true;
        break;
      }
      const freeAt = this.limiter.nextFreeAtMs(now);
      if (freeAt > horizon) break;
      const ticket = this.limiter.acquire(freeAt);
      if (ticket === null) break;
      tickets.push(ticket);
      placeAt.push(freeAt);
      this.readyHead++;
      this.pairGuard.record(message.to, freeAt);
      this.budget.record(message.to, now);
      batch.push(message);
    }
    if (this.readyHead > 4096 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
    this.updateWaiting(blockedByBudget, now);

    if (batch.length > 0) {
      // Reserved until answered: counts against maxInFlight while its `sending` row waits for the commit.
      this.inFlight += batch.length;
      const campaigns = new Map(batch.map((m) => [m.campaignId, (this.campaigns.get(m.campaignId) as CampaignSlot).campaign]));
      this.commits.add(
        () => ({
          kind: 'claim' as const,
          fence: this.lease.fence,
          // A campaign paused or cancelled since the pump sends nothing more: its rows stay `queued` (the store
          // checks the campaign's state too, for a pause asked through another instance).
          ids: batch.filter((m) => this.campaigns.has(m.campaignId)).map((m) => m.id),
          nowMs: now,
        }),
        // The durable "before": only once `sending` is committed does the request leave, so a crash leaves the
        // row for a webhook to settle, never for a second send.
        (moved) => this.startSends(batch, tickets, placeAt, campaigns, new Set(moved), now),
        (error) => {
          if (!this.leaseLost(error)) this.startsNotWritten(batch, tickets, error);
        },
      );
    }
    this.notifyDrained();
    this.scheduleNext(now, blockedByBudget);
  }

  private startSends(
    batch: readonly QueuedMessage[], tickets: readonly number[], placeAt: readonly number[],
    campaigns: ReadonlyMap<string, Campaign>, moved: ReadonlySet<number>, pumpedAtMs: number,
  ): void {
    if (this.isAbandoned) return;
    const now = this.clock.now();
    // How much longer than the base lead the claim took from the pump to here: the lead it would have needed.
    this.recordLateness(now, Math.max(0, now - pumpedAtMs - this.baseLeadMs()));
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i] as QueuedMessage;
      const ticket = tickets[i] as number;
      if (moved.has(message.id)) {
        const campaign = campaigns.get(message.campaignId) as Campaign;
        const atMs = placeAt[i] as number;
        // Never before its place is free: the window counts from when a send really leaves.
        const launch = { message, campaign, ticket, atMs, countedAtMs: pumpedAtMs };
        if (atMs <= now && this.launchHead === this.launches.length) this.send(launch, now);
        else this.launches.push(launch);
      } else {
        // Not `queued` any more (cancelled or erased since it was read, or `skipped`: its recipient opted out).
        this.limiter.release(ticket);
        this.inFlight--;
        this.budget.release(message.to, pumpedAtMs);
        this.release(message);
      }
    }
    this.launchDue();
    this.afterAnswer();
    this.notifyDrained();
  }

  /** Sends every committed send whose place is free by now; waits for the next one's time. */
  private launchDue(): void {
    this.cancelLaunch?.();
    this.cancelLaunch = null;
    const now = this.clock.now();
    while (this.launchHead < this.launches.length) {
      const launch = this.launches[this.launchHead] as Launch;
      if (launch.atMs > now) {
        this.cancelLaunch = this.clock.setTimer(launch.atMs - now, () => {
          this.cancelLaunch = null;
          this.launchDue();
        });
        return;
      }
      this.launchHead++;
      this.send(launch, now);
    }
    this.launches = [];
    this.launchHead = 0;
  }

  /** Past the lease's deadline nothing leaves: the row stays `sending` (a webhook or the reconciler settles it). */
  private isLaunchAllowed(now: number): boolean {
    return now < this.lease.launchDeadlineMs && !this.isAbandoned;
  }

  /** How far ahead of a place's time a pump takes it: enough for its `sending` row to be committed by then. */
  private startAheadMs(): number {
    // Plus how much longer than that claims took to commit of late (a slow store: PostgreSQL's round trips, a batch
    // in flight), so that a slow commit does not cost rate. Only what was seen, and capped: every row claimed ahead
    // would end `unknown` in a crash, and a lead near the lease's margin would stop the pump.
    return this.baseLeadMs() + Math.min(MAX_EXTRA_LEAD_MS, this.recentLatenessMs(this.clock.now()));
  }

  private baseLeadMs(): number {
    return this.commits.delayMs + this.options.minPumpIntervalMs + this.options.startAheadSlackMs;
  }

  /** The most a claim's commit ran past the base lead, over the last LATENESS_WINDOW_MS. */
  private recentLatenessMs(now: number): number {
    let latest = 0;
    for (const { atMs, lateMs } of this.lateness) if (atMs > now - LATENESS_WINDOW_MS) latest = Math.max(latest, lateMs);
    return latest;
  }

  private recordLateness(now: number, lateMs: number): void {
    this.lateness[this.latenessNext] = { atMs: now, lateMs };
    this.latenessNext = (this.latenessNext + 1) % LATENESS_KEPT;
  }

  /** The `sending` writes did not commit: the rows are still `queued` and are read again later. */
  private startsNotWritten(batch: readonly QueuedMessage[], tickets: readonly number[], error: unknown): void {
    this.logger.error({ error: String(error), rows: batch.length }, 'could not record sends; retrying');
    for (const ticket of tickets) this.limiter.release(ticket);
    this.inFlight -= batch.length;
    const campaignIds = new Set<string>();
    for (const message of batch) {
      this.release(message);
      campaignIds.add(message.campaignId);
    }
    for (const id of campaignIds) {
      const slot = this.campaigns.get(id);
      if (slot) {
        slot.isExhausted = false;
        slot.cursor = 0;
      }
    }
    this.afterAnswer();
    this.schedulePump(this.clock.now() + 1000);
  }

  private scheduleNext(now: number, blockedByBudget: boolean): void {
    let next = Infinity;
    if (this.readyCount() > 0) {
      if (blockedByBudget) next = this.budget.nextFreeAtMs(now) ?? now + 1000;
      else if (this.inFlight < this.options.maxInFlight) next = this.limiter.nextFreeAtMs(now) - this.startAheadMs();
      // At maxInFlight the next answer re-arms the pump.
    } else if (this.hasUnreadRows() && !this.isRefilling) {
      next = now;
    }
    const delayedKey = this.delayed.peekKey();
    if (delayedKey !== undefined) next = Math.min(next, delayedKey);
    if (next !== Infinity) this.schedulePump(Math.max(next, now));
  }

  /** Pumps are spaced by minPumpIntervalMs so that starts are committed in batches, not one by one. */
  private paced(atMs: number): number {
    return Math.max(atMs, this.lastPumpAtMs + this.options.minPumpIntervalMs);
  }

  private hasUnreadRows(): boolean {
    for (const slot of this.campaigns.values()) if (!slot.isExhausted) return true;
    return false;
  }

  /**
   * Reads more queued rows, round-robin over the campaigns, skipping rows already held in memory. One read at a
   * time, off the pump: the pump goes on with what is ready and runs again when the rows are in.
   */
  private refill(): void {
    if (this.isRefilling) return;
    const slots = [...this.campaigns.values()].filter((slot) => !slot.isExhausted);
    if (slots.length === 0) return;
    this.isRefilling = true;
    void (async () => {
      for (const slot of slots) {
        const generation = slot.generation;
        const cursor = slot.cursor;
        let rows: QueuedMessage[];
        try {
          rows = await this.store.loadQueued(slot.campaign.id, cursor, this.options.loadBatchSize);
        } catch (error) {
          this.logger.error({ error: String(error) }, 'could not read queued rows; retrying');
          this.isRefilling = false;
          this.schedulePump(this.clock.now() + 1000);
          return;
        }
        if (this.isStopped || this.campaigns.get(slot.campaign.id) !== slot) continue;
        if (rows.length < this.options.loadBatchSize && slot.generation === generation) slot.isExhausted = true;
        const now = this.clock.now();
        for (const row of rows) {
          slot.cursor = Math.max(slot.cursor, row.id);
          if (this.held.has(row.id)) continue;
          this.held.set(row.id, row.campaignId);
          slot.held++;
          if (row.nextAttemptAt > now) {
            this.delayed.push(row.nextAttemptAt, row);
            if (row.errorCode === FREQUENCY_CAP_CODE) slot.capRetries.set(row.id, row.nextAttemptAt);
          } else {
            this.ready.push(row);
          }
        }
      }
      this.isRefilling = false;
      this.notifyDrained();
      this.schedulePump(this.clock.now());
    })();
  }

  private release(message: QueuedMessage): void {
    if (!this.held.delete(message.id)) return;
    const slot = this.campaigns.get(message.campaignId);
    if (slot) slot.held--;
  }

  private send(launch: Launch, startedAtMs: number): void {
    if (!this.isLaunchAllowed(startedAtMs)) {
      this.withhold(launch);
      return;
    }
    const { message, campaign } = launch;
    const request: SendRequest = {
      callbackData: callbackDataFor(message.campaignId, message.id),
      to: message.to,
      template: campaign.template,
      components: buildComponents(campaign.templateDefinition, message.params, message.headerMedia ?? undefined),
      isMarketing: campaign.templateDefinition.category === MARKETING_CATEGORY || this.learntMarketing.has(campaign.id),
      // Asked again when the request is written: a process frozen after this launch wakes past its deadline.
      mayLeave: () => this.isLaunchAllowed(this.clock.now()),
    };
    const isViaMarketingApi = usesMarketingMessagesApi(this.sender, request);
    this.messenger.send(this.sender, request).then(
      (result) => (result.kind === 'withheld' ? this.withhold(launch) : this.settle(launch, result, startedAtMs, isViaMarketingApi)),
      (error: unknown) => this.settle(launch, { kind: 'no_answer', reason: String(error) }, startedAtMs, isViaMarketingApi),
    );
  }

  /**
   * Committed as `sending` but not sent, the lease's deadline having passed: it goes back to `queued` by a write
   * fenced with this holder's token, so it succeeds only while the lease is still this holder's; if another instance
   * took over, the row stays `sending` for the reconciler (never a second send).
   */
  private withhold({ message, ticket, countedAtMs }: Launch): void {
    this.limiter.release(ticket);
    this.budget.release(message.to, countedAtMs);
    this.inFlight--;
    if (this.isAbandoned) {
      this.release(message);
    } else {
      // Held in memory, like any requeue: it is pumped again once its `queued` status is written (afterFlush).
      this.pendingOutcomes.push({ id: message.id, kind: 'requeue' });
      this.requeueAt(message, this.clock.now());
      this.queueFlush();
    }
    this.afterAnswer();
  }

  private settle(launch: Launch, result: Exclude<SendResult, { kind: 'withheld' }>, startedAtMs: number, isViaMarketingApi: boolean): void {
    const { message, ticket, countedAtMs } = launch;
    this.inFlight--;
    if (this.isAbandoned) {
      // The new holder owns the row now; the status webhook settles it.
      this.afterAnswer();
      return;
    }
    const now = this.clock.now();
    // The answer bounds when the request reached Meta: its place in the throughput window (see SenderLimiter).
    this.limiter.settle(ticket, startedAtMs, now, result.kind === 'accepted');
    const slot = this.campaigns.get(message.campaignId);
    const outcome = this.outcomeFor(message, result, countedAtMs, now, slot, isViaMarketingApi);
    if (outcome) this.pendingOutcomes.push(outcome);
    if (outcome?.kind !== 'retry' && outcome?.kind !== 'requeue') this.release(message);
    this.queueFlush();
    this.afterAnswer();
    this.schedulePump(now);
  }

  private afterAnswer(): void {
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Results are written in the next group commit, together with every other sender's. */
  private queueFlush(): void {
    if (this.isFlushQueued || (this.pendingOutcomes.length === 0 && this.pendingRequeues.length === 0)) return;
    this.isFlushQueued = true;
    let requeues: { message: QueuedMessage; dueAtMs: number }[] = [];
    this.commits.add(
      () => {
        // Built when the group commit starts: it takes every outcome that came in while it waited.
        this.isFlushQueued = false;
        const outcomes = this.pendingOutcomes;
        requeues = this.pendingRequeues;
        this.pendingOutcomes = [];
        this.pendingRequeues = [];
        return { kind: 'outcomes' as const, fence: this.lease.fence, outcomes, nowMs: this.clock.now() };
      },
      () => this.afterFlush(requeues),
      (error) => {
        if (this.leaseLost(error)) return;
        // Rows keep their `sending` status: the status webhook (or the reconciler) settles them.
        this.logger.error({ error: String(error) }, 'could not record send results');
        for (const { message } of requeues) this.release(message);
        this.notifyDrained();
      },
    );
  }

  private outcomeFor(
    message: QueuedMessage, result: Exclude<SendResult, { kind: 'withheld' }>, countedAtMs: number, now: number,
    slot: CampaignSlot | undefined, isViaMarketingApi: boolean,
  ): SendOutcome | null {
    switch (result.kind) {
      case 'accepted':
        if (slot?.errorBudget.record(false)) this.halt(slot, null);
        return { id: message.id, kind: 'sent', wamid: result.wamid };
      case 'no_answer':
        // Meta may have it: leave `sending` for the status webhook (it echoes the callback data) or the reconciler.
        this.logger.warn({ campaignId: message.campaignId, messageId: message.id, reason: result.reason }, 'send outcome unknown');
        return null;
      case 'not_sent':
        this.budget.release(message.to, countedAtMs);
        return this.retryLater(message, now, { code: 'network', message: `Could not reach WhatsApp: ${result.reason}` }, 'retry');
      case 'error': {
        this.budget.release(message.to, countedAtMs);
        if (result.code === MARKETING_OFF_ON_MESSAGES_CODE && !isViaMarketingApi) {
          // Not the row's fault, nor the campaign's: the row goes again, attempts unchanged, through the MM API.
          this.switchToMarketingApi(message.campaignId);
          this.requeueAt(message, now);
          return { id: message.id, kind: 'requeue' };
        }
        const rule = classifyMetaError(result.code, result.httpStatus);
        const error = { code: String(result.code ?? `http_${result.httpStatus}`), message: rule.message };
        switch (rule.action) {
          case 'throttle':
            this.limiter.throttled(now);
            this.requeueAt(message, now + 1000);
            return { id: message.id, kind: 'requeue' };
          case 'retry':
          case 'pair_rate':
            return this.retryLater(message, now, error, rule.action);
          case 'halt':
            if (slot) this.halt(slot, { code: `meta_${error.code}`, message: rule.message });
            this.requeueAt(message, now);
            return { id: message.id, kind: 'requeue' };
          case 'recipient':
            if (slot?.errorBudget.record(true)) this.halt(slot, null);
            return { id: message.id, kind: 'failed', error };
        }
      }
    }
  }

  private retryLater(
    message: QueuedMessage, now: number, error: { code: string; message: string }, kind: 'retry' | 'pair_rate',
  ): SendOutcome {
    const attempts = message.attempts + 1;
    if (attempts >= this.options.maxAttempts) {
      return { id: message.id, kind: 'failed', error: { ...error, message: `${error.message} Gave up after ${attempts} attempts.` } };
    }
    // Meta's published backoff for the pair rate is 4^X seconds; other transient errors double from 1 s to 1 min.
    const delayMs = kind === 'pair_rate' ? 4 ** message.attempts * 1000 : Math.min(60_000, 2 ** message.attempts * 1000);
    const nextAttemptAt = now + delayMs;
    this.requeueAt({ ...message, attempts, nextAttemptAt }, nextAttemptAt);
    return { id: message.id, kind: 'retry', attempts, nextAttemptAt, error };
  }

  /**
   * Marketing is off on `/messages` for the WABA (131063): marketing templates go through `/marketing_messages`
   * from the next send on. The store write and the log line happen once, however many sends were in flight.
   */
  private switchToMarketingApi(campaignId: string): void {
    this.learntMarketing.add(campaignId);
    if (this.sender.marketingMessagesApi) return;
    this.sender.marketingMessagesApi = true;
    this.logger.warn({ accountId: this.sender.accountId, campaignId, code: MARKETING_OFF_ON_MESSAGES_CODE },
      'marketing templates are off on /messages for this account (131063); it now sends them through /marketing_messages');
    this.events.onMarketingMessagesApi();
  }

  /** The row goes back into memory only after its `queued` status is written (see flush). */
  private requeueAt(message: QueuedMessage, dueAtMs: number): void {
    this.pendingRequeues.push({ message, dueAtMs });
  }

  private halt(slot: CampaignSlot, reason: StateReason | null): void {
    if (!this.campaigns.has(slot.campaign.id)) return;
    const why = reason ?? {
      code: 'error_budget',
      message: 'Paused: most of the recent messages failed. Check the template mapping and the phone numbers, then resume.',
    };
    this.logger.warn({ campaignId: slot.campaign.id, reason: why.code }, 'campaign halted');
    this.events.onHalt(slot.campaign.id, why);
  }

  /** The rows' `queued` status is written: only now do retried rows go back into memory. */
  private afterFlush(requeues: readonly { message: QueuedMessage; dueAtMs: number }[]): void {
    if (requeues.length > 0) {
      for (const { message, dueAtMs } of requeues) {
        if (this.campaigns.has(message.campaignId) && !this.isStopped) {
          this.delayed.push(dueAtMs, message);
        } else {
          this.release(message);
        }
      }
      this.schedulePump(this.delayed.peekKey() ?? this.clock.now());
    }
    this.notifyDrained();
  }

  private updateWaiting(isBlocked: boolean, now: number): void {
    const freeAt = isBlocked ? this.budget.nextFreeAtMs(now) : null;
    for (const slot of this.campaigns.values()) {
      const reason: StateReason | null = isBlocked
        ? {
          code: 'daily_limit',
          message: `Waiting: the account's limit of ${this.options.dailyLimit} people per 24 hours is used up; `
            + `sending resumes at ${freeAt === null ? 'the next free place' : new Date(freeAt).toISOString()}.`,
        }
        : this.capReason(slot);
      if (slot.waiting?.code !== reason?.code) {
        slot.waiting = reason;
        this.events.onWaiting(slot.campaign.id, reason);
      }
    }
  }

  /** The campaign has nothing left to send now but rows held back by Meta's frequency cap: it says so, and until when. */
  private capReason(slot: CampaignSlot): StateReason | null {
    const waiting = slot.capRetries.size;
    if (waiting === 0 || slot.held !== waiting || !slot.isExhausted) return null;
    // Only when nothing else is left to send, so the walk over the waiting rows is rare.
    let nextAtMs = Infinity;
    for (const atMs of slot.capRetries.values()) nextAtMs = Math.min(nextAtMs, atMs);
    return {
      code: 'frequency_cap',
      message: `Waiting: WhatsApp held back ${waiting} marketing message${waiting === 1 ? '' : 's'} because `
        + `the people received many lately (131049). Meta asks to wait 24 hours: the next retry is at `
        + `${new Date(nextAtMs).toISOString()}; a person who writes meanwhile gets theirs at once.`,
    };
  }

  private notifyDrained(): void {
    for (const slot of this.campaigns.values()) {
      if (slot.isExhausted && slot.held === 0 && !slot.isDrainNotified) {
        slot.isDrainNotified = true;
        this.events.onDrained(slot.campaign.id);
      }
    }
  }
}
