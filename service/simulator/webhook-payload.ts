// Webhook events the simulator emits and how a batch of them becomes Meta's `whatsapp_business_account`
// payload text (CLOUD_API.md §5.3, §5.4, §7, §11, §12). Shapes only: no timing, signing or delivery.

import { serializeLikeMeta } from './webhook-signature';

/** Where a number's events go and how they are addressed. */
export interface WebhookTarget {
  webhookUrl: string;
  appSecret: string;
  wabaId: string;
  displayPhoneNumber: string;
}

export interface StatusEvent {
  kind: 'status';
  phoneNumberId: string;
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  /** `recipient_id` (and the contact's `wa_id`); undefined = omitted (a BSUID send to a user who withholds it). */
  recipientId: string | undefined;
  /**
   * `recipient_user_id`: on sent/delivered/read, and on failed only when the send was addressed by BSUID. The
   * simulator always sets it; it is optional only for callers building payloads by hand (webhook-intake-bench.ts).
   */
  recipientUserId?: string;
  /** `recipient_parent_user_id`, for numbers that emit parent BSUIDs. */
  recipientParentUserId?: string;
  /** The recipient's username: `profile.username` of the status contact on delivered and read. */
  username?: string;
  /** The send used `recipient` (a BSUID) rather than `to`. */
  isAddressedByUserId?: boolean;
  bizOpaqueCallbackData: string | undefined;
  /** Lowercase pricing category; pricing is attached when `hasPricing`. */
  category: string;
  hasPricing: boolean;
  /** The `conversation` object exists only before v24.0 (CLOUD_API.md §5.3). */
  hasConversation: boolean;
  errorCode?: number;
}

/** Who sent an inbound event, as the webhook may show them (CLOUD_API.md §11). */
export interface Sender {
  /** Phone digits (`from`, `wa_id`); undefined = withheld, and then omitted, not empty. */
  waId: string | undefined;
  userId: string;
  parentUserId?: string;
  profileName: string;
  username?: string;
}

export interface InboundEvent {
  kind: 'message';
  phoneNumberId: string;
  sender: Sender;
  /** The `messages[]` item without `from`/`from_user_id`/`timestamp`, which are filled in when the event is sent. */
  message: { id: string; type: 'text' | 'button'; [key: string]: unknown };
}

/** A `type: "system"` message (user_changed_number, user_changed_user_id): no `contacts` array. */
export interface SystemEvent {
  kind: 'system';
  phoneNumberId: string;
  /** `from` (the old phone, when shareable) and `from_user_id` (the previous BSUID). */
  fromWaId: string | undefined;
  fromUserId: string;
  message: { id: string; type: 'system'; system: Record<string, unknown> };
}

export interface PreferenceEvent {
  kind: 'user_preferences';
  phoneNumberId: string;
  sender: Sender;
  value: 'stop' | 'resume';
}

/** A `whatsapp_business_account` change of a management field (template, quality, account updates). */
export interface ManagementEvent {
  kind: 'management';
  phoneNumberId: string;
  field: string;
  value: Record<string, unknown>;
}

export type WebhookEvent = StatusEvent | InboundEvent | SystemEvent | PreferenceEvent | ManagementEvent;

/** Titles and details Meta attaches to asynchronous failures (CLOUD_API.md §4). */
const failureTexts: Record<number, [title: string, details: string]> = {
  131026: ['Message undeliverable', 'Message Undeliverable.'],
  131049: [
    'This message was not delivered to maintain healthy ecosystem engagement.',
    'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.',
  ],
  131050: [
    'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
    'The user has stopped marketing messages from this business.',
  ],
};

/** A JSON string literal with `/` escaped as Meta does. */
function quote(value: string): string {
  const json = JSON.stringify(value);
  return json.includes('/') ? json.replaceAll('/', '\\/') : json;
}

const pricingJson = new Map<string, string>();
function pricingFor(category: string): string {
  let json = pricingJson.get(category);
  if (json === undefined) {
    json = `{"billable":true,"pricing_model":"PMP","type":"regular","category":${quote(category)}}`;
    pricingJson.set(category, json);
  }
  return json;
}

/**
 * One `statuses[]` item as JSON text. Built by concatenation rather than `JSON.stringify` of an object because
 * benchmarks emit tens of thousands a second; ids and digits never need escaping, free text goes through `quote`.
 */
function statusJson(event: StatusEvent, timestamp: string): string {
  let json = `{"id":"${event.wamid}","status":"${event.status}","timestamp":"${timestamp}"`;
  if (event.recipientId !== undefined) json += `,"recipient_id":"${event.recipientId}"`;
  // Failed statuses of a send to a phone carry no BSUID (CLOUD_API.md §11).
  if (event.status !== 'failed' || event.isAddressedByUserId) {
    if (event.recipientUserId !== undefined) json += `,"recipient_user_id":"${event.recipientUserId}"`;
    if (event.recipientParentUserId !== undefined) json += `,"recipient_parent_user_id":"${event.recipientParentUserId}"`;
  }
  if (event.bizOpaqueCallbackData !== undefined) json += `,"biz_opaque_callback_data":${quote(event.bizOpaqueCallbackData)}`;
  if (event.hasConversation && event.status !== 'failed') {
    json += `,"conversation":{"id":"conv-${event.recipientId ?? event.recipientUserId ?? ''}","origin":{"type":${quote(event.category)}}}`;
  }
  if (event.hasPricing) json += `,"pricing":${pricingFor(event.category)}`;
  if (event.errorCode !== undefined) {
    const [title, details] = failureTexts[event.errorCode] ?? ['Something went wrong', 'Unknown error.'];
    json += `,"errors":[${serializeLikeMeta({
      code: event.errorCode,
      title,
      message: title,
      error_data: { details },
      href: '/documentation/business-messaging/whatsapp/support/error-codes',
    })}]`;
  }
  return `${json}}`;
}

/**
 * The `contacts` block of a statuses change: one entry per recipient of a sent, delivered or read status (failed
 * ones have none), with `wa_id` when shareable and `profile.username` when a delivered or read status is there.
 */
function statusContactsJson(statuses: StatusEvent[], start: number, end: number): string | undefined {
  // The first status of each recipient, in first-seen order, and whether any of theirs carries the username: kept in
  // two arrays indexed through the map rather than an entry object per recipient.
  let indexOf: Map<string, number> | undefined;
  const firsts: StatusEvent[] = [];
  const hasUsernames: boolean[] = [];
  for (let i = start; i < end; i++) {
    const event = statuses[i]!;
    if (event.status === 'failed' || event.recipientUserId === undefined) continue;
    indexOf ??= new Map();
    const at = indexOf.get(event.recipientUserId);
    const hasUsername = event.username !== undefined && event.status !== 'sent';
    if (at === undefined) {
      indexOf.set(event.recipientUserId, firsts.length);
      firsts.push(event);
      hasUsernames.push(hasUsername);
    } else if (hasUsername) hasUsernames[at] = true;
  }
  if (firsts.length === 0) return undefined;
  let json = '[';
  for (let i = 0; i < firsts.length; i++) {
    const event = firsts[i]!;
    json += i === 0 ? '{' : ',{';
    if (hasUsernames[i]) json += `"profile":{"username":${quote(event.username!)}},`;
    if (event.recipientId !== undefined) json += `"wa_id":"${event.recipientId}",`;
    json += `"user_id":"${event.recipientUserId}"`;
    if (event.recipientParentUserId !== undefined) json += `,"parent_user_id":"${event.recipientParentUserId}"`;
    json += '}';
  }
  return `${json}]`;
}

/** The `statuses` change of `statuses[start..end)`, after `head` (the change's value up to its metadata). */
function statusChangeJson(head: string, statuses: StatusEvent[], start: number, end: number, timestamp: string): string {
  const contacts = statusContactsJson(statuses, start, end);
  let json = contacts ? `${head},"contacts":${contacts},"statuses":[` : `${head},"statuses":[`;
  for (let i = start; i < end; i++) {
    if (i > start) json += ',';
    json += statusJson(statuses[i]!, timestamp);
  }
  return `${json}]},"field":"messages"}`;
}

/** A contact as inbound and preference webhooks carry it: `wa_id` only when shareable. */
function contactOf(sender: Sender): Record<string, unknown> {
  const profile: Record<string, unknown> = { name: sender.profileName };
  if (sender.username !== undefined) profile.username = sender.username;
  const contact: Record<string, unknown> = { profile };
  if (sender.waId !== undefined) contact.wa_id = sender.waId;
  contact.user_id = sender.userId;
  if (sender.parentUserId !== undefined) contact.parent_user_id = sender.parentUserId;
  return contact;
}

/** The sender fields of a `messages[]` item: `from` only when shareable, the BSUID always. */
function fromFieldsOf(waId: string | undefined, userId: string, parentUserId?: string): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (waId !== undefined) fields.from = waId;
  fields.from_user_id = userId;
  if (parentUserId !== undefined) fields.from_parent_user_id = parentUserId;
  return fields;
}

/**
 * A `messages[]` item: the sender fields, then the message's own, then `timestamp`, with the keys and order of
 * `{...from, ...message, timestamp}`. Assigned rather than spread: V8 spreads these variously shaped messages into a
 * new literal several times slower (about 4 µs against 1 µs an item, serialised, on this machine).
 */
function messageItem(from: Record<string, unknown>, message: Record<string, unknown>, timestamp: string): Record<string, unknown> {
  const item = Object.assign(from, message);
  item.timestamp = timestamp;
  return item;
}

/**
 * Builds one POST body (JSON text, already escaped as Meta sends it) from events bound for one URL. Events are
 * grouped per WABA into `entry[]` and per number and field into `changes[]`. `variant` (a per-POST counter)
 * deterministically varies the grouping the way Meta's does: some POSTs split one number's statuses over two
 * changes or two entries, so receivers that read only `entry[0].changes[0]` fail tests.
 */
export function buildPayload(
  events: WebhookEvent[],
  targetOf: (phoneNumberId: string) => WebhookTarget | undefined,
  nowSeconds: number,
  variant: number,
): string {
  const timestamp = String(nowSeconds);
  type Group = {
    target: WebhookTarget;
    phoneNumberId: string;
    statuses: StatusEvent[];
    messages: unknown[];
    contacts: Map<string, unknown>;
    systemMessages: unknown[];
    preferences: unknown[];
    preferenceContacts: Map<string, unknown>;
    management: string[];
  };
  const groups = new Map<string, Group>();
  for (const event of events) {
    let group = groups.get(event.phoneNumberId);
    if (!group) {
      const target = targetOf(event.phoneNumberId);
      if (!target) continue;
      group = {
        target,
        phoneNumberId: event.phoneNumberId,
        statuses: [],
        messages: [],
        contacts: new Map(),
        systemMessages: [],
        preferences: [],
        preferenceContacts: new Map(),
        management: [],
      };
      groups.set(event.phoneNumberId, group);
    }
    switch (event.kind) {
      case 'status':
        group.statuses.push(event);
        break;
      case 'message': {
        const { sender } = event;
        group.contacts.set(sender.userId, contactOf(sender));
        group.messages.push(messageItem(fromFieldsOf(sender.waId, sender.userId, sender.parentUserId), event.message, timestamp));
        break;
      }
      case 'system':
        group.systemMessages.push(messageItem(fromFieldsOf(event.fromWaId, event.fromUserId), event.message, timestamp));
        break;
      case 'user_preferences': {
        const { sender } = event;
        group.preferenceContacts.set(sender.userId, contactOf(sender));
        const item: Record<string, unknown> = {};
        if (sender.waId !== undefined) item.wa_id = sender.waId;
        item.user_id = sender.userId;
        if (sender.parentUserId !== undefined) item.parent_user_id = sender.parentUserId;
        item.detail = event.value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages';
        item.category = 'marketing_messages';
        item.value = event.value;
        item.timestamp = nowSeconds;
        group.preferences.push(item);
        break;
      }
      case 'management':
        group.management.push(`{"value":${serializeLikeMeta(event.value)},"field":${quote(event.field)}}`);
        break;
    }
  }

  const entries = new Map<string, string[][]>();
  const addChange = (wabaId: string, change: string, inNewEntry: boolean) => {
    let list = entries.get(wabaId);
    if (!list) entries.set(wabaId, (list = []));
    if (inNewEntry || list.length === 0) list.push([]);
    list[list.length - 1]!.push(change);
  };
  // Management changes go in entries of their own, which carry `time` as Meta's management webhooks do.
  const managementByWaba = new Map<string, string[]>();
  const splitChanges = variant % 3 === 1;
  const splitEntries = variant % 4 === 2;
  for (const group of groups.values()) {
    const { wabaId, displayPhoneNumber } = group.target;
    const head = `{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":${quote(displayPhoneNumber)},"phone_number_id":${quote(group.phoneNumberId)}}`;
    // Split or not, without copying the statuses into chunk arrays: [0, half) and [half, n) of the same array.
    const n = group.statuses.length;
    if ((splitChanges || splitEntries) && n > 1) {
      addChange(wabaId, statusChangeJson(head, group.statuses, 0, n >> 1, timestamp), false);
      addChange(wabaId, statusChangeJson(head, group.statuses, n >> 1, n, timestamp), splitEntries);
    } else if (n > 0) addChange(wabaId, statusChangeJson(head, group.statuses, 0, n, timestamp), false);
    if (group.messages.length) {
      const value = serializeLikeMeta({ contacts: [...group.contacts.values()], messages: group.messages }).slice(1);
      addChange(wabaId, `${head},${value},"field":"messages"}`, false);
    }
    if (group.systemMessages.length) {
      addChange(wabaId, `${head},"messages":${serializeLikeMeta(group.systemMessages)}},"field":"messages"}`, false);
    }
    if (group.preferences.length) {
      const value = serializeLikeMeta({ contacts: [...group.preferenceContacts.values()], user_preferences: group.preferences }).slice(1);
      addChange(wabaId, `${head},${value},"field":"user_preferences"}`, false);
    }
    if (group.management.length) managementByWaba.set(wabaId, [...(managementByWaba.get(wabaId) ?? []), ...group.management]);
  }
  const entryJson: string[] = [];
  for (const [wabaId, list] of entries) for (const changes of list) entryJson.push(`{"id":${quote(wabaId)},"changes":[${changes.join(',')}]}`);
  for (const [wabaId, changes] of managementByWaba) entryJson.push(`{"id":${quote(wabaId)},"time":${nowSeconds},"changes":[${changes.join(',')}]}`);
  return `{"object":"whatsapp_business_account","entry":[${entryJson.join(',')}]}`;
}
