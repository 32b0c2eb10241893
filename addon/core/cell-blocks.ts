// Turns scattered per-row cell updates into a handful of rectangular blocks, one setValues each, however many rows
// changed. Pure: the caller supplies the values it already read, so untouched cells inside a block keep their value.

/** A rectangle to write: 0-based data-row and column of its top-left cell, and its values row by row. */
export interface CellBlock {
  row: number;
  column: number;
  values: unknown[][];
}

export interface BlockOptions {
  /** Most row segments per column run (each segment × run is one setValues). */
  maxSegments?: number;
  /** A gap of untouched rows shorter than this never splits a segment: rewriting a few rows is cheaper than a call. */
  minGapRows?: number;
  /** Column runs separated by at most this many untouched columns are written as one block. */
  maxColumnGap?: number;
}

/**
 * Plans the writes for `updates` (data-row index → column index → new value) over `current` (the data rows as read,
 * shorter rows read as empty). Columns are grouped into runs (small gaps bridged); rows into at most `maxSegments` segments,
 * cut at the largest gaps. Returns blocks in top-to-bottom, left-to-right order; none when there are no updates.
 */
export function planCellBlocks(
  current: readonly (readonly unknown[])[],
  updates: ReadonlyMap<number, ReadonlyMap<number, unknown>>,
  options: BlockOptions = {},
): CellBlock[] {
  const maxSegments = options.maxSegments ?? 4;
  const minGapRows = options.minGapRows ?? 200;
  const rows = [...updates.keys()].filter((r) => (updates.get(r)?.size ?? 0) > 0).sort((a, b) => a - b);
  if (rows.length === 0) return [];
  const columns = new Set<number>();
  for (const r of rows) for (const c of updates.get(r)!.keys()) columns.add(c);
  const runs = groupColumns([...columns], options.maxColumnGap ?? 2);
  const segments = segmentRows(rows, maxSegments, minGapRows);
  const blocks: CellBlock[] = [];
  for (const seg of segments) {
    for (const run of runs) {
      const values: unknown[][] = [];
      for (let r = seg.from; r <= seg.to; r += 1) {
        const line: unknown[] = [];
        const change = updates.get(r);
        for (const c of run) {
          line.push(change?.has(c) ? change.get(c) : (current[r]?.[c] ?? ''));
        }
        values.push(line);
      }
      blocks.push({ row: seg.from, column: run[0]!, values });
    }
  }
  return blocks;
}

/** Groups columns into runs; a gap of up to `maxGap` columns is bridged (its cells rewritten as read). */
function groupColumns(columns: number[], maxGap: number): number[][] {
  const sorted = [...new Set(columns)].sort((a, b) => a - b);
  const runs: number[][] = [];
  for (const c of sorted) {
    const last = runs[runs.length - 1];
    const end = last?.[last.length - 1];
    if (last && end !== undefined && c - end - 1 <= maxGap) {
      for (let x = end + 1; x <= c; x += 1) last.push(x);
    } else {
      runs.push([c]);
    }
  }
  return runs;
}

function segmentRows(sortedRows: number[], maxSegments: number, minGapRows: number): { from: number; to: number }[] {
  const gaps: { after: number; size: number }[] = [];
  for (let i = 1; i < sortedRows.length; i += 1) {
    const size = sortedRows[i]! - sortedRows[i - 1]! - 1;
    if (size >= minGapRows) gaps.push({ after: i - 1, size });
  }
  const cuts = gaps
    .sort((a, b) => b.size - a.size)
    .slice(0, Math.max(0, maxSegments - 1))
    .map((g) => g.after)
    .sort((a, b) => a - b);
  const segments: { from: number; to: number }[] = [];
  let start = 0;
  for (const cut of cuts) {
    segments.push({ from: sortedRows[start]!, to: sortedRows[cut]! });
    start = cut + 1;
  }
  segments.push({ from: sortedRows[start]!, to: sortedRows[sortedRows.length - 1]! });
  return segments;
}
