// What each Cloud API error code means for a campaign (CLOUD_API.md section 4), and the sentence a marketer reads.
// The one place that decides retry versus fail versus pause; fixture-tested in test/service/campaigns.

/**
 * - `retry`: transient; send the same row again after a backoff.
 * - `throttle`: the sender went over its throughput (130429): retry and slow that sender down.
 * - `pair_rate`: too many messages to this recipient too fast (131056): retry after 4^X seconds.
 * - `recipient`: permanent for this row: mark it failed, never retry.
 * - `halt`: the account or the template is the problem: pause the campaign with the reason, keep the row queued.
 */
export type ErrorAction = 'retry' | 'throttle' | 'pair_rate' | 'recipient' | 'halt';

export interface ErrorRule {
  action: ErrorAction;
  message: string;
}

const RULES: ReadonlyMap<number, ErrorRule> = new Map<number, ErrorRule>([
  [0, { action: 'halt', message: 'WhatsApp could not authenticate the account: the access token expired or was revoked. Add a new token.' }],
  [3, { action: 'halt', message: 'The WhatsApp app lacks a capability or permission needed to send.' }],
  [4, { action: 'retry', message: 'The WhatsApp app hit its API call limit; sending resumes shortly.' }],
  [10, { action: 'halt', message: 'A WhatsApp permission was not granted or was removed from the app.' }],
  [100, { action: 'recipient', message: 'WhatsApp refused a parameter of this message (invalid value or too long).' }],
  [190, { action: 'halt', message: 'The WhatsApp access token has expired. Add a new token to resume.' }],
  [368, { action: 'halt', message: 'The WhatsApp Business account is temporarily blocked for policy violations.' }],
  [80007, { action: 'retry', message: 'The WhatsApp Business account reached its API rate limit; sending resumes shortly.' }],
  [130403, { action: 'recipient', message: 'This number is blocked by your business.' }],
  [130429, { action: 'throttle', message: 'Sending faster than the number allows; slowing down.' }],
  [130472, { action: 'recipient', message: "The recipient's number is part of a WhatsApp experiment; the message was not sent." }],
  [130497, { action: 'recipient', message: 'Your business cannot message numbers in this country.' }],
  [131000, { action: 'retry', message: 'WhatsApp reported an unknown error.' }],
  [131005, { action: 'halt', message: 'Access denied: the token lacks permission to send from this number.' }],
  [131008, { action: 'recipient', message: 'A required parameter is missing from this message.' }],
  [131009, { action: 'recipient', message: 'A parameter value is not valid (often the phone number).' }],
  [131016, { action: 'retry', message: 'WhatsApp is temporarily unavailable.' }],
  [131021, { action: 'recipient', message: 'The recipient is the sending number itself.' }],
  [131026, { action: 'recipient', message: 'Undeliverable: the number is not on WhatsApp, or uses an old app version.' }],
  [131031, { action: 'halt', message: 'The WhatsApp Business account is locked. Check its status in Business Manager.' }],
  [131037, { action: 'halt', message: 'The sending number has no approved display name yet.' }],
  [131042, { action: 'halt', message: 'There is a payment problem on the WhatsApp Business account. Check the payment method.' }],
  [131045, { action: 'halt', message: 'The sending number is not properly registered (certificate error).' }],
  [131047, { action: 'recipient', message: 'More than 24 hours since the person last wrote: only a template can reach them.' }],
  [131048, { action: 'halt', message: 'WhatsApp restricted this number for spam reports. Check the number quality before sending more.' }],
  [131049, { action: 'recipient', message: 'WhatsApp held this marketing message back to limit how many the person receives. Try again in a day or more.' }],
  [131050, { action: 'recipient', message: 'The person stopped marketing messages from your business.' }],
  [131062, {
    action: 'recipient',
    message: 'This template cannot be sent to a WhatsApp username (business-scoped user id): Meta does not allow it for '
      + 'authentication templates. Use the person\'s phone number for this row.',
  }],
  [131051, { action: 'recipient', message: 'WhatsApp does not support this message type.' }],
  [131053, { action: 'recipient', message: 'WhatsApp could not fetch or use the header media. Check the link and file type.' }],
  [131056, { action: 'pair_rate', message: 'Too many messages to this person in a short time; retrying later.' }],
  [131057, { action: 'retry', message: 'The WhatsApp number is in maintenance; sending resumes in a minute.' }],
  [131063, { action: 'halt', message: 'Marketing templates are disabled for this account on the Cloud API.' }],
  [131064, { action: 'halt', message: 'Messaging is limited for template classification violations.' }],
  [132000, { action: 'recipient', message: 'The number of parameters does not match the template.' }],
  [132001, { action: 'halt', message: 'The template does not exist in this language or is not approved.' }],
  [132005, { action: 'recipient', message: 'The filled-in message is too long.' }],
  [132007, { action: 'recipient', message: 'The message content violates WhatsApp policy.' }],
  [132012, { action: 'recipient', message: 'A parameter value is formatted incorrectly.' }],
  [132015, { action: 'halt', message: 'The template was paused by WhatsApp for low quality. Edit it or pick another.' }],
  [132016, { action: 'halt', message: 'The template was disabled by WhatsApp for good. Create a new one.' }],
  [132018, { action: 'recipient', message: 'A template parameter failed WhatsApp validation.' }],
  [133010, { action: 'halt', message: 'The sending number is not registered on the WhatsApp platform.' }],
  [134011, { action: 'halt', message: 'The WhatsApp Payments terms were not accepted.' }],
  [135000, { action: 'recipient', message: 'WhatsApp rejected the request parameters.' }],
]);

/**
 * The rule for a Cloud API error. Codes 200-299 are permission problems (halt). An unlisted code is treated as
 * permanent for the row when Meta answered 4xx and as transient when it answered 5xx: never hot-loop on the unknown.
 */
export function classifyMetaError(code: number | null, httpStatus: number | null): ErrorRule {
  if (code !== null) {
    const rule = RULES.get(code);
    if (rule) return rule;
    if (code >= 200 && code <= 299) return { action: 'halt', message: 'A WhatsApp permission was not granted or was removed.' };
  }
  if (httpStatus !== null && httpStatus >= 500) return { action: 'retry', message: 'WhatsApp answered with a server error.' };
  if (httpStatus === 429) return { action: 'retry', message: 'WhatsApp asked to slow down.' };
  return { action: 'recipient', message: 'WhatsApp rejected this message.' };
}

/** Every code with a rule, for tests and docs. */
export function knownMetaErrorCodes(): number[] {
  return [...RULES.keys()];
}
