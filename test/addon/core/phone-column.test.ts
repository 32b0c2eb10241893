import { describe, expect, it } from 'vitest';
import { detectPhoneColumn, looksLikePhone } from '../../../addon/core/phone-column';

describe('looksLikePhone', () => {
  it('accepts typical formats and numbers typed as numbers', () => {
    for (const v of ['+91 98123 45678', '(415) 555-0134', '07700 900123', 919812345678]) expect(looksLikePhone(v)).toBe(true);
  });
  it('rejects words, dates, short numbers and decimals', () => {
    for (const v of ['Alice', '12', 3.5, '2024-01-01T00:00', new Date()]) expect(looksLikePhone(v)).toBe(false);
  });
});

describe('detectPhoneColumn', () => {
  const rows = [
    ['Alice', '+14155550134', 42, 'alice@example.com'],
    ['Bob', '+14155550135', 17, 'bob@example.com'],
  ];
  it('picks the column whose header says phone and whose cells look like numbers', () => {
    expect(detectPhoneColumn(['Name', 'Mobile number', 'Age', 'Email'], rows)).toBe(1);
  });
  it('finds an unlabelled phone column by its content', () => {
    expect(detectPhoneColumn(['Name', 'Contact', 'Age', 'Email'], rows)).toBe(1);
  });
  it('does not trust a header whose cells are not numbers', () => {
    expect(detectPhoneColumn(['Name', 'Phone'], [['Alice', 'call me'], ['Bob', 'n/a']])).toBeNull();
  });
  it('prefers a WhatsApp column over a generic number column', () => {
    const r = [['1', '+14155550134', '+14155550199']];
    expect(detectPhoneColumn(['Number', 'Phone', 'WhatsApp'], r)).toBe(2);
  });
  it('ignores the add-on status columns', () => {
    expect(detectPhoneColumn(['WA Message ID'], [['1234567890']])).toBeNull();
  });
  it('uses the header alone when the sheet has no data yet', () => {
    expect(detectPhoneColumn(['Name', 'Phone'], [])).toBe(1);
  });
});
