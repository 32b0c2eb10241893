// Webhook events the simulator emits and how a batch of them becomes Meta's `whatsapp_business_account`
// payload text (CLOUD_API.md §5.3, §5.4, §7). Shapes only: no timing, signing or delivery.

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
  recipientId: string;
  bizOpaqueCallbackData: string | undefined;
  /** Lowercase pricing category; pricing is attached when `hasPricing`. */
  category: string;
  hasPricing: boolean;
  /** The `conversation` object exists only before v24.0 (CLOUD_API.md §5.3). */
  hasConversation: boolean;
  errorCode?: number;
}

export interface InboundEvent {
  kind: 'message';
  phoneNumberId: string;
  from: string;
  profileName: string;
  /** The `messages[]` item without `from`/`timestamp`, which are filled in when the event is sent. */
  message: { id: string; type: 'text' | 'button'; [key: string]: unknown };
}

export interface PreferenceEvent {
  kind: 'user_preferences';
  phoneNumberId: string;
  waId: string;
  value: 'stop' | 'resume';
}

export type WebhookEvent = StatusEvent | InboundEvent | PreferenceEvent;

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
  let json = `{"id":"${event.wamid}","status":"${event.status}","timestamp":"${timestamp}","recipient_id":"${event.recipientId}"`;
  if (event.bizOpaqueCallbackData !== undefined) json += `,"biz_opaque_callback_data":${quote(event.bizOpaqueCallbackData)}`;
  if (event.hasConversation && event.status !== 'failed') {
    json += `,"conversation":{"id":"conv-${event.recipientId}","origin":{"type":${quote(event.category)}}}`;
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
  type Group = { target: WebhookTarget; phoneNumberId: string; statuses: string[]; messages: unknown[]; contacts: Map<string, unknown>; preferences: unknown[] };
  const groups = new Map<string, Group>();
  for (const event of events) {
    let group = groups.get(event.phoneNumberId);
    if (!group) {
      const target = targetOf(event.phoneNumberId);
      if (!target) continue;
      group = { target, phoneNumberId: event.phoneNumberId, statuses: [], messages: [], contacts: new Map(), preferences: [] };
      groups.set(event.phoneNumberId, group);
    }
    if (event.kind === 'status') group.statuses.push(statusJson(event, timestamp));
    else if (event.kind === 'message') {
      group.contacts.set(event.from, { profile: { name: event.profileName }, wa_id: event.from });
      group.messages.push({ from: event.from, ...event.message, timestamp });
    } else {
      group.preferences.push({
        wa_id: event.waId,
        detail: event.value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages',
        category: 'marketing_messages',
        value: event.value,
        timestamp: nowSeconds,
      });
    }
  }

  const entries = new Map<string, string[][]>();
  const addChange = (wabaId: string, change: string, inNewEntry: boolean) => {
    let list = entries.get(wabaId);
    if (!list) entries.set(wabaId, (list = []));
    if (inNewEntry || list.length === 0) list.push([]);
    list[list.length - 1]!.push(change);
  };
  const splitChanges = variant % 3 === 1;
  const splitEntries = variant % 4 === 2;
  for (const group of groups.values()) {
    const { wabaId, displayPhoneNumber } = group.target;
    const head = `{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":${quote(displayPhoneNumber)},"phone_number_id":${quote(group.phoneNumberId)}}`;
    const n = group.statuses.length;
    const statusChunks = (splitChanges || splitEntries) && n > 1 ? [group.statuses.slice(0, n >> 1), group.statuses.slice(n >> 1)] : [group.statuses];
    statusChunks.forEach((statuses, i) => {
      if (statuses.length) addChange(wabaId, `${head},"statuses":[${statuses.join(',')}]},"field":"messages"}`, splitEntries && i > 0);
    });
    if (group.messages.length) {
      const value = serializeLikeMeta({ contacts: [...group.contacts.values()], messages: group.messages }).slice(1);
      addChange(wabaId, `${head},${value},"field":"messages"}`, false);
    }
    if (group.preferences.length) {
      addChange(wabaId, `${head},"user_preferences":${serializeLikeMeta(group.preferences)}},"field":"user_preferences"}`, false);
    }
  }
  const entryJson: string[] = [];
  for (const [wabaId, list] of entries) for (const changes of list) entryJson.push(`{"id":${quote(wabaId)},"changes":[${changes.join(',')}]}`);
  return `{"object":"whatsapp_business_account","entry":[${entryJson.join(',')}]}`;
}
