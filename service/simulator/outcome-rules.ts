// What happens to an accepted message after the 200: which statuses, replies and preference events follow,
// and when. Deterministic per recipient so tests can predict outcomes; no I/O, no clock.

import { STOP_PROMOTIONS } from './sample-templates';
import { drawsFor } from './seeded-random';

/**
 * Rates for recipients no fixed rule covers, each drawn from a hash of (seed, number, recipient, callback data),
 * so the same campaign produces the same outcomes on every run.
 */
export interface OutcomeOptions {
  /** Share of messages that fail with 131026 instead of being delivered. Default 0. */
  failedRate?: number;
  /** Share of the rest that get `delivered`. Default 0.95. */
  deliveredRate?: number;
  /** Share of delivered messages that get `read`. Default 0.6. */
  readRate?: number;
  /** Share of read messages answered with a text reply (quoting the message). Default 0.02. */
  replyRate?: number;
  /**
   * Share of delivered messages whose recipient answers STOP (quoting the message): an opt-out by keyword. Drawn
   * apart from the other rates, so turning it on leaves every other outcome as it was. Default 0.
   */
  optOutRate?: number;
  /**
   * Share of other marketing sends that fail 131049 (Meta's per-user marketing cap) after the 200, unless the
   * recipient wrote to the number in the last 24 h. Drawn apart from the other rates. Default 0.
   */
  frequencyCapShare?: number;
  /**
   * Share of recipients who adopted a username and withhold their phone: their inbound webhooks carry only the
   * BSUID and `profile.username` (see user-directory.ts). Drawn per recipient phone, whatever the number. Default 0.
   */
  usernameShare?: number;
  /** Mixed into the hash; change it to get another reproducible draw. Default 0. */
  seed?: number;
}

/** Delay of each step after acceptance, in ms. Defaults: sent 20, delivered 100, read 300, reply 500. */
export interface OutcomeDelays {
  sentMs?: number;
  deliveredMs?: number;
  readMs?: number;
  /** Inbound replies, button taps and preference changes. */
  replyMs?: number;
}

/** One step of a message's future. */
export type OutcomeStep =
  | { atMs: number; kind: 'status'; status: 'sent' | 'delivered' | 'read'; hasPricing: boolean }
  | { atMs: number; kind: 'failed'; errorCode: 131026 | 131049 | 131050 }
  | { atMs: number; kind: 'text'; body: string; isQuoting: boolean }
  | { atMs: number; kind: 'button'; payload: string; text: string }
  | { atMs: number; kind: 'stop_marketing' };

export interface OutcomeInput {
  phoneNumberId: string;
  waId: string;
  bizOpaqueCallbackData: string | undefined;
  category: string;
  /** Quick-reply payloads sent with the message, by button index. */
  quickReplyPayloads: (string | undefined)[];
  /** The recipient stopped marketing from this number earlier (a `user_preferences` stop). */
  hasStoppedMarketing: boolean;
  /** Marketing templates to +1 numbers fail 131049 (Meta's rule since 2025-04-01; CLOUD_API.md §13). Default false. */
  isUsMarketingBlocked?: boolean;
  /** The recipient wrote to the number in the last 24 h: marketing is not capped (CLOUD_API.md §13). */
  hasOpenServiceWindow?: boolean;
  /** Sent to a well-formed BSUID the simulator never issued (or retired): accepted, then `failed` 131026. */
  isUnknownRecipient?: boolean;
}

/** Replies with accents, an emoji (a surrogate pair) and a `/`, so signature and escaping bugs show. */
export const QUOTING_REPLY = '¡Gracias! Me encantó 😍 ¿envían a São Paulo 24/7?';
export const UNQUOTED_REPLY = 'Olá! Quem é? ☕ café/chá';
export const OPT_OUT_REPLY = 'STOP';
/** What the sandbox's username user (ends in 0013) answers: no context, no phone, only their BSUID says who. */
export const USERNAME_REPLY = 'Sí, me interesa 👍 ¿el cupón vale también en tienda?';
/** The fixed rule's recipient who goes by a username and hides their phone (see user-directory.ts). */
export const USERNAME_USER_SUFFIX = '0013';

/**
 * The fixed rules, by the last four digits of the recipient:
 * | ends in | outcome |
 * |---|---|
 * | 0001 | `failed` 131026 (undeliverable), no `sent` |
 * | 0002 | `sent`, then `failed` 131049 (per-user marketing cap) |
 * | 0003 | sent, delivered, read, then a text reply "STOP" without context |
 * | 0004 | sent, delivered, read, then a quick-reply tap on "Stop promotions" with `context.id` = the wamid |
 * | 0005 | sent, then `read` with no `delivered` (read carries the pricing) |
 * | 0006 | sent, delivered, read, and `read` again |
 * | 0007 | sent, delivered, read, then a text reply quoting the message (`context.id`), with emoji and accents |
 * | 0008 | sent, delivered, read, then a text reply without context, with accents |
 * | 0009 | sent, delivered, read, then a `user_preferences` marketing stop; later marketing sends fail 131050 |
 * | 0010 | `sent` only (never delivered) |
 * | 0011 | sent and delivered, never read |
 * | 0012 | `delivered` is emitted before `sent` (same instant, same batch), then read |
 * | 0013 | a username user (phone withheld from inbound webhooks): sent, delivered, read, then a text reply without
 * |      | context whose only sender field is the BSUID (`from_user_id`, no `from`) |
 * Any other recipient follows `OutcomeOptions`. Before the digit rules, in this order: an unknown BSUID gets
 * `failed` 131026; a recipient who stopped marketing gets `failed` 131050 on every marketing template (Meta accepts
 * the send, then fails it: CLOUD_API.md §7); a marketing template outside a customer-service window gets `failed`
 * 131049 when it goes to a +1 number with `isUsMarketingBlocked`, or falls in `frequencyCapShare`.
 */
export function planOutcome(input: OutcomeInput, options: OutcomeOptions, delays: Required<OutcomeDelays>): OutcomeStep[] {
  const { sentMs, deliveredMs, readMs, replyMs } = delays;
  const sent = { atMs: sentMs, kind: 'status', status: 'sent', hasPricing: true } as const;
  const delivered = { atMs: deliveredMs, kind: 'status', status: 'delivered', hasPricing: true } as const;
  const read = { atMs: readMs, kind: 'status', status: 'read', hasPricing: false } as const;
  const full = [sent, delivered, read];
  if (input.isUnknownRecipient) return [{ atMs: sentMs, kind: 'failed', errorCode: 131026 }];
  const isMarketing = input.category === 'marketing';
  if (input.hasStoppedMarketing && isMarketing) {
    return [{ atMs: sentMs, kind: 'failed', errorCode: 131050 }];
  }
  if (isMarketing && !input.hasOpenServiceWindow && isFrequencyCapped(input, options)) {
    return [{ atMs: sentMs, kind: 'failed', errorCode: 131049 }];
  }
  switch (input.waId.slice(-4)) {
    case '0001':
      return [{ atMs: sentMs, kind: 'failed', errorCode: 131026 }];
    case '0002':
      return [sent, { atMs: deliveredMs, kind: 'failed', errorCode: 131049 }];
    case '0003':
      return [...full, { atMs: replyMs, kind: 'text', body: OPT_OUT_REPLY, isQuoting: false }];
    case '0004': {
      const payload = input.quickReplyPayloads.find((p) => p !== undefined) ?? STOP_PROMOTIONS;
      return [...full, { atMs: replyMs, kind: 'button', payload, text: STOP_PROMOTIONS }];
    }
    case '0005':
      return [sent, { ...read, hasPricing: true }];
    case '0006':
      return [...full, { ...read, atMs: Math.max(readMs, replyMs) }];
    case '0007':
      return [...full, { atMs: replyMs, kind: 'text', body: QUOTING_REPLY, isQuoting: true }];
    case '0008':
      return [...full, { atMs: replyMs, kind: 'text', body: UNQUOTED_REPLY, isQuoting: false }];
    case '0009':
      return [...full, { atMs: replyMs, kind: 'stop_marketing' }];
    case '0010':
      return [sent];
    case '0011':
      return [sent, delivered];
    case '0012':
      return [{ ...delivered, atMs: sentMs }, sent, read];
    case USERNAME_USER_SUFFIX:
      return [...full, { atMs: replyMs, kind: 'text', body: USERNAME_REPLY, isQuoting: false }];
    default:
      return byRates(input, options, sent, delivered, read, replyMs);
  }
}

function isFrequencyCapped(input: OutcomeInput, options: OutcomeOptions): boolean {
  if (input.isUsMarketingBlocked && input.waId.startsWith('1')) return true;
  const share = options.frequencyCapShare ?? 0;
  if (share <= 0) return false;
  return drawsFor(`frequency-cap|${options.seed ?? 0}|${input.phoneNumberId}|${input.waId}|${input.bizOpaqueCallbackData ?? ''}`)() < share;
}

function byRates(
  input: OutcomeInput,
  options: OutcomeOptions,
  sent: OutcomeStep,
  delivered: OutcomeStep,
  read: OutcomeStep,
  replyMs: number,
): OutcomeStep[] {
  const key = `${options.seed ?? 0}|${input.phoneNumberId}|${input.waId}|${input.bizOpaqueCallbackData ?? ''}`;
  const draw = drawsFor(key);
  const steps = ((): OutcomeStep[] => {
    if (draw() < (options.failedRate ?? 0)) return [{ atMs: sent.atMs, kind: 'failed', errorCode: 131026 }];
    if (draw() >= (options.deliveredRate ?? 0.95)) return [sent];
    if (draw() >= (options.readRate ?? 0.6)) return [sent, delivered];
    if (draw() >= (options.replyRate ?? 0.02)) return [sent, delivered, read];
    return [sent, delivered, read, { atMs: replyMs, kind: 'text', body: QUOTING_REPLY, isQuoting: true }];
  })();
  const isDelivered = steps.some((step) => step.kind === 'status' && step.status === 'delivered');
  if (isDelivered && (options.optOutRate ?? 0) > 0 && (drawsFor(`opt-out|${key}`)() < (options.optOutRate ?? 0))) {
    steps.push({ atMs: replyMs + 1, kind: 'text', body: OPT_OUT_REPLY, isQuoting: true });
  }
  return steps;
}
