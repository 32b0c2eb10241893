import { describe, expect, it } from 'vitest';
import { planCellBlocks } from '../../../addon/core/cell-blocks';

function grid(rows: number, cols: number): string[][] {
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => `r${r}c${c}`));
}

describe('planCellBlocks', () => {
  it('returns nothing when nothing changed', () => {
    expect(planCellBlocks(grid(3, 3), new Map())).toEqual([]);
  });

  it('writes one block per adjacent column run, keeping untouched cells as read', () => {
    const updates = new Map([
      [1, new Map<number, unknown>([[2, 'X'], [3, 'Y'], [6, 'Z']])],
      [3, new Map<number, unknown>([[2, 'W']])],
    ]);
    const blocks = planCellBlocks(grid(5, 7), updates, { maxColumnGap: 0 });
    expect(blocks).toEqual([
      { row: 1, column: 2, values: [['X', 'Y'], ['r2c2', 'r2c3'], ['W', 'r3c3']] },
      { row: 1, column: 6, values: [['Z'], ['r2c6'], ['r3c6']] },
    ]);
  });

  it('bridges a small column gap with the values as read, saving a call', () => {
    const updates = new Map([[0, new Map<number, unknown>([[1, 'X'], [3, 'Y']])]]);
    expect(planCellBlocks(grid(1, 5), updates)).toEqual([{ row: 0, column: 1, values: [['X', 'r0c2', 'Y']] }]);
  });

  it('keeps 10,000 scattered updates to a handful of blocks', () => {
    const updates = new Map<number, Map<number, unknown>>();
    for (let r = 0; r < 100_000; r += 10) updates.set(r, new Map([[0, 'a'], [1, 'b'], [2, 'c']]));
    const blocks = planCellBlocks(grid(100_000, 3), updates);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.values).toHaveLength(99_991);
  });

  it('splits at the largest gaps, no more than maxSegments', () => {
    const updates = new Map<number, Map<number, unknown>>([
      [0, new Map([[0, 'a']])], [1, new Map([[0, 'a']])],
      [5000, new Map([[0, 'b']])],
      [9000, new Map([[0, 'c']])], [9001, new Map([[0, 'c']])],
    ]);
    const blocks = planCellBlocks(grid(10_000, 1), updates, { maxSegments: 2, minGapRows: 100 });
    expect(blocks.map((b) => [b.row, b.values.length])).toEqual([[0, 2], [5000, 4002]]);
  });

  it('reads rows shorter than the block (new columns) as empty', () => {
    const blocks = planCellBlocks([['a'], ['b']], new Map([[0, new Map([[3, 'x']])], [1, new Map([[4, 'y']])]]));
    expect(blocks).toEqual([{ row: 0, column: 3, values: [['x', ''], ['', 'y']] }]);
  });
});
