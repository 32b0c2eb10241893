// Translates what the service (or Apps Script itself) answered into an AddonError a marketer can act on.
// Owns the wording; must not perform any I/O.
import { AddonError } from './addon-error';

/** Service error codes that mean the template and the mapped columns disagree. */
const TEMPLATE_CODES = new Set([
  'template_params',
  'template_not_found',
  'template_not_approved',
  'template_mismatch',
  'unknown_template',
]);

/** Service error codes that mean a sending limit is spent. */
const QUOTA_CODES = new Set(['quota_exceeded', 'daily_limit', 'daily_limit_reached', 'rate_limited', 'tier_limit']);

/**
 * Maps an HTTP answer from the service to an AddonError. `body` is the parsed JSON (or null when it was not JSON).
 * `serviceUrl` is only used to say which address could not be reached.
 */
export function serviceErrorFor(status: number, body: unknown, serviceUrl: string): AddonError {
  const err = readErrorBody(body);
  const detail = err?.message ? ` The service said: ${err.message}` : '';
  if (status === 401 || status === 403 || err?.code === 'unauthorized') {
    return new AddonError(
      'bad_key',
      'The service rejected your API key. Open Extensions → WhatsApp campaigns → Settings and paste the key again.',
    );
  }
  if (err && TEMPLATE_CODES.has(err.code)) {
    return new AddonError(
      'template_mismatch',
      `The template does not match your columns: check that every template parameter is mapped to a column or a fixed value.${detail}`,
    );
  }
  if (status === 429 || (err && QUOTA_CODES.has(err.code))) {
    return new AddonError(
      'quota_exceeded',
      `Your sending limit is spent for now. Wait for it to reset (WhatsApp counts 24 hours) or send to fewer rows.${detail}`,
    );
  }
  if (status === 404) {
    return new AddonError('not_found', `The service does not know this campaign or address any more.${detail}`);
  }
  if (status >= 500 || status === 0) {
    return unreachable(serviceUrl, `it answered with an error (HTTP ${status})`);
  }
  if (status >= 400) {
    return new AddonError('invalid_input', err?.message ?? `The service refused the request (HTTP ${status}).`);
  }
  return new AddonError('service_error', `The service answered something unexpected (HTTP ${status}).`);
}

/** The service could not be reached at all (DNS, refused connection, timeout, non-JSON proxy page). */
export function unreachable(serviceUrl: string, why: string): AddonError {
  return new AddonError(
    'service_unreachable',
    `Could not reach the sending service at ${serviceUrl} (${why}). Check the service URL in Settings, or try again in a minute.`,
  );
}

/**
 * Classifies an exception thrown by UrlFetchApp itself. Apps Script throws (even with muteHttpExceptions) when the
 * address does not resolve, the connection fails, or the daily UrlFetch quota is spent.
 */
export function fetchExceptionFor(error: unknown, serviceUrl: string): AddonError {
  const text = error instanceof Error ? error.message : String(error);
  if (/too many times|quota|Bandwidth/i.test(text)) {
    return new AddonError(
      'apps_script_quota',
      'Google limits how many web requests an add-on may make per day, and that limit is spent. Sending continues tomorrow; nothing was sent twice.',
    );
  }
  if (/whitelist|allowlist|not allowed/i.test(text)) {
    return new AddonError(
      'not_configured',
      `The add-on is not allowed to call ${serviceUrl}. Ask your administrator to add it to urlFetchWhitelist in appsscript.json.`,
    );
  }
  return unreachable(serviceUrl, text);
}

function readErrorBody(body: unknown): { code: string; message: string } | null {
  if (typeof body !== 'object' || body === null || !('error' in body)) return null;
  const e = (body as { error: unknown }).error;
  if (typeof e !== 'object' || e === null) return null;
  const code = (e as { code?: unknown }).code;
  const message = (e as { message?: unknown }).message;
  return { code: typeof code === 'string' ? code : 'unknown', message: typeof message === 'string' ? message : '' };
}
