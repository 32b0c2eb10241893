// What the marketer does to the playground's sheet, applied to the fake spreadsheet the add-on reads: load a CSV,
// edit cells, sort (rows physically move, as in Sheets), filter (rows hidden by a filter), select. Draws nothing.
import { FakeRange, type FakeSheet, type FakeSpreadsheet } from '../apps-script/fake-spreadsheet-app';
import type { CellRange, CellValue, SheetView } from './playground-protocol';

/** Sheets' default size of a new sheet; a sheet grows past it when data needs more. */
const DEFAULT_ROWS = 1000;
const DEFAULT_COLUMNS = 26;

/**
 * Typed or imported text becomes a number when it reads as a plain decimal, as Sheets does. A leading "+" or "0"
 * keeps the text (phone numbers), the way a marketer's sheet would have them typed as text.
 */
export function cellFromText(text: string): unknown {
  const t = text.trim();
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(t) && t.replace(/\D/g, '').length <= 15) return Number(t);
  return text;
}

/** How the grid shows a stored value (Apps Script may write Dates and booleans too). */
export function displayValue(value: unknown): CellValue {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return String(value);
}

export class PlaygroundWorkbook {
  private filterText = '';

  constructor(readonly spreadsheet: FakeSpreadsheet, readonly sheet: FakeSheet) {}

  /** Replaces the sheet's contents with `records` (header first), clearing the filter and the selection. */
  loadRecords(records: readonly (readonly string[])[]): void {
    this.sheet.grid = records.map((r) => r.map(cellFromText));
    this.sheet.maxRows = Math.max(DEFAULT_ROWS, records.length);
    this.sheet.maxColumns = Math.max(DEFAULT_COLUMNS, ...records.map((r) => r.length));
    this.filterText = '';
    this.sheet.clearFilter();
    this.spreadsheet.activeRanges = [];
  }

  /** Writes `values` (as typed) at 1-based (`row`, `column`), growing the sheet when the edit reaches past it. */
  edit(row: number, column: number, values: readonly (readonly string[])[]): void {
    assertPosition(row, column);
    const width = Math.max(0, ...values.map((r) => r.length));
    if (values.length === 0 || width === 0) return;
    this.sheet.maxRows = Math.max(this.sheet.maxRows, row + values.length - 1);
    this.sheet.maxColumns = Math.max(this.sheet.maxColumns, column + width - 1);
    this.sheet.write(row, column, values.map((r) => Array.from({ length: width }, (_, i) => cellFromText(r[i] ?? ''))));
    this.reapplyFilter();
  }

  /** Data → Sort sheet by a column: the rows under the frozen header move, whole. */
  sort(column: number, ascending: boolean): void {
    assertPosition(1, column);
    this.sheet.sortData(column, ascending);
    this.spreadsheet.activeRanges = [];
    this.reapplyFilter();
  }

  /** Hides every data row in which no cell contains `text` (case-insensitive); empty text removes the filter. */
  setFilter(text: string): void {
    this.filterText = text;
    this.reapplyFilter();
  }

  /** Sets the selection the add-on reads with getActiveRangeList(). */
  select(ranges: readonly CellRange[]): void {
    for (const r of ranges) {
      assertPosition(r.row, r.column);
      if (r.numRows < 1 || r.numColumns < 1) throw new Error('A selection needs at least one cell.');
    }
    this.spreadsheet.activeSheet = this.sheet;
    this.spreadsheet.activeRanges = ranges.map((r) => new FakeRange(this.sheet, r.row, r.column, r.numRows, r.numColumns));
  }

  view(): SheetView {
    return {
      name: this.sheet.getName(),
      values: this.sheet.values().map((r) => r.map(displayValue)),
      hiddenRows: [...this.sheet.hiddenByFilter].sort((a, b) => a - b),
      filterText: this.filterText,
      selection: this.spreadsheet.activeRanges.map((r) => ({ row: r.row, column: r.column, numRows: r.numRows, numColumns: r.numColumns })),
    };
  }

  /** A filter hides rows by their contents, so it is evaluated again whenever rows move or change. */
  private reapplyFilter(): void {
    const needle = this.filterText.trim().toLowerCase();
    if (needle === '') {
      this.sheet.clearFilter();
      return;
    }
    const [, ...rows] = this.sheet.values();
    const hidden: number[] = [];
    rows.forEach((r, i) => {
      if (!r.some((v) => String(displayValue(v)).toLowerCase().includes(needle))) hidden.push(i + 2);
    });
    this.sheet.setFilterHiding(hidden);
  }
}

function assertPosition(row: number, column: number): void {
  if (!Number.isInteger(row) || !Number.isInteger(column) || row < 1 || column < 1) {
    throw new Error(`No cell at row ${row}, column ${column}.`);
  }
}
