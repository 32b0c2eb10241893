import { describe, expect, it } from 'vitest';
import { selectRows } from '../../../addon/core/row-selection';

const phones = ['1', '2', '', '4', '5'];
const keys = ['k0', '', '', 'k3', ''];

describe('selectRows', () => {
  it('takes every row with a phone number', () => {
    expect(selectRows({ mode: 'all', rowCount: 5, phones, keys })).toEqual([0, 1, 3, 4]);
  });
  it('skips rows hidden by a filter', () => {
    expect(selectRows({ mode: 'visible', rowCount: 5, phones, keys, hidden: new Set([1, 4]) })).toEqual([0, 3]);
  });
  it('keeps only rows inside the selected spans', () => {
    expect(selectRows({ mode: 'selected', rowCount: 5, phones, keys, selectedSpans: [{ from: 1, to: 2 }, { from: 4, to: 40 }] })).toEqual([1, 4]);
  });
  it('takes rows without a key for a recurring send', () => {
    expect(selectRows({ mode: 'new', rowCount: 5, phones, keys })).toEqual([1, 4]);
  });
});
