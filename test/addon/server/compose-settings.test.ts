import { afterEach, describe, expect, it } from 'vitest';
import * as main from '../../../addon/server/main';
import { STUB_KEY, STUB_URL } from './stub-service';
import { contacts, composeConfig, makeWorld, unwrap, type World } from './world';

let world: World;
afterEach(() => world?.uninstall());

describe('settings', () => {
  it('checks the URL and key against GET /v1/account before saving them', () => {
    world = makeWorld([], { configured: false });
    const saved = unwrap(main.saveSettings(`${STUB_URL}/v1/`, STUB_KEY, '+14155550100'));
    expect(saved).toMatchObject({ serviceUrl: STUB_URL, hasApiKey: true, apiKeyHint: '…1234' });
    expect(saved.account?.serviceAccountEmail).toBe('writer@svc.iam.gserviceaccount.com');
    expect(world.env.PropertiesService.user.getProperty('apiKey')).toBe(STUB_KEY);
  });

  it('says a bad key is bad and saves nothing', () => {
    world = makeWorld([], { configured: false });
    const r = main.saveSettings(STUB_URL, 'wrong', '');
    expect(r).toMatchObject({ ok: false, error: { code: 'bad_key', message: expect.stringMatching(/API key/) } });
    expect(world.env.PropertiesService.user.getProperty('apiKey')).toBeNull();
  });

  it('says when the service cannot be reached', () => {
    world = makeWorld([], { configured: false });
    const r = main.saveSettings('https://nowhere.invalid', STUB_KEY, '');
    expect(r).toMatchObject({ ok: false, error: { code: 'service_unreachable', message: expect.stringContaining('https://nowhere.invalid') } });
  });

  it('says when Google’s daily UrlFetch quota is spent', () => {
    world = makeWorld(contacts(1));
    world.env.UrlFetchApp.failWith = 'Exception: Service invoked too many times for one day: urlfetch.';
    expect(main.getSettings()).toMatchObject({ ok: false, error: { code: 'apps_script_quota' } });
  });

  it('asks to connect first when nothing is configured', () => {
    world = makeWorld(contacts(1), { configured: false });
    expect(main.getComposeContext(null)).toMatchObject({ ok: false, error: { code: 'not_configured' } });
  });
});

describe('compose', () => {
  it('offers the headers, the detected phone column and the approved templates', () => {
    world = makeWorld(contacts(3));
    const ctx = unwrap(main.getComposeContext(null));
    expect(ctx).toMatchObject({ sheetName: 'Contacts', headers: ['Name', 'Phone', 'Order'], detectedPhoneColumn: 'Phone', rowCount: 3 });
    expect(ctx.templates.map((t) => t.name)).toEqual(['order_update', 'promo_image']);
    expect(ctx.sampleRows[0]).toEqual(['Name 000000', '+14152000000', 'A-0']);
  });

  it('previews every selected row and counts valid, invalid, duplicate and opted-out numbers without sending', () => {
    world = makeWorld([...contacts(3), ['Bad', 'n/a', 'x'], ['Dup', '+14152000000', 'y'], ['Out', '+14155550199', 'z']]);
    world.stub.suppressed.add('+14155550199');
    const p = unwrap(main.previewSend(composeConfig));
    expect(p).toMatchObject({ selectedRows: 6, total: 6, valid: 3, invalid: 1, duplicate: 1, optedOut: 1 });
    expect(p.samples[0]!.text).toBe('Hi *Name 000000*, update on A-0');
    expect(world.stub.posts).toHaveLength(0);
    expect(world.env.calls.get('Range.setValues')).toBe(0);
  });

  it('calls an unmapped parameter a template mismatch, in words', () => {
    world = makeWorld(contacts(2));
    const r = main.startSend({ ...composeConfig, params: { '1': { kind: 'column', column: 'Name' } } });
    expect(r).toMatchObject({ ok: false, error: { code: 'template_mismatch', message: expect.stringMatching(/\{\{2\}\}.*not mapped/) } });
    expect(world.stub.campaigns.size).toBe(0);
  });

  it('reports a spent sending quota in words and keeps the rows pending for the next run', () => {
    world = makeWorld(contacts(2));
    world.stub.failures.push({ path: '/rows', status: 429, code: 'daily_limit', message: 'Daily limit reached' });
    const p = unwrap(main.startSend(composeConfig));
    expect(p).toMatchObject({ done: false, error: { code: 'quota_exceeded' } });
    expect(world.sheet.column('WA Status')).toEqual(['pending', 'pending']);
    world.stub.failures.length = 0;
    expect(unwrap(main.continueSend())).toMatchObject({ done: true, accepted: 2 });
  });

  it('sends a test message to the marketer’s own number with the first row’s values', () => {
    world = makeWorld(contacts(2));
    expect(unwrap(main.sendTest(composeConfig, '+14155550100'))).toMatchObject({ status: 'sent' });
    const body = JSON.parse(world.env.UrlFetchApp.requestsTo('/v1/test-send')[0]!.payload!);
    expect(body).toMatchObject({ to: '+14155550100', params: { '1': 'Name 000000', '2': 'A-0' } });
    expect(world.env.PropertiesService.user.getProperty('testNumber')).toBe('+14155550100');
  });
});

describe('menu and triggers', () => {
  it('builds the add-on menu touching nothing but the menu', () => {
    world = makeWorld([]);
    world.env.calls.reset();
    main.onOpen();
    expect(world.env.SpreadsheetApp.ui.menus[0]!.map((i) => i.functionName)).toEqual(['showSidebar', 'menuSyncNow', 'showSettings']);
    expect(Object.keys(world.env.calls.snapshot()).sort()).toEqual(['SpreadsheetApp.getUi', 'Ui.createAddonMenu']);
  });

  it('shows the sidebar on its settings view from the menu', () => {
    world = makeWorld([]);
    main.showSettings();
    expect(world.env.SpreadsheetApp.ui.sidebars[0]!.content).toContain('__initialView="settings"');
  });

  it('runs a daily recurring send from the one clock trigger, to new rows only', () => {
    world = makeWorld(contacts(3));
    unwrap(main.setRecurringSend({ ...composeConfig, campaignName: 'Daily' }, 'daily'));
    const clock = world.env.ScriptApp.triggers.filter((t) => t.type === 'CLOCK');
    expect(clock).toHaveLength(1);
    const fire = () => world.env.fire(clock[0]!, (name, e) => (main as unknown as Record<string, (e: unknown) => unknown>)[name]!(e));
    fire();
    expect(world.stub.posts.flatMap((p) => p.keys)).toHaveLength(3);
    world.sheet.appendRows(contacts(2, 100));
    fire(); // not due again within the day
    expect(world.stub.campaigns.size).toBe(1);
    const rec = JSON.parse(world.env.PropertiesService.document.getProperty('recurring')!);
    rec.lastRunAt = new Date(Date.now() - 24 * 3_600_000).toISOString();
    world.env.PropertiesService.document.setProperty('recurring', JSON.stringify(rec));
    fire();
    expect(world.stub.campaigns.size).toBe(2);
    expect(world.stub.posts.at(-1)!.keys).toHaveLength(2);
    expect(world.env.ScriptApp.triggers.filter((t) => t.type === 'CLOCK')).toHaveLength(1);
  });

  it('sends to rows added by a form submission, with one form trigger', () => {
    world = makeWorld(contacts(2));
    unwrap(main.setRecurringSend(composeConfig, 'form'));
    unwrap(main.setRecurringSend(composeConfig, 'form'));
    const form = world.env.ScriptApp.triggers.filter((t) => t.type === 'ON_FORM_SUBMIT');
    expect(form).toHaveLength(1);
    world.sheet.appendRows(contacts(1, 50));
    world.env.fire(form[0]!, (name, e) => (main as unknown as Record<string, (e: unknown) => unknown>)[name]!(e));
    expect(world.stub.posts.flatMap((p) => p.keys)).toHaveLength(3);
    unwrap(main.setRecurringSend(null, null));
    expect(world.env.ScriptApp.triggers.filter((t) => t.type === 'ON_FORM_SUBMIT')).toHaveLength(0);
  });

  it('keeps document state far below the 9 KB property limit with many campaigns', () => {
    world = makeWorld(contacts(2));
    for (let i = 0; i < 30; i += 1) unwrap(main.startSend({ ...composeConfig, campaignName: `Campaign number ${i} with a long name` }));
    const stored = world.env.PropertiesService.document.getProperty('campaigns')!;
    expect(JSON.parse(stored)).toHaveLength(20);
    expect(stored.length).toBeLessThan(9 * 1024);
  });
});
