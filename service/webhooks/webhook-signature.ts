// Verifies Meta's X-Hub-Signature-256: HMAC-SHA256 of the raw body keyed with the app secret, compared in constant
// time. Meta documents the digest over the body with non-ASCII characters escaped as lowercase \uXXXX
// (CLOUD_API.md 5.2); SDKs disagree, so both the raw bytes and the escaped form are accepted.
import { isAscii } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Non-ASCII UTF-16 code units as `\uXXXX` with lowercase hex, the form Meta signs. */
export function escapeUnicode(text: string): string {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function signBody(appSecret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/** True when `header` is a valid signature of `rawBody` for `appSecret`. */
export function isValidSignature(appSecret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!header || !/^sha256=[0-9a-fA-F]{64}$/.test(header)) return false;
  const given = Buffer.from(header.slice(7).toLowerCase(), 'hex');
  const matches = (body: Buffer | string): boolean =>
    timingSafeEqual(createHmac('sha256', appSecret).update(body).digest(), given);
  // An ASCII body is the same escaped: one digest. Otherwise Meta's documented form first (the raw bytes' digest
  // would fail for every body Meta signs), then the raw bytes. isAscii is native: a byte-by-byte check in JS cost
  // more than both digests.
  if (isAscii(rawBody)) return matches(rawBody);
  return matches(escapeUnicode(rawBody.toString('utf8'))) || matches(rawBody);
}
