import { describe, expect, it } from 'vitest';
import { summarisePreview } from '../../../addon/core/preview-summary';
import type { PreviewRow } from '../../../addon/core/service-contract';

const row = (key: string, to: string, ok: boolean, error?: PreviewRow['error']): PreviewRow => ({ key, to, ok, error, text: `Hi ${key}` });

describe('summarisePreview', () => {
  it('counts valid, invalid, duplicate and opted-out numbers, each row once', () => {
    const s = summarisePreview([
      row('a', '+1', true),
      row('b', '12', false, { code: 'invalid_phone', message: 'Not a phone number' }),
      row('c', '+1', true),
      row('d', '+3', false, { code: 'duplicate_recipient', message: 'dup' }),
      row('e', '+4', true),
      row('f', '+5', false, 'template_params'),
    ], new Set(['+4']));
    expect(s).toMatchObject({ total: 6, valid: 1, invalid: 1, duplicate: 2, optedOut: 1, otherProblems: 1 });
    expect(s.samples).toHaveLength(3);
    expect(s.samples[2]).toMatchObject({ key: 'c', ok: false, problem: expect.stringMatching(/earlier row/) });
    expect(s.problems.map((p) => p.key)).toEqual(['b', 'c', 'd', 'e', 'f']);
  });
});
