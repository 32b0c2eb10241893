// In-memory SpreadsheetApp: spreadsheets, sheets as value grids, ranges, filters/hidden rows, selection, the add-on
// menu, sidebar, toasts and alerts. Counts every call. Behaves like Apps Script where the add-on depends on it:
// getValues pads with '', setValues checks the shape and the sheet's dimensions. Shared by the tests and the playground
// (devtools/playground); never bundled into the add-on.
import type { CallCounter } from './call-counter';

type Cell = unknown;

export class FakeRange {
  constructor(
    private readonly sheet: FakeSheet,
    readonly row: number,
    readonly column: number,
    readonly numRows: number,
    readonly numColumns: number,
  ) {}

  private hit(m: string): void {
    this.sheet.calls.hit(`Range.${m}`);
  }

  getRow(): number { this.hit('getRow'); return this.row; }
  getColumn(): number { this.hit('getColumn'); return this.column; }
  getNumRows(): number { this.hit('getNumRows'); return this.numRows; }
  getNumColumns(): number { this.hit('getNumColumns'); return this.numColumns; }
  getLastRow(): number { return this.row + this.numRows - 1; }
  getSheet(): FakeSheet { return this.sheet; }
  getA1Notation(): string {
    const col = (c: number): string => (c <= 26 ? String.fromCharCode(64 + c) : col(Math.floor((c - 1) / 26)) + col(((c - 1) % 26) + 1));
    return `${col(this.column)}${this.row}:${col(this.column + this.numColumns - 1)}${this.row + this.numRows - 1}`;
  }

  getValues(): Cell[][] {
    this.hit('getValues');
    return this.sheet.read(this.row, this.column, this.numRows, this.numColumns);
  }

  getDisplayValues(): string[][] {
    this.hit('getDisplayValues');
    return this.sheet.read(this.row, this.column, this.numRows, this.numColumns).map((r) => r.map((v) => String(v)));
  }

  getValue(): Cell {
    this.hit('getValue');
    return this.sheet.read(this.row, this.column, 1, 1)[0]![0];
  }

  setValues(values: Cell[][]): FakeRange {
    this.hit('setValues');
    if (values.length !== this.numRows || values.some((r) => r.length !== this.numColumns)) {
      throw new Error(
        `The number of rows in the data does not match the number of rows in the range. The data has ${values.length} but the range has ${this.numRows}.`,
      );
    }
    this.sheet.write(this.row, this.column, values);
    return this;
  }

  setValue(value: Cell): FakeRange {
    this.hit('setValue');
    this.sheet.write(this.row, this.column, [[value]]);
    return this;
  }
}

export class FakeFilter {
  constructor(private readonly sheet: FakeSheet, private readonly range: FakeRange) {}
  getRange(): FakeRange { this.sheet.calls.hit('Filter.getRange'); return this.range; }
}

export class FakeSheet {
  /** Rows of cells, 0-based; row 0 is sheet row 1. */
  grid: Cell[][];
  maxRows: number;
  maxColumns: number;
  /** 1-based sheet rows hidden by the filter / by the user. */
  readonly hiddenByFilter = new Set<number>();
  readonly hiddenByUser = new Set<number>();
  private filter: FakeFilter | null = null;

  constructor(
    readonly parent: FakeSpreadsheet,
    private name: string,
    readonly sheetId: number,
    values: Cell[][],
    readonly calls: CallCounter,
  ) {
    this.grid = values.map((r) => [...r]);
    this.maxRows = Math.max(1000, values.length);
    this.maxColumns = Math.max(26, ...values.map((r) => r.length));
  }

  getName(): string { this.calls.hit('Sheet.getName'); return this.name; }
  setName(name: string): FakeSheet { this.name = name; return this; }
  getSheetId(): number { this.calls.hit('Sheet.getSheetId'); return this.sheetId; }
  getParent(): FakeSpreadsheet { this.calls.hit('Sheet.getParent'); return this.parent; }
  getMaxColumns(): number { this.calls.hit('Sheet.getMaxColumns'); return this.maxColumns; }
  getMaxRows(): number { this.calls.hit('Sheet.getMaxRows'); return this.maxRows; }
  getFrozenRows(): number { return 1; }

  getLastRow(): number {
    this.calls.hit('Sheet.getLastRow');
    return this.lastRow();
  }

  getLastColumn(): number {
    this.calls.hit('Sheet.getLastColumn');
    return this.lastColumn();
  }

  insertColumnsAfter(after: number, howMany: number): FakeSheet {
    this.calls.hit('Sheet.insertColumnsAfter');
    if (after !== this.maxColumns) {
      for (const row of this.grid) if (row.length > after) row.splice(after, 0, ...new Array(howMany).fill(''));
    }
    this.maxColumns += howMany;
    return this;
  }

  getDataRange(): FakeRange {
    this.calls.hit('Sheet.getDataRange');
    return new FakeRange(this, 1, 1, Math.max(1, this.lastRow()), Math.max(1, this.lastColumn()));
  }

  getRange(row: number | string, column?: number, numRows = 1, numColumns = 1): FakeRange {
    this.calls.hit('Sheet.getRange');
    if (typeof row === 'string' || column === undefined) throw new Error('FakeSheet.getRange supports (row, column, numRows, numColumns) only');
    if (row < 1 || column < 1 || numRows < 1 || numColumns < 1) throw new Error('The coordinates of the range are outside the dimensions of the sheet.');
    return new FakeRange(this, row, column, numRows, numColumns);
  }

  getFilter(): FakeFilter | null {
    this.calls.hit('Sheet.getFilter');
    return this.filter;
  }

  isRowHiddenByFilter(row: number): boolean {
    this.calls.hit('Sheet.isRowHiddenByFilter');
    return this.hiddenByFilter.has(row);
  }

  // ---- helpers for tests and the playground (not Apps Script API) ----

  /** Applies a filter that hides the given 1-based rows. */
  setFilterHiding(rows: number[]): void {
    this.filter = new FakeFilter(this, new FakeRange(this, 1, 1, this.lastRow(), this.lastColumn()));
    this.hiddenByFilter.clear();
    for (const r of rows) this.hiddenByFilter.add(r);
  }

  /** Removes the filter and shows every row it hid. */
  clearFilter(): void {
    this.filter = null;
    this.hiddenByFilter.clear();
  }

  /**
   * Sorts the data rows (below the header) by a 1-based column, like Data → Sort range: whole rows move, numbers
   * order before text (text case-insensitively), and empty cells stay last in either direction, as in Sheets.
   */
  sortData(column: number, ascending = true): void {
    const [header, ...rows] = this.grid;
    const isEmpty = (v: Cell): boolean => v === '' || v === null || v === undefined;
    const rank = (v: Cell): number => (typeof v === 'number' ? 0 : 1);
    rows.sort((a, b) => {
      const x = a[column - 1];
      const y = b[column - 1];
      if (isEmpty(x) || isEmpty(y)) return Number(isEmpty(x)) - Number(isEmpty(y));
      const order = rank(x) - rank(y)
        || (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { sensitivity: 'base' }));
      return ascending ? order : -order;
    });
    this.grid = [header ?? [], ...rows];
  }

  /** The sheet's values as getDataRange().getValues() would return them, without counting. */
  values(): Cell[][] {
    return this.read(1, 1, Math.max(1, this.lastRow()), Math.max(1, this.lastColumn()));
  }

  /** Values of the column whose header is `header` (case-insensitive), data rows only. */
  column(header: string): Cell[] {
    const [head = [], ...rows] = this.values();
    const at = head.findIndex((h) => String(h).toLowerCase() === header.toLowerCase());
    if (at < 0) throw new Error(`no column ${header}`);
    return rows.map((r) => r[at]);
  }

  appendRows(rows: Cell[][]): void {
    this.grid.push(...rows.map((r) => [...r]));
    this.maxRows = Math.max(this.maxRows, this.grid.length);
  }

  read(row: number, column: number, numRows: number, numColumns: number): Cell[][] {
    const out: Cell[][] = [];
    for (let r = 0; r < numRows; r += 1) {
      const src = this.grid[row - 1 + r] ?? [];
      const line: Cell[] = [];
      for (let c = 0; c < numColumns; c += 1) {
        const v = src[column - 1 + c];
        line.push(v === undefined || v === null ? '' : v instanceof Date ? new Date(v.getTime()) : v);
      }
      out.push(line);
    }
    return out;
  }

  write(row: number, column: number, values: Cell[][]): void {
    const lastCol = column + (values[0]?.length ?? 0) - 1;
    if (lastCol > this.maxColumns || row + values.length - 1 > this.maxRows) {
      throw new Error('The coordinates of the range are outside the dimensions of the sheet.');
    }
    values.forEach((line, r) => {
      const target = (this.grid[row - 1 + r] ??= []);
      while (target.length < column - 1) target.push('');
      line.forEach((v, c) => {
        target[column - 1 + c] = v;
      });
    });
  }

  private lastRow(): number {
    for (let r = this.grid.length; r > 0; r -= 1) if (this.grid[r - 1]!.some((v) => v !== '' && v !== null && v !== undefined)) return r;
    return 0;
  }

  private lastColumn(): number {
    let last = 0;
    for (const row of this.grid) {
      for (let c = row.length; c > last; c -= 1) {
        const v = row[c - 1];
        if (v !== '' && v !== null && v !== undefined) {
          last = c;
          break;
        }
      }
    }
    return last;
  }
}

export class FakeRangeList {
  constructor(private readonly ranges: FakeRange[]) {}
  getRanges(): FakeRange[] { return this.ranges; }
}

export class FakeSpreadsheet {
  readonly sheets: FakeSheet[] = [];
  readonly toasts: string[] = [];
  activeSheet: FakeSheet | null = null;
  activeRanges: FakeRange[] = [];
  private nextSheetId = 0;

  constructor(readonly id: string, private readonly name: string, readonly calls: CallCounter) {}

  getId(): string { this.calls.hit('Spreadsheet.getId'); return this.id; }
  getName(): string { this.calls.hit('Spreadsheet.getName'); return this.name; }
  getSheets(): FakeSheet[] { this.calls.hit('Spreadsheet.getSheets'); return [...this.sheets]; }
  getSheetByName(name: string): FakeSheet | null {
    this.calls.hit('Spreadsheet.getSheetByName');
    return this.sheets.find((s) => s.getName() === name) ?? null;
  }
  getActiveSheet(): FakeSheet {
    this.calls.hit('Spreadsheet.getActiveSheet');
    return this.activeSheet ?? this.sheets[0]!;
  }
  getActiveRangeList(): FakeRangeList | null {
    this.calls.hit('Spreadsheet.getActiveRangeList');
    return this.activeRanges.length === 0 ? null : new FakeRangeList(this.activeRanges);
  }
  toast(message: string): void {
    this.calls.hit('Spreadsheet.toast');
    this.toasts.push(message);
  }

  // ---- helpers for tests and the playground (not Apps Script API) ----

  addSheet(name: string, values: Cell[][]): FakeSheet {
    const sheet = new FakeSheet(this, name, this.nextSheetId++, values, this.calls);
    this.sheets.push(sheet);
    this.activeSheet ??= sheet;
    return sheet;
  }

  /** Selects 1-based sheet rows [from, to] on `sheet` (whole rows). */
  select(sheet: FakeSheet, ...spans: [from: number, to: number][]): void {
    this.activeSheet = sheet;
    this.activeRanges = spans.map(([from, to]) => new FakeRange(sheet, from, 1, to - from + 1, Math.max(1, sheet.maxColumns)));
  }
}

export interface FakeMenuItem {
  label: string;
  functionName: string;
}

/** SpreadsheetApp.getUi(): records the menu, the sidebar, alerts. */
export class FakeUi {
  menus: FakeMenuItem[][] = [];
  sidebars: { title: string; content: string }[] = [];
  alerts: { title: string; message: string }[] = [];
  readonly ButtonSet = { OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO' };
  readonly Button = { OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO', CLOSE: 'CLOSE' };
  constructor(private readonly calls: CallCounter) {}

  createAddonMenu(): { addItem(label: string, fn: string): unknown; addSeparator(): unknown; addToUi(): void } {
    this.calls.hit('Ui.createAddonMenu');
    const items: FakeMenuItem[] = [];
    const menu = {
      addItem: (label: string, functionName: string) => {
        items.push({ label, functionName });
        return menu;
      },
      addSeparator: () => menu,
      addToUi: () => {
        this.menus.push(items);
      },
    };
    return menu;
  }

  showSidebar(html: { getTitle(): string; getContent(): string }): void {
    this.calls.hit('Ui.showSidebar');
    this.sidebars.push({ title: html.getTitle(), content: html.getContent() });
  }

  alert(title: string, message?: string): string {
    this.calls.hit('Ui.alert');
    this.alerts.push({ title, message: message ?? '' });
    return 'OK';
  }
}

/** The SpreadsheetApp global. `active` is the spreadsheet the user has open; null models a time-trigger run. */
export class FakeSpreadsheetApp {
  active: FakeSpreadsheet | null = null;
  readonly files = new Map<string, FakeSpreadsheet>();
  readonly ui: FakeUi;
  constructor(readonly calls: CallCounter) {
    this.ui = new FakeUi(calls);
  }

  getActiveSpreadsheet(): FakeSpreadsheet | null {
    this.calls.hit('SpreadsheetApp.getActiveSpreadsheet');
    return this.active;
  }
  getActive(): FakeSpreadsheet | null {
    return this.getActiveSpreadsheet();
  }
  openById(id: string): FakeSpreadsheet {
    this.calls.hit('SpreadsheetApp.openById');
    const ss = this.files.get(id);
    if (!ss) throw new Error(`Exception: Unexpected error while getting the method or property openById on object SpreadsheetApp.`);
    return ss;
  }
  getUi(): FakeUi {
    this.calls.hit('SpreadsheetApp.getUi');
    if (this.active === null) throw new Error('Exception: Cannot call SpreadsheetApp.getUi() from this context.');
    return this.ui;
  }
  flush(): void {
    this.calls.hit('SpreadsheetApp.flush');
  }

  // ---- helpers for tests and the playground (not Apps Script API) ----

  createSpreadsheet(id: string, name: string): FakeSpreadsheet {
    const ss = new FakeSpreadsheet(id, name, this.calls);
    this.files.set(id, ss);
    this.active ??= ss;
    return ss;
  }
}
