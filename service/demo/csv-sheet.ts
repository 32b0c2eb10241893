// A CSV file seen the way the add-on sees a sheet tab: a header row, data rows of cells, status columns found or
// added by the add-on's own layout rules, and writes planned as the add-on plans its setValues blocks.
import { planCellBlocks } from '../../addon/core/cell-blocks';
import { planStatusLayout, type StatusLayout } from '../../addon/core/status-columns';

export class CsvSheet {
  readonly headers: string[];
  /** Data rows (below the header), as ragged as the file had them until a write pads them. */
  readonly rows: string[][];

  /** `records[0]` is the header row; an empty file is a sheet with no headers and no rows. */
  constructor(records: readonly (readonly string[])[]) {
    this.headers = [...(records[0] ?? [])];
    this.rows = records.slice(1).map((r) => [...r]);
  }

  /** Finds the six status columns by header, adding the missing ones after the data (planStatusLayout). */
  ensureStatusColumns(): StatusLayout {
    const { layout, headersToAdd } = planStatusLayout(this.headers);
    for (const { column, text } of headersToAdd) {
      while (this.headers.length < column) this.headers.push('');
      this.headers[column] = text;
    }
    return layout;
  }

  /**
   * Applies `updates` (data-row → column → value) through the add-on's block planner, so cells are filled exactly as
   * its setValues calls would fill them. Returns how many blocks (setValues calls in a real sheet) that took.
   */
  write(updates: ReadonlyMap<number, ReadonlyMap<number, unknown>>): number {
    const blocks = planCellBlocks(this.rows, updates);
    for (const block of blocks) {
      block.values.forEach((line, i) => {
        const row = this.rows[block.row + i]!;
        line.forEach((value, j) => {
          const column = block.column + j;
          while (row.length <= column) row.push('');
          row[column] = value === null || value === undefined ? '' : String(value);
        });
      });
    }
    return blocks.length;
  }

  /** Header and rows as CSV records, every row padded to the widest so each record has the same field count. */
  toRecords(): string[][] {
    const width = this.rows.reduce((w, r) => Math.max(w, r.length), this.headers.length);
    const pad = (r: readonly string[]): string[] => [...r, ...Array<string>(width - r.length).fill('')];
    return [pad(this.headers), ...this.rows.map(pad)];
  }
}
