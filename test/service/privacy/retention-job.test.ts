// Retention against a real SQLite file with a fake clock: message content whose last activity is older than the
// account's retention is purged (from the rows and from the files' bytes), newer content, open rows, statuses,
// counts and suppressions survive, and the job runs at start and then on its interval.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Compactor } from '../../../service/privacy/compactor';
import { DAY_MS, RetentionJob, type RetentionJobOptions } from '../../../service/privacy/retention-job';
import { FakeClock } from '../../fakes/fake-clock';
import { openStoreFixture, type StoreFixture } from './store-fixture';

const HOUR_MS = 60 * 60 * 1000;
const silent = { info() {}, warn() {}, error() {} };

let fx: StoreFixture;
let clock: FakeClock;
let t0: number;

function content(id: number): { params: string | null; reply: string | null; replyAt: number | null; status: string } {
  return fx.store.db.prepare('SELECT params_json AS params, reply_text AS reply, reply_at AS replyAt, status FROM messages WHERE id = ?')
    .get(id) as { params: string | null; reply: string | null; replyAt: number | null; status: string };
}

function newJob(options: Partial<RetentionJobOptions> = {}): RetentionJob {
  return new RetentionJob(fx.privacy, clock, silent, new Compactor(fx.privacy, clock, { afterPurgeEveryMs: DAY_MS }), options);
}

beforeEach(() => {
  fx = openStoreFixture();
  clock = new FakeClock();
  t0 = clock.now();
});

afterEach(async () => {
  await fx.close();
});

describe('RetentionJob', () => {
  it('purges content whose last activity is older than the retention period and keeps everything newer', async () => {
    await fx.addAccount('a', 30, t0);
    await fx.addCampaign('a', 'c1', t0);
    const delivered = await fx.addRow('a', 'c1', '+919876541101', 'OLD-DELIVERED', t0);
    const replied = await fx.addRow('a', 'c1', '+919876541102', 'OLD-BUT-REPLIED', t0);
    const failed = await fx.addRow('a', 'c1', '+919876541103', 'OLD-FAILED', t0);
    const stillQueued = await fx.addRow('a', 'c1', '+919876541104', 'STILL-QUEUED', t0);
    await fx.send(delivered, t0);
    await fx.setStatus(delivered, 'delivered', t0 + HOUR_MS);
    await fx.send(replied, t0);
    await fx.send(failed, t0, { code: '131026', message: 'Undeliverable' });
    await fx.reply(replied, 'REPLY-TWENTY-DAYS-LATER', t0 + 20 * DAY_MS, t0 + 20 * DAY_MS);
    await fx.store.addSuppression('a', '+919876541109', 'keyword', t0);
    await fx.addCampaign('a', 'c2', t0 + 25 * DAY_MS);
    const recent = await fx.addRow('a', 'c2', '+919876541105', 'RECENT', t0 + 25 * DAY_MS);
    await fx.send(recent, t0 + 25 * DAY_MS);
    const countsBefore = [await fx.store.countByStatus('c1'), await fx.store.countByStatus('c2')];

    const job = newJob();
    await clock.advance(31 * DAY_MS);
    expect(await job.runOnce()).toEqual({ purgedMessages: 2, deletedWebhooks: 0, isCompacted: true });

    expect(content(delivered)).toMatchObject({ params: null, reply: null, status: 'delivered' });
    expect(content(failed)).toMatchObject({ params: null, status: 'failed' });
    expect(content(replied)).toMatchObject({ params: '{"1":"OLD-BUT-REPLIED"}', reply: 'REPLY-TWENTY-DAYS-LATER' });
    expect(content(stillQueued)).toMatchObject({ params: '{"1":"STILL-QUEUED"}', status: 'queued' });
    expect(content(recent).params).toBe('{"1":"RECENT"}');
    // The purged bytes are gone from the files too (secure_delete, then the write-ahead log is truncated).
    const raw = fx.rawFiles();
    expect(raw).not.toContain('OLD-DELIVERED');
    expect(raw).not.toContain('OLD-FAILED');
    expect(raw).toContain('OLD-BUT-REPLIED');

    // Twenty days after the reply, it and its message's parameters go; the reply still counts as a reply.
    await clock.advance(20 * DAY_MS);
    expect((await job.runOnce()).purgedMessages).toBe(1);
    expect(content(replied)).toMatchObject({ params: null, reply: null, replyAt: t0 + 20 * DAY_MS, status: 'sent' });
    expect(content(recent).params).toBe('{"1":"RECENT"}');
    expect(content(stillQueued).params).toBe('{"1":"STILL-QUEUED"}');
    expect(fx.rawFiles()).not.toContain('REPLY-TWENTY-DAYS-LATER');

    expect([await fx.store.countByStatus('c1'), await fx.store.countByStatus('c2')]).toEqual(countsBefore);
    expect(await fx.store.listSuppressions('a')).toEqual([{ to: '+919876541109', userId: null, source: 'keyword', createdAt: t0 }]);
    expect(await fx.isSuppressed('a', '+919876541109')).toBe(true);
  });

  it('walks a row again once it changes, so a row sent long after it was queued ages from its send', async () => {
    await fx.addAccount('a', 30, t0);
    await fx.addCampaign('a', 'c1', t0);
    const early = await fx.addRow('a', 'c1', '+919876541101', 'EARLY', t0);
    const late = await fx.addRow('a', 'c1', '+919876541102', 'SENT-LATE', t0);
    await fx.send(early, t0);
    const job = newJob();

    await clock.advance(31 * DAY_MS);
    await job.runOnce();
    expect(content(early).params).toBeNull();
    expect(content(late).params).toBe('{"1":"SENT-LATE"}');

    await fx.send(late, clock.now());
    await clock.advance(29 * DAY_MS);
    await job.runOnce();
    expect(content(late).params).toBe('{"1":"SENT-LATE"}');
    await clock.advance(2 * DAY_MS);
    await job.runOnce();
    expect(content(late).params).toBeNull();
  });

  it('uses each account\'s own retention period', async () => {
    await fx.addAccount('short', 7, t0);
    await fx.addAccount('long', 30, t0);
    await fx.addCampaign('short', 'cs', t0);
    await fx.addCampaign('long', 'cl', t0);
    const short = await fx.addRow('short', 'cs', '+919876541101', 'SHORT', t0);
    const long = await fx.addRow('long', 'cl', '+919876541101', 'LONG', t0);
    await fx.send(short, t0);
    await fx.send(long, t0);
    expect(await fx.store.setRetentionDays('long', 10)).toBe(true);

    const job = newJob();
    await clock.advance(8 * DAY_MS);
    await job.runOnce();
    expect(content(short).params).toBeNull();
    expect(content(long).params).toBe('{"1":"LONG"}');
    await clock.advance(3 * DAY_MS);
    await job.runOnce();
    expect(content(long).params).toBeNull();
  });

  it('runs once at start and then every interval, in steps that let the event loop turn', async () => {
    await fx.addAccount('a', 1, t0);
    await fx.addCampaign('a', 'c1', t0);
    const ids: number[] = [];
    for (let i = 0; i < 25; i++) ids.push(await fx.addRow('a', 'c1', `+9198765411${String(i).padStart(2, '0')}`, `P${i}`, t0));
    for (const id of ids) await fx.send(id, t0);
    await clock.advance(2 * DAY_MS);

    const job = newJob({ intervalMs: HOUR_MS, batchRows: 4 });
    job.start();
    await clock.advance(0);
    expect(ids.every((id) => content(id).params === null)).toBe(true);

    // A row sent now ages out at the first hourly pass more than a day later.
    const later = await fx.addRow('a', 'c1', '+919876541199', 'LATER', clock.now());
    await fx.send(later, clock.now());
    await clock.advance(DAY_MS);
    expect(content(later).params).toBe('{"1":"LATER"}');
    await clock.advance(HOUR_MS);
    expect(content(later).params).toBeNull();

    await job.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('drops stored webhook bodies that never applied once older than the retention period, or whose account is gone', async () => {
    await fx.addAccount('a', 30, t0);
    await fx.saveWebhook('a', '{"stuck":"OLD-WEBHOOK"}', t0);
    await fx.saveWebhook('a', '{"fresh":true}', t0 + 10 * DAY_MS);
    await fx.saveWebhook('erased', '{"orphan":"ORPHAN-WEBHOOK"}', t0 + 30 * DAY_MS);
    const job = newJob();
    await clock.advance(31 * DAY_MS);
    expect((await job.runOnce()).deletedWebhooks).toBe(2);
    expect((await fx.store.claimPendingWebhooks(10, 1000)).map((w) => w.body.toString())).toEqual(['{"fresh":true}']);
    expect(fx.rawFiles()).not.toContain('OLD-WEBHOOK');
    expect(fx.rawFiles()).not.toContain('ORPHAN-WEBHOOK');
  });
});
