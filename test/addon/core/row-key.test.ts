import { describe, expect, it } from 'vitest';
import { assignRowKeys, generateRowKey, ROW_KEY_LENGTH } from '../../../addon/core/row-key';

function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('row keys', () => {
  it('generates short base36 keys', () => {
    expect(generateRowKey(seeded(1))).toMatch(new RegExp(`^[0-9a-z]{${ROW_KEY_LENGTH}}$`));
  });

  it('keeps existing keys so a re-run posts the same key again', () => {
    const { keys, created } = assignRowKeys(['k1', '', 'k3'], [0, 1, 2], seeded(2));
    expect(keys.get(0)).toBe('k1');
    expect(keys.get(2)).toBe('k3');
    expect(created).toEqual([1]);
    expect(keys.get(1)).not.toBe('');
  });

  it('gives a copied row a fresh key instead of a silent duplicate', () => {
    const { keys, created } = assignRowKeys(['same', 'same'], [0, 1], seeded(3));
    expect(keys.get(0)).toBe('same');
    expect(keys.get(1)).not.toBe('same');
    expect(created).toEqual([1]);
  });

  it('never reuses a key already in the sheet, even outside the selection', () => {
    let calls = 0;
    const collide = () => (calls++ < ROW_KEY_LENGTH ? 0 : 0.5);
    const existing = ['0'.repeat(ROW_KEY_LENGTH), ''];
    const { keys } = assignRowKeys(existing, [1], collide);
    expect(keys.get(1)).not.toBe('0'.repeat(ROW_KEY_LENGTH));
  });

  it('makes 100,000 unique keys', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => i);
    const { keys } = assignRowKeys(new Array(100_000).fill(''), rows, Math.random);
    expect(new Set(keys.values()).size).toBe(100_000);
  });
});
