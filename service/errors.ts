// The one error type the service throws on purpose, with a closed vocabulary of codes.
// No HTTP here: http/error-mapper.ts alone turns a code into a status.

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'invalid_phone'
  | 'duplicate_recipient'
  | 'template_params'
  | 'template_not_found'
  | 'campaign_state'
  | 'upstream_unavailable'
  | 'upstream_rejected'
  | 'sheet_access'
  | 'internal';

export class AppError extends Error {
  readonly code: ErrorCode;
  /** When set, the caller may try again after this many milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
