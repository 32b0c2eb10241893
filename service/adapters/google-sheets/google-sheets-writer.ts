// SheetWriter over the Sheets API v4 (googleapis): finds the status columns and rows by name and key, writes them in
// one values.batchUpdate, and turns Google's errors into outcomes. It never paces or retries: SheetSync does.
import { google, type sheets_v4 } from 'googleapis';
import { STATUS_HEADERS } from '../../../contract/status-headers';
import {
  type MessageChange,
  type SheetTarget,
  type SheetWriteOutcome,
  type SheetWriter,
} from '../../sheets/sheet-ports';

/** Options of {@link GoogleSheetsWriter}. */
export interface GoogleSheetsWriterOptions {
  /** An authorised client: a service-account `JWT` in production; tests pass an OAuth2 client holding a fake token. */
  auth: NonNullable<sheets_v4.Options['auth']>;
  /** The address users must share their sheets with; named in the `blocked` sentences. */
  serviceAccountEmail: string | null;
  /** Origin of the Sheets API; tests point it at a local fake. @default 'https://sheets.googleapis.com/' */
  rootUrl?: string;
  /** Time allowed for each HTTP call before it counts as a transient failure. @default 60000 */
  requestTimeoutMs?: number;
}

type StatusField = Exclude<keyof typeof STATUS_HEADERS, 'key'>;

/** The order the status cells are written in, when their columns sit side by side. */
const STATUS_FIELDS: readonly StatusField[] = ['status', 'wamid', 'error', 'reply', 'updated'];

interface ColumnMap {
  key: number;
  fields: Partial<Record<StatusField, number>>;
}

/**
 * Writes row changes into the tab's `WA …` status columns (found by header name in row 1, case-insensitively; the
 * `WA Key` and `WA Status` columns are required, the others are written when present). Rows are found by reading
 * the key column on every write, so a sort or an inserted row between two writes never misplaces a result.
 *
 * Cost per `write`: one `values.batchGet` (header row + the key column where it was last seen), one more read only
 * when the key column moved, and one `values.batchUpdate` however many rows change (none when no key matches).
 *
 * Cells are written RAW (never parsed, so a reply starting with `=` stays text): the status word, the wamid, the
 * error as `message (code)`, the reply text, and the change time as ISO 8601 UTC (`2025-01-31T09:15:00.000Z`, the
 * API's time format). These are the add-on pull sync's words exactly, so both paths show the same text.
 */
export class GoogleSheetsWriter implements SheetWriter {
  readonly serviceAccountEmail: string | null;
  private readonly sheets: sheets_v4.Sheets;
  /** Last known key column per tab: lets one read fetch both the header row and the keys. */
  private readonly keyColumnByTab = new Map<string, number>();

  constructor(options: GoogleSheetsWriterOptions) {
    this.serviceAccountEmail = options.serviceAccountEmail;
    this.sheets = google.sheets({
      version: 'v4',
      auth: options.auth,
      ...(options.rootUrl === undefined ? {} : { rootUrl: options.rootUrl }),
      // gaxios retries 429/5xx on its own by default; each hidden retry would spend quota behind SheetSync's back.
      retry: false,
      timeout: options.requestTimeoutMs ?? 60_000,
    });
  }

  /** Never throws for Google or network failures: they come back as `retry` or `blocked`. */
  async write(target: SheetTarget, changes: readonly MessageChange[]): Promise<SheetWriteOutcome> {
    if (changes.length === 0) return { kind: 'written', rowsWritten: 0, rowsNotFound: 0 };
    try {
      const layout = await this.readLayout(target);
      if ('blocked' in layout) return { kind: 'blocked', reason: layout.blocked };
      const plan = planUpdate(target.sheetName, layout.columns, layout.rowByKey, changes);
      if (plan.data.length > 0) {
        await this.sheets.spreadsheets.values.batchUpdate({
          spreadsheetId: target.spreadsheetId,
          requestBody: { valueInputOption: 'RAW', data: plan.data },
        });
      }
      return { kind: 'written', rowsWritten: plan.rowsWritten, rowsNotFound: plan.rowsNotFound };
    } catch (error) {
      return outcomeOfError(error, target, this.serviceAccountEmail);
    }
  }

  /** Reads the header row and the key column: usually in one call, in two when the key column is new or moved. */
  private async readLayout(
    target: SheetTarget,
  ): Promise<{ columns: ColumnMap; rowByKey: Map<string, number> } | { blocked: string }> {
    const tab = quoteSheetName(target.sheetName);
    const tabKey = `${target.spreadsheetId}\u0000${target.sheetName}`;
    const knownKeyColumn = this.keyColumnByTab.get(tabKey);
    const ranges = [`${tab}!1:1`];
    if (knownKeyColumn !== undefined) ranges.push(columnRange(tab, knownKeyColumn));
    const { data } = await this.sheets.spreadsheets.values.batchGet({
      spreadsheetId: target.spreadsheetId,
      ranges,
      majorDimension: 'COLUMNS',
      valueRenderOption: 'UNFORMATTED_VALUE',
    });
    const header = (data.valueRanges?.[0]?.values ?? []).map((column) => cellText(column[0]));
    const columns = findColumns(header);
    if (typeof columns === 'string') {
      this.keyColumnByTab.delete(tabKey);
      return { blocked: missingColumnSentence(target.sheetName, columns) };
    }
    let keyCells = data.valueRanges?.[1]?.values?.[0];
    if (knownKeyColumn !== columns.key) {
      const { data: keyData } = await this.sheets.spreadsheets.values.get({
        spreadsheetId: target.spreadsheetId,
        range: columnRange(tab, columns.key),
        majorDimension: 'COLUMNS',
        valueRenderOption: 'UNFORMATTED_VALUE',
      });
      keyCells = keyData.values?.[0];
      this.keyColumnByTab.set(tabKey, columns.key);
    }
    const rowByKey = new Map<string, number>();
    // Index 0 is the header cell; a key that appears twice keeps its first row.
    (keyCells ?? []).forEach((cell, index) => {
      const key = cellText(cell);
      if (index > 0 && key !== '' && !rowByKey.has(key)) rowByKey.set(key, index + 1);
    });
    return { columns, rowByKey };
  }
}

/** The status columns by header name, or the name of a required header that is missing. */
function findColumns(header: string[]): ColumnMap | string {
  const indexOf = (name: string): number | undefined => {
    const wanted = name.toLowerCase();
    const index = header.findIndex((cell) => cell.trim().toLowerCase() === wanted);
    return index < 0 ? undefined : index;
  };
  const key = indexOf(STATUS_HEADERS.key);
  if (key === undefined) return STATUS_HEADERS.key;
  const fields: Partial<Record<StatusField, number>> = {};
  for (const field of STATUS_FIELDS) {
    const index = indexOf(STATUS_HEADERS[field]);
    if (index !== undefined) fields[field] = index;
  }
  if (fields.status === undefined) return STATUS_HEADERS.status;
  return { key, fields };
}

interface UpdatePlan {
  data: sheets_v4.Schema$ValueRange[];
  rowsWritten: number;
  rowsNotFound: number;
}

/**
 * One ValueRange per run of adjacent rows and per block of adjacent status columns, so a sheet whose rows changed in
 * order costs a handful of ranges rather than one per cell.
 */
export function planUpdate(
  sheetName: string,
  columns: ColumnMap,
  rowByKey: ReadonlyMap<string, number>,
  changes: readonly MessageChange[],
): UpdatePlan {
  const changeByRow = new Map<number, MessageChange>();
  let rowsNotFound = 0;
  for (const change of changes) {
    const row = rowByKey.get(change.key.trim());
    if (row === undefined) {
      rowsNotFound += 1;
      continue;
    }
    const kept = changeByRow.get(row);
    if (!kept || change.seq > kept.seq) changeByRow.set(row, change);
  }
  const rows = [...changeByRow.keys()].sort((a, b) => a - b);
  const blocks = columnBlocks(columns.fields);
  const tab = quoteSheetName(sheetName);
  const data: sheets_v4.Schema$ValueRange[] = [];
  for (const [firstRow, lastRow] of runs(rows)) {
    for (const block of blocks) {
      const values: string[][] = [];
      for (let row = firstRow; row <= lastRow; row++) {
        const change = changeByRow.get(row);
        if (change) values.push(block.fields.map((field) => cellValue(field, change)));
      }
      const lastColumn = block.firstColumn + block.fields.length - 1;
      data.push({
        range: `${tab}!${columnLetters(block.firstColumn)}${firstRow}:${columnLetters(lastColumn)}${lastRow}`,
        majorDimension: 'ROWS',
        values,
      });
    }
  }
  return { data, rowsWritten: rows.length, rowsNotFound };
}

function cellValue(field: StatusField, change: MessageChange): string {
  switch (field) {
    case 'status':
      return change.status;
    case 'wamid':
      return change.wamid ?? '';
    case 'error':
      // Same words as the add-on's pull sync (addon/core/sync-merge.ts), so the two paths never fight over a cell.
      return change.error ? `${change.error.message} (${change.error.code})` : '';
    case 'reply':
      return change.reply?.text ?? '';
    case 'updated':
      return new Date(change.updatedAt).toISOString();
  }
}

/** Groups the present status columns into runs of adjacent columns, left to right. */
function columnBlocks(fields: ColumnMap['fields']): Array<{ firstColumn: number; fields: StatusField[] }> {
  const placed = STATUS_FIELDS.flatMap((field) => {
    const column = fields[field];
    return column === undefined ? [] : [{ field, column }];
  }).sort((a, b) => a.column - b.column);
  const blocks: Array<{ firstColumn: number; fields: StatusField[] }> = [];
  for (const { field, column } of placed) {
    const last = blocks.at(-1);
    if (last && last.firstColumn + last.fields.length === column) last.fields.push(field);
    else blocks.push({ firstColumn: column, fields: [field] });
  }
  return blocks;
}

/** Sorted row numbers → [first, last] runs of consecutive rows. */
function runs(sortedRows: number[]): Array<[number, number]> {
  const result: Array<[number, number]> = [];
  for (const row of sortedRows) {
    const last = result.at(-1);
    if (last && last[1] + 1 === row) last[1] = row;
    else result.push([row, row]);
  }
  return result;
}

/** Zero-based column index → A1 letters (0 → A, 26 → AA). */
function columnLetters(index: number): string {
  let letters = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  }
  return letters;
}

function columnRange(tab: string, column: number): string {
  const letters = columnLetters(column);
  return `${tab}!${letters}:${letters}`;
}

/** A1 notation needs the tab name in single quotes, with quotes inside doubled. */
function quoteSheetName(sheetName: string): string {
  return `'${sheetName.replaceAll("'", "''")}'`;
}

function cellText(cell: unknown): string {
  return cell === undefined || cell === null ? '' : String(cell).trim();
}

function missingColumnSentence(sheetName: string, header: string): string {
  return (
    `The tab "${sheetName}" has no "${header}" column in its first row, so results cannot be written there. ` +
    'Open the add-on on that tab to add the status columns back.'
  );
}

/**
 * Google's answer → outcome. Quota and server trouble are transient; access, missing tabs and bad requests need a
 * person, so they come back as `blocked` with a sentence for the marketer.
 * Error shapes: https://developers.google.com/workspace/sheets/api/limits#resolve-time-based-quota-errors
 */
function outcomeOfError(error: unknown, target: SheetTarget, email: string | null): SheetWriteOutcome {
  const status = httpStatus(error);
  const message = googleMessage(error);
  const who = email ?? "the service's Google account";
  if (status === undefined) {
    return { kind: 'retry', retryAfterMs: 0, reason: 'Google Sheets could not be reached; the results will be written when it answers.' };
  }
  if (status === 429 || (status === 403 && /rate ?limit|quota/i.test(message))) {
    return { kind: 'retry', retryAfterMs: retryAfterMs(error), reason: 'Google Sheets asked the service to slow down; the results will follow shortly.' };
  }
  if (status >= 500) {
    return { kind: 'retry', retryAfterMs: retryAfterMs(error), reason: 'Google Sheets is briefly unavailable; the results will follow shortly.' };
  }
  if (status === 403 && /protected/i.test(message)) {
    return { kind: 'blocked', reason: `The status columns of "${target.sheetName}" are protected. Allow ${who} to edit them.` };
  }
  if (status === 403 && /has not been used|is disabled|SERVICE_DISABLED/i.test(message)) {
    return { kind: 'blocked', reason: "The Google Sheets API is not enabled for the service's Google Cloud project; an administrator must enable it." };
  }
  if (status === 403) {
    return { kind: 'blocked', reason: `Share the sheet with ${who} as an editor so the results can be written into it.` };
  }
  if (status === 404) {
    return { kind: 'blocked', reason: `The spreadsheet was not found: it may have been deleted. If it exists, share it with ${who} as an editor.` };
  }
  if (status === 400 && /unable to parse range/i.test(message)) {
    return { kind: 'blocked', reason: `The tab "${target.sheetName}" was not found in the spreadsheet. If it was renamed, give it back its name.` };
  }
  if (status === 401) {
    return { kind: 'blocked', reason: "Google refused the service's credentials; an administrator must check the service account key." };
  }
  return { kind: 'blocked', reason: `Google Sheets refused the update: ${message}` };
}

function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const candidate = (error as { status?: unknown; response?: { status?: unknown } }).status ??
    (error as { response?: { status?: unknown } }).response?.status;
  return typeof candidate === 'number' ? candidate : undefined;
}

function googleMessage(error: unknown): string {
  const data = (error as { response?: { data?: { error?: { message?: unknown; status?: unknown } } } })?.response?.data;
  const message = data?.error?.message;
  const status = data?.error?.status;
  if (typeof message === 'string') return typeof status === 'string' ? `${message} (${status})` : message;
  return error instanceof Error ? error.message : String(error);
}

/** `Retry-After` in seconds or as an HTTP date; 0 when absent (SheetSync then uses its own backoff). */
function retryAfterMs(error: unknown): number {
  const headers = (error as { response?: { headers?: unknown } })?.response?.headers;
  let value: string | null | undefined;
  // gaxios 7 hands back a fetch Headers, possibly from its own fetch implementation, so no instanceof check.
  if (typeof (headers as Headers | undefined)?.get === 'function') value = (headers as Headers).get('retry-after');
  else if (typeof headers === 'object' && headers !== null) {
    const raw = (headers as Record<string, unknown>)['retry-after'];
    value = typeof raw === 'string' ? raw : undefined;
  }
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}
