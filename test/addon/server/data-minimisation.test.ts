// Only what is needed leaves the sheet (issue 5): on a tab with columns nobody mapped (email, address, notes) and
// rows the marketer did not select, every request the add-on makes to the service carries the phone and the mapped
// parameter values of the rows being sent, and nothing else.
import { afterEach, describe, expect, it } from 'vitest';
import type { ComposeConfig } from '../../../addon/core/column-mapping';
import * as main from '../../../addon/server/main';
import type { FetchRequest } from '../../../devtools/apps-script/fake-url-fetch-app';
import type { FakeSheet } from '../../../devtools/apps-script/fake-spreadsheet-app';
import { STUB_URL } from './stub-service';
import { makeWorld, unwrap, type World } from './world';

const HEADERS = ['Name', 'Email', 'Phone', 'Address', 'Order', 'Notes'];
const ROWS = 10;

interface Person {
  name: string;
  email: string;
  phone: string;
  address: string;
  order: string;
  notes: string;
}

const people: Person[] = Array.from({ length: ROWS }, (_, i) => ({
  name: `Person${i} Zq`,
  email: `private.mail${i}@example.org`,
  phone: `+1415555${1000 + i}`,
  address: `${100 + i} Hidden Lane, Springfield`,
  order: `ORD-${i}-77`,
  notes: `NOTE-PRIVATE-${i}: allergic to cats`,
}));

const config: ComposeConfig = {
  sheetName: 'Leads',
  phoneColumn: 'Phone',
  defaultCountry: 'US',
  template: { name: 'order_update', language: 'en' },
  params: { '1': { kind: 'column', column: 'Name' }, '2': { kind: 'column', column: 'Order' } },
  selection: 'selected',
  campaignName: 'Spring follow-up',
};

let world: World;
let leads: FakeSheet;
afterEach(() => world?.uninstall());

function setUp(): void {
  world = makeWorld([]);
  leads = world.ss.addSheet('Leads', [HEADERS, ...people.map((p) => [p.name, p.email, p.phone, p.address, p.order, p.notes])]);
}

/** Everything a request to the service exposes: URL, headers and body. */
function serviceRequests(): FetchRequest[] {
  return world.env.UrlFetchApp.log.filter((r) => r.url.startsWith(STUB_URL));
}

function exposed(r: FetchRequest): string {
  return `${r.url}\n${JSON.stringify(r.headers)}\n${r.payload ?? ''}`;
}

/** Values of columns nobody mapped: they must never leave the sheet. */
const unmappedValues = people.flatMap((p) => [p.email, p.address, p.notes, `Hidden Lane`, `private.mail`, `NOTE-PRIVATE`]);

function assertNoUnmappedColumns(): void {
  const requests = serviceRequests();
  expect(requests.length).toBeGreaterThan(0);
  for (const r of requests) {
    const found = unmappedValues.filter((value) => exposed(r).includes(value));
    expect(found, `${r.method} ${r.url} carries unmapped column values`).toEqual([]);
  }
}

interface UploadRow {
  key: string;
  to: string;
  params: Record<string, string>;
}

/** Rows in the bodies of requests to `pathPart`, with the requests' full text. */
function uploadedRows(pathPart: string): { rows: UploadRow[]; texts: string[] } {
  const requests = serviceRequests().filter((r) => r.method === 'POST' && r.url.includes(pathPart));
  expect(requests.length).toBeGreaterThan(0);
  return {
    rows: requests.flatMap((r) => (JSON.parse(r.payload as string) as { rows: UploadRow[] }).rows),
    texts: requests.map(exposed),
  };
}

/** Each row has exactly key, to and the two mapped parameters, with the selected people's values; nobody else's. */
function assertOnlySelected(pathPart: string, selected: number[]): void {
  const { rows, texts } = uploadedRows(pathPart);
  for (const row of rows) {
    expect(Object.keys(row).sort()).toEqual(['key', 'params', 'to']);
    expect(Object.keys(row.params).sort()).toEqual(['1', '2']);
  }
  expect(rows.map((r) => [r.to, r.params['1'], r.params['2']]).sort())
    .toEqual(selected.map((i) => [people[i]!.phone, people[i]!.name, people[i]!.order]).sort());
  const unselected = people.filter((_, i) => !selected.includes(i));
  for (const text of texts) {
    for (const p of unselected) {
      const found = [p.name, p.phone, p.phone.slice(2), p.order].filter((value) => text.includes(value));
      expect(found, `${pathPart} carries an unselected row`).toEqual([]);
    }
  }
}

describe('what the add-on sends to the service', () => {
  it('previews and sends selected rows with the phone and mapped values only', () => {
    setUp();
    world.ss.select(leads, [2, 4], [8, 8]);
    const selected = [0, 1, 2, 6];

    const preview = unwrap(main.previewSend(config));
    expect(preview).toMatchObject({ selectedRows: 4, valid: 4 });
    assertOnlySelected('/v1/preview', selected);

    const progress = unwrap(main.startSend(config));
    expect(progress).toMatchObject({ done: true, total: 4, accepted: 4 });
    assertOnlySelected('/rows', selected);

    // The campaign itself carries its name, template and where to write back: no cell values.
    const created = serviceRequests().filter((r) => r.method === 'POST' && r.url.endsWith('/v1/campaigns'));
    expect(created).toHaveLength(1);
    const body = JSON.parse(created[0]!.payload as string) as Record<string, unknown>;
    expect(Object.keys(body).every((k) => ['name', 'template', 'sendAt', 'defaultCountry', 'sheet'].includes(k))).toBe(true);
    expect(people.some((p) => Object.values(p).some((v) => created[0]!.payload!.includes(v)))).toBe(false);

    // Progress polls and syncs read from the service; they send no row data either.
    unwrap(main.syncNow());
    assertNoUnmappedColumns();
  });

  it('sends only the rows the filter shows, with the phone and mapped values only', () => {
    setUp();
    leads.setFilterHiding([3, 5, 6, 9, 11]); // data rows 1, 3, 4, 7, 9
    const visible = [0, 2, 5, 6, 8];
    unwrap(main.previewSend({ ...config, selection: 'visible' }));
    assertOnlySelected('/v1/preview', visible);
    expect(unwrap(main.startSend({ ...config, selection: 'visible' }))).toMatchObject({ done: true, accepted: 5 });
    assertOnlySelected('/rows', visible);
    assertNoUnmappedColumns();
  });

  it('sends a test message with the first selected row\'s mapped values and the marketer\'s number, nothing else', () => {
    setUp();
    world.ss.select(leads, [5, 6]); // data rows 3 and 4: row 0 is not selected and must not be the sample
    expect(unwrap(main.sendTest(config, '+14155550100'))).toMatchObject({ status: 'sent' });
    const requests = serviceRequests().filter((r) => r.url.endsWith('/v1/test-send'));
    expect(requests).toHaveLength(1);
    const body = JSON.parse(requests[0]!.payload as string) as { to: string; template: unknown; params: Record<string, string> };
    expect(Object.keys(body).sort()).toEqual(['params', 'template', 'to']);
    expect(body.to).toBe('+14155550100');
    expect(Object.keys(body.params).sort()).toEqual(['1', '2']);
    expect(body.params).toEqual({ '1': people[3]!.name, '2': people[3]!.order });
    for (const p of people) expect(requests[0]!.payload).not.toContain(p.phone);
    for (const p of people.filter((_, i) => i !== 3)) expect(requests[0]!.payload).not.toContain(p.name);
    assertNoUnmappedColumns();
  });
});
