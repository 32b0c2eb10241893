// A fake WhatsApp Cloud API for tests, benchmarks and sandbox accounts: Meta's send (`/messages`,
// `/marketing_messages`) and template-list routes, limits and error bodies, BSUIDs and usernames, a ledger of
// accepted messages, and signed messages and management webhooks (docs/cloud-api-2026.md). Plain node:http for speed.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { handleControlRoute } from './control-routes';
import { FaultInjector } from './fault-injector';
import type { FaultOptions } from './fault-injector';
import { GraphError } from './graph-error';
import { accountUpdateValue, phoneQualityValue, statusAfter, templateCategoryValue, templateStatusValue } from './management-webhooks';
import type { AccountUpdate, PhoneNumberQualityUpdate, TemplateCategoryUpdate, TemplateStatusUpdate } from './management-webhooks';
import { MessageLedger } from './message-ledger';
import { planOutcome } from './outcome-rules';
import type { OutcomeDelays, OutcomeOptions, OutcomeStep } from './outcome-rules';
import { PairRateGuard } from './pair-rate-guard';
import type { PairRateOptions } from './pair-rate-guard';
import { sampleTemplates } from './sample-templates';
import { validateSend } from './send-validation';
import type { SendContext, SendEndpoint, ValidSend } from './send-validation';
import { DEFAULT_TEMPLATE_PAGE_SIZE, TemplateCatalog } from './template-catalog';
import type { MessageTemplate } from './template-catalog';
import { ThroughputWindow } from './throughput-window';
import { WebhookDispatcher } from './webhook-dispatcher';
import type { WebhookDeliveryOptions, WebhookStats } from './webhook-dispatcher';
import { USER_ID_PATTERN, UserDirectory } from './user-directory';
import type { UserIdentity } from './user-directory';
import type { InboundEvent, Sender, StatusEvent, WebhookTarget } from './webhook-payload';
import type { SignatureMode } from './webhook-signature';

/** A registered business number (sender) and where its webhooks go. */
export interface NumberConfig {
  phoneNumberId: string;
  wabaId: string;
  /** The only Bearer token accepted for this number's sends (and its WABA's template list). */
  accessToken: string;
  /** Keys the `X-Hub-Signature-256` HMAC of this number's webhooks. */
  appSecret: string;
  webhookUrl: string;
  /** Throughput limit (CLOUD_API.md §3.1). Default 80. */
  messagesPerSecond?: number;
  /** `metadata.display_phone_number` in webhooks. Default: "1555" + the last 7 digits of the id. */
  displayPhoneNumber?: string;
  /**
   * Marketing templates to +1 numbers are accepted, then fail 131049, as Meta does since 2025-04-01 (CLOUD_API.md
   * §13). Default: the simulator's `usMarketingBlocked`.
   */
  usMarketingBlocked?: boolean;
  /** The WABA turned marketing off on `/messages` (`disable_marketing_messages_on_cloud_api`): 131063. Default false. */
  marketingOnMessagesDisabled?: boolean;
  /** Webhooks also carry parent BSUIDs (`parent_user_id`, `from_parent_user_id`…), as for managed businesses. Default false. */
  emitsParentUserIds?: boolean;
}

/** Names the number a management webhook goes to: a phone number id, or a WABA (its first registered number). */
export interface WebhookTargetRef {
  phoneNumberId?: string;
  wabaId?: string;
}

/** A user as `GET /__sim/users` and the change routes report them, in Meta's field names. */
export interface UserIdentityView {
  wa_id: string;
  user_id: string;
  parent_user_id: string;
  username?: string;
}

export interface CloudApiSimulatorOptions {
  /**
   * Path prefix when mounted inside another server, e.g. `/sandbox/graph`: routes are then
   * `/sandbox/graph/v23.0/{id}/messages`. A request URL without the prefix is taken as already stripped
   * (as Express's `app.use(prefix, handler)` does). Default `""`.
   */
  basePath?: string;
  /** Origin used in `paging.next` (e.g. behind a proxy). Default: `http://` + the request's Host header. */
  publicUrl?: string;
  /** Numbers to register at construction. */
  numbers?: NumberConfig[];
  /** Called for a phone number id that is not registered; a returned config is registered and used. */
  resolveUnknownNumber?: (phoneNumberId: string) => NumberConfig | undefined | Promise<NumberConfig | undefined>;
  /** The same for a template list asked for a WABA with no registered number (a list may come before any send). */
  resolveUnknownWaba?: (wabaId: string) => NumberConfig | undefined | Promise<NumberConfig | undefined>;
  /** Timing of statuses and replies after acceptance. */
  delays?: OutcomeDelays;
  /** Outcome rates for recipients outside the fixed rules (see `planOutcome`). */
  outcomes?: OutcomeOptions;
  pairRate?: PairRateOptions;
  faults?: FaultOptions;
  webhooks?: WebhookDeliveryOptions;
  /** What the webhook signature covers. Default `escaped-unicode`, like Meta; see `SignatureMode`. */
  signatureMode?: SignatureMode;
  /** Catalog for a WABA that has none set. Default: `sampleTemplates`. */
  defaultTemplates?: (wabaId: string) => MessageTemplate[];
  /** Default `limit` of the template list. Default 25, as Meta. */
  templatePageSize?: number;
  /** Serve `/__sim/*` control routes. Default true; a service exposing the handler publicly should turn it off. */
  exposeControlRoutes?: boolean;
  /**
   * Marketing templates to +1 numbers fail 131049 on every number that does not say otherwise. Default false, so
   * tests and benchmarks sending marketing to +1 test numbers keep their outcomes.
   */
  usMarketingBlocked?: boolean;
  /** Epoch ms; drives limits, the 24 h customer-service window and webhook timing. Default `Date.now`. */
  now?: () => number;
}

/** Counters for `GET /__sim/stats`. */
export interface SimulatorStats {
  accepted: number;
  rejected: number;
  /** Rejections per Meta error code (as a string key). */
  rejectedByCode: Record<string, number>;
  /** Per number: `busiestWindow` counts every arrival (throttled ones too) in the busiest sliding second. */
  numbers: Record<string, { messagesPerSecond: number; accepted: number; busiestWindow: number; busiestAdmittedWindow: number }>;
  ledgerSize: number;
  webhooks: WebhookStats;
}

interface NumberState {
  config: NumberConfig & { messagesPerSecond: number; displayPhoneNumber: string };
  window: ThroughputWindow;
  authorization: string;
  accepted: number;
  /** Recipients (phone digits) who sent a marketing stop to this number (their marketing sends fail 131050). */
  stoppedMarketing: Set<string>;
  /** Epoch ms of each recipient's latest inbound message to this number (may lie in the future: a scheduled reply). */
  lastInboundAt: Map<string, number>;
  /** Reused per send (only `apiMajorVersion` changes, set synchronously before each validation). */
  sendContext: SendContext;
}

const MAX_BODY_BYTES = 1_000_000;
const NEWEST_API_MAJOR = 25;
const PROFILE_NAMES = ['Ana', 'José', 'Zoë', 'Mateo', 'Ngozi', 'Łucja', 'Ravi', 'Chloé', 'Kenji', 'Ife'];
const JSON_CONTENT_TYPE = 'application/json; charset=UTF-8';
const SERVICE_WINDOW_MS = 24 * 3600 * 1000;

export class CloudApiSimulator {
  /** Every accepted message; read it to prove exactly-once delivery. */
  readonly ledger = new MessageLedger();
  private readonly numbers = new Map<string, NumberState>();
  private readonly catalog: TemplateCatalog;
  private readonly pairRate: PairRateGuard;
  private readonly faults: FaultInjector;
  private readonly dispatcher: WebhookDispatcher;
  private readonly basePath: string;
  private readonly runId = randomBytes(4).toString('hex');
  /** BSUIDs, usernames and number changes of every recipient, per portfolio (the number's WABA). */
  readonly users: UserDirectory;
  private readonly now: () => number;
  private outcomes: OutcomeOptions;
  private delays: Required<OutcomeDelays>;
  private traceCounter = 0;
  private inboundCounter = 0;
  private accepted = 0;
  private rejected = 0;
  private readonly rejectedByCode = new Map<number, number>();
  private server: Server | undefined;

  constructor(private readonly options: CloudApiSimulatorOptions = {}) {
    this.basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.catalog = new TemplateCatalog(options.defaultTemplates ?? sampleTemplates);
    this.pairRate = new PairRateGuard(options.pairRate);
    this.faults = new FaultInjector(options.faults);
    this.outcomes = { ...options.outcomes };
    this.delays = withDefaultDelays(options.delays);
    this.now = options.now ?? Date.now;
    this.users = new UserDirectory(() => this.outcomes);
    this.dispatcher = new WebhookDispatcher(
      (id) => this.targetOf(id),
      { ...options.webhooks, signatureMode: options.signatureMode ?? options.webhooks?.signatureMode ?? 'escaped-unicode' },
      this.now,
    );
    for (const number of options.numbers ?? []) this.registerNumber(number);
  }

  /** The node:http request handler; mount it in any server (see `basePath`). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    let path = queryAt < 0 ? url : url.slice(0, queryAt);
    if (this.basePath && path.startsWith(this.basePath)) path = path.slice(this.basePath.length);
    const query = queryAt < 0 ? '' : url.slice(queryAt + 1);
    if (path.startsWith('/__sim/')) {
      if (this.options.exposeControlRoutes === false) return this.fail(res, new GraphError(100, 'Unknown path.'));
      readBody(req, (raw) => {
        handleControlRoute(this, req.method ?? 'GET', path, new URLSearchParams(query), raw).then(
          ([status, body]) => sendJson(res, status, JSON.stringify(body)),
          (error: unknown) => sendJson(res, 400, JSON.stringify({ error: { message: String(error) } })),
        );
      });
      return;
    }
    const parts = path.split('/');
    // parts[0] is "" (leading slash); the version segment is optional, as in Graph API.
    let index = 1;
    let apiMajor = NEWEST_API_MAJOR;
    const version = /^v(\d+)(?:\.\d+)?$/.exec(parts[1] ?? '');
    if (version) {
      apiMajor = Number(version[1]);
      index = 2;
    }
    const objectId = parts[index] ?? '';
    const edge = parts[index + 1];
    if (parts.length === index + 2 && (edge === 'messages' || edge === 'marketing_messages') && req.method === 'POST') {
      const endpoint: SendEndpoint = edge;
      readBody(req, (raw) => {
        // A number seen for the first time is looked up (the service's own store, for sandbox accounts).
        if (this.numbers.has(objectId) || !this.options.resolveUnknownNumber) {
          this.handleSend(req, res, objectId, apiMajor, raw, endpoint);
          return;
        }
        void this.resolveNumber(objectId).then(() => this.handleSend(req, res, objectId, apiMajor, raw, endpoint),
          () => this.fail(res, unknownObject(objectId)));
      });
      return;
    }
    if (parts.length === index + 2 && edge === 'message_templates' && req.method === 'GET') {
      void this.resolveWaba(objectId).then(() => this.handleTemplateList(req, res, objectId, version?.[0], new URLSearchParams(query)),
        () => this.fail(res, unknownObject(objectId)));
      return;
    }
    req.resume();
    this.fail(res, new GraphError(100, `Unsupported ${req.method ?? ''} request to ${path}.`));
  };

  /** Starts a standalone server on `port` (0 = ephemeral) and resolves its base URL. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer({ keepAliveTimeout: 65_000 }, this.handle);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return `http://${host}:${address.port}${this.basePath}`;
  }

  /** Stops the server (if `listen` started one) and all webhook timers; pending webhooks are dropped. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await this.dispatcher.close();
  }

  /** Adds or replaces a number. Throws `TypeError` when a required field is missing. */
  registerNumber(config: NumberConfig): void {
    for (const field of ['phoneNumberId', 'wabaId', 'accessToken', 'appSecret', 'webhookUrl'] as const) {
      if (typeof config[field] !== 'string' || config[field] === '') throw new TypeError(`NumberConfig.${field} is required`);
    }
    const messagesPerSecond = config.messagesPerSecond ?? 80;
    const displayPhoneNumber = config.displayPhoneNumber ?? `1555${config.phoneNumberId.replace(/\D/g, '').slice(-7).padStart(7, '0')}`;
    const previous = this.numbers.get(config.phoneNumberId);
    const wabaId = config.wabaId;
    const sendContext: SendContext = {
      findTemplate: (name, language) => this.catalog.find(wabaId, name, language),
      apiMajorVersion: NEWEST_API_MAJOR,
      senderDigits: displayPhoneNumber.replace(/\D/g, ''),
      endpoint: 'messages',
      isMarketingOnMessagesDisabled: config.marketingOnMessagesDisabled ?? false,
    };
    const window = previous?.window ?? new ThroughputWindow(messagesPerSecond);
    window.limitPerSecond = messagesPerSecond;
    this.numbers.set(config.phoneNumberId, {
      config: { ...config, messagesPerSecond, displayPhoneNumber },
      window,
      authorization: `Bearer ${config.accessToken}`,
      accepted: previous?.accepted ?? 0,
      stoppedMarketing: previous?.stoppedMarketing ?? new Set(),
      lastInboundAt: previous?.lastInboundAt ?? new Map(),
      sendContext,
    });
  }

  /** Changes some fields of a registered number (e.g. a restarted service's new `webhookUrl`); pending webhooks follow. */
  updateNumber(phoneNumberId: string, patch: Partial<Omit<NumberConfig, 'phoneNumberId'>>): void {
    const current = this.numbers.get(phoneNumberId);
    if (!current) throw new RangeError(`number ${phoneNumberId} is not registered`);
    this.registerNumber({ ...current.config, ...patch, phoneNumberId });
  }

  /** Unregisters a number; its undelivered webhooks are dropped. Returns whether it existed. */
  removeNumber(phoneNumberId: string): boolean {
    return this.numbers.delete(phoneNumberId);
  }

  getNumber(phoneNumberId: string): NumberConfig | undefined {
    const state = this.numbers.get(phoneNumberId);
    return state && { ...state.config };
  }

  /** Replaces a WABA's template catalog (ids are generated where missing). */
  setTemplates(wabaId: string, templates: MessageTemplate[]): void {
    this.catalog.set(wabaId, templates);
  }

  templates(wabaId: string): MessageTemplate[] {
    return this.catalog.list(wabaId);
  }

  /** Replaces the fault settings; see `FaultOptions`. */
  setFaults(faults: FaultOptions): void {
    this.faults.set(faults);
  }

  getFaults(): FaultOptions {
    return this.faults.get();
  }

  /** Replaces outcome rates and/or delays for messages accepted from now on. */
  setOutcomes(outcomes: OutcomeOptions, delays?: OutcomeDelays): void {
    this.outcomes = { ...outcomes };
    this.users.clearCache();
    if (delays) this.delays = withDefaultDelays({ ...this.delays, ...delays });
  }

  /** Accepted messages per `biz_opaque_callback_data` (`""` for none). */
  countsByCallbackData(): Map<string, number> {
    return this.ledger.countsByCallbackData();
  }

  clearLedger(): void {
    this.ledger.clear();
  }

  stats(): SimulatorStats {
    const numbers: SimulatorStats['numbers'] = {};
    for (const [id, state] of this.numbers) {
      numbers[id] = {
        messagesPerSecond: state.config.messagesPerSecond,
        accepted: state.accepted,
        busiestWindow: state.window.busiestArrivals,
        busiestAdmittedWindow: state.window.busiestAdmitted,
      };
    }
    return {
      accepted: this.accepted,
      rejected: this.rejected,
      rejectedByCode: Object.fromEntries([...this.rejectedByCode].map(([code, n]) => [String(code), n])),
      numbers,
      ledgerSize: this.ledger.size,
      webhooks: this.dispatcher.getStats(),
    };
  }

  /** Zeroes counters and busiest windows (not the ledger). */
  resetStats(): void {
    this.accepted = 0;
    this.rejected = 0;
    this.rejectedByCode.clear();
    for (const state of this.numbers.values()) {
      state.accepted = 0;
      state.window.resetStats();
    }
  }

  /**
   * Emits an inbound text to the number after `delayMs`, from `from`: phone digits, or a BSUID the simulator
   * issued (a username user's). `contextWamid` makes it a quoted reply. Opens the recipient's 24 h
   * customer-service window. Returns the inbound message's wamid. Throws `RangeError` for an unknown BSUID.
   */
  emitInboundText(phoneNumberId: string, from: string, body: string, options: { contextWamid?: string; delayMs?: number } = {}): string {
    const id = this.inboundWamid();
    const message: InboundEvent['message'] = { id, type: 'text', text: { body } };
    if (options.contextWamid) message.context = { from: this.displayDigits(phoneNumberId), id: options.contextWamid };
    const delayMs = options.delayMs ?? 0;
    const identity = this.identityOf(phoneNumberId, from);
    this.recordInbound(phoneNumberId, identity.waId, delayMs);
    this.dispatcher.schedule(delayMs, this.now(), { kind: 'message', phoneNumberId, sender: this.senderOf(phoneNumberId, identity), message });
    return id;
  }

  /**
   * Emits a `user_preferences` marketing stop/resume from `user` (phone digits or an issued BSUID); a stop makes
   * later marketing sends to that person fail 131050. Throws `RangeError` for an unknown BSUID.
   */
  emitUserPreference(phoneNumberId: string, user: string, value: 'stop' | 'resume', delayMs = 0): void {
    const identity = this.identityOf(phoneNumberId, user);
    const stopped = this.numbers.get(phoneNumberId)?.stoppedMarketing;
    if (value === 'stop') stopped?.add(identity.waId);
    else stopped?.delete(identity.waId);
    this.dispatcher.schedule(delayMs, this.now(), { kind: 'user_preferences', phoneNumberId, sender: this.senderOf(phoneNumberId, identity), value });
  }

  /** A user's identifiers in the number's portfolio (issuing them on first use); `user` is phone digits or a BSUID. */
  userIdentity(phoneNumberId: string, user: string): UserIdentityView {
    return viewOf(this.identityOf(phoneNumberId, user));
  }

  /** Gives the person with phone `waId` a username (withholding their phone from inbound webhooks), or none with `null`. */
  setUsername(waId: string, username: string | null): void {
    this.users.setUsername(waId.replace(/\D/g, ''), username);
  }

  /**
   * The user `user` (phone digits or BSUID) changed their phone to `newWaId`: their BSUIDs change in every
   * portfolio, marketing stops and service windows follow them, and the number receives a `system` message:
   * `user_changed_number` with the new `wa_id`, or `user_changed_user_id` (no phone) when the user withholds
   * their phone (a username user), as Meta does [M:webhooks/reference/messages/system]. Returns the new identity.
   */
  changeUserNumber(phoneNumberId: string, user: string, newWaId: string, delayMs = 0): UserIdentityView & { previous_user_id: string } {
    const number = this.requireNumber(phoneNumberId);
    const before = this.identityOf(phoneNumberId, user);
    const digits = newWaId.replace(/\D/g, '');
    const { previous, current } = this.users.changeNumber(number.config.wabaId, before.waId, digits);
    for (const state of this.numbers.values()) {
      if (state.stoppedMarketing.delete(previous.waId)) state.stoppedMarketing.add(digits);
      const at = state.lastInboundAt.get(previous.waId);
      if (at !== undefined) {
        state.lastInboundAt.delete(previous.waId);
        state.lastInboundAt.set(digits, at);
      }
    }
    this.emitSystemMessage(number, previous, current, current.username === undefined ? 'user_changed_number' : 'user_changed_user_id', delayMs);
    return { ...viewOf(current), previous_user_id: previous.userId };
  }

  /** The user `user` gets a new BSUID (same phone): a `user_changed_user_id` system message. Returns the new identity. */
  changeUserId(phoneNumberId: string, user: string, delayMs = 0): UserIdentityView & { previous_user_id: string } {
    const number = this.requireNumber(phoneNumberId);
    const { previous, current } = this.users.changeUserId(number.config.wabaId, this.identityOf(phoneNumberId, user).waId);
    this.emitSystemMessage(number, previous, current, 'user_changed_user_id', delayMs);
    return { ...viewOf(current), previous_user_id: previous.userId };
  }

  /**
   * Posts `message_template_status_update` and applies it: PAUSED and DISABLED templates then fail sends with
   * 132015 / 132016; APPROVED, REINSTATED and UNARCHIVED make them sendable again. Throws `RangeError` when the
   * number or template is unknown.
   */
  emitTemplateStatusUpdate(target: WebhookTargetRef, update: TemplateStatusUpdate): void {
    const number = this.numberOfTarget(target);
    const status = statusAfter(update.event);
    const template = this.requireTemplate(number.config.wabaId, update.name, update.language);
    if (status) this.catalog.update(number.config.wabaId, update.name, update.language, { status });
    this.emitManagementWebhook(target, 'message_template_status_update', templateStatusValue(template, update, this.nowSeconds()));
  }

  /** Posts `template_category_update`; the `completed` form (default) also changes the category in the template list and for later sends. */
  emitTemplateCategoryUpdate(target: WebhookTargetRef, update: TemplateCategoryUpdate): void {
    const number = this.numberOfTarget(target);
    const template = this.requireTemplate(number.config.wabaId, update.name, update.language);
    const previousCategory = template.category;
    if (update.stage !== 'impending') this.catalog.update(number.config.wabaId, update.name, update.language, { category: update.newCategory });
    this.emitManagementWebhook(target, 'template_category_update', templateCategoryValue(template, previousCategory, update, this.nowSeconds()));
  }

  /** Posts `phone_number_quality_update`; THROUGHPUT_UPGRADE also raises the number to 1,000 messages/s (CLOUD_API.md §3.1). */
  emitPhoneNumberQualityUpdate(phoneNumberId: string, update: PhoneNumberQualityUpdate): void {
    const number = this.requireNumber(phoneNumberId);
    if (update.event === 'THROUGHPUT_UPGRADE') this.updateNumber(phoneNumberId, { messagesPerSecond: 1000 });
    this.emitManagementWebhook({ phoneNumberId }, 'phone_number_quality_update', phoneQualityValue(number.config.displayPhoneNumber, update));
  }

  /** Posts `account_update` (bans, violations, restrictions). The simulator does not enforce restrictions. */
  emitAccountUpdate(target: WebhookTargetRef, update: AccountUpdate): void {
    const number = this.numberOfTarget(target);
    this.emitManagementWebhook(target, 'account_update', accountUpdateValue(number.config.displayPhoneNumber, update));
  }

  /** Posts any management change `{field, value}` in a signed `whatsapp_business_account` webhook, unchanged. */
  emitManagementWebhook(target: WebhookTargetRef, field: string, value: Record<string, unknown>, delayMs = 0): void {
    const number = this.numberOfTarget(target);
    this.dispatcher.schedule(delayMs, this.now(), { kind: 'management', phoneNumberId: number.config.phoneNumberId, field, value });
  }

  /** Sends all due and batched webhooks now and waits for them; rejects after `timeoutMs`. */
  flushWebhooks(timeoutMs?: number): Promise<void> {
    return this.dispatcher.flush(timeoutMs);
  }

  /** Waits until every scheduled webhook (future ones included) was delivered; rejects after `timeoutMs`. */
  idle(timeoutMs?: number): Promise<void> {
    return this.dispatcher.idle(timeoutMs);
  }

  private numberFor(phoneNumberId: string): NumberState | undefined {
    return this.numbers.get(phoneNumberId);
  }

  private async resolveNumber(phoneNumberId: string): Promise<void> {
    const config = await this.options.resolveUnknownNumber?.(phoneNumberId);
    if (config && !this.numbers.has(phoneNumberId)) this.registerNumber({ ...config, phoneNumberId });
  }

  private async resolveWaba(wabaId: string): Promise<void> {
    if (this.tokensOfWaba(wabaId).length > 0 || !this.options.resolveUnknownWaba) return;
    const config = await this.options.resolveUnknownWaba(wabaId);
    if (config?.wabaId === wabaId && this.tokensOfWaba(wabaId).length === 0) this.registerNumber(config);
  }

  private tokensOfWaba(wabaId: string): string[] {
    return [...this.numbers.values()].filter((n) => n.config.wabaId === wabaId).map((n) => n.authorization);
  }

  private targetOf(phoneNumberId: string): WebhookTarget | undefined {
    return this.numbers.get(phoneNumberId)?.config;
  }

  private handleSend(
    req: IncomingMessage,
    res: ServerResponse,
    phoneNumberId: string,
    apiMajor: number,
    raw: string | undefined,
    endpoint: SendEndpoint,
  ): void {
    const number = this.numberFor(phoneNumberId);
    if (!number) return this.fail(res, unknownObject(phoneNumberId));
    const authorization = authorizationOf(req);
    if (authorization !== number.authorization) return this.fail(res, invalidToken(authorization));
    if (!number.window.tryAdmit(this.now())) {
      return this.fail(res, new GraphError(130429, 'Message failed to send because there were too many messages sent from this phone number in a short period of time.'));
    }
    if (raw === undefined) return this.fail(res, new GraphError(100, `Request body larger than ${MAX_BODY_BYTES} bytes.`));
    let body: unknown;
    try {
      body = raw === '' ? bodyParsedUpstream(req) : JSON.parse(raw);
    } catch {
      return this.fail(res, new GraphError(100, 'The request body is not valid JSON.'));
    }
    number.sendContext.apiMajorVersion = apiMajor;
    number.sendContext.endpoint = endpoint;
    const send = validateSend(body, number.sendContext);
    if (send instanceof GraphError) return this.fail(res, send);
    const fault = this.faults.decide();
    if (fault.delayMs > 0) {
      // The message is accepted after the delay even if the client gave up meanwhile, as a slow Meta would.
      setTimeout(() => this.accept(req, res, number, send, apiMajor, fault.serverError, fault.isDropped, endpoint), fault.delayMs);
    } else this.accept(req, res, number, send, apiMajor, fault.serverError, fault.isDropped, endpoint);
  }

  private accept(
    req: IncomingMessage,
    res: ServerResponse,
    number: NumberState,
    send: ValidSend,
    apiMajor: number,
    serverError: 131000 | 131016 | undefined,
    isDropped: boolean,
    endpoint: SendEndpoint,
  ): void {
    const now = this.now();
    const phoneNumberId = number.config.phoneNumberId;
    const wabaId = number.config.wabaId;
    // A BSUID Meta never issued is accepted and then fails 131026, like a phone that is not on WhatsApp
    // (docs/cloud-api-2026.md: Meta documents no synchronous error for it).
    const identity = send.recipientUserId === undefined ? this.users.identify(wabaId, send.waId) : this.users.resolve(wabaId, send.recipientUserId);
    // One person is one pair, whether addressed by phone or by BSUID.
    const pairKey = identity?.waId ?? send.recipientUserId!;
    // Checked here, after any injected delay, so concurrent sends to one pair cannot both pass.
    if (!this.pairRate.allows(phoneNumberId, pairKey, now)) {
      return this.fail(res, new GraphError(131056, 'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.'));
    }
    if (serverError !== undefined) {
      return this.fail(res, new GraphError(serverError, serverError === 131000 ? 'Something went wrong.' : 'A service is temporarily unavailable.'));
    }
    this.pairRate.record(phoneNumberId, pairKey, now);
    const isAddressedByUserId = send.recipientUserId !== undefined;
    const userId = identity?.userId ?? send.recipientUserId!;
    const wamid = this.ledger.append(phoneNumberId, identity?.waId ?? '', send.bizOpaqueCallbackData, send.templateName, now, {
      userId,
      isAddressedByUserId,
      endpoint,
    });
    this.accepted++;
    number.accepted++;
    this.scheduleOutcome(number, send, identity, wamid, apiMajor, now);
    if (isDropped) {
      req.socket.destroy();
      return;
    }
    const contact = isAddressedByUserId ? `"user_id":${JSON.stringify(send.recipientUserId)}` : `"wa_id":"${send.waId}"`;
    sendJson(
      res,
      200,
      `{"messaging_product":"whatsapp","contacts":[{"input":${JSON.stringify(send.input)},${contact}}],"messages":[{"id":"${wamid}","message_status":"accepted"}]}`,
    );
  }

  private scheduleOutcome(number: NumberState, send: ValidSend, identity: UserIdentity | undefined, wamid: string, apiMajor: number, now: number): void {
    const phoneNumberId = number.config.phoneNumberId;
    const waId = identity?.waId ?? '';
    const inboundAt = number.lastInboundAt.get(waId);
    const steps: OutcomeStep[] = planOutcome(
      {
        phoneNumberId,
        waId,
        bizOpaqueCallbackData: send.bizOpaqueCallbackData,
        category: send.category,
        quickReplyPayloads: send.quickReplyPayloads,
        hasStoppedMarketing: number.stoppedMarketing.has(waId),
        isUsMarketingBlocked: number.config.usMarketingBlocked ?? this.options.usMarketingBlocked ?? false,
        hasOpenServiceWindow: inboundAt !== undefined && inboundAt <= now && now - inboundAt < SERVICE_WINDOW_MS,
        isUnknownRecipient: identity === undefined,
      },
      this.outcomes,
      this.delays,
    );
    const isAddressedByUserId = send.recipientUserId !== undefined;
    const emitsParents = number.config.emitsParentUserIds === true;
    // Sent to the phone, the phone is shareable; sent to a BSUID, only when the user does not withhold it.
    const recipientId = !isAddressedByUserId ? send.waId : identity && identity.username === undefined ? identity.waId : undefined;
    const status: StatusFields = {
      phoneNumberId,
      wamid,
      recipientId,
      recipientUserId: identity?.userId ?? send.recipientUserId,
      recipientParentUserId: emitsParents && identity ? identity.parentUserId : undefined,
      username: identity?.username,
      isAddressedByUserId,
      bizOpaqueCallbackData: send.bizOpaqueCallbackData,
      category: send.pricingCategory,
      hasConversation: apiMajor < 24,
    };
    const context = { from: number.config.displayPhoneNumber, id: wamid };
    for (const step of steps) {
      switch (step.kind) {
        case 'status':
          this.dispatcher.schedule(step.atMs, now, statusEvent(status, step.status, step.hasPricing, undefined));
          break;
        case 'failed':
          this.dispatcher.schedule(step.atMs, now, statusEvent(status, 'failed', false, step.errorCode));
          break;
        case 'text': {
          const message: InboundEvent['message'] = { id: this.inboundWamid(), type: 'text', text: { body: step.body } };
          if (step.isQuoting) message.context = context;
          this.recordInbound(phoneNumberId, waId, step.atMs);
          this.dispatcher.schedule(step.atMs, now, { kind: 'message', phoneNumberId, sender: this.senderOf(phoneNumberId, identity!), message });
          break;
        }
        case 'button':
          this.recordInbound(phoneNumberId, waId, step.atMs);
          this.dispatcher.schedule(step.atMs, now, {
            kind: 'message',
            phoneNumberId,
            sender: this.senderOf(phoneNumberId, identity!),
            message: { id: this.inboundWamid(), type: 'button', button: { payload: step.payload, text: step.text }, context },
          });
          break;
        case 'stop_marketing':
          this.emitUserPreference(phoneNumberId, waId, 'stop', step.atMs);
          break;
      }
    }
  }

  /** `user` as phone digits (separators allowed) or an issued BSUID; throws `RangeError` for an unknown BSUID. */
  private identityOf(phoneNumberId: string, user: string): UserIdentity {
    const wabaId = this.requireNumber(phoneNumberId).config.wabaId;
    if (USER_ID_PATTERN.test(user)) {
      const identity = this.users.resolve(wabaId, user);
      if (!identity) throw new RangeError(`user id ${user} was not issued for WABA ${wabaId}`);
      return identity;
    }
    return this.users.identify(wabaId, user.replace(/\D/g, ''));
  }

  /** How inbound webhooks show `identity`: a username user's phone is withheld (see user-directory.ts). */
  private senderOf(phoneNumberId: string, identity: UserIdentity): Sender {
    const sender: Sender = {
      waId: identity.username === undefined ? identity.waId : undefined,
      userId: identity.userId,
      profileName: profileNameOf(identity.waId),
    };
    if (identity.username !== undefined) sender.username = identity.username;
    if (this.numbers.get(phoneNumberId)?.config.emitsParentUserIds) sender.parentUserId = identity.parentUserId;
    return sender;
  }

  private recordInbound(phoneNumberId: string, waId: string, delayMs: number): void {
    const inbound = this.numbers.get(phoneNumberId)?.lastInboundAt;
    if (!inbound || waId === '') return;
    const at = this.now() + delayMs;
    if ((inbound.get(waId) ?? Number.NEGATIVE_INFINITY) < at) inbound.set(waId, at);
  }

  private emitSystemMessage(
    number: NumberState,
    previous: UserIdentity,
    current: UserIdentity,
    type: 'user_changed_number' | 'user_changed_user_id',
    delayMs: number,
  ): void {
    const name = profileNameOf(previous.waId);
    const system: Record<string, unknown> =
      type === 'user_changed_number'
        ? { body: `User ${name} changed from ${previous.waId} to ${current.waId}`, wa_id: current.waId, type }
        : { body: `User ${name} changed their business-scoped user ID`, type };
    system.user_id = current.userId;
    system.previous_user_id = previous.userId;
    if (number.config.emitsParentUserIds) {
      system.parent_user_id = current.parentUserId;
      system.previous_parent_user_id = previous.parentUserId;
    }
    this.dispatcher.schedule(delayMs, this.now(), {
      kind: 'system',
      phoneNumberId: number.config.phoneNumberId,
      // The old phone only where the new one may be shared too.
      fromWaId: type === 'user_changed_number' ? previous.waId : undefined,
      fromUserId: previous.userId,
      message: { id: this.inboundWamid(), type: 'system', system },
    });
  }

  private requireNumber(phoneNumberId: string): NumberState {
    const number = this.numbers.get(phoneNumberId);
    if (!number) throw new RangeError(`number ${phoneNumberId} is not registered`);
    return number;
  }

  private numberOfTarget(target: WebhookTargetRef): NumberState {
    if (target.phoneNumberId) return this.requireNumber(target.phoneNumberId);
    for (const number of this.numbers.values()) if (number.config.wabaId === target.wabaId) return number;
    throw new RangeError(`no number is registered for WABA ${String(target.wabaId)}`);
  }

  private requireTemplate(wabaId: string, name: string, language: string): MessageTemplate {
    const template = this.catalog.find(wabaId, name, language)?.template;
    if (!template) throw new RangeError(`WABA ${wabaId} has no template ${name} in ${language}`);
    return template;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private handleTemplateList(req: IncomingMessage, res: ServerResponse, wabaId: string, version: string | undefined, query: URLSearchParams): void {
    req.resume();
    const tokens = this.tokensOfWaba(wabaId);
    if (tokens.length === 0) return this.fail(res, unknownObject(wabaId));
    if (!tokens.includes(req.headers.authorization ?? '')) return this.fail(res, invalidToken(req.headers.authorization));
    const limitParam = query.get('limit');
    const page = this.catalog.page(wabaId, {
      limit: limitParam ? Number(limitParam) || undefined : (this.options.templatePageSize ?? DEFAULT_TEMPLATE_PAGE_SIZE),
      after: query.get('after') ?? undefined,
      before: query.get('before') ?? undefined,
      status: query.get('status') ?? undefined,
      name: query.get('name') ?? undefined,
      fields: query.get('fields')?.split(',').map((f) => f.trim()).filter(Boolean),
    });
    const body: Record<string, unknown> = { data: page.data };
    if (page.cursors) {
      const paging: Record<string, unknown> = { cursors: page.cursors };
      if (page.hasNext) {
        const next = new URLSearchParams(query);
        next.delete('before');
        next.set('after', page.cursors.after);
        if (!next.has('limit')) next.set('limit', String(page.data.length));
        const origin = this.options.publicUrl?.replace(/\/+$/, '') ?? `http://${req.headers.host ?? '127.0.0.1'}`;
        paging.next = `${origin}${this.basePath}${version ? `/${version}` : ''}/${wabaId}/message_templates?${next}`;
      }
      body.paging = paging;
    }
    sendJson(res, 200, JSON.stringify(body));
  }

  private fail(res: ServerResponse, error: GraphError): void {
    this.rejected++;
    this.rejectedByCode.set(error.code, (this.rejectedByCode.get(error.code) ?? 0) + 1);
    sendJson(res, error.httpStatus, error.toBody(`A${this.runId}${(this.traceCounter++).toString(36)}`));
  }

  private inboundWamid(): string {
    return `wamid.HBgLIN${this.runId}_${(this.inboundCounter++).toString(36)}`;
  }

  private displayDigits(phoneNumberId: string): string {
    return this.numbers.get(phoneNumberId)?.config.displayPhoneNumber ?? '';
  }
}

/** What the status events of one accepted message share. */
type StatusFields = Omit<StatusEvent, 'kind' | 'status' | 'hasPricing' | 'errorCode'>;

/**
 * One status event of a message, every field written out (absent ones as undefined, which the payload omits alike):
 * an object spread per status was a measurable share of the simulator's CPU, and one shape keeps the payload code fast.
 */
function statusEvent(fields: StatusFields, status: StatusEvent['status'], hasPricing: boolean, errorCode: number | undefined): StatusEvent {
  return {
    kind: 'status',
    phoneNumberId: fields.phoneNumberId,
    wamid: fields.wamid,
    status,
    recipientId: fields.recipientId,
    recipientUserId: fields.recipientUserId,
    recipientParentUserId: fields.recipientParentUserId,
    username: fields.username,
    isAddressedByUserId: fields.isAddressedByUserId,
    bizOpaqueCallbackData: fields.bizOpaqueCallbackData,
    category: fields.category,
    hasPricing,
    hasConversation: fields.hasConversation,
    errorCode,
  };
}

function withDefaultDelays(delays: OutcomeDelays = {}): Required<OutcomeDelays> {
  return { sentMs: delays.sentMs ?? 20, deliveredMs: delays.deliveredMs ?? 100, readMs: delays.readMs ?? 300, replyMs: delays.replyMs ?? 500 };
}

function viewOf(identity: UserIdentity): UserIdentityView {
  const view: UserIdentityView = { wa_id: identity.waId, user_id: identity.userId, parent_user_id: identity.parentUserId };
  if (identity.username !== undefined) view.username = identity.username;
  return view;
}

function profileNameOf(waId: string): string {
  return PROFILE_NAMES[Number(waId.slice(-1)) % PROFILE_NAMES.length]!;
}

function unknownObject(id: string): GraphError {
  return new GraphError(
    100,
    `Unsupported request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
  );
}

function invalidToken(header: string | undefined): GraphError {
  return new GraphError(190, header ? 'Invalid OAuth access token - Cannot parse access token' : 'An active access token must be used.');
}

/**
 * The Authorization header read from `rawHeaders`: touching `req.headers` makes Node build the whole header
 * object, a measurable share of a send at 10,000 requests/s.
 */
function authorizationOf(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') return raw[i + 1];
  }
  return undefined;
}

/** A body some upstream middleware already parsed (e.g. Express's json()), used when the stream was empty. */
function bodyParsedUpstream(req: IncomingMessage): unknown {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed === undefined) throw new SyntaxError('empty body');
  return parsed;
}

/** Collects the body as UTF-8; calls back with undefined when it exceeds `MAX_BODY_BYTES`. */
function readBody(req: IncomingMessage, done: (raw: string | undefined) => void): void {
  if (req.readableEnded) return done('');
  // Bodies are almost always one chunk; decoding once at the end skips a StringDecoder per request.
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (bytes > MAX_BODY_BYTES) return done(undefined);
    done(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
  });
  req.on('error', () => undefined);
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, ['content-type', JSON_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body))]);
  res.end(body);
}
