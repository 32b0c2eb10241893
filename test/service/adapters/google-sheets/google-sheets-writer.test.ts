// The googleapis sheet writer against a local fake of the Sheets API: rows found by key, columns by header,
// Google errors as outcomes, and the call count per write. Never reaches Google.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { google } from 'googleapis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GoogleSheetsWriter } from '../../../../service/adapters/google-sheets/google-sheets-writer';
import {
  createSheetWriterFromCredentials,
  readServiceAccountKey,
} from '../../../../service/adapters/google-sheets/service-account';
import type { Clock } from '../../../../service/campaigns/clock';
import type { MessageStatus } from '../../../../service/campaigns/message-status';
import type { MessageChange, SheetSyncStore, SheetTarget } from '../../../../service/sheets/sheet-ports';
import { SheetSync } from '../../../../service/sheets/sheet-sync';
import { FakeSheetsApi } from '../../../fakes/fake-sheets-api';

const EMAIL = 'wa-writer@acme-campaigns.iam.gserviceaccount.com';
const SS = 'spreadsheet-1';
const TAB = 'Contacts';
const TARGET: SheetTarget = { spreadsheetId: SS, sheetName: TAB };
const HEADER = ['Name', 'Phone', 'WA Key', 'WA Status', 'WA Message ID', 'WA Error', 'WA Reply', 'WA Updated'];
const T0 = Date.UTC(2025, 0, 31, 9, 15, 0);

let api: FakeSheetsApi;

beforeAll(async () => {
  api = await FakeSheetsApi.start();
});
afterAll(async () => {
  await api.close();
});
beforeEach(() => {
  api.resetCalls();
});

function writerFor(fake: FakeSheetsApi): GoogleSheetsWriter {
  const auth = new google.auth.OAuth2();
  auth.setCredentials({ access_token: fake.accessToken, expiry_date: Date.now() + 3_600_000 });
  return new GoogleSheetsWriter({ auth, serviceAccountEmail: EMAIL, rootUrl: fake.rootUrl });
}

function contactRows(count: number): string[][] {
  return Array.from({ length: count }, (_, i) => [`Name ${i}`, `+44770090${String(i).padStart(4, '0')}`, `k${i}`]);
}

let seq = 0;
function change(key: string, status: MessageStatus = 'sent', extra: Partial<MessageChange> = {}): MessageChange {
  seq += 1;
  return {
    seq,
    key,
    to: '+447700900000',
    status,
    wamid: `wamid.${key}.${seq}`,
    error: null,
    reply: null,
    updatedAt: T0,
    ...extra,
  };
}

function recordByKey(spreadsheetId = SS, sheetName = TAB): Map<string, Record<string, string>> {
  return new Map(api.records(spreadsheetId, sheetName).map((r) => [r['WA Key'] ?? '', r]));
}

describe('GoogleSheetsWriter', () => {
  it('writes status, wamid, error, reply and time onto the rows of their keys, leaving other columns alone', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(5)]);
    const writer = writerFor(api);
    const outcome = await writer.write(TARGET, [
      change('k1', 'delivered'),
      change('k3', 'failed', { wamid: null, error: { code: '131026', message: 'Message undeliverable' } }),
      change('k4', 'read', { reply: { text: '=STOP please', at: T0 } }),
    ]);

    expect(outcome).toEqual({ kind: 'written', rowsWritten: 3, rowsNotFound: 0 });
    const rows = recordByKey();
    expect(rows.get('k1')).toMatchObject({ Name: 'Name 1', 'WA Status': 'delivered', 'WA Updated': '2025-01-31T09:15:00.000Z' });
    expect(rows.get('k1')?.['WA Message ID']).toMatch(/^wamid\.k1\./);
    expect(rows.get('k3')).toMatchObject({ 'WA Status': 'failed', 'WA Message ID': '', 'WA Error': 'Message undeliverable (131026)' });
    expect(rows.get('k4')).toMatchObject({ 'WA Status': 'read', 'WA Reply': '=STOP please' });
    expect(rows.get('k0')?.['WA Status']).toBe('');
    expect(api.batchUpdates[0]?.body.valueInputOption).toBe('RAW');
  });

  it('puts results on the right rows after the user sorts the sheet between two writes', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(50)]);
    const writer = writerFor(api);
    await writer.write(TARGET, [change('k10', 'sent'), change('k20', 'sent')]);
    api.sortRows(SS, TAB, (a, b) => String(b[1]).localeCompare(String(a[1])));
    await writer.write(TARGET, [change('k10', 'delivered'), change('k30', 'read')]);

    const rows = recordByKey();
    for (const [key, status] of [['k10', 'delivered'], ['k20', 'sent'], ['k30', 'read']] as const) {
      expect(rows.get(key)?.['WA Status'], key).toBe(status);
      expect(rows.get(key)?.Name).toBe(`Name ${key.slice(1)}`);
    }
    const written = api.records(SS, TAB).filter((r) => r['WA Status'] !== '');
    expect(written).toHaveLength(3);
  });

  it('puts results on the right rows after rows are inserted above them', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(10)]);
    const writer = writerFor(api);
    await writer.write(TARGET, [change('k5')]);
    api.insertRows(SS, TAB, 2, [['Inserted A', '+15550000001'], ['Inserted B', '+15550000002']]);
    await writer.write(TARGET, [change('k5', 'read'), change('k6', 'delivered')]);

    const rows = api.records(SS, TAB);
    expect(rows.filter((r) => r.Name?.startsWith('Inserted')).every((r) => r['WA Status'] === '')).toBe(true);
    expect(recordByKey().get('k5')?.['WA Status']).toBe('read');
    expect(recordByKey().get('k6')?.['WA Status']).toBe('delivered');
  });

  it('finds the columns by header name wherever they were moved, case-insensitively', async () => {
    // Status columns split apart, key column between them, headers in odd case.
    const header = ['wa updated', 'Name', 'WA STATUS', 'wa key', 'Phone', 'Wa Reply', 'WA Message ID', 'Notes', 'WA Error'];
    const rows = Array.from({ length: 6 }, (_, i) => ['', `Name ${i}`, '', `k${i}`, `+4477${i}`, '', '', `note ${i}`, '']);
    api.addSheet(SS, TAB, [header, ...rows]);
    const writer = writerFor(api);
    await writer.write(TARGET, [change('k2', 'failed', { error: { code: '131049', message: 'Not delivered' } })]);

    expect(api.records(SS, TAB).find((r) => r['wa key'] === 'k2')).toMatchObject({
      'wa updated': '2025-01-31T09:15:00.000Z',
      Name: 'Name 2',
      'WA STATUS': 'failed',
      Phone: '+44772',
      'WA Message ID': expect.stringMatching(/^wamid\.k2/) as unknown as string,
      Notes: 'note 2',
      'WA Error': 'Not delivered (131049)',
    });

    // The user then drags the key column to the front: the next write re-reads it once and still lands right.
    api.moveColumn(SS, TAB, 3, 0);
    api.resetCalls();
    await writer.write(TARGET, [change('k4', 'read')]);
    expect(api.records(SS, TAB).find((r) => r['wa key'] === 'k4')?.['WA STATUS']).toBe('read');
    expect(api.calls).toMatchObject({ 'values.batchGet': 1, 'values.get': 1, 'values.batchUpdate': 1 });
  });

  it('handles tab names with spaces and quotes', async () => {
    const target = { spreadsheetId: SS, sheetName: "Q1 'Leads' 2025" };
    api.addSheet(SS, target.sheetName, [HEADER, ...contactRows(3)]);
    const outcome = await writerFor(api).write(target, [change('k2', 'delivered')]);
    expect(outcome.kind).toBe('written');
    expect(recordByKey(SS, target.sheetName).get('k2')?.['WA Status']).toBe('delivered');
  });

  it('counts keys missing from the sheet without failing the write', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(3)]);
    const outcome = await writerFor(api).write(TARGET, [change('k1'), change('deleted-row'), change('other')]);
    expect(outcome).toEqual({ kind: 'written', rowsWritten: 1, rowsNotFound: 2 });
    const none = await writerFor(api).write(TARGET, [change('gone')]);
    expect(none).toEqual({ kind: 'written', rowsWritten: 0, rowsNotFound: 1 });
  });

  it('answers retry on 429, honouring Retry-After, without hidden retries by the client', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(3)]);
    const writer = writerFor(api);
    api.failNext({ status: 429, method: 'values.batchUpdate', retryAfterSeconds: 7 });
    const outcome = await writer.write(TARGET, [change('k1')]);
    expect(outcome).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    expect(api.calls['values.batchUpdate']).toBe(1);
    expect(recordByKey().get('k1')?.['WA Status']).toBe('');

    expect((await writer.write(TARGET, [change('k1')])).kind).toBe('written');
  });

  it('answers retry on 500 and 503, and when Google cannot be reached', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(3)]);
    const writer = writerFor(api);
    api.failNext({ status: 503 });
    expect(await writer.write(TARGET, [change('k1')])).toMatchObject({ kind: 'retry', retryAfterMs: 0 });
    api.failNext({ status: 500, method: 'values.batchUpdate' });
    expect((await writer.write(TARGET, [change('k1')])).kind).toBe('retry');

    const gone = await FakeSheetsApi.start();
    const unreachable = writerFor(gone);
    await gone.close();
    expect((await unreachable.write(TARGET, [change('k1')])).kind).toBe('retry');
  });

  it('answers blocked with the share sentence on 403, naming the service account', async () => {
    api.addSheet('private-sheet', TAB, [HEADER, ...contactRows(3)]);
    api.denyAccess('private-sheet');
    const outcome = await writerFor(api).write({ spreadsheetId: 'private-sheet', sheetName: TAB }, [change('k1')]);
    expect(outcome).toEqual({
      kind: 'blocked',
      reason: `Share the sheet with ${EMAIL} as an editor so the results can be written into it.`,
    });
  });

  it('answers blocked when the spreadsheet, the tab or a required header is missing', async () => {
    const writer = writerFor(api);
    const noSpreadsheet = await writer.write({ spreadsheetId: 'deleted', sheetName: TAB }, [change('k1')]);
    expect(noSpreadsheet).toMatchObject({ kind: 'blocked', reason: expect.stringContaining('not found') as unknown });

    api.addSheet(SS, TAB, [HEADER, ...contactRows(3)]);
    const noTab = await writer.write({ spreadsheetId: SS, sheetName: 'Renamed' }, [change('k1')]);
    expect(noTab).toMatchObject({ kind: 'blocked', reason: expect.stringContaining('"Renamed" was not found') as unknown });

    api.addSheet(SS, 'Bare', [['Name', 'Phone', 'WA Key'], ['A', '+1', 'k1']]);
    const noStatus = await writer.write({ spreadsheetId: SS, sheetName: 'Bare' }, [change('k1')]);
    expect(noStatus).toMatchObject({ kind: 'blocked', reason: expect.stringContaining('"WA Status"') as unknown });
    expect(api.calls['values.batchUpdate']).toBe(0);
  });

  it('writes 10,000 changes with one read and one batchUpdate once the key column is known', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(12_000)]);
    const writer = writerFor(api);
    await writer.write(TARGET, [change('k0')]);
    api.resetCalls();

    const adjacent = Array.from({ length: 10_000 }, (_, i) => change(`k${i}`, 'delivered'));
    const outcome = await writer.write(TARGET, adjacent);
    expect(outcome).toEqual({ kind: 'written', rowsWritten: 10_000, rowsNotFound: 0 });
    expect(api.calls).toEqual({ 'values.get': 0, 'values.batchGet': 1, 'values.batchUpdate': 1, 'spreadsheets.get': 0 });
    expect(api.batchUpdates[0]?.body.data).toHaveLength(1);
    const contiguousBytes = JSON.stringify(api.batchUpdates[0]?.body).length;

    // The worst case for grouping: no two changed rows are adjacent, so one range per row, still one call.
    api.resetCalls();
    const everyOther = Array.from({ length: 6000 }, (_, i) => change(`k${i * 2}`, 'read'));
    await writer.write(TARGET, everyOther);
    expect(api.calls['values.batchUpdate']).toBe(1);
    expect(api.batchUpdates[0]?.body.data).toHaveLength(6000);
    const scatteredBytes = JSON.stringify(api.batchUpdates[0]?.body).length;

    expect(recordByKey().get('k9999')?.['WA Status']).toBe('delivered');
    expect(recordByKey().get('k11998')?.['WA Status']).toBe('read');
    // Figures for docs/sheet-write-back.md.
    console.info(`10,000 adjacent rows: ${contiguousBytes} bytes; 6,000 scattered rows: ${scatteredBytes} bytes`);
    expect(contiguousBytes).toBeLessThan(2_000_000);
  });

  it('costs 2 reads and 1 write on the first write to a tab (the key column is not known yet)', async () => {
    api.addSheet(SS, 'Fresh', [HEADER, ...contactRows(100)]);
    await writerFor(api).write({ spreadsheetId: SS, sheetName: 'Fresh' }, [change('k1'), change('k2')]);
    expect(api.calls).toEqual({ 'values.get': 1, 'values.batchGet': 1, 'values.batchUpdate': 1, 'spreadsheets.get': 0 });
  });
});

describe('createSheetWriterFromCredentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sa-key-'));

  it('returns null without a credentials path, so write-back is simply off', () => {
    expect(createSheetWriterFromCredentials(undefined)).toBeNull();
    expect(createSheetWriterFromCredentials('')).toBeNull();
  });

  it('names the service account from the key file, without any network call', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const path = join(dir, 'key.json');
    writeFileSync(
      path,
      JSON.stringify({
        type: 'service_account',
        client_email: EMAIL,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      }),
    );
    expect(readServiceAccountKey(path).clientEmail).toBe(EMAIL);
    expect(createSheetWriterFromCredentials(path)?.serviceAccountEmail).toBe(EMAIL);
  });

  it('fails fast on a file that is not a service-account key', () => {
    const path = join(dir, 'not-a-key.json');
    writeFileSync(path, JSON.stringify({ installed: { client_id: 'x' } }));
    expect(() => createSheetWriterFromCredentials(path)).toThrow(/not a Google service-account key/);
    expect(() => createSheetWriterFromCredentials(join(dir, 'missing.json'))).toThrow(/Cannot read/);
  });
});

describe('SheetSync with GoogleSheetsWriter', () => {
  const realClock: Clock = {
    now: () => Date.now(),
    setTimer: (ms, fn) => {
      const timer = setTimeout(fn, ms);
      return () => clearTimeout(timer);
    },
  };
  let sync: SheetSync | undefined;
  afterEach(async () => {
    await sync?.stop();
  });

  it('writes 10,000 status changes of one campaign in 2 pages: 2 batchUpdates, 3 reads', async () => {
    api.addSheet(SS, TAB, [HEADER, ...contactRows(10_000)]);
    const log = Array.from({ length: 10_000 }, (_, i) => ({ ...change(`k${i}`, 'delivered'), seq: i + 1 }));
    let cursor = 0;
    const store: SheetSyncStore = {
      listSheetCampaignsWithChanges: async () =>
        cursor < log.length ? [{ campaignId: 'c1', accountId: 'a1', target: TARGET, sheetCursor: cursor }] : [],
      listChanges: async (_id, after, limit) => log.filter((c) => c.seq > after).slice(0, limit),
      saveSheetCursor: async (_id, seq) => {
        cursor = Math.max(cursor, seq);
      },
    };
    sync = new SheetSync({ store, writer: writerFor(api), clock: realClock, minIntervalMs: 50, pageSize: 5000 });
    sync.start();
    await expect.poll(() => cursor, { timeout: 10_000, interval: 20 }).toBe(10_000);

    expect(api.calls).toEqual({ 'values.get': 1, 'values.batchGet': 2, 'values.batchUpdate': 2, 'spreadsheets.get': 0 });
    const rows = api.records(SS, TAB);
    expect(rows.every((r) => r['WA Status'] === 'delivered')).toBe(true);
  });
});
