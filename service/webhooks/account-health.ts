// Acts on Meta's management webhooks once their stored body is applied (WebhookProcessor): keeps the account's
// health (quality, messaging limit, restriction, the last events), moves the account's limits with Meta's tier and
// throughput, and pauses the campaigns Meta's news stops: a template paused, disabled or rejected; a restricted,
// banned or violating account. Nothing here resumes a campaign: when Meta reinstates a template or lifts a
// restriction the marketer resumes, knowingly. Every step may run twice (a body whose apply failed is applied
// again at the next start): events are keyed by their content, limits are set rather than added, and a
// pause is a compare-and-set.
import type { StateReason } from '../campaigns/campaign';
import type { Campaign, PendingWebhook } from '../campaigns/ports';
import {
  describeManagementEvent, readManagementEvents, TEMPLATE_HALT_EVENTS, templateLabel, templateStatusWords,
  type AccountUpdateEvent, type ManagementEvent, type TemplateStatusEvent,
} from './management-events';

/** How many events the health keeps per account, newest first. */
export const HEALTH_EVENTS_KEPT = 20;
/** Meta's throughput after THROUGHPUT_UPGRADE [M:throughput]. */
export const UPGRADED_MESSAGES_PER_SECOND = 1000;

export interface HealthEvent {
  /** Which management field said it (message_template_status_update, phone_number_quality_update…). */
  type: string;
  detail: string;
  atMs: number;
}

export interface HealthRestriction {
  /** The restriction types, the ban state or the violation, comma-separated as Meta named them. */
  type: string;
  detail: string;
  /** The latest expiration Meta gave, or null. */
  expiresAtMs: number | null;
}

/** What Meta said about the account, each part with the time Meta said it; null parts: Meta said nothing yet. */
export interface AccountHealth {
  quality: { rating: string; atMs: number } | null;
  messagingLimit: { tier: string; dailyLimit: number | null; atMs: number } | null;
  restriction: (HealthRestriction & { atMs: number }) | null;
  /** Newest first, at most HEALTH_EVENTS_KEPT. */
  events: HealthEvent[];
}

export const EMPTY_HEALTH: AccountHealth = { quality: null, messagingLimit: null, restriction: null, events: [] };

/** One body's worth of health news, written in one step. Each part replaces the stored one only when not older. */
export interface HealthUpdate {
  accountId: string;
  /** `key` names the change by its content (its fingerprint): an event already kept is not kept twice. */
  events: (HealthEvent & { key: string })[];
  quality?: { rating: string; atMs: number };
  messagingLimit?: { tier: string; dailyLimit: number | null; atMs: number };
  /** null: lifted. */
  restriction?: { value: HealthRestriction | null; atMs: number };
  /** The account's sending limits, set in the same step. */
  limits?: { dailyLimit?: number | null; messagesPerSecond?: number };
}

/** Storage of account health: SqliteHealthStore, PostgresHealthStore. Erasure and export cover it (privacy stores). */
export interface HealthStore {
  getHealth(accountId: string): Promise<AccountHealth>;
  recordHealth(update: HealthUpdate): Promise<void>;
}

/** What the keeper needs besides its store: the account, its campaigns, the engine's pause and sender restart. */
export interface HealthActions {
  getAccount(accountId: string): Promise<{ id: string; dailyLimit: number | null; messagesPerSecond: number } | null>;
  listCampaigns(accountId: string): Promise<Campaign[]>;
  /** A compare-and-set pause (running or scheduled → paused) through the engine; false when it was not either. */
  pauseCampaign(campaignId: string, reason: StateReason): Promise<boolean>;
  /** The account's limits changed: its sender picks them up (the engine sets the pipeline up again). */
  limitsChanged(accountId: string): Promise<void>;
  /** The account's templates changed at Meta: the cached list is dropped. */
  templatesChanged(accountId: string): void;
  /**
   * Meta moved a template to another category: the campaigns using it take it (their route, their preview); the
   * instance sending for the account picks it up at its next scan. Returns the campaigns changed.
   */
  recategoriseTemplate(accountId: string, template: { name: string; language: string }, category: string): Promise<string[]>;
}

export interface HealthLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

const PAUSING_STATES = new Set(['running', 'scheduled']);

export class AccountHealthKeeper {
  constructor(
    private readonly store: HealthStore,
    private readonly actions: HealthActions,
    private readonly logger: HealthLogger,
  ) {}

  /**
   * Acts on the management changes of one stored body (`payload`, parsed); does nothing for message webhooks.
   * `nowMs` stands in for events without `entry.time`.
   */
  async apply(item: PendingWebhook, payload: unknown, nowMs: number): Promise<void> {
    const { events, skipped } = readManagementEvents(payload);
    if (skipped > 0) this.logger.warn({ webhookId: item.id, skipped }, 'management webhook changes not understood');
    if (events.length === 0) return;
    const account = await this.actions.getAccount(item.accountId);
    if (!account) return;
    const update: HealthUpdate = { accountId: account.id, events: [] };
    let isTemplatesChanged = false;
    const pauses: { matches: (c: Campaign) => boolean; reason: StateReason }[] = [];
    const recategorised: { template: { name: string; language: string }; category: string }[] = [];
    for (const event of events) {
      const atMs = event.atMs ?? nowMs;
      update.events.push({ key: event.fingerprint, type: fieldOf(event), detail: describeManagementEvent(event), atMs });
      switch (event.kind) {
        case 'template_status':
          isTemplatesChanged = true;
          if (TEMPLATE_HALT_EVENTS.has(event.event)) {
            pauses.push({
              matches: (c) => c.template.name === event.name && c.template.language === event.language,
              reason: templateReason(event),
            });
          }
          break;
        case 'template_category':
          // Impending: news only. Completed: the category (pricing, routing) changed, so the cached list is stale
          // and the campaigns using the template follow it.
          if (event.stage === 'completed') {
            isTemplatesChanged = true;
            if (event.newCategory !== null) {
              recategorised.push({ template: { name: event.name, language: event.language }, category: event.newCategory });
            }
          }
          break;
        case 'template_quality':
          // News for the health log: Meta pauses a low-quality template with its own status update, acted on above.
          break;
        case 'phone_quality':
          if (event.quality !== null) update.quality = newer(update.quality, { rating: event.quality, atMs });
          if (event.tier !== null && event.dailyLimit !== undefined) {
            update.messagingLimit = newer(update.messagingLimit, { tier: event.tier, dailyLimit: event.dailyLimit, atMs });
            update.limits = { ...update.limits, dailyLimit: event.dailyLimit };
          }
          if (event.event === 'THROUGHPUT_UPGRADE') {
            update.limits = { ...update.limits, messagesPerSecond: Math.max(account.messagesPerSecond, UPGRADED_MESSAGES_PER_SECOND) };
          }
          break;
        case 'account_update':
          if (event.effect === 'restricted') {
            const restriction = restrictionOf(event);
            update.restriction = { value: restriction, atMs };
            pauses.push({ matches: () => true, reason: accountReason(restriction) });
          } else if (event.effect === 'lifted') {
            update.restriction = { value: null, atMs };
          }
          break;
      }
    }
    await this.store.recordHealth(update);
    if (isTemplatesChanged) this.actions.templatesChanged(account.id);
    for (const { template, category } of recategorised) {
      const campaignIds = await this.actions.recategoriseTemplate(account.id, template, category);
      if (campaignIds.length > 0) {
        this.logger.info({ accountId: account.id, campaigns: campaignIds.length, category }, 'campaigns follow the template\'s new category');
      }
    }
    const limits = update.limits;
    const isLimitsChanged = limits !== undefined
      && ((limits.dailyLimit !== undefined && limits.dailyLimit !== account.dailyLimit)
        || (limits.messagesPerSecond !== undefined && limits.messagesPerSecond !== account.messagesPerSecond));
    if (pauses.length > 0) await this.pause(account.id, pauses);
    if (isLimitsChanged) {
      this.logger.info({ accountId: account.id, ...limits }, 'account limits follow Meta');
      await this.actions.limitsChanged(account.id);
    }
  }

  private async pause(accountId: string, pauses: readonly { matches: (c: Campaign) => boolean; reason: StateReason }[]): Promise<void> {
    const campaigns = (await this.actions.listCampaigns(accountId)).filter((c) => PAUSING_STATES.has(c.state));
    for (const campaign of campaigns) {
      const cause = pauses.find((p) => p.matches(campaign));
      if (!cause) continue;
      if (await this.actions.pauseCampaign(campaign.id, cause.reason)) {
        this.logger.info({ accountId, campaignId: campaign.id, reason: cause.reason.code }, 'campaign paused on Meta\'s word');
      }
    }
  }
}

function fieldOf(event: ManagementEvent): string {
  switch (event.kind) {
    case 'template_status': return 'message_template_status_update';
    case 'template_category': return 'template_category_update';
    case 'template_quality': return 'message_template_quality_update';
    case 'phone_quality': return 'phone_number_quality_update';
    case 'account_update': return 'account_update';
  }
}

function newer<T extends { atMs: number }>(current: T | undefined, next: T): T {
  return current === undefined || next.atMs >= current.atMs ? next : current;
}

const PAST_TENSE: Readonly<Record<string, string>> = {
  PAUSED: 'paused', DISABLED: 'disabled', REJECTED: 'rejected', FLAGGED: 'flagged', LIMIT_EXCEEDED: 'limited',
  ARCHIVED: 'archived', DELETED: 'deleted', PENDING_DELETION: 'is deleting', LOCKED: 'locked',
};

/** "Paused: Meta paused the template summer_sale (en_US): FIRST_PAUSE — Your message template has been paused…" */
export function templateReason(event: TemplateStatusEvent): StateReason {
  const words = templateStatusWords(event);
  const said = words === event.event ? event.event : `${event.event}: ${words}`;
  return {
    code: 'template_' + event.event.toLowerCase(),
    message: `Paused: Meta ${PAST_TENSE[event.event] ?? event.event.toLowerCase()} the template ${templateLabel(event)}: ${said}. `
      + 'Resume the campaign once the template is approved again (Meta reinstating it does not resume campaigns).',
  };
}

function restrictionOf(event: AccountUpdateEvent): HealthRestriction {
  const types = event.restrictions.map((r) => r.type);
  if (event.banState) types.unshift(`BAN_${event.banState}`);
  if (event.violationType) types.push(event.violationType);
  if (types.length === 0) types.push(event.event);
  // It ends only when every part of it does: a ban, a violation or a restriction without an expiry never runs out.
  const isOpenEnded = event.banState !== null || event.violationType !== null || event.restrictions.length === 0
    || event.restrictions.some((r) => r.expiresAtMs === null);
  return {
    type: types.join(', '),
    detail: describeManagementEvent(event),
    expiresAtMs: isOpenEnded ? null : Math.max(...event.restrictions.map((r) => r.expiresAtMs as number)),
  };
}

/** The health as GET /v1/account and the account export show it: times as ISO 8601. */
export function healthAsJson(h: AccountHealth) {
  const at = (ms: number): string => new Date(ms).toISOString();
  return {
    quality: h.quality ? { rating: h.quality.rating, at: at(h.quality.atMs) } : null,
    messagingLimit: h.messagingLimit ? { tier: h.messagingLimit.tier, dailyLimit: h.messagingLimit.dailyLimit, at: at(h.messagingLimit.atMs) } : null,
    restriction: h.restriction ? {
      type: h.restriction.type, detail: h.restriction.detail,
      expiresAt: h.restriction.expiresAtMs === null ? null : at(h.restriction.expiresAtMs), at: at(h.restriction.atMs),
    } : null,
    events: h.events.map((e) => ({ type: e.type, detail: e.detail, at: at(e.atMs) })),
  };
}

/**
 * The health as of `nowMs`: a restriction whose expiry has passed is over, whether or not Meta posts its end. The
 * campaigns it paused stay paused (the marketer resumes them).
 */
export function healthAsOf(health: AccountHealth, nowMs: number): AccountHealth {
  const restriction = health.restriction;
  return restriction && restriction.expiresAtMs !== null && restriction.expiresAtMs <= nowMs ? { ...health, restriction: null } : health;
}

function accountReason(restriction: HealthRestriction): StateReason {
  return {
    code: 'account_restricted',
    message: `Paused: Meta restricted the WhatsApp account: ${restriction.detail}. `
      + 'Resume the campaign once Meta lifts the restriction.',
  };
}
