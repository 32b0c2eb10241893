// The only place an error code becomes an HTTP status. Answers are {error: {code, message}}, never a stack.
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../campaigns/ports';
import { isAppError, type ErrorCode } from '../errors';

const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  campaign_state: 409,
  payload_too_large: 413,
  rate_limited: 429,
  invalid_phone: 400,
  duplicate_recipient: 422,
  template_params: 422,
  template_not_found: 422,
  upstream_unavailable: 502,
  upstream_rejected: 502,
  sheet_access: 403,
  internal: 500,
};

export function statusForCode(code: ErrorCode): number {
  return STATUS_BY_CODE[code];
}

export function errorMapper(logger: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    if (isAppError(error)) {
      if (error.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.ceil(error.retryAfterMs / 1000)));
      res.status(statusForCode(error.code)).json({ error: { code: error.code, message: error.message } });
      return;
    }
    // Body-parser errors: malformed JSON, bodies over the limit, bad encodings.
    const status = (error as { status?: number; type?: string }).status;
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large' || status === 413) {
      res.status(413).json({ error: { code: 'payload_too_large', message: 'The request body is larger than this route accepts.' } });
      return;
    }
    if (status !== undefined && status >= 400 && status < 500) {
      res.status(status).json({ error: { code: 'bad_request', message: type === 'entity.parse.failed' ? 'The body is not valid JSON.' : 'The request could not be read.' } });
      return;
    }
    logger.error({ error: String(error), stack: (error as Error)?.stack }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal', message: 'Something went wrong on our side; nothing was changed. Try again.' } });
  };
}
