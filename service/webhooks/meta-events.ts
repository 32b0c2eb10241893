// Reads Meta's webhook payload (CLOUD_API.md 5.3, 5.4) into flat events: every entry, change, status and message.
// Tolerant of fields we do not use; a payload that is not a WhatsApp business account webhook yields nothing.
import { z } from 'zod';

const statusSchema = z.object({
  id: z.string(),
  status: z.string(),
  timestamp: z.union([z.string(), z.number()]).optional(),
  recipient_id: z.string().optional(),
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

const inboundSchema = z.object({
  from: waIdSchema,
  id: z.string(),
  timestamp: z.union([z.string(), z.number()]).optional(),
  type: z.string(),
  context: z.object({ id: z.string().optional(), from: z.string().optional() }).loose().optional(),
}).loose();

const valueSchema = z.object({
  metadata: z.object({ phone_number_id: z.string().optional(), display_phone_number: z.string().optional() }).loose().optional(),
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
  wa_id: waIdSchema,
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
  recipientId: string | null;
  callbackData: string | null;
  error: { code: string; message: string } | null;
}

export interface InboundEvent {
  kind: 'inbound';
  phoneNumberId: string | null;
  wamid: string;
  from: string;
  type: string;
  timestampMs: number | null;
  contextWamid: string | null;
  /** The whole message object, for reply extraction. */
  raw: Record<string, unknown>;
}

export interface PreferenceEvent {
  kind: 'preference';
  phoneNumberId: string | null;
  waId: string;
  category: string | null;
  value: string;
  timestampMs: number | null;
}

export type MetaEvent = StatusEvent | InboundEvent | PreferenceEvent;

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
          recipientId: status.data.recipient_id ?? null,
          callbackData: status.data.biz_opaque_callback_data ?? null,
          error: first ? {
            code: String(first.code ?? 'unknown'),
            message: first.error_data?.details ?? first.message ?? first.title ?? 'Delivery failed.',
          } : null,
        });
      }
      for (const item of value.data.messages ?? []) {
        const message = inboundSchema.safeParse(item);
        if (!message.success) {
          skipped++;
          continue;
        }
        events.push({
          kind: 'inbound',
          phoneNumberId,
          wamid: message.data.id,
          from: message.data.from,
          type: message.data.type,
          timestampMs: toMs(message.data.timestamp),
          contextWamid: message.data.context?.id ?? null,
          raw: message.data as Record<string, unknown>,
        });
      }
      for (const item of value.data.user_preferences ?? []) {
        const preference = preferenceSchema.safeParse(item);
        if (!preference.success) {
          skipped++;
          continue;
        }
        events.push({
          kind: 'preference',
          phoneNumberId,
          waId: preference.data.wa_id,
          category: preference.data.category ?? null,
          value: preference.data.value,
          timestampMs: toMs(preference.data.timestamp),
        });
      }
    }
  }
  return { events, skipped };
}
