// Structured logs with pino. Secrets and personal data are redacted by key at any depth, and phone numbers, API keys
// and bearer tokens are masked inside any string (an error's message, a stack), so a careless log line cannot leak a
// token, an API key, a phone number or a message's text.
import pino from 'pino';
import type { Logger } from '../../campaigns/ports';

export const REDACTED_KEYS = [
  'accessToken', 'appSecret', 'verifyToken', 'apiKey', 'authorization', 'token', 'secret', 'password',
  'to', 'phone', 'from', 'waId', 'recipient', 'text', 'body', 'params', 'reply',
  // PostgreSQL errors' `detail` may quote the row's values (a unique violation names the key: a phone number).
  'detail', 'databaseUrl', 'connectionString',
];

const CENSOR = '[redacted]';
const redactedKeys = new Set(REDACTED_KEYS.map((key) => key.toLowerCase()));

/**
 * Values masked wherever they appear in a string. Phone numbers: nine or more digits, optionally after a `+`, with
 * at most two separators between digits (`+91 98765 41100`, `(415) 555-0100`); ISO dates and times have fewer digits
 * per run and survive. API keys (`wsk_`), Meta access tokens (`EAA…`), anything after `Bearer`, and the password
 * of a URL (`postgres://user:password@host`).
 */
const SENSITIVE_PATTERNS: readonly [RegExp, string][] = [
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@]+@/gi, '$1[password]@'],
  [/\bwsk_[A-Za-z0-9_-]{8,}/g, '[api key]'],
  [/\bEAA[A-Za-z0-9]{16,}/g, '[token]'],
  [/\b(Bearer|Basic)\s+\S+/gi, '$1 [token]'],
  [/\+?\(?\d(?:[\s().-]{0,2}\d){8,}/g, '[number]'],
];

/** `text` with phone numbers, keys and tokens masked. */
export function scrubText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SENSITIVE_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const MAX_DEPTH = 8;

/** A copy of `value` with redacted keys censored and strings scrubbed; the caller's object is never modified. */
export function scrubFields(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH || seen.has(value)) return '[truncated]';
  seen.add(value);
  if (value instanceof Error) {
    return { type: value.name, message: scrubText(value.message), ...(value.stack ? { stack: scrubText(value.stack) } : {}) };
  }
  if (Array.isArray(value)) return value.map((item) => scrubFields(item, depth + 1, seen));
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = redactedKeys.has(key.toLowerCase()) ? CENSOR : scrubFields(item, depth + 1, seen);
  }
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger & { raw: pino.Logger } {
  const raw = pino({
    level,
    base: undefined,
    formatters: { log: (fields) => scrubFields(fields) as Record<string, unknown> },
    hooks: {
      // The message string too, for the raw logger's callers.
      logMethod(args, method) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? scrubText(arg) : arg)) as Parameters<typeof method>);
      },
    },
  }, destination);
  return {
    raw,
    info: (fields, message) => raw.info(fields, message),
    warn: (fields, message) => raw.warn(fields, message),
    error: (fields, message) => raw.error(fields, message),
  };
}
