// The add-on's one error type and its closed code vocabulary. Every failure a marketer sees is an AddonError whose
// message is a sentence they can act on; anything else is a bug and is reported as `internal`.

/** What went wrong, as a closed set the sidebar and the menu can switch on. */
export type AddonErrorCode =
  | 'not_configured'
  | 'service_unreachable'
  | 'bad_key'
  | 'template_mismatch'
  | 'quota_exceeded'
  | 'apps_script_quota'
  | 'invalid_input'
  | 'not_found'
  | 'busy'
  | 'sheet_layout'
  | 'service_error'
  | 'internal';

/** An error with a code and a message written for the marketer. */
export class AddonError extends Error {
  readonly code: AddonErrorCode;
  constructor(code: AddonErrorCode, message: string) {
    super(message);
    this.name = 'AddonError';
    this.code = code;
  }
}

/** The plain `{code, message}` pair that crosses `google.script.run` (an Error instance does not survive it). */
export interface ErrorInfo {
  code: AddonErrorCode;
  message: string;
}

/** Turns anything thrown into the pair the UI shows; unknown errors keep their text but are marked `internal`. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof AddonError) return { code: error.code, message: error.message };
  const text = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message: `Something unexpected went wrong: ${text}` };
}
