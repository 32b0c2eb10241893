// Every row of CLOUD_API.md section 4 mapped to what a campaign does, plus unknown codes by HTTP status, and the
// sentence the marketer reads for each.
import { describe, expect, it } from 'vitest';
import { classifyMetaError, knownMetaErrorCodes, type ErrorAction } from '../../../service/campaigns/meta-error-table';

/**
 * CLOUD_API.md section 4 → action. T → retry, P → recipient, C → halt, with these deliberate readings:
 * - 130429 slows the sender (throttle) and 131056 follows Meta's 4^X backoff (pair_rate);
 * - 131049 (R: wait at least 24 h, never hot-retry) fails the row with a "try again in a day" sentence;
 * - 131048 (C/R) pauses: retrying after spam reports worsens the number's standing;
 * - 132001 and 132016 (P in the table) pause: the template is the same for every row, so every row would fail.
 */
const EXPECTED: readonly [code: number, action: ErrorAction][] = [
  [0, 'halt'],
  [3, 'halt'],
  [4, 'retry'],
  [10, 'halt'],
  [100, 'recipient'],
  [190, 'halt'],
  [200, 'halt'],
  [250, 'halt'],
  [299, 'halt'],
  [368, 'halt'],
  [80007, 'retry'],
  [130403, 'recipient'],
  [130429, 'throttle'],
  [130472, 'recipient'],
  [130497, 'recipient'],
  [131000, 'retry'],
  [131005, 'halt'],
  [131008, 'recipient'],
  [131009, 'recipient'],
  [131016, 'retry'],
  [131021, 'recipient'],
  [131026, 'recipient'],
  [131031, 'halt'],
  [131037, 'halt'],
  [131042, 'halt'],
  [131045, 'halt'],
  [131047, 'recipient'],
  [131048, 'halt'],
  [131049, 'recipient'],
  [131050, 'recipient'],
  // CLOUD_API.md §11 (2026): a BSUID recipient for an authentication template.
  [131062, 'recipient'],
  [131051, 'recipient'],
  [131053, 'recipient'],
  [131056, 'pair_rate'],
  [131057, 'retry'],
  [131063, 'halt'],
  [131064, 'halt'],
  [132000, 'recipient'],
  [132001, 'halt'],
  [132005, 'recipient'],
  [132007, 'recipient'],
  [132012, 'recipient'],
  [132015, 'halt'],
  [132016, 'halt'],
  [132018, 'recipient'],
  [133010, 'halt'],
  [134011, 'halt'],
  [135000, 'recipient'],
];

/** Codes Meta does not list, read by the HTTP status they came with. */
const UNKNOWN: readonly [code: number | null, httpStatus: number | null, action: ErrorAction][] = [
  [999_999, 400, 'recipient'],
  [999_999, 404, 'recipient'],
  [999_999, 500, 'retry'],
  [999_999, 503, 'retry'],
  [null, 502, 'retry'],
  [null, 429, 'retry'],
  [null, 400, 'recipient'],
  [null, null, 'recipient'],
  [300, 400, 'recipient'],
  [199, 500, 'retry'],
];

function assertMarketerSentence(message: string, code: number | null): void {
  expect(message.trim().length).toBeGreaterThan(10);
  // A sentence with words, ending like one, that does not just restate a code.
  expect(message.split(/\s+/).filter((w) => /[a-z]/i.test(w)).length).toBeGreaterThanOrEqual(4);
  expect(message).toMatch(/[.!]$/);
  expect(message).not.toMatch(/^\W*\d+\W*$/);
  if (code !== null) expect(message).not.toContain(String(code));
}

describe('classifyMetaError', () => {
  it.each(EXPECTED)('maps code %i to %s', (code, action) => {
    expect(classifyMetaError(code, 400).action).toBe(action);
    // Meta says to rely on the code, not the HTTP status.
    expect(classifyMetaError(code, 500).action).toBe(action);
  });

  it.each(UNKNOWN)('treats unlisted code %s with HTTP %s as %s', (code, httpStatus, action) => {
    expect(classifyMetaError(code, httpStatus).action).toBe(action);
  });

  it('gives every code a sentence a marketer can read, not a bare number', () => {
    for (const [code] of EXPECTED) assertMarketerSentence(classifyMetaError(code, 400).message, code);
    for (const [code, httpStatus] of UNKNOWN) assertMarketerSentence(classifyMetaError(code, httpStatus).message, code);
  });

  it('has a rule for exactly the codes of the section 4 table (200-299 as a range)', () => {
    const fixtureCodes = EXPECTED.map(([code]) => code).filter((code) => code < 200 || code > 299);
    expect(new Set(knownMetaErrorCodes())).toEqual(new Set(fixtureCodes));
  });
});
