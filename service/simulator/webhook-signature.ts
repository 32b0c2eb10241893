// How Meta serialises and signs a webhook body (CLOUD_API.md §5.2), so receivers are tested against the real quirks.
// Serialising and signing only; delivery lives in webhook-dispatcher.ts.

import { createHmac } from 'node:crypto';

/**
 * What the `X-Hub-Signature-256` HMAC covers.
 * - `escaped-unicode` (default): the body with every non-ASCII UTF-16 unit written as lowercase `\uXXXX`
 *   (an emoji becomes two escapes), as Meta's Graph webhook docs describe; the body *sent* still carries
 *   the characters raw (UTF-8), so a receiver must escape before hashing, as whatsapp-api-js does.
 * - `raw`: the UTF-8 bytes exactly as sent.
 * The two agree on pure-ASCII bodies.
 */
export type SignatureMode = 'escaped-unicode' | 'raw';

const nonAscii = /[\u0080-\uffff]/g;

/** JSON as Meta sends it: `/` escaped as `\/`, non-ASCII characters raw. */
export function serializeLikeMeta(payload: unknown): string {
  return JSON.stringify(payload).replaceAll('/', '\\/');
}

/** `body` with each non-ASCII UTF-16 code unit replaced by a lowercase `\uXXXX` escape. */
export function escapeUnicode(body: string): string {
  return body.replace(nonAscii, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The header value: `sha256=<hex HMAC-SHA256>` keyed with the app secret, over the text `mode` selects. */
export function signatureFor(body: string, appSecret: string, mode: SignatureMode): string {
  // byteLength === length is a native check that the body is pure ASCII, where escaping changes nothing.
  const signed = mode === 'escaped-unicode' && Buffer.byteLength(body) !== body.length ? escapeUnicode(body) : body;
  return `sha256=${createHmac('sha256', appSecret).update(signed, 'utf8').digest('hex')}`;
}
