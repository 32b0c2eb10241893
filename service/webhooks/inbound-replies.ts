// Replies and opt-outs: what each inbound message and preference change means for the rows and the suppression
// list, as data the store applies in one step: the reply of the row it answers, and the suppression of people who
// opt out (keyword, opt-out button, or Meta's marketing `stop` preference).
import type { PreferenceChange, ReplyChange } from '../campaigns/ports';
import type { InboundEvent, PreferenceEvent } from './meta-events';
import { isOptOutReply } from './opt-out-words';
import { recipientVariants } from './recipient-variants';

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

/** The replies and preference changes of one webhook body; `optOutWords` are the account's own, on top of ours. */
export function inboundChanges(
  inbound: readonly InboundEvent[], preferences: readonly PreferenceEvent[], optOutWords: readonly string[], nowMs: number,
): { replies: ReplyChange[]; preferences: PreferenceChange[] } {
  const replies: ReplyChange[] = [];
  for (const event of inbound) {
    if (event.type === 'system') continue;
    const text = replyText(event.raw, event.type);
    // A reaction's target is in reaction.message_id, not in context.
    const reactedTo = event.type === 'reaction' ? ((event.raw.reaction as Json | undefined)?.message_id as string | undefined) : undefined;
    const isOptOut = (event.type === 'text' || event.type === 'button' || event.type === 'interactive')
      && isOptOutReply(text, optOutWords)
      || (event.type === 'button' && isOptOutReply(String(((event.raw.button ?? {}) as Json).payload ?? ''), optOutWords));
    replies.push({
      contextWamid: event.contextWamid ?? reactedTo ?? null,
      recipients: event.from === null ? [] : recipientVariants(event.from),
      userId: event.fromUserId,
      text,
      atMs: event.timestampMs ?? nowMs,
      isOptOut,
    });
  }
  const changes: PreferenceChange[] = [];
  for (const preference of preferences) {
    if (preference.category !== null && preference.category !== 'marketing_messages') continue;
    if (preference.value !== 'stop' && preference.value !== 'resume') continue;
    changes.push({
      recipients: preference.waId === null ? [] : recipientVariants(preference.waId), userId: preference.userId,
      value: preference.value,
    });
  }
  return { replies, preferences: changes };
}
