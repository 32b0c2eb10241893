// A local HTTP fake of the few Sheets API v4 endpoints the service uses (values.get, values.batchGet,
// values.batchUpdate, spreadsheets.get), over in-memory grids, plus Google's OAuth token endpoint for a service
// account's JWT grant. Tests and the bench only; it never talks to Google.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The Sheets API method a request was routed to, as counted in {@link FakeSheetsApi.calls}. */
export type FakeSheetsMethod = 'values.get' | 'values.batchGet' | 'values.batchUpdate' | 'spreadsheets.get';

/** A canned failure for the next matching requests. */
export interface FakeFailure {
  status: 429 | 500 | 503 | 403 | 404 | 400;
  /** How many matching requests fail before the fake answers normally again. @default 1 */
  times?: number;
  /** Only requests to this method fail; any method when absent. */
  method?: FakeSheetsMethod;
  /** Sent as a `Retry-After` header. */
  retryAfterSeconds?: number;
  message?: string;
}

interface ParsedRange {
  sheetName: string;
  /** Zero-based, inclusive. */
  firstRow: number;
  lastRow: number;
  firstCol: number;
  lastCol: number;
}

type Cell = string | number | boolean;
type Grid = Cell[][];

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/**
 * The fake server. Requests must carry `Authorization: Bearer <accessToken>`. Grids are ragged arrays of rows,
 * row 0 being sheet row 1; reads trim trailing empty cells and rows the way Google does.
 */
export class FakeSheetsApi {
  /** The bearer token requests must present. */
  readonly accessToken = 'fake-sheets-access-token';
  /** Requests per method. */
  readonly calls: Record<FakeSheetsMethod, number> = {
    'values.get': 0,
    'values.batchGet': 0,
    'values.batchUpdate': 0,
    'spreadsheets.get': 0,
  };
  /** Bodies of every batchUpdate received, in order. */
  readonly batchUpdates: Array<{ spreadsheetId: string; body: BatchUpdateBody }> = [];
  /** Every Sheets API request routed to a method, in arrival order, with its `Date.now()`. */
  readonly log: Array<{ method: FakeSheetsMethod; spreadsheetId: string; atMs: number }> = [];
  /** Access tokens granted at `POST /token` (a service account's JWT-bearer grant). */
  tokenGrants = 0;

  private readonly spreadsheets = new Map<string, Map<string, Grid>>();
  private readonly denied = new Set<string>();
  private failures: Array<FakeFailure & { remaining: number }> = [];

  private constructor(private readonly server: Server) {}

  /** Starts a fake on a free localhost port. */
  static async start(): Promise<FakeSheetsApi> {
    let api: FakeSheetsApi | undefined;
    const server = createServer((req, res) => {
      api?.handle(req, res).catch((error: unknown) => reply(res, 500, googleError(500, String(error))));
    });
    api = new FakeSheetsApi(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  /** The `rootUrl` to hand to googleapis. */
  get rootUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Creates (or replaces) a tab with the given rows; row 0 is the header row. */
  addSheet(spreadsheetId: string, sheetName: string, rows: Cell[][]): void {
    let tabs = this.spreadsheets.get(spreadsheetId);
    if (!tabs) this.spreadsheets.set(spreadsheetId, (tabs = new Map()));
    tabs.set(sheetName, rows.map((row) => [...row]));
  }

  /** The tab's grid as it stands (live; tests may inspect it). */
  grid(spreadsheetId: string, sheetName: string): Grid {
    const grid = this.spreadsheets.get(spreadsheetId)?.get(sheetName);
    if (!grid) throw new Error(`fake: no tab ${spreadsheetId}/${sheetName}`);
    return grid;
  }

  /** The tab as records keyed by header name (cells stringified, missing cells as ''). */
  records(spreadsheetId: string, sheetName: string): Array<Record<string, string>> {
    const [header = [], ...rows] = this.grid(spreadsheetId, sheetName);
    return rows.map((row) => Object.fromEntries(header.map((name, i) => [String(name), String(row[i] ?? '')])));
  }

  /** Sorts the data rows (all but the header) the way a user sorting the sheet would. */
  sortRows(spreadsheetId: string, sheetName: string, compare: (a: Cell[], b: Cell[]) => number): void {
    const grid = this.grid(spreadsheetId, sheetName);
    const [header, ...rows] = grid;
    rows.sort(compare);
    grid.splice(0, grid.length, ...(header ? [header] : []), ...rows);
  }

  /** Inserts rows before 1-based sheet row `beforeRow`, as a user inserting rows would. */
  insertRows(spreadsheetId: string, sheetName: string, beforeRow: number, rows: Cell[][]): void {
    this.grid(spreadsheetId, sheetName).splice(beforeRow - 1, 0, ...rows.map((row) => [...row]));
  }

  /** Moves column `from` to position `to` (zero-based), shifting the others, in every row. */
  moveColumn(spreadsheetId: string, sheetName: string, from: number, to: number): void {
    for (const row of this.grid(spreadsheetId, sheetName)) {
      while (row.length <= Math.max(from, to)) row.push('');
      const [cell] = row.splice(from, 1);
      row.splice(to, 0, cell ?? '');
    }
  }

  /** Makes every request to this spreadsheet answer 403, as an unshared sheet does. */
  denyAccess(spreadsheetId: string): void {
    this.denied.add(spreadsheetId);
  }

  /** Queues a failure for the next matching requests. */
  failNext(failure: FakeFailure): void {
    this.failures.push({ ...failure, remaining: failure.times ?? 1 });
  }

  get totalCalls(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  resetCalls(): void {
    for (const method of Object.keys(this.calls) as FakeSheetsMethod[]) this.calls[method] = 0;
    this.batchUpdates.length = 0;
    this.log.length = 0;
    this.tokenGrants = 0;
  }

  /** Where a client that cannot be given a token URL must be sent for its token (see `tokenGrants`). */
  get tokenUrl(): string {
    return `${this.rootUrl}token`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname === '/token') {
      // Google's answer to `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`; the assertion is not checked.
      const form = new URLSearchParams(await readText(req));
      if (!form.get('assertion')) return reply(res, 400, { error: 'invalid_request', error_description: 'assertion is required' });
      this.tokenGrants += 1;
      return reply(res, 200, { access_token: this.accessToken, expires_in: 3600, token_type: 'Bearer' });
    }
    const match = /^\/v4\/spreadsheets\/([^/:]+)(.*)$/.exec(url.pathname);
    if (!match) return reply(res, 404, googleError(404, `fake: no route ${req.method} ${url.pathname}`));
    const spreadsheetId = decodeURIComponent(match[1] ?? '');
    const rest = match[2] ?? '';
    const method = route(req.method ?? 'GET', rest);
    if (!method) return reply(res, 404, googleError(404, `fake: no route ${req.method} ${url.pathname}`));
    this.calls[method] += 1;
    this.log.push({ method, spreadsheetId, atMs: Date.now() });
    const body = req.method === 'POST' ? await readJson(req) : undefined;

    if (req.headers.authorization !== `Bearer ${this.accessToken}`) {
      return reply(res, 401, googleError(401, 'Request had invalid authentication credentials.'));
    }
    const failure = this.failures.find((f) => f.remaining > 0 && (!f.method || f.method === method));
    if (failure) {
      failure.remaining -= 1;
      this.failures = this.failures.filter((f) => f.remaining > 0);
      const headers: Record<string, string> =
        failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) };
      return reply(res, failure.status, googleError(failure.status, failure.message ?? defaultMessage(failure.status)), headers);
    }
    if (this.denied.has(spreadsheetId)) {
      return reply(res, 403, googleError(403, 'The caller does not have permission'));
    }
    const tabs = this.spreadsheets.get(spreadsheetId);
    if (!tabs) return reply(res, 404, googleError(404, 'Requested entity was not found.'));

    try {
      switch (method) {
        case 'spreadsheets.get':
          return reply(res, 200, {
            spreadsheetId,
            sheets: [...tabs.entries()].map(([title, grid], sheetId) => ({
              properties: { sheetId, title, gridProperties: { rowCount: grid.length, columnCount: width(grid) } },
            })),
          });
        case 'values.get': {
          const range = decodeURIComponent(rest.slice('/values/'.length));
          return reply(res, 200, readRange(tabs, range, url.searchParams.get('majorDimension')));
        }
        case 'values.batchGet': {
          const major = url.searchParams.get('majorDimension');
          const valueRanges = url.searchParams.getAll('ranges').map((r) => readRange(tabs, r, major));
          return reply(res, 200, { spreadsheetId, valueRanges });
        }
        case 'values.batchUpdate':
          return reply(res, 200, this.batchUpdate(spreadsheetId, tabs, body as BatchUpdateBody));
      }
    } catch (error) {
      if (error instanceof FakeBadRequest) return reply(res, 400, googleError(400, error.message));
      throw error;
    }
  }

  private batchUpdate(spreadsheetId: string, tabs: Map<string, Grid>, body: BatchUpdateBody): unknown {
    if (body.valueInputOption !== 'RAW' && body.valueInputOption !== 'USER_ENTERED') {
      throw new FakeBadRequest('Invalid valueInputOption');
    }
    // Google applies a batch atomically: validate every range before touching any grid.
    const writes = (body.data ?? []).map((valueRange) => {
      const range = parseA1(valueRange.range);
      const grid = tabs.get(range.sheetName);
      if (!grid) throw new FakeBadRequest(`Unable to parse range: ${valueRange.range}`);
      const values = valueRange.values ?? [];
      const rows = range.lastRow - range.firstRow + 1;
      const cols = range.lastCol - range.firstCol + 1;
      if (values.length > rows || values.some((row) => row.length > cols)) {
        throw new FakeBadRequest(`Requested writing within range [${valueRange.range}], but tried writing past it.`);
      }
      return { range, grid, values };
    });
    this.batchUpdates.push({ spreadsheetId, body });
    let totalUpdatedCells = 0;
    for (const { range, grid, values } of writes) {
      values.forEach((rowValues, r) => {
        const rowIndex = range.firstRow + r;
        while (grid.length <= rowIndex) grid.push([]);
        const row = grid[rowIndex] ?? [];
        rowValues.forEach((value, c) => {
          const colIndex = range.firstCol + c;
          while (row.length <= colIndex) row.push('');
          row[colIndex] = value;
          totalUpdatedCells += 1;
        });
      });
    }
    return { spreadsheetId, totalUpdatedCells, totalUpdatedSheets: new Set(writes.map((w) => w.grid)).size };
  }
}

/** The request body of values.batchUpdate, as far as the fake reads it. */
export interface BatchUpdateBody {
  valueInputOption?: string;
  data?: Array<{ range: string; values?: Cell[][]; majorDimension?: string }>;
}

class FakeBadRequest extends Error {}

function route(httpMethod: string, rest: string): FakeSheetsMethod | null {
  if (httpMethod === 'GET' && rest === '') return 'spreadsheets.get';
  if (httpMethod === 'GET' && rest === '/values:batchGet') return 'values.batchGet';
  if (httpMethod === 'POST' && rest === '/values:batchUpdate') return 'values.batchUpdate';
  if (httpMethod === 'GET' && rest.startsWith('/values/')) return 'values.get';
  return null;
}

function readRange(tabs: Map<string, Grid>, a1: string, majorDimension: string | null): unknown {
  const range = parseA1(a1);
  const grid = tabs.get(range.sheetName);
  if (!grid) throw new FakeBadRequest(`Unable to parse range: ${a1}`);
  const rows: Cell[][] = [];
  for (let r = range.firstRow; r <= Math.min(range.lastRow, grid.length - 1); r++) {
    const row = grid[r] ?? [];
    const cells: Cell[] = [];
    for (let c = range.firstCol; c <= Math.min(range.lastCol, row.length - 1); c++) cells.push(row[c] ?? '');
    rows.push(trimEnd(cells));
  }
  const values = majorDimension === 'COLUMNS' ? trimEnd(transpose(rows).map(trimEnd)) : trimEnd(rows);
  return values.length === 0
    ? { range: a1, majorDimension: majorDimension ?? 'ROWS' }
    : { range: a1, majorDimension: majorDimension ?? 'ROWS', values };
}

/** Parses `'Tab name'!A1:C9`, `Tab!1:1`, `Tab!K:K`, `Tab!K2:K` or `Tab` (the whole tab). */
export function parseA1(a1: string): ParsedRange {
  let sheetName = a1;
  let cells = '';
  const quoted = /^'((?:[^']|'')*)'(?:!(.*))?$/.exec(a1);
  if (quoted) {
    sheetName = (quoted[1] ?? '').replaceAll("''", "'");
    cells = quoted[2] ?? '';
  } else if (a1.includes('!')) {
    sheetName = a1.slice(0, a1.lastIndexOf('!'));
    cells = a1.slice(a1.lastIndexOf('!') + 1);
  }
  if (cells === '') return { sheetName, firstRow: 0, lastRow: Infinity, firstCol: 0, lastCol: Infinity };
  const m = /^([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?$/i.exec(cells);
  if (!m) throw new FakeBadRequest(`Unable to parse range: ${a1}`);
  const [, c1 = '', r1 = '', c2, r2] = m;
  const isSingleCell = c2 === undefined && r2 === undefined;
  const firstCol = c1 ? columnIndex(c1) : 0;
  const firstRow = r1 ? Number(r1) - 1 : 0;
  return {
    sheetName,
    firstRow,
    firstCol,
    lastRow: isSingleCell ? (r1 ? firstRow : Infinity) : r2 ? Number(r2) - 1 : Infinity,
    lastCol: isSingleCell ? (c1 ? firstCol : Infinity) : c2 ? columnIndex(c2) : Infinity,
  };
}

function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

function transpose(rows: Cell[][]): Cell[][] {
  const cols: Cell[][] = [];
  rows.forEach((row, r) =>
    row.forEach((cell, c) => {
      const col = (cols[c] ??= []);
      while (col.length < r) col.push('');
      col[r] = cell;
    }),
  );
  return cols;
}

function trimEnd<T>(list: T[]): T[] {
  let end = list.length;
  while (end > 0 && isEmpty(list[end - 1])) end--;
  return list.slice(0, end);
}

function isEmpty(value: unknown): boolean {
  return value === '' || value === undefined || (Array.isArray(value) && value.length === 0);
}

function width(grid: Grid): number {
  return grid.reduce((max, row) => Math.max(max, row.length), 0);
}

function defaultMessage(status: number): string {
  if (status === 429) {
    return "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'sheets.googleapis.com'.";
  }
  if (status === 403) return 'The caller does not have permission';
  if (status === 404) return 'Requested entity was not found.';
  return 'The service is currently unavailable.';
}

function googleError(code: number, message: string): unknown {
  return { error: { code, message, status: GOOGLE_STATUS[code] ?? 'UNKNOWN' } };
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  return text ? (JSON.parse(text) as unknown) : {};
}
