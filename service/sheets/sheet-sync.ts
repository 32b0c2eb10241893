// The sheet write-back loop: brings sheet-linked campaigns' status columns up to date from the store, pacing writes
// per spreadsheet and per service account. Domain only: no googleapis, no process.env, no Date.now (time is the Clock).
import type { Clock } from '../campaigns/clock';
import type {
  MessageChange,
  SheetCampaign,
  SheetSyncStore,
  SheetTarget,
  SheetWriteOutcome,
  SheetWriter,
} from './sheet-ports';

/** Options of {@link SheetSync}. Every duration is in milliseconds of the injected clock. */
export interface SheetSyncOptions {
  store: SheetSyncStore;
  writer: SheetWriter;
  clock: Clock;
  /**
   * Least time between two write calls to the same spreadsheet, whichever tab they touch, from the end of one
   * write to the start of the next. Changes that arrive in between are coalesced into the next write.
   * @default 2000
   */
  minIntervalMs?: number;
  /**
   * Sustained write calls per minute across all spreadsheets. Google counts 60 writes per minute per user per
   * project, and every sheet is written as the same service account, so this is one global budget.
   * @default 50
   */
  writesPerMinute?: number;
  /**
   * Write calls that may go out back to back before `writesPerMinute` paces them. In any rolling minute at most
   * `burstWrites + writesPerMinute` calls leave, so keep that sum at or under 60.
   * @default 5
   */
  burstWrites?: number;
  /**
   * Most changes read from the store for one write (all campaigns of the tab together). A larger backlog is
   * written in several writes, one page each, `minIntervalMs` apart.
   * @default 5000
   */
  pageSize?: number;
  /**
   * How often the loop looks for changes when nothing calls {@link SheetSync.kick}.
   * @default 5000
   */
  pollIntervalMs?: number;
  /**
   * Asked before each pass: with several instances only the one holding the write-back lease writes to Google, so
   * the same changes are not written twice and the instances' writes do not add up against the per-user quota.
   * @default always true (one instance)
   */
  isLeader?: () => Promise<boolean>;
  /**
   * First wait after a `retry` outcome; it doubles on each further `retry` of the same tab, and a longer
   * `retryAfterMs` from Google wins.
   * @default 2000
   */
  backoffBaseMs?: number;
  /** @default 300000 (5 min) */
  maxBackoffMs?: number;
  /**
   * Wait after a `blocked` outcome (sheet not shared, deleted, headers missing) before trying that tab again,
   * unless {@link SheetSync.retryNow} is called.
   * @default 600000 (10 min)
   */
  blockedRetryMs?: number;
  /** Most campaigns listed from the store per pass. @default 1000 */
  maxCampaignsPerPass?: number;
  /**
   * Told about unexpected errors (a store call or a write that throws or rejects); the loop carries on regardless,
   * and what failed is tried again later. An `onError` that throws is ignored.
   */
  onError?: (error: unknown) => void;
}

/** Where a campaign's write-back stands, for the API. */
export type SheetSyncState = 'idle' | 'pending' | 'retrying' | 'blocked';

/** A campaign's write-back status, as `status()` reports it. Times are ms since the epoch. */
export interface SheetSyncStatus {
  state: SheetSyncState;
  /** When changes of this campaign were last written successfully (in this process's lifetime), or null. */
  lastWriteAt: number | null;
  /** Why the last write failed or was refused, in words a marketer understands; null after a success. */
  lastError: string | null;
  /** Changes read from the store and not yet written (a lower bound when the backlog exceeds `pageSize`). */
  pending: number;
  /** Rows of the last successful write whose key was not found in the sheet (their results stay in the store). */
  rowsNotFound: number;
  /** When the next attempt may happen, while retrying or blocked; otherwise null. */
  nextAttemptAt: number | null;
}

interface TargetState {
  target: SheetTarget;
  /** Earliest time this tab may be written again after a failure (0 when healthy). */
  nextAttemptAt: number;
  failures: number;
  blockedReason: string | null;
  lastAttemptAt: number;
}

interface SpreadsheetState {
  lastAttemptAt: number;
  /**
   * A pass is reading this spreadsheet's next page, or its write (with its cursor saves) has not settled. Set before
   * the first store read, so nothing else reads or moves these campaigns' cursors until it is cleared.
   */
  isWriting: boolean;
  /** The value of {@link SheetSync}'s settled-writes counter when this spreadsheet's last write settled (0: never). */
  settledStamp: number;
}

interface CampaignRecord {
  targetKey: string;
  lastWriteAt: number | null;
  lastError: string | null;
  pending: number;
  rowsNotFound: number;
}

interface CampaignPage {
  campaignId: string;
  lastSeq: number;
}

/**
 * Writes message results into the sheets campaigns were created from, through a {@link SheetWriter}.
 *
 * Guarantees: at most one write call per spreadsheet per `minIntervalMs` (counted from the end of the previous
 * write, so it holds for the calls as Google receives them); at most `burstWrites + writesPerMinute`
 * write calls in any rolling minute; a campaign's sheet cursor moves only after the write that carried its changes
 * succeeded, so a crash, a 429 or a refusal never loses an update (it is read again from the store). Campaigns
 * writing to the same tab share one write; different tabs of one spreadsheet take turns.
 */
export class SheetSync {
  private readonly store: SheetSyncStore;
  private readonly writer: SheetWriter;
  private readonly clock: Clock;
  private readonly minIntervalMs: number;
  private readonly pageSize: number;
  private readonly pollIntervalMs: number;
  private readonly isLeader: () => Promise<boolean>;
  private readonly backoffBaseMs: number;
  private readonly maxBackoffMs: number;
  private readonly blockedRetryMs: number;
  private readonly maxCampaignsPerPass: number;
  private readonly onError: (error: unknown) => void;
  private readonly bucket: TokenBucket;

  private readonly targets = new Map<string, TargetState>();
  private readonly spreadsheets = new Map<string, SpreadsheetState>();
  private readonly campaigns = new Map<string, CampaignRecord>();
  private readonly writesInFlight = new Set<Promise<void>>();
  /** Counts settled writes, so a pass can tell that a spreadsheet's cursors moved after it listed them. */
  private writesSettled = 0;
  /** The pass running now: there is never more than one. */
  private passInFlight: Promise<void> | null = null;
  /** A wake-up came while a pass ran: run another pass as soon as this one ends. */
  private isPassWanted = false;

  private isRunning = false;
  private cancelTimer: (() => void) | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private lastPassAt = Number.NEGATIVE_INFINITY;

  /** @throws TypeError when a numeric option is not a positive number. */
  constructor(options: SheetSyncOptions) {
    this.store = options.store;
    this.writer = options.writer;
    this.clock = options.clock;
    this.minIntervalMs = positive('minIntervalMs', options.minIntervalMs ?? 2000);
    this.pageSize = positive('pageSize', options.pageSize ?? 5000);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 5000);
    this.isLeader = options.isLeader ?? (async () => true);
    this.backoffBaseMs = positive('backoffBaseMs', options.backoffBaseMs ?? 2000);
    this.maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs ?? 300_000);
    this.blockedRetryMs = positive('blockedRetryMs', options.blockedRetryMs ?? 600_000);
    this.maxCampaignsPerPass = positive('maxCampaignsPerPass', options.maxCampaignsPerPass ?? 1000);
    this.onError = options.onError ?? (() => {});
    this.bucket = new TokenBucket(
      positive('writesPerMinute', options.writesPerMinute ?? 50) / 60_000,
      positive('burstWrites', options.burstWrites ?? 5),
      this.clock.now(),
    );
  }

  /** Starts the loop; the first pass runs on the next timer turn. Idempotent. */
  start(): void {
    if (this.isRunning) return;
    this.isRunning = true;
    this.scheduleAt(this.clock.now());
  }

  /**
   * Stops the loop and resolves once the pass in progress (if any) has ended and writes already sent have settled
   * (their cursors saved on success). A pass stopped mid-way starts no further write.
   */
  async stop(): Promise<void> {
    this.isRunning = false;
    this.isPassWanted = false;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    await this.passInFlight;
    await Promise.allSettled([...this.writesInFlight]);
  }

  /**
   * Tells the loop that changes arrived so it looks sooner than its poll. Cheap and safe to call on every change:
   * passes still run at most once per `minIntervalMs` because of kicks, and each spreadsheet keeps its own pace.
   */
  kick(): void {
    if (!this.isRunning) return;
    this.scheduleAt(Math.max(this.clock.now(), this.lastPassAt + this.minIntervalMs));
  }

  /**
   * Forgets the backoff or block of every tab of a spreadsheet (e.g. the user says they have shared it now) and
   * looks again soon, still within the per-spreadsheet interval and the global budget.
   */
  retryNow(spreadsheetId: string): void {
    for (const state of this.targets.values()) {
      if (state.target.spreadsheetId !== spreadsheetId) continue;
      state.nextAttemptAt = 0;
      state.failures = 0;
      state.blockedReason = null;
    }
    if (this.isRunning) this.scheduleAt(this.clock.now());
  }

  /** The write-back status of a campaign; `idle` with no history for a campaign this process has not seen. */
  status(campaignId: string): SheetSyncStatus {
    const record = this.campaigns.get(campaignId);
    if (!record) {
      return { state: 'idle', lastWriteAt: null, lastError: null, pending: 0, rowsNotFound: 0, nextAttemptAt: null };
    }
    const target = this.targets.get(record.targetKey);
    const isWaiting = target !== undefined && target.nextAttemptAt > this.clock.now();
    let state: SheetSyncState = record.pending > 0 ? 'pending' : 'idle';
    if (target?.blockedReason != null) state = 'blocked';
    else if (isWaiting && target.failures > 0) state = 'retrying';
    return {
      state,
      lastWriteAt: record.lastWriteAt,
      lastError: record.lastError,
      pending: record.pending,
      rowsNotFound: record.rowsNotFound,
      nextAttemptAt: isWaiting ? target.nextAttemptAt : null,
    };
  }

  private scheduleAt(atMs: number): void {
    if (!this.isRunning || atMs >= this.timerAt) return;
    this.cancelTimer?.();
    this.timerAt = atMs;
    this.cancelTimer = this.clock.setTimer(Math.max(0, atMs - this.clock.now()), () => {
      this.cancelTimer = null;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.runPass();
    });
  }

  /**
   * Starts a pass unless one is running, in which case another follows it at once. One pass at a time: a pass reads
   * cursors from the store and starts writes from them, and a second pass interleaving at its awaits could read the
   * same cursors and write the same changes twice, or spend the budget twice.
   */
  private runPass(): void {
    if (!this.isRunning) return;
    if (this.passInFlight) {
      this.isPassWanted = true;
      return;
    }
    this.passInFlight = (async () => {
      let nextWakeAt = this.clock.now() + this.pollIntervalMs;
      try {
        nextWakeAt = await this.pass();
      } catch (error) {
        this.report(error);
      } finally {
        this.passInFlight = null;
        const now = this.clock.now();
        if (this.isPassWanted) {
          this.isPassWanted = false;
          nextWakeAt = now;
        }
        this.scheduleAt(Math.max(nextWakeAt, now));
      }
    })();
  }

  /**
   * One look at the store: starts at most one write per due spreadsheet. Returns when to look again. A failing store
   * call is reported and leaves the cursors as they were, so the next pass reads the same changes again.
   */
  private async pass(): Promise<number> {
    const now = this.clock.now();
    this.lastPassAt = now;
    let nextWakeAt = now + this.pollIntervalMs;
    const listedAfter = this.writesSettled;
    let campaigns: SheetCampaign[];
    try {
      if (!(await this.isLeader())) return nextWakeAt;
      campaigns = await this.store.listSheetCampaignsWithChanges(this.maxCampaignsPerPass);
    } catch (error) {
      this.report(error);
      return nextWakeAt;
    }
    const bySpreadsheet = this.groupBySpreadsheet(campaigns);
    // Least recently written spreadsheets first, so a tight budget is shared fairly.
    const order = [...bySpreadsheet.keys()].sort(
      (a, b) => this.spreadsheet(a).lastAttemptAt - this.spreadsheet(b).lastAttemptAt,
    );
    for (const spreadsheetId of order) {
      if (!this.isRunning) break;
      const tabs = bySpreadsheet.get(spreadsheetId);
      if (!tabs) continue;
      try {
        const dueAt = await this.startWriteIfDue(spreadsheetId, tabs, listedAfter);
        if (dueAt !== null) nextWakeAt = Math.min(nextWakeAt, dueAt);
      } catch (error) {
        this.report(error);
      }
    }
    return nextWakeAt;
  }

  /**
   * Starts a write for the spreadsheet's most overdue healthy tab when the spreadsheet's interval and the global
   * budget allow. Returns when to look at this spreadsheet again, or null when a write started or nothing waits
   * (the write's completion schedules the follow-up). `listedAfter` is the settled-writes count from before the
   * campaigns were listed: if a write of this spreadsheet settled since, the listed cursors may be older than the
   * store's, so the spreadsheet waits for the pass that write's end scheduled.
   */
  private async startWriteIfDue(
    spreadsheetId: string,
    tabs: Map<string, SheetCampaign[]>,
    listedAfter: number,
  ): Promise<number | null> {
    const sheet = this.spreadsheet(spreadsheetId);
    if (sheet.isWriting || sheet.settledStamp > listedAfter) return null;
    const now = this.clock.now();
    let earliestTargetAt = Number.POSITIVE_INFINITY;
    let chosen: TargetState | undefined;
    for (const campaigns of tabs.values()) {
      const first = campaigns[0];
      if (!first) continue;
      const state = this.targetState(first.target);
      if (state.nextAttemptAt > now) {
        earliestTargetAt = Math.min(earliestTargetAt, state.nextAttemptAt);
      } else if (!chosen || state.lastAttemptAt < chosen.lastAttemptAt) {
        chosen = state;
      }
    }
    const intervalAt = sheet.lastAttemptAt + this.minIntervalMs;
    if (!chosen) return Math.max(intervalAt, earliestTargetAt);
    if (intervalAt > now) return intervalAt;
    const budgetAt = this.bucket.readyAt(now);
    if (budgetAt > now) return budgetAt;

    const campaigns = tabs.get(chosen.target.sheetName) ?? [];
    // Held from the read through the write to the cursor saves: the cursors read here are the ones the write moves.
    sheet.isWriting = true;
    let page: { changes: MessageChange[]; pages: CampaignPage[] };
    try {
      page = await this.readPage(campaigns);
    } catch (error) {
      sheet.isWriting = false;
      throw error;
    }
    // Stopped while reading: start nothing new (the changes stay in the store for the next start).
    if (page.changes.length === 0 || !this.isRunning) {
      sheet.isWriting = false;
      return null;
    }
    // Only this pass spends the budget, and the spreadsheet was claimed, so the checks above still hold.
    const startedAt = this.clock.now();
    this.bucket.take(startedAt);
    sheet.lastAttemptAt = startedAt;
    chosen.lastAttemptAt = startedAt;
    const write = this.write(sheet, chosen, page.changes, page.pages)
      .catch((error: unknown) => this.report(error))
      .finally(() => {
        sheet.isWriting = false;
        sheet.settledStamp = ++this.writesSettled;
        this.writesInFlight.delete(write);
      });
    this.writesInFlight.add(write);
    return null;
  }

  /**
   * Reads up to `pageSize` changes after the cursors of the tab's campaigns, least recently written campaign
   * first so one large campaign cannot starve the others, and keeps only the latest change per row key.
   */
  private async readPage(campaigns: SheetCampaign[]): Promise<{ changes: MessageChange[]; pages: CampaignPage[] }> {
    const ordered = [...campaigns].sort(
      (a, b) => (this.campaigns.get(a.campaignId)?.lastWriteAt ?? 0) - (this.campaigns.get(b.campaignId)?.lastWriteAt ?? 0),
    );
    const latestByKey = new Map<string, MessageChange>();
    const pages: CampaignPage[] = [];
    let remaining = this.pageSize;
    for (const campaign of ordered) {
      if (remaining <= 0) break;
      const changes = await this.store.listChanges(campaign.campaignId, campaign.sheetCursor, remaining);
      const record = this.campaignRecord(campaign);
      record.pending = changes.length;
      if (changes.length === 0) continue;
      remaining -= changes.length;
      let lastSeq = campaign.sheetCursor;
      for (const change of changes) {
        lastSeq = Math.max(lastSeq, change.seq);
        const kept = latestByKey.get(change.key);
        // seq is the store's global change order, so across campaigns sharing a tab the later change wins too.
        if (!kept || change.seq > kept.seq) latestByKey.set(change.key, change);
      }
      pages.push({ campaignId: campaign.campaignId, lastSeq });
    }
    const changes = [...latestByKey.values()].sort((a, b) => a.seq - b.seq);
    return { changes, pages };
  }

  private async write(
    sheet: SpreadsheetState,
    target: TargetState,
    changes: MessageChange[],
    pages: CampaignPage[],
  ): Promise<void> {
    let outcome: SheetWriteOutcome;
    try {
      outcome = await this.writer.write(target.target, changes);
    } catch (error) {
      // Adapters translate vendor errors into outcomes; a throw is a bug or an outage, so treat it as transient.
      this.report(error);
      outcome = { kind: 'retry', retryAfterMs: 0, reason: 'The sheet could not be updated; will try again.' };
    }
    const now = this.clock.now();
    // The interval runs from the end of this write, not its start: the batchUpdate leaves after a read (and, the
    // first time, a token fetch) of varying latency, so spacing the starts lets two write calls reach Google closer
    // together than minIntervalMs.
    sheet.lastAttemptAt = Math.max(sheet.lastAttemptAt, now);
    switch (outcome.kind) {
      case 'written':
        target.failures = 0;
        target.nextAttemptAt = 0;
        target.blockedReason = null;
        for (const page of pages) {
          try {
            await this.store.saveSheetCursor(page.campaignId, page.lastSeq);
          } catch (error) {
            // The sheet already shows these changes; an unsaved cursor only means writing them once more.
            this.report(error);
          }
          const record = this.campaigns.get(page.campaignId);
          if (!record) continue;
          record.lastWriteAt = now;
          record.lastError = null;
          record.pending = 0;
          record.rowsNotFound = outcome.rowsNotFound;
        }
        break;
      case 'retry': {
        target.failures += 1;
        const backoffMs = Math.min(this.maxBackoffMs, this.backoffBaseMs * 2 ** (target.failures - 1));
        target.nextAttemptAt = now + Math.min(this.maxBackoffMs, Math.max(backoffMs, outcome.retryAfterMs));
        target.blockedReason = null;
        this.recordError(pages, outcome.reason);
        break;
      }
      case 'blocked':
        target.failures += 1;
        target.nextAttemptAt = now + this.blockedRetryMs;
        target.blockedReason = outcome.reason;
        this.recordError(pages, outcome.reason);
        break;
    }
    // More pages or other tabs may wait: look again as soon as this spreadsheet may be written.
    this.scheduleAt(Math.max(this.clock.now(), sheet.lastAttemptAt + this.minIntervalMs));
  }

  private report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // A throwing error handler must not stop the loop.
    }
  }

  private recordError(pages: CampaignPage[], reason: string): void {
    for (const page of pages) {
      const record = this.campaigns.get(page.campaignId);
      if (record) record.lastError = reason;
    }
  }

  private groupBySpreadsheet(campaigns: SheetCampaign[]): Map<string, Map<string, SheetCampaign[]>> {
    const bySpreadsheet = new Map<string, Map<string, SheetCampaign[]>>();
    for (const campaign of campaigns) {
      const record = this.campaignRecord(campaign);
      // The store says changes wait; their number is known once they are read.
      record.pending = Math.max(record.pending, 1);
      const { spreadsheetId, sheetName } = campaign.target;
      let tabs = bySpreadsheet.get(spreadsheetId);
      if (!tabs) bySpreadsheet.set(spreadsheetId, (tabs = new Map()));
      const list = tabs.get(sheetName);
      if (list) list.push(campaign);
      else tabs.set(sheetName, [campaign]);
    }
    return bySpreadsheet;
  }

  private campaignRecord(campaign: SheetCampaign): CampaignRecord {
    let record = this.campaigns.get(campaign.campaignId);
    if (!record) {
      record = { targetKey: '', lastWriteAt: null, lastError: null, pending: 0, rowsNotFound: 0 };
      this.campaigns.set(campaign.campaignId, record);
    }
    record.targetKey = targetKey(campaign.target);
    return record;
  }

  private targetState(target: SheetTarget): TargetState {
    const key = targetKey(target);
    let state = this.targets.get(key);
    if (!state) {
      state = { target, nextAttemptAt: 0, failures: 0, blockedReason: null, lastAttemptAt: Number.NEGATIVE_INFINITY };
      this.targets.set(key, state);
    }
    return state;
  }

  private spreadsheet(spreadsheetId: string): SpreadsheetState {
    let state = this.spreadsheets.get(spreadsheetId);
    if (!state) {
      state = { lastAttemptAt: Number.NEGATIVE_INFINITY, isWriting: false, settledStamp: 0 };
      this.spreadsheets.set(spreadsheetId, state);
    }
    return state;
  }
}

/**
 * The global write budget: refills `ratePerMs` tokens per ms up to `capacity`. In any window of length w at most
 * `capacity + w * ratePerMs` tokens are taken, which is what keeps the service account under Google's per-minute quota.
 */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerMs: number,
    private readonly capacity: number,
    nowMs: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = nowMs;
  }

  /** When the next token is available (now if one is). */
  readyAt(nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens >= 1 - EPSILON) return nowMs;
    return nowMs + Math.ceil((1 - this.tokens) / this.ratePerMs);
  }

  take(nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }

  private refill(nowMs: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, nowMs - this.updatedAt) * this.ratePerMs);
    this.updatedAt = Math.max(this.updatedAt, nowMs);
  }
}

// Token arithmetic is in floating point; a refill that should reach exactly 1 may land a hair below it.
const EPSILON = 1e-9;

function targetKey(target: SheetTarget): string {
  return `${target.spreadsheetId}\u0000${target.sheetName}`;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`SheetSync: ${name} must be a positive number`);
  return value;
}
