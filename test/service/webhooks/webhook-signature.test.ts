// X-Hub-Signature-256 over the raw body, over Meta's escaped-unicode form, and everything that must not pass.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { escapeUnicode, isValidSignature, signBody } from '../../../service/webhooks/webhook-signature';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const SECRET = 'app-secret-1';
/** A recorded-shape body with accents, an emoji (a surrogate pair) and Meta's escaped slash `\/`. */
const raw = readFileSync(new URL('../../fixtures/meta-webhooks/inbound-messages.json', import.meta.url));

function hmacHeader(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

beforeEach(() => {
  vi.mocked(timingSafeEqual).mockClear();
});

describe('isValidSignature', () => {
  it('accepts an HMAC-SHA256 of the raw body bytes', () => {
    expect(raw.some((byte) => byte > 0x7f)).toBe(true);
    expect(isValidSignature(SECRET, raw, hmacHeader(SECRET, raw))).toBe(true);
    expect(isValidSignature(SECRET, raw, signBody(SECRET, raw))).toBe(true);
  });

  it("accepts Meta's documented form: the HMAC of the body with non-ASCII escaped as lowercase \\uXXXX", () => {
    const escaped = escapeUnicode(raw.toString('utf8'));
    expect(escaped).not.toBe(raw.toString('utf8'));
    expect(isValidSignature(SECRET, raw, hmacHeader(SECRET, escaped))).toBe(true);
  });

  it("compares Meta's escaped form first, so a body Meta signed takes one digest; an ASCII body takes one too", () => {
    expect(isValidSignature(SECRET, raw, hmacHeader(SECRET, escapeUnicode(raw.toString('utf8'))))).toBe(true);
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    vi.mocked(timingSafeEqual).mockClear();
    const ascii = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
    expect(isValidSignature(SECRET, ascii, hmacHeader(SECRET, ascii))).toBe(true);
    expect(isValidSignature(SECRET, ascii, hmacHeader('another-secret', ascii))).toBe(false);
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
  });

  it('accepts upper-case hex digits', () => {
    expect(isValidSignature(SECRET, raw, `sha256=${hmacHeader(SECRET, raw).slice(7).toUpperCase()}`)).toBe(true);
  });

  it('refuses a signature made with another secret', () => {
    expect(isValidSignature(SECRET, raw, hmacHeader('another-secret', raw))).toBe(false);
    expect(isValidSignature(SECRET, raw, hmacHeader('another-secret', escapeUnicode(raw.toString('utf8'))))).toBe(false);
  });

  it('refuses a signature of the re-serialised JSON (Meta escapes "/" as "\\/", so only the raw bytes match)', () => {
    const reserialised = JSON.stringify(JSON.parse(raw.toString('utf8')));
    expect(isValidSignature(SECRET, raw, hmacHeader(SECRET, reserialised))).toBe(false);
  });

  it('refuses a body changed by one byte', () => {
    const tampered = Buffer.from(raw);
    tampered[10] = (tampered[10] as number) ^ 1;
    expect(isValidSignature(SECRET, tampered, hmacHeader(SECRET, raw))).toBe(false);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['only the prefix', 'sha256='],
    ['another algorithm', hmacHeader(SECRET, raw).replace('sha256=', 'sha1=')],
    ['no prefix', hmacHeader(SECRET, raw).slice(7)],
    ['non-hex digits', `sha256=${'z'.repeat(64)}`],
    ['a short digest', hmacHeader(SECRET, raw).slice(0, 40)],
    ['a long digest', `${hmacHeader(SECRET, raw)}00`],
    ['trailing text', `${hmacHeader(SECRET, raw)}, sha1=abc`],
  ])('refuses a malformed header (%s) without throwing', (_label, header) => {
    expect(() => isValidSignature(SECRET, raw, header)).not.toThrow();
    expect(isValidSignature(SECRET, raw, header)).toBe(false);
  });

  it('compares digests in constant time, on both the raw and the escaped path', () => {
    const wrong = hmacHeader('another-secret', raw);
    expect(isValidSignature(SECRET, raw, wrong)).toBe(false);
    // Non-ASCII body: the raw digest and then the escaped digest are each compared with timingSafeEqual.
    expect(vi.mocked(timingSafeEqual)).toHaveBeenCalledTimes(2);
    for (const [left, right] of vi.mocked(timingSafeEqual).mock.calls) {
      expect((left as Buffer).length).toBe(32);
      expect((right as Buffer).length).toBe(32);
    }
  });

  it('does not try the escaped form for a pure ASCII body', () => {
    const ascii = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');
    expect(isValidSignature(SECRET, ascii, hmacHeader(SECRET, ascii))).toBe(true);
    vi.mocked(timingSafeEqual).mockClear();
    expect(isValidSignature(SECRET, ascii, hmacHeader('another-secret', ascii))).toBe(false);
    expect(vi.mocked(timingSafeEqual)).toHaveBeenCalledTimes(1);
  });
});

describe('escapeUnicode', () => {
  it('escapes accents and each half of an emoji as lowercase \\uXXXX, leaving ASCII alone', () => {
    expect(escapeUnicode('São 😍 a/b')).toBe('S\\u00e3o \\ud83d\\ude0d a/b');
  });
});
