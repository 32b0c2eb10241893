// Structured logs with pino. Secrets and personal data are redacted by key wherever they appear, so a careless
// log line cannot leak a token, an API key, a phone number or a message's text.
import pino from 'pino';
import type { Logger } from '../../campaigns/ports';

export const REDACTED_KEYS = [
  'accessToken', 'appSecret', 'verifyToken', 'apiKey', 'authorization', 'token', 'secret', 'password',
  'to', 'phone', 'from', 'waId', 'recipient', 'text', 'body', 'params', 'reply',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger & { raw: pino.Logger } {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  const raw = pino({ level, redact: { paths, censor: '[redacted]' }, base: undefined }, destination);
  return {
    raw,
    info: (fields, message) => raw.info(fields, message),
    warn: (fields, message) => raw.warn(fields, message),
    error: (fields, message) => raw.error(fields, message),
  };
}
