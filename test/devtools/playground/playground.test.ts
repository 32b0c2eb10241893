// `npm run playground` end to end in headless Chromium (playwright-core, Debian's chromium): the real playground
// process (service, sandbox simulator, built Code.js, sidebar), driven as a marketer would: drop a CSV, map columns,
// send 200 rows, sort the sheet mid-campaign, and see every row's final status on its own row, filled by the add-on's
// own clock trigger. Screenshots go to test-output/playground/ (git-ignored; CI keeps them as artifacts).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlayground, ROOT, startPlayground, type RunningPlayground } from './running-playground';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-output/playground');
const ROWS = 200;
/** An Apps Script hour of the add-on's sync trigger lasts this long in this run. */
const HOUR_SECONDS = 2;

/** The simulator's fixed outcomes by the number's last four digits (service/simulator/outcome-rules.ts). */
const OUTCOMES = [
  { suffix: '0011', status: 'delivered' },
  { suffix: '0006', status: 'read' },
  { suffix: '0007', status: 'read' },
] as const;

function customersCsv(): string {
  const lines = ['Name,Mobile,Order,Expected'];
  for (let i = 0; i < ROWS; i += 1) {
    const o = OUTCOMES[i % 3]!;
    lines.push(`Customer ${String(i).padStart(4, '0')},+1 415 ${200 + Math.floor(i / 3)} ${o.suffix},SB-${1000 + i},${o.status}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The grid as drawn: the header row and the data rows (spare empty rows left out). */
async function gridTable(page: Page): Promise<{ header: string[]; rows: string[][] }> {
  const all = await page.evaluate(() => [...document.querySelectorAll('#grid tbody tr')]
    .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  const [header = [], ...rows] = all;
  return { header, rows: rows.filter((r) => r.some((c) => c !== '')) };
}

function columnOf(header: string[], name: string): number {
  const i = header.indexOf(name);
  if (i < 0) throw new Error(`no ${name} column in ${header.join(', ')}`);
  return i;
}

describe.skipIf(!existsSync(CHROMIUM))('playground in headless Chromium (skipped without /usr/bin/chromium)', () => {
  let playground: RunningPlayground;
  let browser: Browser;
  let page: Page;
  let sidebar: FrameLocator;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    buildPlayground();
    playground = await startPlayground(['--hour-seconds', String(HOUR_SECONDS), '--mps', '200']);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    sidebar = page.frameLocator('#sidebar-frame');
    await page.goto(playground.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await playground?.stop();
  });

  it('opens on the sample contacts beside the add-on’s sidebar, under a banner that says it is a playground', async () => {
    await expect.poll(() => page.textContent('#grid td[data-row="2"][data-col="1"]')).toBe('Sneha');
    expect(await page.textContent('#grid th.col-head[data-col="3"]')).toBe('C');
    expect(await page.textContent('#grid tr.frozen td[data-col="3"]')).toBe('Phone');
    expect(await page.textContent('#banner')).toMatch(/Playground.*Nothing leaves this machine.*removed when the playground stops/s);
    await sidebar.locator('#view-compose').waitFor({ state: 'visible' });
    expect(await sidebar.locator('#phone-column').inputValue()).toBe('Phone');
    await page.screenshot({ path: join(SHOTS, '1-sample-contacts.png') });
  });

  it('replaces the sheet with a CSV dropped on it, and the reopened sidebar offers its columns', async () => {
    await page.evaluate((csv) => {
      const files = new DataTransfer();
      files.items.add(new File([csv], 'customers.csv', { type: 'text/csv' }));
      const area = document.getElementById('sheet-area')!;
      area.dispatchEvent(new DragEvent('dragover', { dataTransfer: files, bubbles: true, cancelable: true }));
      area.dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));
    }, customersCsv());
    await expect.poll(() => page.textContent('#grid td[data-row="2"][data-col="1"]')).toBe('Customer 0000');
    expect(await page.textContent('#row-count')).toBe(`${ROWS} data rows`);
    await expect.poll(() => sidebar.locator('#phone-column').inputValue().catch(() => '')).toBe('Mobile');
    await page.screenshot({ path: join(SHOTS, '2-csv-dropped.png') });
  });

  it('maps columns, sends 200 rows, is sorted mid-campaign, and shows every row’s final status on its own row', async () => {
    await sidebar.locator('#template').selectOption('order_update|en_US');
    await sidebar.locator('#param-first_name').selectOption('Name');
    await sidebar.locator('#param-order_id').selectOption('Order');
    await sidebar.locator('#preview').click();
    await expect.poll(() => sidebar.locator('#count-valid').textContent()).toBe(String(ROWS));
    expect(await sidebar.locator('#bubbles .bubble').first().innerHTML()).toContain('Customer 0000');
    await page.screenshot({ path: join(SHOTS, '3-mapped-and-previewed.png') });
    await sidebar.locator('#test-send').click();
    await expect.poll(() => sidebar.locator('#test-result').textContent()).toBe('Test message sent.');

    await sidebar.locator('#campaign-name').fill('Playground 200');
    await sidebar.locator('#send').click();
    await sidebar.locator('#view-watch').waitFor({ state: 'visible' });

    // Mid-campaign: the rows are keyed and queued in the sheet, results not yet pulled. Sort by name, Z → A.
    await page.click('#grid tr.frozen td[data-col="1"]');
    await page.click('#sort-desc');
    await expect.poll(() => page.textContent('#grid td[data-row="2"][data-col="1"]')).toBe('Customer 0199');
    const atSort = await gridTable(page);
    const statusAtSort = atSort.rows.map((r) => r[columnOf(atSort.header, 'WA Status')]);
    expect(statusAtSort.filter((s) => s === 'queued' || s === 'sending' || s === 'sent').length, 'rows still in flight when sorted').toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, '4-sorted-mid-campaign.png') });

    // The add-on's own hourly trigger (an hour is HOUR_SECONDS here) pulls the results into the sorted sheet.
    const deadline = Date.now() + 40_000;
    let table = atSort;
    const isSettled = (t: typeof table): boolean => {
      const [status, expected, reply, mobile] = ['WA Status', 'Expected', 'WA Reply', 'Mobile'].map((h) => t.header.indexOf(h));
      return t.rows.length === ROWS && t.rows.every((r) => r[status!] === r[expected!] && (!r[mobile!]!.endsWith('0007') || r[reply!] !== ''));
    };
    while (Date.now() < deadline && !isSettled(table)) {
      await new Promise((r) => setTimeout(r, 500));
      table = await gridTable(page);
    }
    await page.screenshot({ path: join(SHOTS, '5-final-statuses.png') });

    const at = (name: string) => columnOf(table.header, name);
    expect(table.rows).toHaveLength(ROWS);
    const names = table.rows.map((r) => r[at('Name')]);
    expect(names, 'the sort held').toEqual([...names].sort().reverse());
    for (const [i, row] of table.rows.entries()) {
      const where = `sheet row ${i + 2} (${row[at('Name')]})`;
      expect(row[at('WA Status')], where).toBe(row[at('Expected')]);
      expect(row[at('WA Message ID')], where).toMatch(/^wamid\./);
      expect(row[at('WA Error')], where).toBe('');
      if (row[at('Mobile')]!.endsWith('0007')) expect(row[at('WA Reply')], where).not.toBe('');
      else expect(row[at('WA Reply')], where).toBe('');
    }
    expect(new Set(table.rows.map((r) => r[at('WA Key')])).size).toBe(ROWS);
    expect(new Set(table.rows.map((r) => r[at('WA Message ID')])).size).toBe(ROWS);

    // The results came from the clock trigger firing on its schedule, not from a button.
    const runs = await page.textContent('#triggers tr:has(td:text-is("onClockTick"))');
    expect(Number(/(\d+) runs?/.exec(runs ?? '')?.[1] ?? 0)).toBeGreaterThan(0);
    await expect.poll(() => sidebar.locator('#state').textContent(), { timeout: 10_000 }).toBe('finished');
  }, 90_000);

  it('runs the add-on’s menu from the page: “Sync results now” answers in a toast', async () => {
    await page.click('#menu-extensions');
    await page.click('#menu-extensions-items button[data-fn="menuSyncNow"]');
    await expect.poll(() => page.textContent('#toasts')).toMatch(/Synced 1 campaign\(s\): \d+ row\(s\) updated\./);
    await page.screenshot({ path: join(SHOTS, '6-menu-sync.png') });
  });

  it('adds and types a row, and filters the sheet, as in Sheets', async () => {
    await page.click('#add-row');
    await page.keyboard.type('Customer new');
    await page.keyboard.press('Tab');
    await page.keyboard.type('+1 415 555 0011');
    await page.keyboard.press('Tab');
    await page.keyboard.type('SB-2000');
    await page.keyboard.press('Enter');
    const newRow = ROWS + 2;
    // Each typed cell reaches the sheet on its own round trip: wait for the last one, not only the first.
    await expect.poll(() => page.textContent(`#grid td[data-row="${newRow}"][data-col="3"]`)).toBe('SB-2000');
    expect(await page.textContent(`#grid td[data-row="${newRow}"][data-col="2"]`)).toBe('+1 415 555 0011');
    expect(await page.textContent(`#grid td[data-row="${newRow}"][data-col="1"]`)).toBe('Customer new');
    expect(await page.textContent('#row-count')).toBe(`${ROWS + 1} data rows`);

    await page.fill('#filter', 'customer 0042');
    await expect.poll(async () => (await gridTable(page)).rows.length).toBe(1);
    expect(await page.textContent('#row-count')).toBe(`${ROWS + 1} data rows, ${ROWS} hidden by the filter`);
    await page.screenshot({ path: join(SHOTS, '7-new-row-and-filter.png') });
    await page.fill('#filter', '');
    await expect.poll(async () => (await gridTable(page)).rows.length).toBe(ROWS + 1);
  });

  it('sends new rows on each form submission once the sidebar saved a recurring send', async () => {
    await sidebar.locator('#tab-compose').click();
    await sidebar.locator('input[name=when][value=recurring]').check();
    await sidebar.locator('#recurrence').selectOption('form');
    await sidebar.locator('#send').click();
    await expect.poll(() => sidebar.locator('#recurring-note').textContent()).toMatch(/on each form submission/);

    // A response lands in the sheet as a new row, then the form-submit trigger fires.
    const row = ROWS + 3;
    await page.click(`#grid td[data-row="${row}"][data-col="1"]`);
    await page.keyboard.type('Customer form');
    await page.keyboard.press('Tab');
    await page.keyboard.type('+1 415 300 0006');
    await page.keyboard.press('Tab');
    await page.keyboard.type('SB-2001');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent(`#grid td[data-row="${row}"][data-col="2"]`)).toBe('+1 415 300 0006');
    await page.click('#dev-summary');
    await page.click('#triggers tr:has(td:text-is("onFormSubmitTrigger")) button');

    // Both rows without a key (this one and the one typed before) are sent; the clock trigger brings their results.
    const statusOf = async (r: number): Promise<string> => {
      const { header } = await gridTable(page);
      return (await page.textContent(`#grid td[data-row="${r}"][data-col="${columnOf(header, 'WA Status') + 1}"]`)) ?? '';
    };
    await expect.poll(() => statusOf(row), { timeout: 20_000 }).toBe('read');
    await expect.poll(() => statusOf(ROWS + 2), { timeout: 20_000 }).toBe('delivered');
    await page.screenshot({ path: join(SHOTS, '8-form-submission-sent.png') });
    expect(pageErrors).toEqual([]);
  });
});
