import { afterEach, describe, expect, it } from 'vitest';
import * as main from '../../../addon/server/main';
import { startSend, continueSend } from '../../../addon/server/send-job';
import { contacts, composeConfig, makeWorld, unwrap, type World } from './world';

let world: World;
afterEach(() => world?.uninstall());

describe('sending from the sheet', () => {
  it('sends 10,000 rows with one range read and a handful of range writes', () => {
    world = makeWorld(contacts(10_000));
    world.env.calls.reset();
    const progress = unwrap(main.startSend(composeConfig));
    expect(progress).toMatchObject({ done: true, total: 10_000, accepted: 10_000, state: 'running' });
    const calls = world.env.calls;
    expect(calls.get('Range.getValues')).toBe(1);
    expect(calls.get('Range.setValues')).toBeLessThanOrEqual(3); // headers, keys+pending, results
    expect(calls.get('Range.getValue') + calls.get('Range.setValue')).toBe(0);
    expect(calls.rangeValueCalls()).toBeLessThanOrEqual(4);
    // 10,000 rows = 2 requests of 5,000 in one fetchAll.
    expect(calls.get('UrlFetchApp.fetchAll')).toBe(1);
    expect(world.stub.posts.map((p) => p.keys.length)).toEqual([5000, 5000]);
    console.info(`10,000-row send: ${JSON.stringify(calls.snapshot())}`);
  });

  it('writes a key per row, queued statuses, and creates the status columns beside the data', () => {
    world = makeWorld(contacts(5));
    unwrap(main.startSend(composeConfig));
    const [header, ...rows] = world.sheet.values();
    expect(header).toEqual(['Name', 'Phone', 'Order', 'WA Key', 'WA Status', 'WA Message ID', 'WA Error', 'WA Reply', 'WA Updated']);
    expect(rows.every((r) => /^[0-9a-z]{10}$/.test(String(r[3])) && r[4] === 'queued')).toBe(true);
    const keys = world.stub.messagesOf('cmp_1').map((m) => m.key).sort();
    expect(keys).toEqual(rows.map((r) => String(r[3])).sort());
  });

  it('marks rows the service refuses as rejected, with the reason', () => {
    world = makeWorld([...contacts(2), ['Bad', '12', 'A-x']]);
    const p = unwrap(main.startSend(composeConfig));
    expect(p).toMatchObject({ accepted: 2, rejected: 1 });
    expect(world.sheet.column('WA Status')).toEqual(['queued', 'queued', 'rejected']);
    expect(world.sheet.column('WA Error')[2]).toBe('Not a phone number (invalid_phone)');
  });

  it('resumes a send that ran out of time in the next run, posting every row exactly once', () => {
    world = makeWorld(contacts(25_000));
    let clock = 0;
    world.stub.onRowsPosted = () => {
      clock += 50_000; // each request of a round "takes" 50 s of the budget
    };
    const first = startSend(world.ss as never, composeConfig, { nowMs: () => clock, random: Math.random });
    expect(first).toMatchObject({ done: false, uploaded: 20_000 });
    expect(world.sheet.column('WA Status').filter((s) => s === 'pending')).toHaveLength(5000);
    // The clock trigger was swapped for a one-off continuation (still one clock trigger in total).
    const clockTriggers = world.env.ScriptApp.triggers.filter((t) => t.type === 'CLOCK');
    expect(clockTriggers).toHaveLength(1);
    expect(clockTriggers[0]!.afterMs).toBe(60_000);

    world.env.calls.reset();
    world.env.fire(clockTriggers[0]!, (name, e) => (main as unknown as Record<string, (e: unknown) => unknown>)[name]!(e));
    expect(world.env.calls.get('SpreadsheetApp.openById')).toBe(1);
    const posted = world.stub.posts.flatMap((p) => p.keys);
    expect(posted).toHaveLength(25_000);
    expect(new Set(posted).size).toBe(25_000);
    expect(world.stub.campaigns.get('cmp_1')!.state).toBe('running');
    expect(world.sheet.column('WA Status').every((s) => s === 'queued')).toBe(true);
    // The continuation is gone and the hourly tick is back.
    const after = world.env.ScriptApp.triggers.filter((t) => t.type === 'CLOCK');
    expect(after.map((t) => t.everyHours)).toEqual([1]);
  });

  it('never sends a row twice when a run dies after posting but before writing its results', () => {
    world = makeWorld(contacts(3));
    unwrap(main.startSend(composeConfig));
    // Simulate the lost write: the rows still say pending and a job is still recorded.
    const statusCol = 4;
    for (const row of world.sheet.grid.slice(1)) row[statusCol] = 'pending';
    world.env.PropertiesService.document.setProperty('job', JSON.stringify({
      campaignId: 'cmp_1', spreadsheetId: 'ss-1', sheetName: 'Contacts', config: composeConfig, phase: 'uploading',
      total: 3, uploaded: 0, accepted: 0, duplicates: 0, rejected: 0, runs: 1, createdAt: new Date().toISOString(),
    }));
    world.stub.campaigns.get('cmp_1')!.state = 'draft';
    const p = continueSend(world.ss as never);
    expect(p).toMatchObject({ done: true, duplicates: 3, accepted: 0, state: 'running' });
    expect(world.stub.messagesOf('cmp_1')).toHaveLength(3);
  });

  it('reuses existing keys on a re-send, so the service can answer duplicates', () => {
    world = makeWorld(contacts(4));
    unwrap(main.startSend(composeConfig));
    const keys = world.sheet.column('WA Key');
    unwrap(main.startSend({ ...composeConfig, campaignName: 'second' }));
    expect(world.sheet.column('WA Key')).toEqual(keys);
    expect(world.stub.posts[1]!.keys.sort()).toEqual([...keys].map(String).sort());
  });

  it('sends only the rows visible through the filter, asking the Sheets API once instead of row by row', () => {
    world = makeWorld(contacts(6));
    world.sheet.setFilterHiding([3, 5]); // sheet rows 3 and 5 = data rows 1 and 3
    world.env.calls.reset();
    const p = unwrap(main.startSend({ ...composeConfig, selection: 'visible' }));
    expect(p.total).toBe(4);
    expect(world.env.calls.get('Sheet.isRowHiddenByFilter')).toBe(0);
    expect(world.env.UrlFetchApp.requestsTo('sheets.googleapis.com')).toHaveLength(1);
    expect(world.sheet.column('WA Status')).toEqual(['queued', '', 'queued', '', 'queued', 'queued']);
  });

  it('sends only the selected rows when asked', () => {
    world = makeWorld(contacts(6));
    world.ss.select(world.sheet, [2, 3], [7, 7]);
    const p = unwrap(main.startSend({ ...composeConfig, selection: 'selected' }));
    expect(p.total).toBe(3);
    expect(world.sheet.column('WA Status')).toEqual(['queued', 'queued', '', '', '', 'queued']);
  });

  it('holds a scheduled send at the service with sendAt', () => {
    world = makeWorld(contacts(2));
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const p = unwrap(main.startSend({ ...composeConfig, sendAt }));
    expect(p.state).toBe('scheduled');
    expect(world.stub.campaigns.get('cmp_1')!.sendAt).toBe(sendAt);
  });

  it('refuses a second send while one is still uploading', () => {
    world = makeWorld(contacts(25_000));
    let clock = 0;
    world.stub.onRowsPosted = () => (clock += 50_000);
    startSend(world.ss as never, composeConfig, { nowMs: () => clock });
    const r = main.startSend(composeConfig);
    expect(r).toMatchObject({ ok: false, error: { code: 'busy' } });
  });

  it('answers busy when another execution holds the document lock', () => {
    world = makeWorld(contacts(2));
    world.env.LockService.document.heldElsewhere = true;
    expect(main.startSend(composeConfig)).toMatchObject({ ok: false, error: { code: 'busy' } });
    expect(world.stub.posts).toHaveLength(0);
  });

  it('cancelling mid-upload drops the plan and clears the pending marks', () => {
    world = makeWorld(contacts(25_000));
    let clock = 0;
    world.stub.onRowsPosted = () => (clock += 50_000);
    startSend(world.ss as never, composeConfig, { nowMs: () => clock });
    expect(unwrap(main.cancelCampaign('cmp_1'))).toBe('cancelled');
    expect(world.sheet.column('WA Status').filter((s) => s === 'pending')).toHaveLength(0);
    expect(unwrap(main.continueSend())).toBeNull();
  });
});
