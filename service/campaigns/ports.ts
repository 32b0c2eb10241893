// The ports the campaign domain owns: what it needs from storage, from the Cloud API and from the outside world.
// Adapters implement them (adapters/sqlite, adapters/whatsapp-cloud); the domain never imports an adapter.
import type { RecipientIdentity } from './business-scoped-user-id';
import type { CampaignState, StateReason } from './campaign';
import type { DeliveryStatus, MessageStatus } from './message-status';
import type { TemplateDefinition } from './template';
import type { HeaderMedia } from './template-params';
import type { SheetTarget } from '../sheets/sheet-ports';

export interface Account {
  id: string;
  name: string;
  isSandbox: boolean;
  phoneNumberId: string;
  wabaId: string;
  messagesPerSecond: number;
  /** Unique recipients per moving 24 h (Meta's messaging limit); null for unlimited. */
  dailyLimit: number | null;
  defaultCountry: string | null;
  /** Days message content (parameters, reply text) is kept. */
  retentionDays: number;
  /** Extra opt-out words for this account, on top of the built-in list. */
  optOutWords: string[];
  /**
   * MARKETING templates go through Meta's Marketing Messages API (`POST /{phone-number-id}/marketing_messages`,
   * CLOUD_API.md §13) instead of `/messages`. Set by the marketer, or by the sender when `/messages` refused a
   * marketing template with 131063 (the WABA turned marketing off there). Default false.
   */
  marketingMessagesApi: boolean;
  createdAt: number;
}

/** Decrypted only in memory, never logged. */
export interface AccountSecrets {
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

export interface TemplateRef {
  name: string;
  language: string;
}

export interface Campaign {
  id: string;
  accountId: string;
  name: string;
  template: TemplateRef;
  /** The template as read when the campaign was created: the rows are checked and sent against it. */
  templateDefinition: TemplateDefinition;
  sendAt: number | null;
  defaultCountry: string | null;
  sheet: SheetTarget | null;
  state: CampaignState;
  stateReason: StateReason | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface MessageError {
  code: string;
  message: string;
}

export interface NewMessage {
  key: string;
  to: string;
  params: Record<string, string>;
  headerMedia: HeaderMedia | null;
}

export type InsertResult = 'inserted' | 'duplicate_key' | 'duplicate_recipient';

/** A row waiting to be sent, as the dispatcher loads it. */
export interface QueuedMessage {
  id: number;
  campaignId: string;
  to: string;
  params: Record<string, string>;
  headerMedia: HeaderMedia | null;
  attempts: number;
  nextAttemptAt: number;
  /** The last error's code while the row waits for a retry (e.g. 131049), else null. */
  errorCode: string | null;
}

/** What became of one send, written in one transaction with the others of its batch. */
export type SendOutcome =
  | { id: number; kind: 'sent'; wamid: string }
  /** Not sent; back to `queued` until `nextAttemptAt`. */
  | { id: number; kind: 'retry'; attempts: number; nextAttemptAt: number; error: MessageError }
  | { id: number; kind: 'failed'; error: MessageError }
  /** Not sent and not the row's fault (the campaign paused): back to `queued`, attempts unchanged. */
  | { id: number; kind: 'requeue' }
  /** Opted out since intake: never sent. */
  | { id: number; kind: 'skipped' };

export type StatusCounts = Record<MessageStatus, number> & { replied: number };

export interface MessageView {
  seq: number;
  key: string;
  to: string;
  status: MessageStatus;
  wamid: string | null;
  error: MessageError | null;
  reply: { text: string; at: number } | null;
  updatedAt: number;
  /** When a row that waits for a retry (131049, a transient error) is tried again; null otherwise. */
  nextAttemptAt: number | null;
  /** The recipient's business-scoped user id, where known (their own row's id, or learnt from Meta's webhooks). */
  userId: string | null;
}

/** The sender's claim to send for an account (one business number): only its holder sends, and only while it is valid. */
export interface SenderLease {
  accountId: string;
  /** Grows at every new holder: a write fenced with an older token is refused by the store. */
  token: number;
  /** How long the lease stays valid from when the store granted it, by the store's clock. */
  validForMs: number;
}

/** Carried by every write of a sender: the store refuses the write when the lease has passed to another holder. */
export interface SenderFence {
  accountId: string;
  token: number;
}

/** A fenced write found the lease taken over (or erased): its holder must stop sending at once. */
export class LeaseLostError extends Error {
  constructor(readonly accountId: string) {
    super(`The sender lease of account ${accountId} is held elsewhere.`);
    this.name = 'LeaseLostError';
  }
}

export interface LeaseStore {
  /**
   * Takes the account's sender lease when it is free or expired, or renews it when `holder` holds it already.
   * Null when another holder's lease is still valid. One store operation: two instances never both win.
   */
  acquireSenderLease(accountId: string, holder: string, ttlMs: number): Promise<SenderLease | null>;
  /**
   * Gives the lease up (graceful shutdown). It stays unclaimable for `quietMs` so that the successor's throughput
   * window starts after the last send of this holder could have reached Meta.
   */
  releaseSenderLease(fence: SenderFence, holder: string, quietMs: number): Promise<void>;
  /** A lease for a job that must run on one instance at a time (retention, reconciliation); false when held elsewhere. */
  acquireJobLease(job: string, holder: string, ttlMs: number): Promise<boolean>;
  /**
   * Records that this instance is alive for `ttlMs` and returns how many instances are alive, this one included:
   * each takes no more than its fair share of the sender leases, so the numbers spread over the instances.
   */
  heartbeat(instanceId: string, ttlMs: number): Promise<number>;
  /** This instance is shutting down: it no longer counts as alive. */
  leaveInstances(instanceId: string): Promise<void>;
}

export interface AccountStore {
  getAccount(id: string): Promise<Account | null>;
  getAccountByApiKeyHash(hash: string): Promise<Account | null>;
  getAccountSecrets(id: string): Promise<AccountSecrets | null>;
  findAccountByPhoneNumberId(phoneNumberId: string): Promise<Account | null>;
  listAccounts(): Promise<Account[]>;
  /** Sets Account.marketingMessagesApi; false when there is no such account. One write. */
  setMarketingMessagesApi(accountId: string, isOn: boolean): Promise<boolean>;
}

/**
 * A campaign state change as one compare-and-set: it happens only while the campaign is in one of `from`, together
 * with its side effects, so two instances (or a route and the engine) asking at once never both act.
 */
export interface CampaignTransition {
  campaignId: string;
  from: readonly CampaignState[];
  to: CampaignState;
  reason: StateReason | null;
  nowMs: number;
  /** Only when no row is `queued` or `sending` (the finished check), decided in the same step. */
  onlyIfNoOpenRows?: boolean;
  /** The campaign's `queued` rows become `cancelled` in the same step. */
  cancelQueuedRows?: boolean;
}

/** A write that rides on the group commit; see `BatchWriteResults` for what each gives back. */
export type BatchWrite =
  /**
   * Moves still-queued rows of running campaigns to `sending` (the durable "before" of a send); gives the ids that
   * moved. A row whose recipient opted out becomes `skipped` instead, and a row of a campaign no longer running
   * stays `queued`: the checks and the write are one step.
   */
  | { kind: 'claim'; fence: SenderFence; ids: readonly number[]; nowMs: number }
  | { kind: 'outcomes'; fence: SenderFence; outcomes: readonly SendOutcome[]; nowMs: number }
  /** Keeps a verified webhook body until applied; gives its inbox id. */
  | { kind: 'save_webhook'; accountId: string; body: Buffer; nowMs: number }
  /** Applies one stored body's effects and removes it from the inbox, atomically. */
  | { kind: 'apply_webhook'; inboxId: number; accountId: string; effects: WebhookEffects; nowMs: number };

export interface BatchWriteResults {
  claim: number[];
  outcomes: null;
  save_webhook: number;
  apply_webhook: WebhookApplied;
}

export type BatchItemResult = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A status Meta reported for a message we sent, as a forward-only change of its row. */
export interface StatusChange {
  /** The row named by the send's callback data (`<campaign>.<row>`), when the status carries it. */
  callback: { campaignId: string; messageId: number } | null;
  /** Meta's message id: finds the row when the callback data is missing or names no row of the account. */
  wamid: string;
  status: DeliveryStatus;
  /** The row moves only from one of these statuses (isForwardMove), checked in the same statement. */
  from: readonly MessageStatus[];
  error: MessageError | null;
  /** When the change applies, the row's recipient is suppressed with this source (131050: they stopped marketing). */
  suppressAs: string | null;
  /**
   * A failure to try again later instead (131049, frequency-capped): the row goes back to `queued` with its error and
   * `nextAttemptAt: atMs`, unless it has had `maxAttempts` attempts or its number starts with one of `exceptPrefixes`.
   */
  retry: { atMs: number; maxAttempts: number; exceptPrefixes: readonly string[] } | null;
}

/** An inbound message: the reply of the row it answers (by the quoted message, else the latest send to the person). */
export interface ReplyChange {
  contextWamid: string | null;
  /** The E.164 spellings the sender's WhatsApp id may stand for, the id's own first; empty when Meta withheld it. */
  recipients: readonly string[];
  /** The sender's business-scoped user id: the person when the number is withheld (a username-only user). */
  userId: string | null;
  text: string;
  atMs: number;
  /** The text is an opt-out: the person is suppressed (as the row's recipient, else the first spelling). */
  isOptOut: boolean;
}

/** Meta's marketing preference for a person: stop suppresses them, resume lifts every spelling's suppression. */
export interface PreferenceChange {
  /** The number's spellings; empty when Meta withheld it (then `userId` names the person). */
  recipients: readonly string[];
  userId: string | null;
  value: 'stop' | 'resume';
}

/** A user's new number or new BSUID (Meta's `user_changed_number` / `user_changed_user_id` system messages). */
export interface IdentityChange {
  /** What named the person before: the previous BSUID and/or the previous number's spellings. */
  previous: readonly string[];
  /** The BSUID now, when the message gives one. */
  userId: string | null;
  /** The new number's spellings when it changed and Meta shares it; else empty (the number stays as it was). */
  phones: readonly string[];
}

export interface WebhookEffects {
  statuses: readonly StatusChange[];
  replies: readonly ReplyChange[];
  preferences: readonly PreferenceChange[];
  /**
   * Phone ↔ BSUID pairs the body carries (statuses of our sends, inbound contacts): the store keeps them per
   * account, and an opt-out of either side covers the other. Applied before the replies and preferences.
   */
  identities: readonly RecipientIdentity[];
  /** Applied after the identities: a suppression follows the person to the new number and id. */
  identityChanges: readonly IdentityChange[];
}

export interface WebhookApplied {
  statuses: { applied: number; ignored: number; unmatched: number };
  /** Campaigns with a row that changed: the engine checks whether they are finished. */
  touchedCampaignIds: string[];
  /** Accepted sends Meta now reports failed, with its code, for the campaigns' error budgets. */
  failed: { campaignId: string; code: string }[];
  /**
   * Campaigns with rows back in the queue for a later attempt (a 131049 retry) or due sooner (their person wrote):
   * their senders read those rows again.
   */
  requeuedCampaignIds: string[];
}

export interface PendingWebhook {
  id: number;
  accountId: string;
  body: Buffer;
}

export interface CampaignStore {
  insertCampaign(campaign: Campaign): Promise<void>;
  getCampaign(accountId: string, id: string): Promise<Campaign | null>;
  getCampaignById(id: string): Promise<Campaign | null>;
  /** Newest first. */
  listCampaigns(accountId: string): Promise<Campaign[]>;
  listCampaignsInStates(states: readonly CampaignState[]): Promise<Campaign[]>;
  /** True when the campaign was in `from` and moved (with the transition's side effects). */
  transitionCampaign(transition: CampaignTransition): Promise<boolean>;
  /**
   * Meta moved a template to `category` (template_category_update): every campaign of the account using it that has
   * not ended takes the new category, which decides its route and its frequency-cap preview. One statement; returns
   * the ids of the campaigns changed.
   */
  recategoriseTemplate(accountId: string, template: TemplateRef, category: string): Promise<string[]>;

  /**
   * Stores rows while the campaign is in one of `acceptingStates` (null when it is not, and nothing is stored).
   * Idempotent per key: a key seen before is `duplicate_key` and changes nothing; a number already in the campaign is
   * `duplicate_recipient`. A row whose recipient is suppressed is stored as `skipped`. One step for the whole call.
   */
  addMessages(
    campaignId: string, accountId: string, rows: readonly NewMessage[], acceptingStates: readonly CampaignState[], nowMs: number,
  ): Promise<InsertResult[] | null>;
  /** Up to `limit` queued rows with id > afterId, in id order. */
  loadQueued(campaignId: string, afterId: number, limit: number): Promise<QueuedMessage[]>;
  /** Queued and sending rows: the campaign is finished when none remain. */
  countOpen(campaignId: string): Promise<number>;
  /** Whether any row is queued or sending: countOpen's question answered at the first such row. */
  hasOpenRows(campaignId: string): Promise<boolean>;
  countByStatus(campaignId: string): Promise<StatusCounts>;
  /** Rows left `sending` since before `beforeMs` become `unknown`; returns how many. */
  markUnsettledUnknown(beforeMs: number, nowMs: number): Promise<number>;
  /**
   * The marketer asked to send `unknown` rows again: back to queued, and a campaign in `reopen.from` moves to
   * `reopen.to` in the same step when any row moved.
   */
  requeueUnknown(
    campaignId: string, reopen: { from: CampaignState; to: CampaignState }, nowMs: number,
  ): Promise<{ rows: number; isReopened: boolean }>;
  /** The account's recipients sent to since `sinceMs`, with the first and last time in that span (budget restore). */
  recentRecipients(accountId: string, sinceMs: number): Promise<{ to: string; firstAtMs: number; lastAtMs: number }[]>;

  /** Rows in the order they last changed, after cursor `afterSeq`. */
  listMessagesChangedAfter(campaignId: string, afterSeq: number, limit: number): Promise<MessageView[]>;

  /**
   * Runs the writes in one transaction, each undone alone if it fails (its result says why); resolves once the
   * transaction is committed, so nothing acts on a write that could still be lost. A fenced write whose lease has
   * passed fails with LeaseLostError. Rejects when the transaction itself did not commit: then none happened.
   */
  writeBatch(writes: readonly BatchWrite[]): Promise<BatchItemResult[]>;
}

/** Meta's raw webhook bodies, kept until applied so a crash between "200" and "applied" loses nothing. */
export interface WebhookInbox {
  /**
   * Up to `limit` stored bodies in arrival order that no other instance is applying, held for this caller for
   * `claimMs` (a body whose applier died is handed out again after that).
   */
  claimPendingWebhooks(limit: number, claimMs: number): Promise<PendingWebhook[]>;
}

export interface SuppressionStore {
  /** Which of `recipients` the account has suppressed. */
  suppressedAmong(accountId: string, recipients: readonly string[]): Promise<Set<string>>;
}

/** How a send left (or did not leave) for the Cloud API. */
export type SendResult =
  | { kind: 'accepted'; wamid: string }
  /** Meta answered with an error: the message was not accepted. */
  | { kind: 'error'; httpStatus: number; code: number | null; message: string }
  /** No answer, and the request may have reached Meta (timeout, connection reset after writing). */
  | { kind: 'no_answer'; reason: string }
  /** The request never left (connection refused, DNS): safe to try again. */
  | { kind: 'not_sent'; reason: string }
  /** `mayLeave` said no when the request was about to be written: nothing left, and it was not the network's fault. */
  | { kind: 'withheld' };

export interface SendRequest {
  /** Echoed by Meta in `biz_opaque_callback_data` on every status webhook of this message. */
  callbackData: string;
  to: string;
  template: TemplateRef;
  components: unknown[];
  /** The template's category is MARKETING: it goes through `/marketing_messages` when the sender's option is on. */
  isMarketing: boolean;
  /**
   * Asked the instant before the request is written to the network; false means nothing is written and the result
   * is `withheld`. Between launch and write a new connection may still be opening, or the request may wait for a
   * free socket: a holder frozen there (SIGSTOP, a stopped VM) must not send once its lease deadline has passed.
   */
  mayLeave(): boolean;
}

export interface SenderCredentials {
  accountId: string;
  isSandbox: boolean;
  phoneNumberId: string;
  accessToken: string;
  /** Marketing templates go through `/marketing_messages` (Account.marketingMessagesApi); the sender may turn it on. */
  marketingMessagesApi: boolean;
}

/** Which Cloud API edge a send goes to: Meta's routing guide sends MARKETING templates to the MM API (CLOUD_API.md §13). */
export function usesMarketingMessagesApi(sender: SenderCredentials, request: SendRequest): boolean {
  return sender.marketingMessagesApi && request.isMarketing;
}

/** Sends one template message through the Cloud API. Never throws for a per-message problem. */
export interface Messenger {
  send(sender: SenderCredentials, request: SendRequest): Promise<SendResult>;
}

/** The account's approved templates, read from the Cloud API (paged) and cached. */
export interface TemplateCatalog {
  list(account: Account, secrets: AccountSecrets): Promise<TemplateDefinition[]>;
}

/** Structured logging without a framework in the domain; adapters redact secrets and personal data. */
export interface Logger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}
