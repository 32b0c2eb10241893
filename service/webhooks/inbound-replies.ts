// Replies and opt-outs: ties each inbound message to the campaign message it answers, keeps it as that row's
// reply, and suppresses numbers that opt out (keyword, opt-out button, or Meta's marketing `stop` preference).
import type { AccountStore, TrackedMessage } from '../campaigns/ports';
import type { InboundEvent, PreferenceEvent } from './meta-events';
import { isOptOutReply } from './opt-out-words';
import { recipientVariants } from './recipient-variants';
import type { InboundHandler } from './webhook-processor';

/** What the reply handler needs from the store; called inside the webhook's transaction. */
export interface ReplyStore extends AccountStore {
  findMessageByWamid(accountId: string, wamid: string): TrackedMessage | null;
  /** The latest sent campaign message to any of `recipients`. */
  findLatestSentTo(accountId: string, recipients: readonly string[]): TrackedMessage | null;
  setReply(messageId: number, text: string, atMs: number, nowMs: number): void;
  addSuppression(accountId: string, to: string, source: string, nowMs: number): void;
  removeSuppression(accountId: string, to: string): boolean;
}

type Json = Record<string, unknown>;

/** The reply as the sheet shows it: the text, the button's title, or a label for media and the like. */
export function replyText(raw: Json, type: string): string {
  const part = (raw[type] ?? {}) as Json;
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  switch (type) {
    case 'text':
      return str(part.body) ?? '';
    case 'button':
      return str(part.text) ?? str(part.payload) ?? '[button]';
    case 'interactive': {
      const reply = (part.button_reply ?? part.list_reply ?? part.nfm_reply) as Json | undefined;
      return str(reply?.title) ?? str(reply?.id) ?? '[interactive reply]';
    }
    case 'image':
    case 'video':
    case 'document':
    case 'audio':
    case 'sticker': {
      const caption = str(part.caption);
      return caption ? `[${type}] ${caption}` : `[${type}]`;
    }
    case 'reaction':
      return str(part.emoji) ? `[reaction] ${part.emoji as string}` : '[reaction removed]';
    case 'location':
      return `[location] ${[str(part.name), str(part.address)].filter(Boolean).join(', ')}`.trim();
    case 'contacts':
      return '[contact card]';
    case 'system':
      return `[system] ${str(part.body) ?? str(part.type) ?? ''}`.trim();
    case 'unsupported':
      return '[unsupported message]';
    default:
      return `[${type}]`;
  }
}

export class InboundReplies implements InboundHandler {
  constructor(private readonly store: ReplyStore) {}

  handle(accountId: string, inbound: readonly InboundEvent[], preferences: readonly PreferenceEvent[], nowMs: number): Set<string> {
    const touched = new Set<string>();
    const account = this.store.getAccount(accountId);
    for (const event of inbound) {
      if (event.type === 'system') continue;
      const text = replyText(event.raw, event.type);
      const at = event.timestampMs ?? nowMs;
      // A reaction's target is in reaction.message_id, not in context.
      const reactedTo = event.type === 'reaction' ? ((event.raw.reaction as Json | undefined)?.message_id as string | undefined) : undefined;
      const contextWamid = event.contextWamid ?? reactedTo ?? null;
      const variants = recipientVariants(event.from);
      const message = (contextWamid ? this.store.findMessageByWamid(accountId, contextWamid) : null)
        ?? this.store.findLatestSentTo(accountId, variants);
      if (message) {
        this.store.setReply(message.id, text, at, nowMs);
        touched.add(message.campaignId);
      }
      const isOptOut = (event.type === 'text' || event.type === 'button' || event.type === 'interactive')
        && isOptOutReply(text, account?.optOutWords ?? [])
        || (event.type === 'button' && isOptOutReply(String(((event.raw.button ?? {}) as Json).payload ?? ''), account?.optOutWords ?? []));
      if (isOptOut) this.store.addSuppression(accountId, message?.to ?? (variants[0] as string), 'keyword', nowMs);
    }
    for (const preference of preferences) {
      if (preference.category !== null && preference.category !== 'marketing_messages') continue;
      const variants = recipientVariants(preference.waId);
      const known = this.store.findLatestSentTo(accountId, variants);
      const to = known?.to ?? (variants[0] as string);
      if (preference.value === 'stop') this.store.addSuppression(accountId, to, 'user_preferences', nowMs);
      else if (preference.value === 'resume') for (const v of variants) this.store.removeSuppression(accountId, v);
    }
    return touched;
  }
}
