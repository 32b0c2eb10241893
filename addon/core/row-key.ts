// Row keys: the stable identity of a sheet row inside a campaign, written into the `WA Key` column. Pure; the
// randomness source is injected so tests are deterministic.

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A key is 10 base36 characters (≈ 52 bits): collisions within one sheet are practically impossible. */
export const ROW_KEY_LENGTH = 10;

/** Makes one new key from `random` (returns values in [0, 1), like Math.random). */
export function generateRowKey(random: () => number): string {
  let key = '';
  for (let i = 0; i < ROW_KEY_LENGTH; i += 1) key += ALPHABET[Math.floor(random() * 36) % 36];
  return key;
}

/** True when a cell already holds a key (any non-blank text is kept as is, so keys survive edits of other columns). */
export function hasKey(cell: unknown): boolean {
  return String(cell ?? '').trim() !== '';
}

/**
 * Gives every listed row a key: rows that have one keep it, the others get a new one that collides with no key
 * already in the sheet. Returns the key per row and which rows got a new key (those need writing back).
 */
export function assignRowKeys(
  existingKeys: readonly unknown[],
  rows: readonly number[],
  random: () => number,
): { keys: Map<number, string>; created: number[] } {
  const taken = new Set<string>();
  for (const k of existingKeys) if (hasKey(k)) taken.add(String(k).trim());
  const keys = new Map<number, string>();
  const created: number[] = [];
  const seenInRun = new Set<string>();
  for (const row of rows) {
    const current = existingKeys[row];
    // A key copied onto two rows (copy-paste of a whole row) would make the second row a silent duplicate, so the
    // later row gets a fresh key instead.
    if (hasKey(current) && !seenInRun.has(String(current).trim())) {
      const k = String(current).trim();
      keys.set(row, k);
      seenInRun.add(k);
      continue;
    }
    let k = generateRowKey(random);
    while (taken.has(k)) k = generateRowKey(random);
    taken.add(k);
    seenInRun.add(k);
    keys.set(row, k);
    created.push(row);
  }
  return { keys, created };
}
