// Meta's Graph API error body and the HTTP status the simulator answers with for each code.
// Only wire shape lives here; which code a request earns is decided by the validators.

/** Codes the simulator can return synchronously (CLOUD_API.md §4). */
export type GraphErrorCode =
  | 100
  | 131000
  | 131008
  | 131009
  | 131016
  | 131021
  | 130429
  | 131056
  | 131062
  | 131063
  | 132000
  | 132001
  | 132005
  | 132012
  | 132015
  | 132016
  | 132018
  | 190;

const titles: Record<GraphErrorCode, string> = {
  100: 'Invalid parameter',
  190: 'Error validating access token',
  130429: 'Rate limit hit',
  131000: 'Something went wrong',
  131008: 'Required parameter is missing',
  131009: 'Parameter value is not valid',
  131016: 'Service unavailable',
  131021: 'Recipient cannot be sender',
  131056: '(Business Account, Consumer Account) pair rate limit hit',
  131062: 'Business-scoped User ID (BSUID) recipients are not supported for this message',
  131063: 'Marketing messages are disabled on Cloud API for this WhatsApp Business Account',
  132000: 'Number of parameters does not match the expected number of params',
  132001: 'Template name does not exist in the translation',
  132005: 'Translated text too long',
  132012: 'Parameter format does not match format in the created template',
  132015: 'Template is Paused',
  132016: 'Template is Disabled',
  132018: 'There was an issue with the parameters in your template.',
};

/**
 * HTTP status per code. Meta says to key on `error.code`, not on the status (CLOUD_API.md §4), and does not
 * document the status per code; these are the ones observed in the wild: 401 for token errors, 429 for the
 * throughput limit, 5xx for Meta-side failures, 400 for everything else (including the 131056 pair limit).
 */
export function httpStatusFor(code: GraphErrorCode): number {
  switch (code) {
    case 190:
      return 401;
    case 130429:
      return 429;
    case 131000:
      return 500;
    case 131016:
      return 503;
    default:
      return 400;
  }
}

/** A synchronous Cloud API rejection: carries the code and the `error_data.details` sentence. */
export class GraphError {
  constructor(
    readonly code: GraphErrorCode,
    readonly details: string,
  ) {}

  get httpStatus(): number {
    return httpStatusFor(this.code);
  }

  /** Meta's exact body: `{"error":{"message":"(#code) title","type":"OAuthException","code",...}}`. */
  toBody(fbtraceId: string): string {
    return JSON.stringify({
      error: {
        message: `(#${this.code}) ${titles[this.code]}`,
        type: 'OAuthException',
        code: this.code,
        error_data: { messaging_product: 'whatsapp', details: this.details },
        fbtrace_id: fbtraceId,
      },
    });
  }
}

/** Title Meta uses for a code, also used in `failed` status webhooks. */
export function graphErrorTitle(code: GraphErrorCode): string {
  return titles[code];
}
