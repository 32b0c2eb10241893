// The only file that touches SpreadsheetApp: one range read per sheet, status writes as a few rectangular
// setValues, the user's selection, hidden rows, and the spreadsheet's UI (menu, sidebar, toasts). Never per-cell calls.
import { AddonError } from '../core/addon-error';
import type { CellBlock } from '../core/cell-blocks';
import { planStatusLayout, type StatusLayout } from '../core/status-columns';
import { sendRaw } from './service-client';

type Spreadsheet = GoogleAppsScript.Spreadsheet.Spreadsheet;
type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

/** The header row is the sheet's first row; data starts on row 2. */
export const HEADER_ROW = 1;

/** One sheet as read by a single getDataRange().getValues(). Row indexes are 0-based data rows. */
export interface SheetTable {
  sheet: Sheet;
  spreadsheetId: string;
  sheetName: string;
  headers: unknown[];
  rows: unknown[][];
}

/** The spreadsheet the user has open; throws when there is none (e.g. a time trigger). */
export function activeSpreadsheet(): Spreadsheet {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  if (!ss) throw new AddonError('internal', 'No spreadsheet is open.');
  return ss;
}

/** The active spreadsheet when there is one, else opens `spreadsheetId` (time triggers have no active sheet). */
export function spreadsheetFor(spreadsheetId: string | null): Spreadsheet {
  const active = SpreadsheetApp.getActiveSpreadsheet();
  if (active && (spreadsheetId === null || active.getId() === spreadsheetId)) return active;
  if (spreadsheetId === null) throw new AddonError('internal', 'No spreadsheet is open.');
  return SpreadsheetApp.openById(spreadsheetId);
}

/** A tab by name; a renamed or deleted tab is an error the marketer can fix. */
export function sheetByName(ss: Spreadsheet, name: string): Sheet {
  const sheet = ss.getSheetByName(name);
  if (!sheet) {
    throw new AddonError('sheet_layout', `The tab "${name}" is gone. Rename it back or compose the campaign again.`);
  }
  return sheet;
}

export function sheetNames(ss: Spreadsheet): string[] {
  return ss.getSheets().map((s) => s.getName());
}

/** Reads the whole used range in one call. */
export function readTable(sheet: Sheet): SheetTable {
  const values = sheet.getDataRange().getValues();
  const [headers = [], ...rows] = values;
  return { sheet, spreadsheetId: sheet.getParent().getId(), sheetName: sheet.getName(), headers, rows };
}

/**
 * Finds the status columns and writes the headers of any that are absent (one setValues per adjacent group, the
 * sheet widened first if needed). Updates `table.headers` to match. Returns the layout.
 */
export function ensureStatusColumns(table: SheetTable): StatusLayout {
  const plan = planStatusLayout(table.headers);
  if (plan.headersToAdd.length === 0) return plan.layout;
  const lastNeeded = Math.max(...plan.headersToAdd.map((h) => h.column)) + 1;
  const maxColumns = table.sheet.getMaxColumns();
  if (lastNeeded > maxColumns) table.sheet.insertColumnsAfter(maxColumns, lastNeeded - maxColumns);
  const groups: { column: number; texts: string[] }[] = [];
  for (const h of plan.headersToAdd) {
    const last = groups[groups.length - 1];
    if (last && last.column + last.texts.length === h.column) last.texts.push(h.text);
    else groups.push({ column: h.column, texts: [h.text] });
  }
  for (const g of groups) {
    table.sheet.getRange(HEADER_ROW, g.column + 1, 1, g.texts.length).setValues([g.texts]);
    g.texts.forEach((t, i) => (table.headers[g.column + i] = t));
  }
  return plan.layout;
}

/** Writes each block with one setValues; widens the sheet first when a block reaches past its last column. */
export function writeBlocks(sheet: Sheet, blocks: readonly CellBlock[]): void {
  if (blocks.length === 0) return;
  const lastNeeded = Math.max(...blocks.map((b) => b.column + (b.values[0]?.length ?? 0)));
  const maxColumns = sheet.getMaxColumns();
  if (lastNeeded > maxColumns) sheet.insertColumnsAfter(maxColumns, lastNeeded - maxColumns);
  for (const b of blocks) {
    const width = b.values[0]?.length ?? 0;
    if (width === 0) continue;
    sheet.getRange(HEADER_ROW + 1 + b.row, b.column + 1, b.values.length, width).setValues(b.values);
  }
}

/** The user's selection on `sheet` as inclusive data-row spans; empty when the selection is on another tab. */
export function selectedDataSpans(ss: Spreadsheet, sheet: Sheet): { from: number; to: number }[] {
  if (ss.getActiveSheet().getSheetId() !== sheet.getSheetId()) return [];
  const list = ss.getActiveRangeList();
  if (!list) return [];
  return list.getRanges().map((r) => ({
    from: r.getRow() - HEADER_ROW - 1,
    to: r.getRow() + r.getNumRows() - 1 - HEADER_ROW - 1,
  }));
}

/**
 * Data rows hidden by a filter or by the user. SpreadsheetApp only answers row by row, so this asks the Sheets API
 * once for the rows' metadata (covered by the `spreadsheets` scope, with the user's own token). If that call fails,
 * it falls back to isRowHiddenByFilter inside the filter's range only.
 */
export function hiddenDataRows(sheet: Sheet, rowCount: number): Set<number> {
  const hidden = new Set<number>();
  if (rowCount === 0) return hidden;
  const ss = sheet.getParent();
  const range = `'${sheet.getName().replace(/'/g, "''")}'!A${HEADER_ROW + 1}:A${HEADER_ROW + rowCount}`;
  const url = `https://sheets.googleapis.com/v4/spreadsheets/${encodeURIComponent(ss.getId())}`
    + `?ranges=${encodeURIComponent(range)}&fields=${encodeURIComponent('sheets(data(rowMetadata(hiddenByFilter,hiddenByUser)))')}`;
  const [res] = sendRaw([{ url, method: 'get', headers: { Authorization: `Bearer ${ScriptApp.getOAuthToken()}` } }], 'the Google Sheets API');
  if (res && res.status === 200) {
    const body = JSON.parse(res.text) as { sheets?: { data?: { rowMetadata?: { hiddenByFilter?: boolean; hiddenByUser?: boolean }[] }[] }[] };
    const meta = body.sheets?.[0]?.data?.[0]?.rowMetadata ?? [];
    meta.forEach((m, i) => {
      if (m.hiddenByFilter || m.hiddenByUser) hidden.add(i);
    });
    return hidden;
  }
  const filter = sheet.getFilter();
  if (!filter) return hidden;
  const fr = filter.getRange();
  for (let row = Math.max(fr.getRow(), HEADER_ROW + 1); row < fr.getRow() + fr.getNumRows(); row += 1) {
    if (sheet.isRowHiddenByFilter(row)) hidden.add(row - HEADER_ROW - 1);
  }
  return hidden;
}

/** Makes pending writes visible before a lock is released (Lock docs advise this). */
export function flush(): void {
  SpreadsheetApp.flush();
}

/** The add-on menu. Must work in AuthMode.NONE: only getUi() and menu calls here. */
export function installMenu(items: readonly ([label: string, functionName: string] | null)[]): void {
  const menu = SpreadsheetApp.getUi().createAddonMenu();
  for (const item of items) {
    if (item === null) menu.addSeparator();
    else menu.addItem(item[0], item[1]);
  }
  menu.addToUi();
}

/** Opens HTML in the sidebar. */
export function showSidebarHtml(html: GoogleAppsScript.HTML.HtmlOutput): void {
  SpreadsheetApp.getUi().showSidebar(html);
}

/** A short message in the corner of the spreadsheet; silently skipped where there is no UI (triggers). */
export function toast(message: string, title = 'WhatsApp campaigns'): void {
  const ss = SpreadsheetApp.getActiveSpreadsheet();
  if (ss) ss.toast(message, title, 8);
}

/** A blocking alert, for menu actions whose result the marketer must read. */
export function alert(title: string, message: string): void {
  const ui = SpreadsheetApp.getUi();
  ui.alert(title, message, ui.ButtonSet.OK);
}
