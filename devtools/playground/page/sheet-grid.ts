// The playground's spreadsheet grid in plain DOM: column letters, row numbers, a frozen header row, a rectangular
// selection (click, shift-click, drag, row and column heads, arrow keys), editing on double-click, Enter, F2 or
// typing, Delete to clear. It only draws the sheet it is given and reports what the user did; the server owns data.
import type { CellRange, CellValue, SheetView } from '../playground-protocol';

export interface SheetGridEvents {
  /** The user typed `values` starting at 1-based (`row`, `column`). */
  edit(row: number, column: number, values: string[][]): void;
  /** The selection changed (sheet coordinates). */
  select(ranges: CellRange[]): void;
  /** The active cell changed or its value did, for the formula bar. */
  activeCell(a1: string, value: CellValue): void;
}

interface Cell {
  row: number;
  column: number;
}

/** Empty rows and columns shown past the data, as a sheet has room to type into. */
const SPARE_ROWS = 5;
const SPARE_COLUMNS = 2;
const MIN_COLUMNS = 8;

/** 1 → A, 27 → AA, as Sheets labels columns. */
export function columnLetter(column: number): string {
  let s = '';
  for (let n = column; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

export class SheetGrid {
  private view: SheetView | null = null;
  /** A view that arrived while a cell was being edited: drawn when the edit ends, so typing is never lost. */
  private deferred: SheetView | null = null;
  private shownRows: number[] = [];
  private width = 0;
  private extraRows = 0;
  private readonly cells = new Map<string, HTMLTableCellElement>();
  private anchor: Cell = { row: 1, column: 1 };
  private focus: Cell = { row: 1, column: 1 };
  private editing: { cell: Cell; input: HTMLInputElement } | null = null;
  private isDragging = false;
  private table: HTMLTableElement | null = null;

  constructor(private readonly root: HTMLElement, private readonly events: SheetGridEvents) {
    root.addEventListener('keydown', (e) => this.onKey(e));
    root.addEventListener('mousedown', (e) => this.onMouseDown(e));
    root.addEventListener('mouseover', (e) => this.onMouseOver(e));
    root.addEventListener('dblclick', (e) => {
      const cell = this.cellOf(e.target);
      if (cell) this.startEdit(cell, null);
    });
    window.addEventListener('mouseup', () => {
      if (this.isDragging) this.selectionChanged();
      this.isDragging = false;
    });
  }

  /** The column of the active cell (what Sort acts on). */
  get activeColumn(): number {
    return this.focus.column;
  }

  get isEditing(): boolean {
    return this.editing !== null;
  }

  render(view: SheetView): void {
    if (this.editing) {
      this.deferred = view;
      return;
    }
    this.view = view;
    const hidden = new Set(view.hiddenRows);
    const lastRow = view.values.length;
    const rows: number[] = [];
    for (let r = 1; r <= lastRow + SPARE_ROWS + this.extraRows; r += 1) if (!hidden.has(r)) rows.push(r);
    const width = Math.max(MIN_COLUMNS, (view.values[0]?.length ?? 0) + SPARE_COLUMNS, ...view.values.map((r) => r.length));
    if (width !== this.width || rows.join() !== this.shownRows.join()) {
      this.width = width;
      this.shownRows = rows;
      this.build();
    } else {
      for (const row of rows) for (let c = 1; c <= width; c += 1) this.paint(this.cells.get(key(row, c))!, this.valueAt(row, c));
    }
    this.paintSelection();
  }

  /** Shows one more empty row below the data and starts typing into its first cell. */
  addRow(): void {
    if (!this.view) return;
    this.extraRows += 1;
    const row = this.view.values.length + 1;
    this.render(this.view);
    this.setSelection({ row, column: 1 }, { row, column: 1 });
    this.selectionChanged();
    this.startEdit({ row, column: 1 }, '');
  }

  private build(): void {
    this.cells.clear();
    const table = document.createElement('table');
    table.className = 'grid';
    const head = table.createTHead().insertRow();
    const corner = document.createElement('th');
    corner.className = 'corner';
    head.appendChild(corner);
    for (let c = 1; c <= this.width; c += 1) {
      const th = document.createElement('th');
      th.className = 'col-head';
      th.dataset.col = String(c);
      th.textContent = columnLetter(c);
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of this.shownRows) {
      const tr = body.insertRow();
      tr.dataset.row = String(row);
      if (row === 1) tr.className = 'frozen';
      const th = document.createElement('th');
      th.className = 'row-head';
      th.dataset.row = String(row);
      th.textContent = String(row);
      tr.appendChild(th);
      for (let c = 1; c <= this.width; c += 1) {
        const td = tr.insertCell();
        td.dataset.row = String(row);
        td.dataset.col = String(c);
        this.paint(td, this.valueAt(row, c));
        this.cells.set(key(row, c), td);
      }
    }
    const scroll = { top: this.root.scrollTop, left: this.root.scrollLeft };
    this.table?.remove();
    this.root.appendChild(table);
    this.table = table;
    // The frozen header row sticks right under the column letters, whatever height the browser gave them.
    table.style.setProperty('--letters-height', `${table.tHead!.getBoundingClientRect().height}px`);
    this.root.scrollTop = scroll.top;
    this.root.scrollLeft = scroll.left;
  }

  private paint(td: HTMLTableCellElement, value: CellValue): void {
    const text = String(value);
    if (td.textContent !== text) td.textContent = text;
    td.classList.toggle('num', typeof value === 'number');
    if (text.length > 24) td.title = text;
    else if (td.title) td.removeAttribute('title');
  }

  private valueAt(row: number, column: number): CellValue {
    return this.view?.values[row - 1]?.[column - 1] ?? '';
  }

  // ---- selection ----

  private setSelection(anchor: Cell, focus: Cell): void {
    this.anchor = anchor;
    this.focus = focus;
    this.paintSelection();
    this.cells.get(key(focus.row, focus.column))?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  private rect(): CellRange {
    const row = Math.min(this.anchor.row, this.focus.row);
    const column = Math.min(this.anchor.column, this.focus.column);
    return { row, column, numRows: Math.abs(this.anchor.row - this.focus.row) + 1, numColumns: Math.abs(this.anchor.column - this.focus.column) + 1 };
  }

  private paintSelection(): void {
    const r = this.rect();
    for (const td of this.root.querySelectorAll('td.selected, td.active')) td.classList.remove('selected', 'active');
    for (const th of this.root.querySelectorAll('th.selected-head')) th.classList.remove('selected-head');
    for (const row of this.shownRows) {
      if (row < r.row || row >= r.row + r.numRows) continue;
      this.root.querySelector(`th.row-head[data-row="${row}"]`)?.classList.add('selected-head');
      for (let c = r.column; c < r.column + r.numColumns && c <= this.width; c += 1) this.cells.get(key(row, c))?.classList.add('selected');
    }
    for (let c = r.column; c < r.column + r.numColumns && c <= this.width; c += 1) {
      this.root.querySelector(`th.col-head[data-col="${c}"]`)?.classList.add('selected-head');
    }
    this.cells.get(key(this.focus.row, this.focus.column))?.classList.add('active');
    this.events.activeCell(`${columnLetter(this.focus.column)}${this.focus.row}`, this.valueAt(this.focus.row, this.focus.column));
  }

  private selectionChanged(): void {
    this.events.select([this.rect()]);
  }

  /** The next shown row from `row` in `step` direction (hidden rows are skipped, as in a filtered sheet). */
  private stepRow(row: number, step: number): number {
    const i = this.shownRows.indexOf(row);
    if (i < 0) return this.shownRows[0] ?? 1;
    return this.shownRows[Math.max(0, Math.min(this.shownRows.length - 1, i + step))]!;
  }

  private onMouseDown(e: MouseEvent): void {
    const target = e.target as HTMLElement;
    if (this.editing && this.editing.input === target) return;
    if (this.editing) this.commitEdit();
    const rowHead = target.closest<HTMLElement>('th.row-head');
    const colHead = target.closest<HTMLElement>('th.col-head');
    if (rowHead) {
      const row = Number(rowHead.dataset.row);
      this.anchor = { row: e.shiftKey ? this.anchor.row : row, column: this.width };
      this.focus = { row, column: 1 };
      this.paintSelection();
      this.selectionChanged();
    } else if (colHead) {
      const column = Number(colHead.dataset.col);
      this.anchor = { row: Math.max(1, this.view?.values.length ?? 1), column: e.shiftKey ? this.anchor.column : column };
      this.focus = { row: 1, column };
      this.paintSelection();
      this.selectionChanged();
    } else {
      const cell = this.cellOf(target);
      if (!cell) return;
      this.setSelection(e.shiftKey ? this.anchor : cell, cell);
      this.isDragging = true;
      if (e.shiftKey) this.selectionChanged();
    }
    this.root.focus();
    e.preventDefault();
  }

  private onMouseOver(e: MouseEvent): void {
    if (!this.isDragging) return;
    const cell = this.cellOf(e.target);
    if (cell && (cell.row !== this.focus.row || cell.column !== this.focus.column)) {
      this.focus = cell;
      this.paintSelection();
    }
  }

  private cellOf(target: EventTarget | null): Cell | null {
    const td = (target as HTMLElement | null)?.closest?.<HTMLElement>('td[data-row]');
    return td ? { row: Number(td.dataset.row), column: Number(td.dataset.col) } : null;
  }

  // ---- keyboard and editing ----

  private onKey(e: KeyboardEvent): void {
    if (this.editing) {
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        const { cell } = this.editing;
        this.commitEdit();
        this.move(e.key === 'Enter' ? { row: this.stepRow(cell.row, e.shiftKey ? -1 : 1), column: cell.column }
          : { row: cell.row, column: Math.max(1, Math.min(this.width, cell.column + (e.shiftKey ? -1 : 1))) }, false);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        this.endEdit();
      }
      return;
    }
    const arrows: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const arrow = arrows[e.key];
    if (arrow) {
      e.preventDefault();
      const row = this.stepRow(this.focus.row, arrow[0]);
      const column = Math.max(1, Math.min(this.width, this.focus.column + arrow[1]));
      this.move({ row, column }, e.shiftKey);
    } else if (e.key === 'Tab') {
      e.preventDefault();
      this.move({ row: this.focus.row, column: Math.max(1, Math.min(this.width, this.focus.column + (e.shiftKey ? -1 : 1))) }, false);
    } else if (e.key === 'Enter' || e.key === 'F2') {
      e.preventDefault();
      this.startEdit(this.focus, null);
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      this.clearSelection();
    } else if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      this.startEdit(this.focus, e.key);
    }
  }

  private move(to: Cell, isExtending: boolean): void {
    this.setSelection(isExtending ? this.anchor : to, to);
    this.selectionChanged();
  }

  private clearSelection(): void {
    const r = this.rect();
    const lastRow = Math.min(r.row + r.numRows - 1, this.view?.values.length ?? 0);
    if (lastRow < r.row) return;
    const blank = Array.from({ length: lastRow - r.row + 1 }, () => Array<string>(r.numColumns).fill(''));
    for (let row = r.row; row <= lastRow; row += 1) {
      for (let c = r.column; c < r.column + r.numColumns; c += 1) {
        const td = this.cells.get(key(row, c));
        if (td) this.paint(td, '');
      }
    }
    this.events.edit(r.row, r.column, blank);
  }

  /** Opens the editor on `cell`, with `initial` typed (null: the cell's current value, to change it). */
  private startEdit(cell: Cell, initial: string | null): void {
    const td = this.cells.get(key(cell.row, cell.column));
    if (!td) return;
    if (this.editing) this.commitEdit();
    this.setSelection(cell, cell);
    const input = document.createElement('input');
    input.value = initial ?? String(this.valueAt(cell.row, cell.column));
    td.classList.add('editing');
    td.textContent = '';
    td.appendChild(input);
    this.editing = { cell, input };
    input.addEventListener('blur', () => {
      if (this.editing?.input === input) this.commitEdit();
    });
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  private commitEdit(): void {
    if (!this.editing) return;
    const { cell, input } = this.editing;
    const text = input.value;
    const changed = text !== String(this.valueAt(cell.row, cell.column));
    this.endEdit(changed ? text : null);
    if (changed) this.events.edit(cell.row, cell.column, [[text]]);
  }

  /** Closes the editor, showing `typed` until the server's next view confirms it (null: the value before). */
  private endEdit(typed: string | null = null): void {
    if (!this.editing) return;
    const { cell, input } = this.editing;
    this.editing = null;
    const td = input.parentElement as HTMLTableCellElement | null;
    input.remove();
    if (td) {
      td.classList.remove('editing');
      this.paint(td, typed ?? this.valueAt(cell.row, cell.column));
    }
    this.root.focus();
    const next = this.deferred;
    this.deferred = null;
    if (next) this.render(next);
  }
}

function key(row: number, column: number): string {
  return `${row}:${column}`;
}
