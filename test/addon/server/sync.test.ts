import { afterEach, describe, expect, it } from 'vitest';
import * as main from '../../../addon/server/main';
import { contacts, composeConfig, makeWorld, unwrap, type World } from './world';

let world: World;
afterEach(() => world?.uninstall());

function statusByName(w: World): Map<string, { status: unknown; reply: unknown; wamid: unknown }> {
  const names = w.sheet.column('Name');
  const status = w.sheet.column('WA Status');
  const reply = w.sheet.column('WA Reply');
  const wamid = w.sheet.column('WA Message ID');
  return new Map(names.map((n, i) => [String(n), { status: status[i], reply: reply[i], wamid: wamid[i] }]));
}

describe('pulling results into the sheet', () => {
  it('puts delivered/read/replied on the right rows after the user sorts the sheet', () => {
    world = makeWorld(contacts(30));
    unwrap(main.startSend(composeConfig));
    world.stub.advance('cmp_1', (_m, i) =>
      i % 3 === 0 ? { status: 'delivered' } : i % 3 === 1 ? { status: 'read' } : { status: 'read', reply: { text: `yes ${i}`, at: 'now' } });
    const expected = new Map(world.stub.messagesOf('cmp_1').map((m) => [m.key, m]));
    const nameOfKey = new Map(world.sheet.column('WA Key').map((k, i) => [String(k), String(world.sheet.column('Name')[i])]));
    world.sheet.sortData(1, false); // Name, descending
    world.env.calls.reset();
    const report = unwrap(main.syncNow());
    expect(report).toMatchObject({ campaigns: 1, rowsChanged: 30 });
    expect(world.env.calls.get('Range.getValues')).toBe(1);
    expect(world.env.calls.get('Range.setValues')).toBe(1);
    const shown = statusByName(world);
    for (const [key, m] of expected) {
      const row = shown.get(nameOfKey.get(key)!)!;
      expect(row.status).toBe(m.status);
      expect(row.reply).toBe(m.reply?.text ?? '');
      expect(row.wamid).toBe(m.wamid);
    }
  });

  it('keeps the cursor so a second sync applies only later changes, and finds columns the user moved', () => {
    world = makeWorld(contacts(5));
    unwrap(main.startSend(composeConfig));
    world.stub.advance('cmp_1', () => ({ status: 'delivered' }));
    unwrap(main.syncNow());
    // Move "WA Status" to the far left, as a user dragging the column would.
    for (const row of world.sheet.grid) row.unshift(row.splice(4, 1)[0]);
    world.stub.advance('cmp_1', (_m, i) => (i === 2 ? { status: 'read' } : null));
    world.env.UrlFetchApp.log.length = 0;
    const report = unwrap(main.syncNow());
    expect(report.changes).toBe(1);
    expect(world.env.UrlFetchApp.log[0]!.url).toMatch(/after=\d+/);
    expect(world.sheet.column('WA Status')).toEqual(['delivered', 'delivered', 'read', 'delivered', 'delivered']);
    expect(world.sheet.values()[0]![0]).toBe('WA Status');
  });

  it('writes 10,000 changed rows with a handful of setValues', () => {
    world = makeWorld(contacts(10_000));
    unwrap(main.startSend(composeConfig));
    world.stub.advance('cmp_1', (_m, i) => (i % 7 === 0 ? { status: 'failed', error: { code: '131026', message: 'Not on WhatsApp' } } : { status: 'read' }));
    world.env.calls.reset();
    const report = unwrap(main.syncNow());
    expect(report.rowsChanged).toBe(10_000);
    expect(world.env.calls.rangeValueCalls()).toBeLessThanOrEqual(5);
    expect(world.env.calls.get('UrlFetchApp.fetch')).toBeLessThanOrEqual(4); // 2 pages + end of list + settings
  });

  it('syncs from the hourly trigger, which has no active spreadsheet', () => {
    world = makeWorld(contacts(3));
    unwrap(main.startSend(composeConfig));
    world.stub.advance('cmp_1', () => ({ status: 'delivered' }));
    const tick = world.env.ScriptApp.triggers.find((t) => t.type === 'CLOCK')!;
    expect(tick.everyHours).toBe(1);
    world.env.fire(tick, (name, e) => (main as unknown as Record<string, (e: unknown) => unknown>)[name]!(e));
    expect(world.sheet.column('WA Status')).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('shows progress and the funnel, and pauses, resumes and cancels', () => {
    world = makeWorld(contacts(4));
    unwrap(main.startSend(composeConfig));
    world.stub.advance('cmp_1', (_m, i) => (i < 2 ? { status: 'read', ...(i === 0 ? { reply: { text: 'hi', at: 'x' } } : {}) } : { status: 'sent' }));
    const p = unwrap(main.getCampaignProgress('cmp_1'));
    expect(p.funnel).toMatchObject({ total: 4, sent: 4, delivered: 2, read: 2, replied: 1, progress: 1 });
    expect(unwrap(main.pauseCampaign('cmp_1'))).toBe('paused');
    expect(unwrap(main.resumeCampaign('cmp_1'))).toBe('running');
    expect(unwrap(main.cancelCampaign('cmp_1'))).toBe('cancelled');
  });
});
