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

/** Escapes already written, per code unit: the same few accented letters and emoji recur in every body. */
const escapes = new Map<string, string>();

function escapeOf(ch: string): string {
  let escape = escapes.get(ch);
  if (escape === undefined) {
    escape = `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    escapes.set(ch, escape);
  }
  return escape;
}

/** `body` with each non-ASCII UTF-16 code unit replaced by a lowercase `\uXXXX` escape. */
export function escapeUnicode(body: string): string {
  return body.replace(nonAscii, escapeOf);
}

/**
 * The header value for `body` given `bytes`, its UTF-8 encoding (the bytes that will be sent): those are hashed as
 * they are when they are what `mode` signs (raw mode, or a pure-ASCII body, whose byte count equals its length), so
 * the body is not encoded again; otherwise its escaped form, pure ASCII, whose latin1 bytes are its UTF-8 bytes.
 */
export function signatureOfBytes(body: string, bytes: Buffer, appSecret: string, mode: SignatureMode): string {
  const hmac = createHmac('sha256', appSecret);
  if (mode === 'raw' || bytes.length === body.length) hmac.update(bytes);
  else hmac.update(escapeUnicode(body), 'latin1');
  return `sha256=${hmac.digest('hex')}`;
}

/** The header value: `sha256=<hex HMAC-SHA256>` keyed with the app secret, over the text `mode` selects. */
export function signatureFor(body: string, appSecret: string, mode: SignatureMode): string {
  return signatureOfBytes(body, Buffer.from(body, 'utf8'), appSecret, mode);
}
