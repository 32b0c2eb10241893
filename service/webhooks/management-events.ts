// Reads Meta's management webhooks (CLOUD_API.md §12, docs/cloud-api-2026.md "Management webhooks") into flat events:
// template status and category changes, the number's messaging limit and throughput, and the account's bans,
// violations and restrictions. They come on the same URL as the message webhooks, as `entry[].changes[]` whose
// `field` names the kind; `entry.id` is the WABA. Tolerant: unknown fields pass, unknown events are kept as given,
// legacy values (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, TIER_1K, TIER_UNLIMITED…) are understood, and a change that
// does not parse is counted in `skipped`, never thrown.
import { z } from 'zod';

export const MANAGEMENT_FIELDS = [
  'message_template_status_update', 'template_category_update', 'message_template_quality_update',
  'phone_number_quality_update', 'account_update',
] as const;
export type ManagementField = (typeof MANAGEMENT_FIELDS)[number];

export interface TemplateStatusEvent {
  kind: 'template_status';
  wabaId: string | null;
  /** `entry.time` in ms, or null when Meta left it out. */
  atMs: number | null;
  name: string;
  language: string;
  /** APPROVED, PAUSED, DISABLED, REJECTED, FLAGGED, REINSTATED…, upper-cased. */
  event: string;
  /** Meta's `reason` (NONE when it gives none). */
  reason: string | null;
  /** `other_info.title` (FIRST_PAUSE, SECOND_PAUSE, RATE_LIMITING_PAUSE, UNPAUSE, DISABLED) and its description. */
  title: string | null;
  description: string | null;
}

export interface TemplateCategoryEvent {
  kind: 'template_category';
  wabaId: string | null;
  atMs: number | null;
  name: string;
  language: string;
  /** `impending`: Meta announces a change (`correct_category` present); `completed`: the category changed. */
  stage: 'impending' | 'completed';
  previousCategory: string | null;
  /** The category after the change (completed), or the coming one (impending: Meta's `correct_category`). */
  newCategory: string | null;
  /** Impending form: when the change takes effect (`category_update_timestamp`), in ms. */
  effectiveAtMs: number | null;
}

/** A template's quality score moved (GREEN, YELLOW, RED, UNKNOWN while pending): news for the health log. */
export interface TemplateQualityEvent {
  kind: 'template_quality';
  wabaId: string | null;
  atMs: number | null;
  name: string;
  language: string;
  previousScore: string | null;
  newScore: string | null;
}

export interface PhoneQualityEvent {
  kind: 'phone_quality';
  wabaId: string | null;
  atMs: number | null;
  displayPhoneNumber: string | null;
  /** THROUGHPUT_UPGRADE, ONBOARDING, legacy FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE…, upper-cased. */
  event: string;
  /** The tier Meta gave (`max_daily_conversations_per_business` first, else `current_limit`). */
  tier: string | null;
  oldTier: string | null;
  /**
   * The daily limit that tier means: a number, null for unlimited, undefined when the payload says nothing usable
   * (no tier, NOT_SET, an unknown value): the account's limit then stays as it is.
   */
  dailyLimit: number | null | undefined;
  /** A quality rating Meta named (legacy FLAGGED/UNFLAGGED events, or a `quality_rating` field); else null. */
  quality: string | null;
}

export interface AccountRestriction {
  /** e.g. RESTRICTED_BIZ_INITIATED_MESSAGING, BAN (ban_info), a violation type. */
  type: string;
  /** Epoch ms when Meta gave one (restriction_info[].expiration). */
  expiresAtMs: number | null;
}

export interface AccountUpdateEvent {
  kind: 'account_update';
  wabaId: string | null;
  atMs: number | null;
  /** ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, DISABLED_UPDATE, ACCOUNT_DELETED, VERIFIED_ACCOUNT…, upper-cased. */
  event: string;
  banState: string | null;
  violationType: string | null;
  restrictions: AccountRestriction[];
  /**
   * What the update means for sending: `restricted` (a ban, a violation, a restriction: sends fail or should stop),
   * `lifted` (a reinstated ban, a restriction update with no restriction left), or `none` (anything else).
   */
  effect: 'restricted' | 'lifted' | 'none';
}

/**
 * Names the change by its content (field, WABA, time, value): the same change delivered or applied twice has the
 * same fingerprint, so the health log keeps it once.
 */
export type ManagementEvent = ManagementChange & { fingerprint: string };

/** Template events after which the template cannot (or should not) be sent: the campaigns using it pause. */
export const TEMPLATE_HALT_EVENTS: ReadonlySet<string> = new Set([
  'PAUSED', 'DISABLED', 'REJECTED', 'FLAGGED', 'LIMIT_EXCEEDED', 'ARCHIVED', 'DELETED', 'PENDING_DELETION', 'LOCKED',
]);

/** Meta's messaging tiers, current and legacy names. `null`: unlimited. */
const TIER_LIMITS: Readonly<Record<string, number | null>> = {
  TIER_50: 50, TIER_250: 250, TIER_1K: 1000, TIER_2K: 2000, TIER_10K: 10_000, TIER_100K: 100_000,
  TIER_UNLIMITED: null, UNLIMITED: null,
};

/** The daily limit a tier (or a plain count) means; undefined for NOT_SET and anything not understood. */
export function dailyLimitOfTier(tier: string | null | undefined): number | null | undefined {
  if (tier === null || tier === undefined) return undefined;
  const key = tier.trim().toUpperCase();
  if (key in TIER_LIMITS) return TIER_LIMITS[key];
  if (/^\d+$/.test(key)) {
    const count = Number(key);
    return Number.isSafeInteger(count) && count > 0 ? count : undefined;
  }
  return undefined;
}

const scalar = z.union([z.string(), z.number()]);
const text = (value: unknown): string | null => {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
};
const upper = (value: unknown): string | null => text(value)?.toUpperCase() ?? null;

/** Seconds (number or digits), or an ISO date (Meta's restriction expirations): epoch ms, else null. */
function timeMs(value: unknown): number | null {
  const given = text(value);
  if (given === null) return null;
  if (/^\d+(\.\d+)?$/.test(given)) return Number(given) * 1000;
  // "2026-04-19T13:59:20+0000": Date.parse wants the offset with a colon.
  const parsed = Date.parse(given.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isFinite(parsed) ? parsed : null;
}

const envelopeSchema = z.object({
  object: z.string(),
  entry: z.array(z.object({
    id: scalar.optional(),
    time: scalar.optional(),
    changes: z.array(z.object({ field: z.string().optional(), value: z.unknown() }).loose()).default([]),
  }).loose()),
});

const templateStatusSchema = z.object({
  event: z.string(),
  message_template_name: z.string(),
  message_template_language: z.string(),
  reason: scalar.nullable().optional(),
  other_info: z.object({ title: z.string().optional(), description: z.string().optional() }).loose().nullable().optional(),
}).loose();

const templateCategorySchema = z.object({
  message_template_name: z.string(),
  message_template_language: z.string(),
  previous_category: z.string().optional(),
  new_category: z.string().optional(),
  correct_category: z.string().optional(),
  category_update_timestamp: scalar.optional(),
}).loose();

const templateQualitySchema = z.object({
  message_template_name: z.string(),
  message_template_language: z.string(),
  previous_quality_score: z.string().optional(),
  new_quality_score: z.string().optional(),
}).loose();

const phoneQualitySchema = z.object({
  event: z.string(),
  display_phone_number: scalar.optional(),
  current_limit: scalar.optional(),
  old_limit: scalar.optional(),
  max_daily_conversations_per_business: scalar.optional(),
  quality_rating: z.string().optional(),
}).loose();

const accountUpdateSchema = z.object({
  event: z.string(),
  ban_info: z.object({ waba_ban_state: scalar.optional(), waba_ban_date: scalar.optional() }).loose().optional(),
  violation_info: z.object({ violation_type: scalar.optional() }).loose().optional(),
  restriction_info: z.array(z.object({ restriction_type: scalar.optional(), expiration: scalar.optional() }).loose()).optional(),
}).loose();

/**
 * Whether a payload has any management change at all. Plain reads, no schema: every message webhook passes here on
 * the intake's hot path and answers false at its first change.
 */
export function hasManagementChanges(payload: unknown): boolean {
  const entries = (payload as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return false;
  return entries.some((entry: unknown) => {
    const changes = (entry as { changes?: unknown } | null)?.changes;
    return Array.isArray(changes) && changes.some((change: unknown) => isManagementField((change as { field?: unknown } | null)?.field));
  });
}

function isManagementField(field: unknown): field is ManagementField {
  return typeof field === 'string' && (MANAGEMENT_FIELDS as readonly string[]).includes(field);
}

/** Flattens the management changes of a webhook payload; message changes (`field: messages`) are not looked at. */
export function readManagementEvents(payload: unknown): { events: ManagementEvent[]; skipped: number } {
  const events: ManagementEvent[] = [];
  let skipped = 0;
  const parsed = envelopeSchema.safeParse(payload);
  if (!parsed.success || parsed.data.object !== 'whatsapp_business_account') return { events, skipped };
  for (const entry of parsed.data.entry) {
    const wabaId = text(entry.id);
    const atMs = timeMs(entry.time);
    for (const change of entry.changes) {
      if (!isManagementField(change.field)) continue;
      const event = readChange(change.field, change.value, wabaId, atMs);
      if (event) events.push({ ...event, fingerprint: fingerprintOf(change.field, wabaId, entry.time, change.value) });
      else skipped++;
    }
  }
  return { events, skipped };
}

/** FNV-1a (two 32-bit halves) over the change's JSON: short, stable, and no crypto needed for a dedupe key. */
function fingerprintOf(field: string, wabaId: string | null, time: unknown, value: unknown): string {
  const input = `${field}|${wabaId ?? ''}|${String(time ?? '')}|${JSON.stringify(value) ?? ''}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ input.length;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c ^ (a >>> 7), 0x01000193) >>> 0;
  }
  return `${field}:${String(time ?? '')}:${a.toString(36)}${b.toString(36)}`;
}

type ManagementChange = TemplateStatusEvent | TemplateCategoryEvent | TemplateQualityEvent | PhoneQualityEvent | AccountUpdateEvent;

function readChange(field: ManagementField, value: unknown, wabaId: string | null, atMs: number | null): ManagementChange | null {
  switch (field) {
    case 'message_template_status_update': {
      const v = templateStatusSchema.safeParse(value);
      if (!v.success) return null;
      return {
        kind: 'template_status', wabaId, atMs,
        name: v.data.message_template_name, language: v.data.message_template_language,
        event: v.data.event.toUpperCase(),
        reason: text(v.data.reason),
        title: text(v.data.other_info?.title),
        description: text(v.data.other_info?.description),
      };
    }
    case 'template_category_update': {
      const v = templateCategorySchema.safeParse(value);
      if (!v.success) return null;
      // The impending form names the coming category `correct_category` and the current one `new_category`.
      const isImpending = v.data.correct_category !== undefined && v.data.previous_category === undefined;
      return {
        kind: 'template_category', wabaId, atMs,
        name: v.data.message_template_name, language: v.data.message_template_language,
        stage: isImpending ? 'impending' : 'completed',
        previousCategory: upper(isImpending ? v.data.new_category : v.data.previous_category),
        newCategory: upper(isImpending ? v.data.correct_category : v.data.new_category),
        effectiveAtMs: isImpending ? timeMs(v.data.category_update_timestamp) : null,
      };
    }
    case 'message_template_quality_update': {
      const v = templateQualitySchema.safeParse(value);
      if (!v.success) return null;
      return {
        kind: 'template_quality', wabaId, atMs,
        name: v.data.message_template_name, language: v.data.message_template_language,
        previousScore: upper(v.data.previous_quality_score), newScore: upper(v.data.new_quality_score),
      };
    }
    case 'phone_number_quality_update': {
      const v = phoneQualitySchema.safeParse(value);
      if (!v.success) return null;
      const event = v.data.event.toUpperCase();
      // The newer field wins when it means something; it may hold a tier name or a count.
      const maxDaily = text(v.data.max_daily_conversations_per_business);
      const current = text(v.data.current_limit);
      const fromMax = dailyLimitOfTier(maxDaily);
      const tier = fromMax !== undefined ? maxDaily : current ?? maxDaily;
      const legacyQuality = event === 'FLAGGED' ? 'FLAGGED' : event === 'UNFLAGGED' ? 'UNFLAGGED' : null;
      return {
        kind: 'phone_quality', wabaId, atMs,
        displayPhoneNumber: text(v.data.display_phone_number),
        event,
        tier: tier?.toUpperCase() ?? null,
        oldTier: upper(v.data.old_limit),
        dailyLimit: fromMax !== undefined ? fromMax : dailyLimitOfTier(current),
        quality: upper(v.data.quality_rating) ?? legacyQuality,
      };
    }
    case 'account_update': {
      const v = accountUpdateSchema.safeParse(value);
      if (!v.success) return null;
      const event = v.data.event.toUpperCase();
      const banState = upper(v.data.ban_info?.waba_ban_state);
      const violationType = upper(v.data.violation_info?.violation_type);
      const restrictions: AccountRestriction[] = [];
      for (const item of v.data.restriction_info ?? []) {
        const type = upper(item.restriction_type);
        if (type !== null) restrictions.push({ type, expiresAtMs: timeMs(item.expiration) });
      }
      return { kind: 'account_update', wabaId, atMs, event, banState, violationType, restrictions, effect: accountEffect(event, banState, violationType, restrictions) };
    }
  }
}

function accountEffect(
  event: string, banState: string | null, violationType: string | null, restrictions: readonly AccountRestriction[],
): AccountUpdateEvent['effect'] {
  if (banState === 'REINSTATE') return 'lifted';
  if (banState === 'DISABLE' || banState === 'SCHEDULE_FOR_DISABLE') return 'restricted';
  if (restrictions.length > 0 || violationType !== null) return 'restricted';
  if (event === 'DISABLED_UPDATE' || event === 'ACCOUNT_DELETED' || event === 'ACCOUNT_VIOLATION') return 'restricted';
  // A restriction update that lists no restriction: whatever was restricted is lifted.
  if (event === 'ACCOUNT_RESTRICTION') return 'lifted';
  return 'none';
}

/** "summer_sale (en_US)" */
export function templateLabel(event: { name: string; language: string }): string {
  return `${event.name} (${event.language})`;
}

/** Meta's own words for a template status change: "FIRST_PAUSE — Your message template has been paused…". */
export function templateStatusWords(event: TemplateStatusEvent): string {
  const parts: string[] = [];
  const head = event.title ?? (event.reason && event.reason !== 'NONE' ? event.reason : null);
  if (head) parts.push(head);
  if (event.description) parts.push(event.description);
  if (event.title && event.reason && event.reason !== 'NONE') parts.push(`reason ${event.reason}`);
  return parts.length > 0 ? parts.join(' — ') : event.event;
}

/** A one-line account of the event for the health log (API.md "Account health" `events[].detail`). */
export function describeManagementEvent(event: ManagementChange): string {
  switch (event.kind) {
    case 'template_status':
      return `Template ${templateLabel(event)}: ${event.event}${event.event === templateStatusWords(event) ? '' : ` — ${templateStatusWords(event)}`}`;
    case 'template_category':
      return event.stage === 'impending'
        ? `Template ${templateLabel(event)}: category will change from ${event.previousCategory ?? '?'} to ${event.newCategory ?? '?'}`
          + (event.effectiveAtMs !== null ? ` on ${new Date(event.effectiveAtMs).toISOString()}` : '')
        : `Template ${templateLabel(event)}: category changed from ${event.previousCategory ?? '?'} to ${event.newCategory ?? '?'}`;
    case 'template_quality':
      return `Template ${templateLabel(event)}: quality ${event.previousScore ?? '?'} → ${event.newScore ?? '?'}`
        + (event.newScore === 'RED' ? ' (Meta may pause a template whose quality stays low)' : '');
    case 'phone_quality': {
      const limit = event.dailyLimit === undefined ? '' : event.dailyLimit === null ? ', unlimited' : `, ${event.dailyLimit} people a day`;
      const tier = event.tier ? ` — limit ${event.oldTier ? `${event.oldTier} → ` : ''}${event.tier}${limit}` : '';
      return `Phone number ${event.event}${tier}${event.event === 'THROUGHPUT_UPGRADE' ? ' — throughput raised to 1,000 messages a second' : ''}`;
    }
    case 'account_update': {
      const parts = [`Account ${event.event}`];
      if (event.banState) parts.push(`ban ${event.banState}`);
      if (event.violationType) parts.push(`violation ${event.violationType}`);
      for (const r of event.restrictions) {
        parts.push(`${r.type}${r.expiresAtMs !== null ? ` until ${new Date(r.expiresAtMs).toISOString()}` : ''}`);
      }
      return parts.join(' — ');
    }
  }
}
