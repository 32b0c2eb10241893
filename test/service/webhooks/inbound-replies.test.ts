import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { Campaign } from '../../../service/campaigns/ports';
import type { TemplateDefinition } from '../../../service/campaigns/template';
import { InboundReplies, replyText } from '../../../service/webhooks/inbound-replies';
import { readMetaEvents, type InboundEvent, type PreferenceEvent } from '../../../service/webhooks/meta-events';
import { isOptOutReply } from '../../../service/webhooks/opt-out-words';
import { recipientVariants } from '../../../service/webhooks/recipient-variants';

const plain = { encrypt: (s: string) => s, decrypt: (s: string) => s };
const template: TemplateDefinition = {
  name: 't', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi', footerText: null, buttons: [], parameters: [],
};
const NOW = Date.UTC(2026, 0, 1);

function inbound(from: string, type: string, part: unknown, contextWamid?: string): InboundEvent {
  const payload = {
    object: 'whatsapp_business_account',
    entry: [{ id: 'w', changes: [{ field: 'messages', value: {
      metadata: { phone_number_id: 'p1' },
      messages: [{ from, id: `wamid.in.${Math.random()}`, timestamp: String(NOW / 1000 + 60), type, [type]: part,
        ...(contextWamid ? { context: { from: '15550001', id: contextWamid } } : {}) }],
    } }] }],
  };
  return readMetaEvents(payload).events[0] as InboundEvent;
}

describe('InboundReplies', () => {
  let store: SqliteStore;
  let replies: InboundReplies;

  beforeEach(() => {
    store = new SqliteStore(':memory:', plain);
    store.insertAccount({
      account: { id: 'a1', name: 'A', isSandbox: true, phoneNumberId: 'p1', wabaId: 'w1', messagesPerSecond: 80, dailyLimit: null,
        defaultCountry: null, retentionDays: 30, optOutWords: ['basta'], createdAt: NOW },
      secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: 'h1',
    });
    const campaign: Campaign = { id: 'c1', accountId: 'a1', name: 'c', template: { name: 't', language: 'en_US' }, templateDefinition: template,
      sendAt: null, defaultCountry: null, sheet: null, state: 'running', stateReason: null, createdAt: NOW, startedAt: NOW, finishedAt: null };
    store.insertCampaign(campaign);
    for (const [key, to, wamid] of [['k1', '+5511987654321', 'wamid.A'], ['k2', '+5215512345678', 'wamid.B'], ['k3', '+447700900123', 'wamid.C']] as const) {
      store.insertMessage('c1', 'a1', { key, to, params: {}, headerMedia: null, status: 'queued' }, NOW);
      const id = store.loadQueued('c1', 0, 10).find((m) => m.to === to)?.id as number;
      store.markSending([id], NOW);
      store.recordSendOutcomes([{ id, kind: 'sent', wamid }], NOW);
    }
    replies = new InboundReplies(store);
  });
  afterEach(() => store.close());

  const replyOf = (key: string) => store.listMessagesChangedAfter('c1', 0, 100).find((m) => m.key === key)?.reply ?? null;

  it('stores a quick-reply tap as the reply of the message its context names', () => {
    const touched = replies.handle('a1', [inbound('447700900123', 'button', { payload: 'YES', text: 'Yes please' }, 'wamid.C')], [], NOW);
    expect(touched).toEqual(new Set(['c1']));
    expect(replyOf('k3')).toEqual({ text: 'Yes please', at: NOW + 60_000 });
  });

  it('finds the row of a Brazilian number whose ninth digit Meta dropped, and of a Mexican number with the mobile 1', () => {
    replies.handle('a1', [inbound('551187654321', 'text', { body: 'Olá! 😀' })], [], NOW);
    replies.handle('a1', [inbound('525512345678', 'text', { body: 'gracias' })], [], NOW);
    expect(replyOf('k1')?.text).toBe('Olá! 😀');
    expect(replyOf('k2')?.text).toBe('gracias');
  });

  it('labels media, reactions and interactive replies', () => {
    expect(replyText({ image: { caption: 'look' } }, 'image')).toBe('[image] look');
    expect(replyText({ reaction: { emoji: '👍', message_id: 'x' } }, 'reaction')).toBe('[reaction] 👍');
    expect(replyText({ interactive: { type: 'button_reply', button_reply: { id: 'b', title: 'Book now' } } }, 'interactive')).toBe('Book now');
    expect(replyText({}, 'unsupported')).toBe('[unsupported message]');
  });

  it('suppresses a number that answers with an opt-out word, in any listed language or the account own', () => {
    replies.handle('a1', [inbound('447700900123', 'text', { body: ' Stop! ' })], [], NOW);
    expect(store.isSuppressed('a1', '+447700900123')).toBe(true);
    replies.handle('a1', [inbound('5511987654321', 'text', { body: 'BASTA' })], [], NOW);
    expect(store.isSuppressed('a1', '+5511987654321')).toBe(true);
    expect(isOptOutReply('berhenti')).toBe(true);
    expect(isOptOutReply('توقف')).toBe(true);
    expect(isOptOutReply('please stop by the shop')).toBe(false);
  });

  it('puts a marketing stop preference on the list and takes it off on resume', () => {
    const pref = (value: string): PreferenceEvent => ({ kind: 'preference', phoneNumberId: 'p1', waId: '447700900123', category: 'marketing_messages', value, timestampMs: NOW });
    replies.handle('a1', [], [pref('stop')], NOW);
    expect(store.listSuppressions('a1')).toEqual([{ to: '+447700900123', source: 'user_preferences', createdAt: NOW }]);
    replies.handle('a1', [], [pref('resume')], NOW);
    expect(store.isSuppressed('a1', '+447700900123')).toBe(false);
  });

  it('spells rewritten numbers both ways', () => {
    expect(recipientVariants('551187654321')).toEqual(['+551187654321', '+5511987654321']);
    expect(recipientVariants('5215512345678')).toEqual(['+5215512345678', '+525512345678']);
    expect(recipientVariants('447700900123')).toEqual(['+447700900123']);
  });
});
