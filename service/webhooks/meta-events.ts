// Reads Meta's webhook payload (CLOUD_API.md 5.3, 5.4) into flat events: every entry, change, status and message.
// Tolerant of fields we do not use; a payload that is not a WhatsApp business account webhook yields nothing.
// Since April 2026 (CLOUD_API.md §11) each person also comes with a business-scoped user id (BSUID), and a user with
// a username may come with no phone number at all: `from`, `wa_id` and `recipient_id` are then omitted.
import { z } from 'zod';
import { isBusinessScopedUserId } from '../campaigns/business-scoped-user-id';

const statusSchema = z.object({
  id: z.string(),
  status: z.string(),
  timestamp: z.union([z.string(), z.number()]).optional(),
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  biz_opaque_callback_data: z.string().optional(),
  errors: z.array(z.object({
    code: z.number().optional(),
    title: z.string().optional(),
    message: z.string().optional(),
    error_data: z.object({ details: z.string().optional() }).partial().optional(),
  }).loose()).optional(),
}).loose();

/** A WhatsApp id: the number's digits without "+" (E.164 allows at most 15). Anything else names nobody to opt out. */
const waIdSchema = z.string().regex(/^\d{6,15}$/);

/** `from` is a phone's digits, or (in texts Meta withdrew, still tolerated) a BSUID; omitted for username-only users. */
const inboundSchema = z.object({
  from: z.string().optional(),
  from_user_id: z.string().optional(),
  id: z.string(),
  timestamp: z.union([z.string(), z.number()]).optional(),
  type: z.string(),
  context: z.object({ id: z.string().optional(), from: z.string().optional() }).loose().optional(),
}).loose();

/** A `contacts[]` item: the person's number (when shareable) and BSUID. */
const contactSchema = z.object({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
}).loose();

const valueSchema = z.object({
  metadata: z.object({ phone_number_id: z.string().optional(), display_phone_number: z.string().optional() }).loose().optional(),
  contacts: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  messages: z.array(z.unknown()).optional(),
  user_preferences: z.array(z.unknown()).optional(),
}).loose();

const payloadSchema = z.object({
  object: z.string(),
  entry: z.array(z.object({
    id: z.string().optional(),
    changes: z.array(z.object({ field: z.string().optional(), value: z.unknown() }).loose()).default([]),
  }).loose()),
});

const preferenceSchema = z.object({
  wa_id: z.string().optional(),
  user_id: z.string().optional(),
  category: z.string().optional(),
  value: z.string(),
  timestamp: z.union([z.string(), z.number()]).optional(),
}).loose();

export interface StatusEvent {
  kind: 'status';
  phoneNumberId: string | null;
  wamid: string;
  status: string;
  timestampMs: number | null;
  /** The recipient's WhatsApp id (digits), or null when Meta withheld it. */
  recipientId: string | null;
  recipientUserId: string | null;
  callbackData: string | null;
  error: { code: string; message: string } | null;
}

export interface InboundEvent {
  kind: 'inbound';
  phoneNumberId: string | null;
  wamid: string;
  /** The sender's WhatsApp id (digits), or null when Meta withheld it (a username-only user). */
  from: string | null;
  fromUserId: string | null;
  type: string;
  timestampMs: number | null;
  contextWamid: string | null;
  /** The whole message object, for reply extraction. */
  raw: Record<string, unknown>;
}

export interface PreferenceEvent {
  kind: 'preference';
  phoneNumberId: string | null;
  /** Null when Meta withheld the number; then `userId` names the person. */
  waId: string | null;
  userId: string | null;
  category: string | null;
  value: string;
  timestampMs: number | null;
}

/** A phone ↔ BSUID pair from a `contacts[]` block (statuses of our sends carry one since 2026, as do messages). */
export interface ContactEvent {
  kind: 'contact';
  phoneNumberId: string | null;
  waId: string | null;
  userId: string;
}

export type MetaEvent = StatusEvent | InboundEvent | PreferenceEvent | ContactEvent;

/** A WhatsApp id, or null for anything else (a BSUID in `from`, garbage): only digits name a number. */
function waIdOrNull(value: string | undefined): string | null {
  return value !== undefined && waIdSchema.safeParse(value).success ? value : null;
}

/** A BSUID, or null for anything that is not one. */
function userIdOrNull(value: string | undefined): string | null {
  return value !== undefined && isBusinessScopedUserId(value) ? value : null;
}

function toMs(timestamp: string | number | undefined): number | null {
  if (timestamp === undefined) return null;
  const seconds = Number(timestamp);
  return Number.isFinite(seconds) ? seconds * 1000 : null;
}

/** Flattens a webhook payload into events; items that do not parse are counted in `skipped`, not thrown. */
export function readMetaEvents(payload: unknown): { events: MetaEvent[]; skipped: number } {
  const events: MetaEvent[] = [];
  let skipped = 0;
  const parsed = payloadSchema.safeParse(payload);
  if (!parsed.success || parsed.data.object !== 'whatsapp_business_account') return { events, skipped: 1 };
  for (const entry of parsed.data.entry) {
    for (const change of entry.changes) {
      const value = valueSchema.safeParse(change.value);
      if (!value.success) {
        skipped++;
        continue;
      }
      const phoneNumberId = value.data.metadata?.phone_number_id ?? null;
      for (const item of value.data.contacts ?? []) {
        const contact = contactSchema.safeParse(item);
        const userId = contact.success ? userIdOrNull(contact.data.user_id) : null;
        if (contact.success && userId !== null) {
          events.push({ kind: 'contact', phoneNumberId, waId: waIdOrNull(contact.data.wa_id), userId });
        }
      }
      for (const item of value.data.statuses ?? []) {
        const status = statusSchema.safeParse(item);
        if (!status.success) {
          skipped++;
          continue;
        }
        const first = status.data.errors?.[0];
        events.push({
          kind: 'status',
          phoneNumberId,
          wamid: status.data.id,
          status: status.data.status,
          timestampMs: toMs(status.data.timestamp),
          recipientId: waIdOrNull(status.data.recipient_id),
          recipientUserId: userIdOrNull(status.data.recipient_user_id),
          callbackData: status.data.biz_opaque_callback_data ?? null,
          error: first ? {
            code: String(first.code ?? 'unknown'),
            message: first.error_data?.details ?? first.message ?? first.title ?? 'Delivery failed.',
          } : null,
        });
      }
      for (const item of value.data.messages ?? []) {
        const message = inboundSchema.safeParse(item);
        const from = message.success ? waIdOrNull(message.data.from) : null;
        const fromUserId = message.success ? userIdOrNull(message.data.from_user_id) ?? userIdOrNull(message.data.from) : null;
        // A message naming nobody (neither a number nor a BSUID) can be no one's reply or opt-out.
        if (!message.success || (from === null && fromUserId === null && message.data.type !== 'system')) {
          skipped++;
          continue;
        }
        events.push({
          kind: 'inbound',
          phoneNumberId,
          wamid: message.data.id,
          from,
          fromUserId,
          type: message.data.type,
          timestampMs: toMs(message.data.timestamp),
          contextWamid: message.data.context?.id ?? null,
          raw: message.data as Record<string, unknown>,
        });
      }
      for (const item of value.data.user_preferences ?? []) {
        const preference = preferenceSchema.safeParse(item);
        const waId = preference.success ? waIdOrNull(preference.data.wa_id) : null;
        const userId = preference.success ? userIdOrNull(preference.data.user_id) : null;
        if (!preference.success || (waId === null && userId === null)) {
          skipped++;
          continue;
        }
        events.push({
          kind: 'preference',
          phoneNumberId,
          waId,
          userId,
          category: preference.data.category ?? null,
          value: preference.data.value,
          timestampMs: toMs(preference.data.timestamp),
        });
      }
    }
  }
  return { events, skipped };
}
