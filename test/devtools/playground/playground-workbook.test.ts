// What the marketer does to the playground's sheet lands in the fake spreadsheet as Sheets would have it: typed
// numbers become numbers, sorting moves whole rows under the header, a filter hides rows, the selection is the
// add-on's active range list, and a CSV replaces everything.
import { describe, expect, it } from 'vitest';
import { createAppsScriptEnv } from '../../../devtools/apps-script/apps-script-env';
import { cellFromText, PlaygroundWorkbook } from '../../../devtools/playground/playground-workbook';

function workbook(records: string[][]) {
  const env = createAppsScriptEnv();
  const ss = env.SpreadsheetApp.createSpreadsheet('ss-1', 'Playground');
  const book = new PlaygroundWorkbook(ss, ss.addSheet('Contacts', []));
  book.loadRecords(records);
  return { env, ss, book, sheet: ss.sheets[0]! };
}

const CONTACTS = [
  ['Name', 'Phone', 'Score', 'WA Key'],
  ['bob', '+1 415 555 0002', '7', 'k2'],
  ['Alice', '+1 415 555 0001', '10', 'k1'],
  ['carol', '+1 415 555 0003', '', 'k3'],
];

describe('PlaygroundWorkbook', () => {
  it('reads plain decimals as numbers and keeps phone-like text as text', () => {
    expect(cellFromText('42')).toBe(42);
    expect(cellFromText('-3.5')).toBe(-3.5);
    expect(cellFromText('+14155550100')).toBe('+14155550100');
    expect(cellFromText('0091 80230 35090')).toBe('0091 80230 35090');
    expect(cellFromText('007')).toBe('007');
    expect(cellFromText('30%')).toBe('30%');
  });

  it('loads a CSV as the sheet the add-on reads, replacing what was there', () => {
    const { book, sheet } = workbook(CONTACTS);
    expect(sheet.getDataRange().getValues()[1]).toEqual(['bob', '+1 415 555 0002', 7, 'k2']);
    book.setFilter('alice');
    book.select([{ row: 2, column: 1, numRows: 1, numColumns: 1 }]);
    book.loadRecords([['Only'], ['one']]);
    expect(sheet.getDataRange().getValues()).toEqual([['Only'], ['one']]);
    expect(book.view()).toMatchObject({ hiddenRows: [], filterText: '', selection: [] });
  });

  it('sorts whole rows under the frozen header, numbers in order and empty cells last', () => {
    const { book, sheet } = workbook(CONTACTS);
    book.sort(3, false);
    expect(sheet.column('WA Key')).toEqual(['k1', 'k2', 'k3']);
    book.sort(3, true);
    expect(sheet.column('WA Key')).toEqual(['k2', 'k1', 'k3']);
    book.sort(1, true);
    expect(sheet.column('Name')).toEqual(['Alice', 'bob', 'carol']);
    expect(sheet.column('Phone')).toEqual(['+1 415 555 0001', '+1 415 555 0002', '+1 415 555 0003']);
    expect(sheet.getDataRange().getValues()[0]).toEqual(CONTACTS[0]);
  });

  it('hides rows without the filter text by a filter, and re-applies it after a sort or an edit', () => {
    const { book, sheet } = workbook(CONTACTS);
    book.setFilter('CAROL');
    expect(book.view().hiddenRows).toEqual([2, 3]);
    expect(sheet.getFilter()).not.toBeNull();
    expect(sheet.isRowHiddenByFilter(4)).toBe(false);
    book.sort(1, false);
    expect(book.view().hiddenRows).toEqual([3, 4]);
    book.edit(3, 1, [['Carol too']]);
    expect(book.view().hiddenRows).toEqual([4]);
    book.setFilter('');
    expect(sheet.getFilter()).toBeNull();
    expect(book.view().hiddenRows).toEqual([]);
  });

  it('writes edits as typed, growing the sheet for a new row, and clears cells with empty text', () => {
    const { book, sheet } = workbook(CONTACTS);
    sheet.maxRows = 4;
    book.edit(5, 1, [['dave', '+1 415 555 0004', '3']]);
    expect(sheet.getMaxRows()).toBe(5);
    expect(sheet.getDataRange().getValues()[4]).toEqual(['dave', '+1 415 555 0004', 3, '']);
    book.edit(2, 1, [['', '']]);
    expect(sheet.getDataRange().getValues()[1]).toEqual(['', '', 7, 'k2']);
    expect(() => book.edit(0, 1, [['x']])).toThrow(/No cell/);
  });

  it('makes the selection the add-on reads with getActiveRangeList()', () => {
    const { book, ss, sheet } = workbook(CONTACTS);
    book.select([{ row: 2, column: 1, numRows: 2, numColumns: 3 }]);
    const ranges = ss.getActiveRangeList()!.getRanges();
    expect(ranges.map((r) => r.getA1Notation())).toEqual(['A2:C3']);
    expect(ss.getActiveSheet()).toBe(sheet);
    expect(book.view().selection).toEqual([{ row: 2, column: 1, numRows: 2, numColumns: 3 }]);
  });
});
