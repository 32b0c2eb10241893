// API keys: 32 random bytes shown once; only their SHA-256 is stored. Keys are random, so a plain hash is enough
// (no password stretching needed), and lookup by hash compares digests, not the secret itself.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const API_KEY_PREFIX = 'wsk_';

export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A random token for sandbox credentials and verify tokens. */
export function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
