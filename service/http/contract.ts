// The wire contract of API.md as zod schemas: request validation here, response shapes as types the add-on may
// import (type-only). Field names follow API.md exactly.
import { z } from 'zod';
import { AppError } from '../errors';
import type { RowInput, RowRejection } from '../campaigns/campaign-service';
import type { MessageStatus } from '../campaigns/message-status';
import type { MessageItem } from '../../contract/message-item';

export const MAX_ROWS_PER_REQUEST = 5000;

const templateRef = z.object({
  name: z.string().min(1).max(512),
  language: z.string().min(2).max(15),
});

const countryCode = z.string().regex(/^[A-Za-z]{2}$/, 'a two-letter country code such as IN or US');

export const createCampaignBody = z.object({
  name: z.string().trim().min(1).max(200),
  template: templateRef,
  sendAt: z.iso.datetime({ offset: true }).nullish(),
  defaultCountry: countryCode.nullish(),
  sheet: z.object({
    spreadsheetId: z.string().min(10).max(200).regex(/^[A-Za-z0-9_-]+$/),
    sheetName: z.string().min(1).max(200),
  }).nullish(),
});

const paramValue = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

/**
 * Template parameters by placeholder name. zod's record skips an own `__proto__` key without a word, so such a
 * parameter would pass as an ignored extra instead of rejecting the row: it is refused before the record runs.
 */
function paramsOf(value: z.ZodType<string, unknown>) {
  return z.unknown()
    .refine((raw) => !(raw !== null && typeof raw === 'object' && Object.hasOwn(raw, '__proto__')), '"__proto__" is not a template parameter')
    .pipe(z.record(z.string().max(100), value))
    .default({});
}

const headerMedia = z.object({
  type: z.enum(['image', 'video', 'document']),
  link: z.string().url().max(2000),
});

export const rowSchema = z.object({
  key: z.union([z.string(), z.number()]).transform((v) => String(v)).pipe(z.string().trim().min(1).max(200)),
  to: z.union([z.string().max(64), z.number()]),
  params: paramsOf(paramValue.pipe(z.string().max(2000))),
  headerMedia: headerMedia.nullish(),
});

export const rowsBody = z.object({
  rows: z.array(z.unknown()).max(MAX_ROWS_PER_REQUEST, `at most ${MAX_ROWS_PER_REQUEST} rows a request`),
});

/** Parses each row on its own, so one malformed row is rejected without failing the others. */
export function parseRows(rows: readonly unknown[]): (RowInput | RowRejection)[] {
  return rows.map((raw) => {
    const parsed = rowSchema.safeParse(raw);
    if (parsed.success) {
      return { key: parsed.data.key, to: parsed.data.to, params: parsed.data.params, headerMedia: parsed.data.headerMedia ?? null };
    }
    const key = raw && typeof raw === 'object' && typeof (raw as { key?: unknown }).key === 'string'
      ? (raw as { key: string }).key : null;
    return { key, code: 'invalid_row', message: describeIssues(parsed.error) };
  });
}

export const previewBody = z.object({
  template: templateRef,
  defaultCountry: countryCode.nullish(),
  rows: z.array(z.unknown()).max(MAX_ROWS_PER_REQUEST),
});

export const testSendBody = z.object({
  to: z.union([z.string().max(64), z.number()]).transform((v) => String(v)),
  template: templateRef,
  params: paramsOf(paramValue),
  headerMedia: headerMedia.nullish(),
});

export const suppressionBody = z.object({ to: z.union([z.string().max(64), z.number()]).transform((v) => String(v)) });

export const messagesQuery = z.object({
  after: z.string().regex(/^\d{1,15}$/, 'the `next` of a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
});

function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

/** Parses `value` or throws a 400-mapped AppError naming the fields at fault. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AppError('bad_request', `Invalid request: ${describeIssues(parsed.error)}.`);
  return parsed.data;
}

// ---- response shapes (what the add-on reads)

export interface ApiError {
  error: { code: string; message: string };
}

export interface AccountResponse {
  id: string;
  name: string;
  sandbox: boolean;
  phoneNumberId: string;
  messagesPerSecond: number;
  dailyLimit: number | null;
  defaultCountry: string | null;
  /** Days message content (parameters, replies) is kept before it is purged. */
  retentionDays: number;
  /** MARKETING templates go through Meta's `/marketing_messages` (set with `PATCH /v1/account`, or on a 131063). */
  marketingMessagesApi: boolean;
  webhookUrl: string;
  serviceAccountEmail: string | null;
  /** What Meta's management webhooks said (API.md "Account health"); each part null until Meta said something. */
  health: AccountHealthResponse;
}

export interface AccountHealthResponse {
  /** The number's quality as Meta last named it (FLAGGED, UNFLAGGED, or a rating such as RED), with when. */
  quality: { rating: string; at: string } | null;
  /** Meta's messaging tier (TIER_250 … UNLIMITED) and the daily limit it means (null: unlimited). */
  messagingLimit: { tier: string; dailyLimit: number | null; at: string } | null;
  /** A ban, violation or restriction in force (null once Meta lifts it), with Meta's words. */
  restriction: { type: string; detail: string; expiresAt: string | null; at: string } | null;
  /** The last management events, newest first (about 20). */
  events: { type: string; detail: string; at: string }[];
}

export interface TemplateResponse {
  name: string;
  language: string;
  category: string;
  status: string;
  parameterFormat: 'positional' | 'named';
  headerFormat: string;
  parameters: { key: string; component: 'header' | 'body' | 'button'; example: string | null }[];
  text: { header: string | null; body: string; footer: string | null };
}

export interface CampaignResponse {
  id: string;
  name: string;
  state: string;
  stateReason: { code: string; message: string } | null;
  template: { name: string; language: string };
  sendAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  sheet: { spreadsheetId: string; sheetName: string } | null;
  counts?: Record<MessageStatus | 'replied', number>;
}

export type { MessageItem };

export interface MessagesPage {
  items: MessageItem[];
  next: string;
}
