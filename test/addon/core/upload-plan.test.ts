import { describe, expect, it } from 'vitest';
import { chunk, hasTimeForRound, rounds } from '../../../addon/core/upload-plan';
import { isRunDue } from '../../../addon/core/recurrence';

describe('upload plan', () => {
  it('splits 100,000 rows into 20 requests of 5,000 in 5 fetchAll rounds', () => {
    const chunks = chunk(Array.from({ length: 100_000 }, (_, i) => i));
    expect(chunks).toHaveLength(20);
    expect(chunks.every((c) => c.length === 5000)).toBe(true);
    expect(rounds(chunks)).toHaveLength(5);
  });
  it('keeps the remainder in a last short chunk', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
  it('starts another round only when it fits in the execution budget', () => {
    expect(hasTimeForRound(0, 100_000, 20_000)).toBe(true);
    expect(hasTimeForRound(0, 250_000, 20_000)).toBe(false);
    expect(hasTimeForRound(0, 245_000, null)).toBe(false);
  });
});

describe('isRunDue', () => {
  const h = 3_600_000;
  it('runs the first time and then once per period, tolerating an early hourly tick', () => {
    expect(isRunDue('daily', null, 0)).toBe(true);
    expect(isRunDue('daily', 0, 23 * h)).toBe(false);
    expect(isRunDue('daily', 0, 23.5 * h)).toBe(true);
    expect(isRunDue('hourly', 0, 0.8 * h)).toBe(true);
    expect(isRunDue('weekly', 0, 6 * 24 * h)).toBe(false);
    expect(isRunDue('form', null, 0)).toBe(false);
  });
});
