// Numbers as typed (or mangled) in a sheet → E.164, and the ones that must be refused.
import { describe, expect, it } from 'vitest';
import { isKnownCountry, normalisePhoneNumber } from '../../../service/campaigns/phone-number';

describe('normalisePhoneNumber', () => {
  it.each([
    ['a number cell (the sheet dropped the +)', 919876543210, null, '+919876543210'],
    ['a number cell shown in scientific notation', JSON.parse('9.19876543210E+11') as number, null, '+919876543210'],
    ['text without the +', '919876543210', null, '+919876543210'],
    ['a 00 international prefix', '0091 98765 43210', null, '+919876543210'],
    ['a 00 prefix to the UK', '0044 7911 123456', null, '+447911123456'],
    ['spaces and a +', '+91 98765 43210', null, '+919876543210'],
    ['dashes, with the default country', '98765-43210', 'IN', '+919876543210'],
    ['parentheses and dashes', '+1 (650) 253-0000', null, '+16502530000'],
    ['a national trunk 0, with the default country', '07911 123456', 'GB', '+447911123456'],
    ['a lower-case default country', '07911 123456', 'gb', '+447911123456'],
    ['an international number whatever the default country', '+919876543210', 'US', '+919876543210'],
    ['surrounding whitespace', '  +91 98765 43210 ', null, '+919876543210'],
  ] as const)('normalises %s', (_label, raw, country, e164) => {
    expect(normalisePhoneNumber(raw, country)).toEqual({ ok: true, e164 });
  });

  it.each([
    ['too short', '12', 'IN'],
    ['letters', 'abc', 'IN'],
    ['empty', '', 'IN'],
    ['blank', '   ', 'IN'],
    ['an impossible number for its country', '+91 12345', null],
    ['a fractional number cell', 12.5, 'IN'],
    ['longer than any phone number', '1'.repeat(41), 'IN'],
    ['not a string or number', { to: '+919876543210' }, 'IN'],
    ['null', null, 'IN'],
  ] as const)('refuses %s with a sentence', (_label, raw, country) => {
    const result = normalisePhoneNumber(raw, country);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/[a-z]{3,}/);
  });

  it('refuses a national number when no default country is set, and says so', () => {
    const result = normalisePhoneNumber('98765 43210', null);
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/no default country/) });
  });

  it('reads the same national digits by the default country', () => {
    expect(normalisePhoneNumber('9876543210', 'IN')).toEqual({ ok: true, e164: '+919876543210' });
    expect(normalisePhoneNumber('020 7946 0958', 'GB')).toEqual({ ok: true, e164: '+442079460958' });
  });
});

describe('isKnownCountry', () => {
  it('knows ISO alpha-2 regions in any case and nothing else', () => {
    expect(isKnownCountry('IN')).toBe(true);
    expect(isKnownCountry('gb')).toBe(true);
    expect(isKnownCountry('XX')).toBe(false);
    expect(isKnownCountry('IND')).toBe(false);
  });
});
