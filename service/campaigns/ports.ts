// The ports the campaign domain owns: what it needs from storage, from the Cloud API and from the outside world.
// Adapters implement them (adapters/sqlite, adapters/whatsapp-cloud); the domain never imports an adapter.
import type { CampaignState, StateReason } from './campaign';
import type { MessageStatus } from './message-status';
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
  status: 'queued' | 'skipped';
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

/** A message located from a status webhook. */
export interface TrackedMessage {
  id: number;
  campaignId: string;
  accountId: string;
  to: string;
  status: MessageStatus;
  wamid: string | null;
}

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
}

export interface AccountStore {
  getAccount(id: string): Account | null;
  getAccountByApiKeyHash(hash: string): Account | null;
  getAccountSecrets(id: string): AccountSecrets | null;
  findAccountByPhoneNumberId(phoneNumberId: string): Account | null;
  listAccounts(): Account[];
}

export interface CampaignStore {
  /** Runs `fn` atomically; nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T;
  /** Runs `fn` inside the current transaction; if it throws, only its own writes are undone. */
  savepoint<T>(fn: () => T): T;

  insertCampaign(campaign: Campaign): void;
  getCampaign(accountId: string, id: string): Campaign | null;
  getCampaignById(id: string): Campaign | null;
  /** Newest first. */
  listCampaigns(accountId: string): Campaign[];
  listCampaignsInStates(states: readonly CampaignState[]): Campaign[];
  updateCampaignState(id: string, state: CampaignState, reason: StateReason | null, nowMs: number): void;

  /** Inserts one row unless its key or its number is already in the campaign. */
  insertMessage(campaignId: string, accountId: string, row: NewMessage, nowMs: number): InsertResult;
  /** Up to `limit` queued rows with id > afterId, in id order. */
  loadQueued(campaignId: string, afterId: number, limit: number): QueuedMessage[];
  /**
   * Moves still-queued rows to `sending` (the durable "before" of a send); returns the ids that moved. A row whose
   * recipient opted out since it was queued becomes `skipped` instead: the check and the write are one step, so an
   * opt-out that arrives while the row waits in memory is never sent to.
   */
  markSending(ids: readonly number[], nowMs: number): number[];
  recordSendOutcomes(outcomes: readonly SendOutcome[], nowMs: number): void;
  /** Queued and sending rows: the campaign is finished when none remain. */
  countOpen(campaignId: string): number;
  countByStatus(campaignId: string): StatusCounts;
  /** Rows left `sending` since before `beforeMs` become `unknown`; returns how many. */
  markUnsettledUnknown(beforeMs: number, nowMs: number): number;
  cancelQueued(campaignId: string, nowMs: number): number;
  /** The marketer asked to send `unknown` rows again: back to queued. */
  requeueUnknown(campaignId: string, nowMs: number): number;
  /** Recipients the account sent to since `sinceMs` with the first time in that span (daily budget restore). */
  recentRecipients(accountId: string, sinceMs: number): { to: string; atMs: number }[];

  findMessageById(accountId: string, id: number): TrackedMessage | null;
  findMessageByWamid(accountId: string, wamid: string): TrackedMessage | null;
  /** Moves a message to a status reported by Meta (the caller checked it is a forward move). */
  applyDeliveryStatus(id: number, status: MessageStatus, wamid: string | null, error: MessageError | null, nowMs: number): void;

  /** Rows in the order they last changed, after cursor `afterSeq`. */
  listMessagesChangedAfter(campaignId: string, afterSeq: number, limit: number): MessageView[];
}

/** Meta's raw webhook bodies, kept until applied so a crash between "200" and "applied" loses nothing. */
export interface WebhookInbox {
  saveWebhook(accountId: string, body: Buffer, nowMs: number): number;
  listPendingWebhooks(limit: number): { id: number; accountId: string; body: Buffer }[];
  deleteWebhook(id: number): void;
}

export interface SuppressionStore {
  isSuppressed(accountId: string, to: string): boolean;
}

/** How a send left (or did not leave) for the Cloud API. */
export type SendResult =
  | { kind: 'accepted'; wamid: string }
  /** Meta answered with an error: the message was not accepted. */
  | { kind: 'error'; httpStatus: number; code: number | null; message: string }
  /** No answer, and the request may have reached Meta (timeout, connection reset after writing). */
  | { kind: 'no_answer'; reason: string }
  /** The request never left (connection refused, DNS): safe to try again. */
  | { kind: 'not_sent'; reason: string };

export interface SendRequest {
  /** Echoed by Meta in `biz_opaque_callback_data` on every status webhook of this message. */
  callbackData: string;
  to: string;
  template: TemplateRef;
  components: unknown[];
}

export interface SenderCredentials {
  accountId: string;
  isSandbox: boolean;
  phoneNumberId: string;
  accessToken: string;
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
