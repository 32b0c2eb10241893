import { describe, expect, it } from 'vitest';
import { adjacentRuns, isStatusHeader, planStatusLayout } from '../../../addon/core/status-columns';

describe('planStatusLayout', () => {
  it('places all six status columns right after the data when none exist', () => {
    const plan = planStatusLayout(['Name', 'Phone', 'City', '', '']);
    expect(plan.layout).toEqual({ key: 3, status: 4, wamid: 5, error: 6, reply: 7, updated: 8 });
    expect(plan.headersToAdd.map((h) => h.text)).toEqual(['WA Key', 'WA Status', 'WA Message ID', 'WA Error', 'WA Reply', 'WA Updated']);
  });

  it('finds columns the user moved, case-insensitively, and adds only the missing ones', () => {
    const plan = planStatusLayout(['wa status', 'Name', 'Phone', ' WA KEY ', 'WA Reply']);
    expect(plan.layout.status).toBe(0);
    expect(plan.layout.key).toBe(3);
    expect(plan.layout.reply).toBe(4);
    expect(plan.headersToAdd).toEqual([
      { column: 5, text: 'WA Message ID' },
      { column: 6, text: 'WA Error' },
      { column: 7, text: 'WA Updated' },
    ]);
  });

  it('keeps the first of two identical headers', () => {
    expect(planStatusLayout(['WA Key', 'x', 'WA Key']).layout.key).toBe(0);
  });
});

describe('adjacentRuns', () => {
  it('groups adjacent columns so each run is one write', () => {
    expect(adjacentRuns([7, 3, 4, 5, 9, 8])).toEqual([[3, 4, 5], [7, 8, 9]]);
  });
});

describe('isStatusHeader', () => {
  it('recognises status headers only', () => {
    expect(isStatusHeader('WA Updated')).toBe(true);
    expect(isStatusHeader('Updated')).toBe(false);
  });
});
