// Behaviour of the sheet write-back loop with a fake clock, an in-memory change log and a fake writer.
// No Google, no real timers. The store answers asynchronously, like a database, and can be made slow or failing.
import { describe, expect, it } from 'vitest';
import type { MessageStatus } from '../../../service/campaigns/message-status';
import type {
  MessageChange,
  SheetCampaign,
  SheetSyncStore,
  SheetTarget,
  SheetWriteOutcome,
  SheetWriter,
} from '../../../service/sheets/sheet-ports';
import { SheetSync, type SheetSyncOptions } from '../../../service/sheets/sheet-sync';
import { FakeClock } from '../../fakes/fake-clock';
import { seededRandom } from '../../fakes/seeded-random';

type StoreMethod = keyof SheetSyncStore;

/**
 * A change log like the store's: every change appended with a global seq (so one key may appear several times).
 * The port methods answer through promises. Reads see the data as it is when called and answer `delayMs` later
 * (a round trip); a cursor save takes effect `delayMs` after the call. `fail` makes chosen calls reject.
 */
class MemorySheetSyncStore implements SheetSyncStore {
  private seq = 0;
  private readonly campaigns = new Map<string, SheetCampaign>();
  /** Each campaign's changes in seq order. */
  private readonly logs = new Map<string, MessageChange[]>();
  cursorSaves = 0;
  /** How long each port call takes on the fake clock, per method (0 when unset). */
  readonly delayMs: Partial<Record<StoreMethod, number>> = {};
  /** Called for every port call with its 1-based number for that method: an Error makes the call reject with it. */
  fail: (method: StoreMethod, call: number) => Error | null = () => null;
  readonly calls: Record<StoreMethod, number> = { listSheetCampaignsWithChanges: 0, listChanges: 0, saveSheetCursor: 0 };
  /** Reads (listing campaigns or changes) not yet answered, and the most there ever were at once. */
  readsInFlight = 0;
  maxReadsInFlight = 0;

  constructor(private readonly clock: FakeClock) {}

  addCampaign(campaignId: string, target: SheetTarget): void {
    this.campaigns.set(campaignId, { campaignId, accountId: 'acc', target, sheetCursor: 0 });
    this.logs.set(campaignId, []);
  }

  change(campaignId: string, key: string, status: MessageStatus = 'sent'): MessageChange {
    const change: MessageChange = {
      seq: ++this.seq,
      key,
      to: `+4477009000${key}`,
      status,
      wamid: `wamid.${key}`,
      error: status === 'failed' ? { code: '131026', message: 'Message undeliverable' } : null,
      reply: null,
      updatedAt: this.clock.now(),
    };
    this.logs.get(campaignId)?.push(change);
    return change;
  }

  cursor(campaignId: string): number {
    return this.campaigns.get(campaignId)?.sheetCursor ?? -1;
  }

  /** The latest change per key of a campaign: what its sheet rows must end up showing. */
  latest(campaignId: string): Map<string, MessageChange> {
    const latest = new Map<string, MessageChange>();
    for (const change of this.logs.get(campaignId) ?? []) latest.set(change.key, change);
    return latest;
  }

  /** The last seq of a campaign's changes (0 when none): where its cursor ends once everything is written. */
  lastSeq(campaignId: string): number {
    return this.logs.get(campaignId)?.at(-1)?.seq ?? 0;
  }

  listSheetCampaignsWithChanges(limit: number): Promise<SheetCampaign[]> {
    return this.read('listSheetCampaignsWithChanges', () =>
      [...this.campaigns.values()]
        .filter((c) => this.lastSeq(c.campaignId) > c.sheetCursor)
        .slice(0, limit)
        .map((c) => ({ ...c })),
    );
  }

  listChanges(campaignId: string, afterSeq: number, limit: number): Promise<MessageChange[]> {
    return this.read('listChanges', () => {
      const log = this.logs.get(campaignId) ?? [];
      const from = log.findIndex((e) => e.seq > afterSeq);
      return from < 0 ? [] : log.slice(from, from + limit);
    });
  }

  async saveSheetCursor(campaignId: string, seq: number): Promise<void> {
    const failure = this.fail('saveSheetCursor', ++this.calls.saveSheetCursor);
    await this.wait('saveSheetCursor');
    if (failure) throw failure;
    const campaign = this.campaigns.get(campaignId);
    if (!campaign) throw new Error(`no campaign ${campaignId}`);
    this.cursorSaves += 1;
    campaign.sheetCursor = Math.max(campaign.sheetCursor, seq);
  }

  private async read<T>(method: StoreMethod, answer: () => T): Promise<T> {
    const failure = this.fail(method, ++this.calls[method]);
    const result = failure ? null : answer();
    this.readsInFlight += 1;
    this.maxReadsInFlight = Math.max(this.maxReadsInFlight, this.readsInFlight);
    try {
      await this.wait(method);
    } finally {
      this.readsInFlight -= 1;
    }
    if (failure) throw failure;
    return result as T;
  }

  private async wait(method: StoreMethod): Promise<void> {
    const ms = this.delayMs[method] ?? 0;
    if (ms > 0) await new Promise<void>((resolve) => this.clock.setTimer(ms, resolve));
  }
}

interface WriteCall {
  at: number;
  target: SheetTarget;
  changes: readonly MessageChange[];
}

/** Records every write; answers `written` unless outcomes were queued; keeps what each tab shows. */
class FakeSheetWriter implements SheetWriter {
  readonly serviceAccountEmail = 'writer@project.iam.gserviceaccount.com';
  readonly calls: WriteCall[] = [];
  readonly outcomes: Array<SheetWriteOutcome | Error> = [];
  /** How long each write takes on the fake clock, in order (0 when the list runs out): a read comes before the write call. */
  readonly durationsMs: number[] = [];
  /** When each write call reached "Google": the end of each `write`. */
  readonly landedAt: number[] = [];
  private readonly tabs = new Map<string, Map<string, MessageChange>>();

  constructor(private readonly clock: FakeClock) {}

  async write(target: SheetTarget, changes: readonly MessageChange[]): Promise<SheetWriteOutcome> {
    this.calls.push({ at: this.clock.now(), target, changes });
    const durationMs = this.durationsMs.shift() ?? 0;
    if (durationMs > 0) await new Promise<void>((resolve) => this.clock.setTimer(durationMs, resolve));
    this.landedAt.push(this.clock.now());
    const outcome = this.outcomes.shift();
    if (outcome instanceof Error) throw outcome;
    if (outcome && outcome.kind !== 'written') return outcome;
    const rows = this.tab(target);
    for (const change of changes) rows.set(change.key, change);
    return { kind: 'written', rowsWritten: changes.length, rowsNotFound: 0 };
  }

  tab(target: SheetTarget): Map<string, MessageChange> {
    const key = `${target.spreadsheetId}/${target.sheetName}`;
    let rows = this.tabs.get(key);
    if (!rows) this.tabs.set(key, (rows = new Map()));
    return rows;
  }

  callsTo(spreadsheetId: string): WriteCall[] {
    return this.calls.filter((c) => c.target.spreadsheetId === spreadsheetId);
  }
}

function setup(options: Partial<SheetSyncOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemorySheetSyncStore(clock);
  const writer = new FakeSheetWriter(clock);
  const errors: unknown[] = [];
  const sync = new SheetSync({ store, writer, clock, onError: (e) => errors.push(e), ...options });
  return { clock, store, writer, sync, errors };
}

const SHEET: SheetTarget = { spreadsheetId: 'ss-1', sheetName: 'Contacts' };

function expectTabShows(writer: FakeSheetWriter, target: SheetTarget, expected: Map<string, MessageChange>): void {
  const shown = writer.tab(target);
  for (const [key, change] of expected) expect(shown.get(key)?.seq, `row ${key}`).toBe(change.seq);
}

/** Stops the loop while moving the fake clock: a pass or a write in progress may be waiting on a slow store call. */
async function stopAdvancing(sync: SheetSync, clock: FakeClock): Promise<void> {
  let stopped = false;
  const stopping = sync.stop().then(() => {
    stopped = true;
  });
  for (let i = 0; i < 1000 && !stopped; i++) await clock.advance(100);
  expect(stopped, 'stop() settled').toBe(true);
  await stopping;
  expect(clock.pendingTimers).toBe(0);
}

function gaps(calls: WriteCall[]): number[] {
  return calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? 0));
}

describe('SheetSync', () => {
  it('writes a campaign’s changes and moves its cursor only after the write succeeded', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    const last = store.change('c1', '2');
    writer.outcomes.push({ kind: 'retry', retryAfterMs: 0, reason: 'Google asked us to slow down' });

    sync.start();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    expect(store.cursor('c1')).toBe(0);
    expect(sync.status('c1')).toMatchObject({ state: 'retrying', lastError: 'Google asked us to slow down', pending: 2 });

    await clock.advance(2000);
    expect(writer.calls).toHaveLength(2);
    expect(store.cursor('c1')).toBe(last.seq);
    expect(sync.status('c1')).toMatchObject({ state: 'idle', lastError: null, pending: 0, lastWriteAt: clock.now() });
    await sync.stop();
  });

  it('keeps only the latest change per row key in a write', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1', 'sent');
    store.change('c1', '2', 'sent');
    store.change('c1', '1', 'delivered');
    const read = store.change('c1', '1', 'read');

    sync.start();
    await clock.advance(0);
    const keys = writer.calls[0]?.changes.map((c) => c.key);
    expect(keys?.sort()).toEqual(['1', '2']);
    expect(writer.tab(SHEET).get('1')?.seq).toBe(read.seq);
    await sync.stop();
  });

  it('coalesces campaigns writing to the same tab into one write per spreadsheet', async () => {
    const { clock, store, writer, sync } = setup();
    for (const id of ['c1', 'c2', 'c3']) {
      store.addCampaign(id, SHEET);
      store.change(id, `${id}-a`);
      store.change(id, `${id}-b`);
    }
    sync.start();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    expect(writer.calls[0]?.changes).toHaveLength(6);
    for (const id of ['c1', 'c2', 'c3']) expect(store.cursor(id)).toBeGreaterThan(0);
    await sync.stop();
  });

  it('writes a spreadsheet at most once per 2 s however often it is kicked, and ends showing every latest status', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.addCampaign('c2', { spreadsheetId: 'ss-2', sheetName: 'Sheet1' });
    sync.start();
    const statuses: MessageStatus[] = ['sent', 'delivered', 'read'];
    for (let i = 0; i < 300; i++) {
      store.change('c1', String(i % 40), statuses[i % 3]);
      if (i % 2 === 0) store.change('c2', String(i % 7), statuses[i % 3]);
      sync.kick();
      await clock.advance(100);
    }
    await clock.advance(10_000);

    for (const id of ['ss-1', 'ss-2']) {
      const calls = writer.callsTo(id);
      expect(calls.length).toBeGreaterThan(5);
      expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(2000);
    }
    expectTabShows(writer, SHEET, store.latest('c1'));
    expectTabShows(writer, { spreadsheetId: 'ss-2', sheetName: 'Sheet1' }, store.latest('c2'));
    await sync.stop();
  });

  it('counts the interval from the end of a write, so a slow first write and a fast second one still land 2 s apart', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    writer.durationsMs.push(700, 5, 400, 5, 5);
    sync.start();
    for (let i = 0; i < 120; i++) {
      store.change('c1', String(i % 30), i % 2 ? 'delivered' : 'read');
      sync.kick();
      await clock.advance(100);
    }
    await clock.advance(10_000);
    expect(writer.landedAt.length).toBeGreaterThan(4);
    const landedGaps = writer.landedAt.slice(1).map((at, i) => at - (writer.landedAt[i] ?? 0));
    expect(Math.min(...landedGaps)).toBeGreaterThanOrEqual(2000);
    expectTabShows(writer, SHEET, store.latest('c1'));
    await sync.stop();
  });

  it('looks again within the interval when kicked, without waiting for the poll', async () => {
    const { clock, store, writer, sync } = setup({ pollIntervalMs: 60_000 });
    store.addCampaign('c1', SHEET);
    sync.start();
    await clock.advance(3000);
    expect(writer.calls).toHaveLength(0);
    store.change('c1', '1');
    sync.kick();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    await sync.stop();
  });

  it('backs off exponentially on retry, honours retryAfterMs, then writes everything that arrived meanwhile', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    writer.outcomes.push(
      { kind: 'retry', retryAfterMs: 0, reason: 'busy' },
      { kind: 'retry', retryAfterMs: 0, reason: 'busy' },
      { kind: 'retry', retryAfterMs: 30_000, reason: 'quota' },
    );
    sync.start();
    await clock.advance(0);
    for (let i = 0; i < 60; i++) {
      store.change('c1', String(i % 5), i % 2 ? 'delivered' : 'read');
      sync.kick();
      await clock.advance(1000);
    }
    const at = writer.calls.map((c) => c.at - (writer.calls[0]?.at ?? 0));
    // 2 s, then 4 s, then Google's 30 s, then success.
    expect(at.slice(0, 4)).toEqual([0, 2000, 6000, 36_000]);
    expect(store.cursor('c1')).toBeGreaterThan(0);
    await clock.advance(5000);
    expectTabShows(writer, SHEET, store.latest('c1'));
    expect(sync.status('c1').lastError).toBeNull();
    await sync.stop();
  });

  it('caps the backoff at maxBackoffMs', async () => {
    const { clock, store, writer, sync } = setup({ maxBackoffMs: 10_000 });
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    for (let i = 0; i < 8; i++) writer.outcomes.push({ kind: 'retry', retryAfterMs: 3_600_000, reason: 'quota' });
    sync.start();
    await clock.advance(0);
    await clock.advance(100_000);
    expect(Math.max(...gaps(writer.calls))).toBeLessThanOrEqual(10_000);
    expect(writer.calls.length).toBeGreaterThanOrEqual(9);
    await sync.stop();
  });

  it('treats a throwing writer as a transient failure and reports it', async () => {
    const { clock, store, writer, sync, errors } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    writer.outcomes.push(new Error('socket hang up'));
    sync.start();
    await clock.advance(0);
    expect(errors).toHaveLength(1);
    expect(store.cursor('c1')).toBe(0);
    await clock.advance(2000);
    expect(store.cursor('c1')).toBe(1);
    await sync.stop();
  });

  it('on blocked, records the reason and retries only every 10 minutes, however many changes and kicks arrive', async () => {
    const { clock, store, writer, sync } = setup();
    const reason = 'Share the sheet with writer@project.iam.gserviceaccount.com as an editor.';
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    writer.outcomes.push({ kind: 'blocked', reason }, { kind: 'blocked', reason });
    sync.start();
    await clock.advance(0);
    for (let i = 0; i < 9 * 60; i++) {
      store.change('c1', String(i % 3));
      sync.kick();
      await clock.advance(1000);
    }
    expect(writer.calls).toHaveLength(1);
    expect(sync.status('c1')).toMatchObject({ state: 'blocked', lastError: reason });
    expect(store.cursor('c1')).toBe(0);

    await clock.advance(60_000);
    expect(writer.calls).toHaveLength(2);
    expect(writer.calls[1]!.at - writer.calls[0]!.at).toBe(600_000);

    // The user shares the sheet: no need to wait another 10 minutes.
    sync.retryNow('ss-1');
    await clock.advance(2000);
    expect(writer.calls).toHaveLength(3);
    expect(sync.status('c1')).toMatchObject({ state: 'idle', lastError: null });
    expectTabShows(writer, SHEET, store.latest('c1'));
    await sync.stop();
  });

  it('a blocked tab does not hold back another spreadsheet', async () => {
    const { clock, store, writer, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.addCampaign('c2', { spreadsheetId: 'ss-2', sheetName: 'Sheet1' });
    writer.outcomes.push({ kind: 'blocked', reason: 'no access' });
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    store.change('c2', '1');
    sync.kick();
    await clock.advance(2000);
    expect(writer.callsTo('ss-2')).toHaveLength(1);
    expect(store.cursor('c2')).toBe(2);
    await sync.stop();
  });

  it('pages a large backlog: one write per page, the cursor advancing page by page', async () => {
    const { clock, store, writer, sync } = setup({ pageSize: 5000 });
    store.addCampaign('c1', SHEET);
    for (let i = 0; i < 12_000; i++) store.change('c1', String(i));
    sync.start();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    expect(store.cursor('c1')).toBe(5000);
    await clock.advance(2000);
    expect(store.cursor('c1')).toBe(10_000);
    await clock.advance(2000);
    expect(store.cursor('c1')).toBe(12_000);
    expect(writer.calls.map((c) => c.changes.length)).toEqual([5000, 5000, 2000]);
    await sync.stop();
  });

  it('many campaigns on one spreadsheet but different tabs take turns, still one write per 2 s', async () => {
    const { clock, store, writer, sync } = setup();
    const tabs = ['A', 'B', 'C'];
    for (let i = 0; i < 30; i++) {
      const target = { spreadsheetId: 'ss-1', sheetName: tabs[i % 3]! };
      store.addCampaign(`c${i}`, target);
      store.change(`c${i}`, `k${i}`);
    }
    sync.start();
    await clock.advance(10_000);
    expect(writer.calls.map((c) => c.target.sheetName)).toEqual(['A', 'B', 'C']);
    expect(gaps(writer.calls)).toEqual([2000, 2000]);
    for (let i = 0; i < 30; i++) expect(store.cursor(`c${i}`)).toBeGreaterThan(0);
    await sync.stop();
  });

  it('keeps every rolling minute under the service account’s 60 writes across many spreadsheets', async () => {
    const { clock, store, writer, sync } = setup();
    for (let i = 0; i < 120; i++) store.addCampaign(`c${i}`, { spreadsheetId: `ss-${i}`, sheetName: 'Sheet1' });
    sync.start();
    for (let t = 0; t < 300; t++) {
      for (let i = 0; i < 120; i += 7) store.change(`c${(i + t) % 120}`, String(t % 4));
      sync.kick();
      await clock.advance(1000);
    }
    const times = writer.calls.map((c) => c.at);
    let worst = 0;
    for (const start of times) worst = Math.max(worst, times.filter((t) => t >= start && t < start + 60_000).length);
    expect(worst).toBeLessThanOrEqual(55);
    expect(worst).toBeGreaterThanOrEqual(50);
    // Starved spreadsheets catch up once the burst of changes stops.
    await clock.advance(10 * 60_000);
    for (let i = 0; i < 120; i++) {
      expectTabShows(writer, { spreadsheetId: `ss-${i}`, sheetName: 'Sheet1' }, store.latest(`c${i}`));
    }
    await sync.stop();
  });

  it('loses nothing across a restart after a failed write: a new loop re-reads from the store cursor', async () => {
    const { clock, store, writer } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    store.change('c1', '2');
    writer.outcomes.push({ kind: 'retry', retryAfterMs: 60_000, reason: 'quota' });
    const first = new SheetSync({ store, writer, clock });
    first.start();
    await clock.advance(0);
    await first.stop();
    expect(store.cursor('c1')).toBe(0);

    const second = new SheetSync({ store, writer, clock });
    second.start();
    await clock.advance(0);
    expect(store.cursor('c1')).toBe(2);
    expectTabShows(writer, SHEET, store.latest('c1'));
    await second.stop();
  });

  it('stop() waits for a write in flight, saves its cursor, and schedules nothing more', async () => {
    const { clock, store, sync } = setup();
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    await sync.stop();
    expect(store.cursor('c1')).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('stop() waits for a pass in progress, and a pass stopped mid-read starts no write', async () => {
    const { clock, store, writer, sync } = setup();
    store.delayMs.listChanges = 1000;
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    expect(store.readsInFlight).toBe(1);
    let stopped = false;
    const stopping = sync.stop().then(() => {
      stopped = true;
    });
    await clock.advance(999);
    expect(stopped).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(writer.calls).toHaveLength(0);
    expect(store.cursor('c1')).toBe(0);
    expect(clock.pendingTimers).toBe(0);

    // Nothing was lost: the next loop writes it.
    const next = new SheetSync({ store, writer, clock });
    next.start();
    await clock.advance(1000);
    expect(store.cursor('c1')).toBe(1);
    await next.stop();
  });

  it('stop() waits for a slow write and its slow cursor save', async () => {
    const { clock, store, writer, sync } = setup();
    writer.durationsMs.push(700);
    store.delayMs.saveSheetCursor = 300;
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    let stopped = false;
    const stopping = sync.stop().then(() => {
      stopped = true;
    });
    await clock.advance(999);
    expect(stopped).toBe(false);
    expect(store.cursor('c1')).toBe(0);
    await clock.advance(1);
    await stopping;
    expect(store.cursor('c1')).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('reports a failing campaign listing and tries again at the next poll', async () => {
    const { clock, store, writer, sync, errors } = setup();
    const failure = new Error('connection terminated');
    store.fail = (method, call) => (method === 'listSheetCampaignsWithChanges' && call === 1 ? failure : null);
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    expect(errors).toEqual([failure]);
    expect(writer.calls).toHaveLength(0);
    await clock.advance(5000);
    expect(writer.calls).toHaveLength(1);
    expect(store.cursor('c1')).toBe(1);
    await sync.stop();
  });

  it('reports a failing change read, writes nothing from it, and tries again at the next poll', async () => {
    const { clock, store, writer, sync, errors } = setup();
    const failure = new Error('statement timeout');
    store.fail = (method, call) => (method === 'listChanges' && call === 1 ? failure : null);
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    expect(errors).toEqual([failure]);
    expect(writer.calls).toHaveLength(0);
    expect(store.cursor('c1')).toBe(0);
    await clock.advance(5000);
    expect(writer.calls).toHaveLength(1);
    expect(store.cursor('c1')).toBe(1);
    await sync.stop();
  });

  it('reports a failing cursor save and writes the same changes again, 2 s later, until the cursor is saved', async () => {
    const { clock, store, writer, sync, errors } = setup();
    const failure = new Error('could not serialize access');
    store.fail = (method, call) => (method === 'saveSheetCursor' && call === 1 ? failure : null);
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    store.change('c1', '2');
    sync.start();
    await clock.advance(0);
    expect(errors).toEqual([failure]);
    expect(writer.calls).toHaveLength(1);
    expect(store.cursor('c1')).toBe(0);
    await clock.advance(2000);
    expect(writer.calls).toHaveLength(2);
    expect(writer.calls[1]?.changes.map((c) => c.seq)).toEqual([1, 2]);
    expect(store.cursor('c1')).toBe(2);
    await clock.advance(10_000);
    expect(writer.calls).toHaveLength(2);
    await sync.stop();
  });

  it('keeps running when onError itself throws', async () => {
    const { clock, store, writer, sync } = setup({
      onError: () => {
        throw new Error('logger broken');
      },
    });
    store.fail = (method, call) => (call === 1 ? new Error(`${method} failed`) : null);
    writer.outcomes.push(new Error('socket hang up'));
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(60_000);
    expect(store.cursor('c1')).toBe(1);
    expectTabShows(writer, SHEET, store.latest('c1'));
    await sync.stop();
  });

  it('with a store that fails often, loses nothing: every tab ends showing every latest status', async () => {
    const { clock, store, writer, sync, errors } = setup();
    const random = seededRandom(7);
    store.fail = (method) => (random() < 0.3 ? new Error(`${method} failed`) : null);
    store.delayMs.listChanges = 50;
    store.delayMs.saveSheetCursor = 50;
    const targets = [SHEET, { spreadsheetId: 'ss-2', sheetName: 'Sheet1' }, { spreadsheetId: 'ss-2', sheetName: 'Sheet2' }];
    targets.forEach((target, i) => store.addCampaign(`c${i}`, target));
    sync.start();
    const statuses: MessageStatus[] = ['sent', 'delivered', 'read'];
    for (let t = 0; t < 300; t++) {
      store.change(`c${t % 3}`, String(t % 11), statuses[t % 3]);
      sync.kick();
      await clock.advance(200);
    }
    await clock.advance(5 * 60_000);
    expect(errors.length).toBeGreaterThan(10);
    targets.forEach((target, i) => {
      expectTabShows(writer, target, store.latest(`c${i}`));
      expect(store.cursor(`c${i}`)).toBe(store.lastSeq(`c${i}`));
    });
    await stopAdvancing(sync, clock);
  });

  it('holds a spreadsheet through a cursor save slower than the interval: no read or write of it until it is saved', async () => {
    const { clock, store, writer, sync } = setup();
    store.delayMs.saveSheetCursor = 5000;
    store.addCampaign('c1', SHEET);
    store.change('c1', '1');
    sync.start();
    await clock.advance(0);
    expect(writer.calls).toHaveLength(1);
    store.change('c1', '2');
    sync.kick();
    await clock.advance(4999);
    expect(writer.calls).toHaveLength(1);
    expect(store.calls.listChanges).toBe(1);
    await clock.advance(1);
    expect(store.cursor('c1')).toBe(1);
    expect(writer.calls).toHaveLength(2);
    expect(writer.calls[1]?.changes.map((c) => c.seq)).toEqual([2]);
    await stopAdvancing(sync, clock);
    expect(store.cursor('c1')).toBe(2);
  });

  it('a kick during a slow pass is not lost: another pass follows as soon as that one ends, not at the poll', async () => {
    const { clock, store, writer, sync } = setup({ pollIntervalMs: 60_000 });
    store.delayMs.listSheetCampaignsWithChanges = 3000;
    store.addCampaign('c1', SHEET);
    const startedAt = clock.now();
    sync.start();
    await clock.advance(500);
    store.change('c1', '1');
    sync.kick();
    // The kick's pass falls due at 2 s while the first pass (which listed before the change) still waits for its list.
    await clock.advance(5500);
    expect(writer.calls.map((c) => c.at - startedAt)).toEqual([6000]);
    expect(store.maxReadsInFlight).toBe(1);
    await stopAdvancing(sync, clock);
    expect(store.cursor('c1')).toBe(1);
  });

  it('runs one pass at a time on a slow store, and never writes a change twice or a spreadsheet within 2 s', async () => {
    const { clock, store, writer, sync, errors } = setup();
    // A listing slower than the interval: a write of the same spreadsheet may end, and its cursor be saved, while
    // a pass waits for its list, so the cursors that list carries are stale.
    store.delayMs.listSheetCampaignsWithChanges = 3000;
    store.delayMs.listChanges = 300;
    store.delayMs.saveSheetCursor = 100;
    writer.durationsMs.push(...Array.from({ length: 100 }, (_, i) => (i * 37) % 400));
    const targets: SheetTarget[] = [];
    for (let i = 0; i < 6; i++) targets.push({ spreadsheetId: `ss-${i % 3}`, sheetName: i < 3 ? 'A' : 'B' });
    targets.forEach((target, i) => store.addCampaign(`c${i}`, target));
    sync.start();
    const statuses: MessageStatus[] = ['sent', 'delivered', 'read'];
    for (let t = 0; t < 300; t++) {
      store.change(`c${t % 6}`, String(t % 5), statuses[t % 3]);
      sync.kick();
      if (t % 17 === 0) sync.retryNow('ss-1');
      await clock.advance(100);
    }
    await clock.advance(2 * 60_000);

    expect(errors).toEqual([]);
    expect(store.maxReadsInFlight).toBe(1);
    const written = writer.calls.flatMap((c) => c.changes.map((change) => change.seq));
    expect(new Set(written).size).toBe(written.length);
    for (const id of ['ss-0', 'ss-1', 'ss-2']) {
      const calls = writer.callsTo(id);
      expect(calls.length).toBeGreaterThan(3);
      expect(Math.min(...gaps(calls))).toBeGreaterThanOrEqual(2000);
    }
    targets.forEach((target, i) => {
      expectTabShows(writer, target, store.latest(`c${i}`));
      expect(store.cursor(`c${i}`)).toBe(store.lastSeq(`c${i}`));
    });
    await stopAdvancing(sync, clock);
  });

  it('rejects nonsensical options', () => {
    expect(() => setup({ minIntervalMs: 0 })).toThrow(TypeError);
    expect(() => setup({ writesPerMinute: Number.NaN })).toThrow(TypeError);
  });
});
