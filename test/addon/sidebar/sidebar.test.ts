// The sidebar in headless Chromium (playwright-core, Debian's chromium) with google.script.run bridged to the built
// Code.js running on the Apps Script fakes: connect, map columns, preview, send, watch progress, sync.
// Screenshots go to test-output/addon-sidebar/ (git-ignored; CI keeps them as artifacts).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDON_DIST, loadBuiltAddon, ROOT, type BuiltAddon } from '../built-addon';
import { STUB_KEY, STUB_URL, StubService } from '../server/stub-service';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-output/addon-sidebar');

/** Stands in for google.script.run: each call goes to window.__gasCall, which the test routes into Code.js. */
const BRIDGE = `
(() => {
  const runner = (ok, fail) => new Proxy({}, {
    get(_t, prop) {
      if (prop === 'withSuccessHandler') return (fn) => runner(fn, fail);
      if (prop === 'withFailureHandler') return (fn) => runner(ok, fn);
      if (prop === 'withUserObject') return () => runner(ok, fail);
      return (...args) => {
        window.__gasCall(String(prop), JSON.stringify(args)).then(
          (r) => ok && ok(r === undefined ? undefined : JSON.parse(r)),
          (e) => fail && fail(new Error(String(e && e.message || e))),
        );
      };
    },
  });
  window.google = { script: { run: runner(null, null), host: { close() {} } } };
})();
`;

function contacts(n: number): unknown[][] {
  return Array.from({ length: n }, (_, i) => [`Customer ${i}`, `+1415${String(3000000 + i)}`, `SB-${100 + i}`]);
}

describe.skipIf(!existsSync(CHROMIUM))('sidebar in headless Chromium (skipped without /usr/bin/chromium)', () => {
  let browser: Browser;
  let page: Page;
  let addon: BuiltAddon;
  let stub: StubService;
  const rpcLog: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    addon = loadBuiltAddon(['Name', 'Phone', 'Order'], [...contacts(40), ['Broken', 'call me', 'SB-x']]);
    stub = new StubService();
    addon.env.UrlFetchApp.handlers.unshift(stub.handler);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 300, height: 900 } });
    page.on('dialog', (d) => void d.accept());
    page.on('pageerror', (e) => rpcLog.push(`pageerror: ${e.message}`));
    await page.exposeFunction('__gasCall', (name: string, argsJson: string) => {
      rpcLog.push(name);
      const result = addon.call(name, ...(JSON.parse(argsJson) as unknown[]));
      return result === undefined ? undefined : JSON.stringify(result);
    });
    await page.addInitScript(BRIDGE);
    // The page exactly as showSidebar serves it: the built Sidebar.html plus the initial-view script.
    addon.call('showSidebar');
    const served = addon.env.SpreadsheetApp.ui.sidebars[0]!.content;
    expect(served).toBe(`${readFileSync(join(ADDON_DIST, 'Sidebar.html'), 'utf8')}<script>window.__initialView="compose";</script>`);
    // A real navigation (not setContent) so the bridge's init script runs before the page's own script.
    await page.route('https://sidebar.test/', (route) => route.fulfill({ body: served, contentType: 'text/html' }));
    await page.goto('https://sidebar.test/');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('asks for the connection first, checks it, then opens compose', async () => {
    await page.locator('#view-settings').waitFor({ state: 'visible' });
    await page.screenshot({ path: join(SHOTS, '1-settings.png'), fullPage: true });
    await page.fill('#service-url', STUB_URL);
    await page.fill('#api-key', 'wrong-key');
    await page.click('#save-settings');
    await expect.poll(() => page.textContent('#error')).toMatch(/rejected your API key/);
    await page.fill('#api-key', STUB_KEY);
    await page.click('#save-settings');
    await page.locator('#view-compose').waitFor({ state: 'visible' });
    expect(await page.inputValue('#phone-column')).toBe('Phone');
    expect(await page.locator('#template option').allTextContents()).toEqual(['order_update (en)', 'promo_image (en)']);
  });

  it('maps parameters to columns and previews the first rows as the recipient reads them, with counts', async () => {
    await page.selectOption('#param-1', 'Name');
    await page.selectOption('#param-2', 'Order');
    await page.click('#preview');
    await page.locator('#preview-out').waitFor({ state: 'visible' });
    expect(await page.textContent('#count-valid')).toBe('40');
    expect(await page.textContent('#count-invalid')).toBe('1');
    expect(await page.innerHTML('#bubbles .bubble >> nth=0')).toContain('Hi <b>Customer 0</b>, update on SB-100');
    await page.screenshot({ path: join(SHOTS, '2-preview.png'), fullPage: true });
    expect(stub.posts).toHaveLength(0);
  });

  it('sends a test message to the marketer’s own number', async () => {
    await page.fill('#test-to', '+14155550100');
    await page.click('#test-send');
    await expect.poll(() => page.textContent('#test-result')).toBe('Test message sent.');
  });

  it('sends, then watches progress and the funnel, pauses and resumes', async () => {
    await page.fill('#campaign-name', 'Spring');
    await page.click('#send');
    await page.locator('#view-watch').waitFor({ state: 'visible' });
    await expect.poll(() => page.textContent('#state')).toBe('running');
    expect(addon.sheet.column('WA Status').filter((s) => s === 'queued')).toHaveLength(40);
    expect(addon.sheet.column('WA Status')[40]).toBe('rejected');
    stub.advance('cmp_1', (_m, i) => (i < 30 ? { status: 'read', ...(i < 5 ? { reply: { text: 'Yes please', at: 'x' } } : {}) } : { status: 'delivered' }));
    await expect.poll(() => page.textContent('[data-step="read"] .count'), { timeout: 15_000 }).toBe('30');
    expect(await page.textContent('[data-step="replied"] .count')).toBe('5');
    expect(await page.textContent('#progress-text')).toBe('100% of 40');
    await page.screenshot({ path: join(SHOTS, '3-watch.png'), fullPage: true });
    await page.click('#pause');
    await expect.poll(() => page.textContent('#state')).toBe('paused');
    await page.click('#resume');
    await expect.poll(() => page.textContent('#state')).toBe('running');
  });

  it('syncs results into the sheet from the watch view', async () => {
    await page.click('#sync');
    await expect.poll(() => page.textContent('#sync-result')).toMatch(/row\(s\) updated/);
    const status = addon.sheet.column('WA Status');
    expect(status.filter((s) => s === 'read')).toHaveLength(30);
    expect(addon.sheet.column('WA Reply').filter((r) => r === 'Yes please')).toHaveLength(5);
    await page.screenshot({ path: join(SHOTS, '4-synced.png'), fullPage: true });
    expect(rpcLog).toContain('startSend');
  });

  it('shows a banner with Meta’s reason when the number is restricted or flagged, and none when it is healthy', async () => {
    expect(await page.isVisible('#health-banner')).toBe(false);
    stub.health = {
      quality: { rating: 'FLAGGED', at: '2026-05-01T10:00:00.000Z' },
      messagingLimit: { tier: 'TIER_250', dailyLimit: 250, at: '2026-05-01T10:00:00.000Z' },
      restriction: {
        type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', detail: 'Account ACCOUNT_RESTRICTION — RESTRICTED_BIZ_INITIATED_MESSAGING',
        expiresAt: '2026-05-08T10:00:00.000Z', at: '2026-05-01T10:00:00.000Z',
      },
      events: [],
    };
    await page.click('#tab-settings');
    await page.fill('#api-key', STUB_KEY);
    await page.click('#save-settings');
    await expect.poll(() => page.textContent('#health-banner')).toMatch(/Meta restricted this WhatsApp number until 2026-05-08 10:00: .*RESTRICTED_BIZ_INITIATED_MESSAGING/);
    expect(await page.textContent('#health-banner')).toContain('Meta flagged this number\'s quality (FLAGGED)');
    expect(await page.isVisible('#health-banner')).toBe(true);
    await page.screenshot({ path: join(SHOTS, '5-health-banner.png'), fullPage: true });
    stub.health = { quality: null, messagingLimit: null, restriction: null, events: [] };
    await page.click('#tab-settings');
    await page.fill('#api-key', STUB_KEY);
    await page.click('#save-settings');
    await expect.poll(() => page.isVisible('#health-banner')).toBe(false);
  });
});
