// Meta's frequency cap on marketing messages (error 131049, CLOUD_API.md §13): a person who received too many
// marketing messages lately gets none, and Meta asks senders to wait 24 hours before trying again (retrying sooner
// keeps them unavailable and lowers the number's standing). Since 2025-04-01 every marketing message to a US (+1)
// number fails this way: those are never retried. A reply from the person opens a 24-hour window in which the cap
// does not apply, so a waiting row is due at once when they write.

export const FREQUENCY_CAP_CODE = '131049';

export interface FrequencyCapPolicy {
  /** How long after the failure the row is tried again. Meta says 24 hours. */
  waitMs: number;
  /** Tries after the first, each `waitMs` after the previous failure (3: the row is given up after about 3 days). */
  maxRetries: number;
}

export const DEFAULT_FREQUENCY_CAP_POLICY: FrequencyCapPolicy = { waitMs: 24 * 3600 * 1000, maxRetries: 3 };

/** Numbers whose marketing messages Meta always refuses with 131049: retrying them can only hurt the number. */
export const NEVER_RETRIED_PREFIXES: readonly string[] = ['+1'];

/** True when a message of `category` to `to` will meet the cap for certain (the preview warns before anything is sent). */
export function isAlwaysCapped(to: string, category: string | null): boolean {
  return category === 'MARKETING' && NEVER_RETRIED_PREFIXES.some((prefix) => to.startsWith(prefix));
}

/** The sentence a waiting row shows: Meta's, and when it is tried again. */
export function waitingMessage(metaMessage: string | undefined, atMs: number): string {
  return `${metaMessage ?? 'WhatsApp held this marketing message back.'} Trying again at ${new Date(atMs).toISOString()}.`;
}
