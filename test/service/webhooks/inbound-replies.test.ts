// Replies and opt-outs end to end at the store: inboundChanges turns Meta's inbound messages and preference changes
// into reply and preference changes, and an apply_webhook write (after its save_webhook) applies them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { SenderFence, WebhookApplied } from '../../../service/campaigns/ports';
import { inboundChanges, replyText } from '../../../service/webhooks/inbound-replies';
import { readMetaEvents, type InboundEvent, type PreferenceEvent } from '../../../service/webhooks/meta-events';
import { isOptOutReply } from '../../../service/webhooks/opt-out-words';
import { recipientVariants } from '../../../service/webhooks/recipient-variants';
import {
  NOW, addRows, applyEffects, newAccount, newCampaign, newRow, plainCipher, sendRows, takeLease, viewsByKey,
} from '../store-contract/store-contract';

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

function preference(waId: string, value: string, category: string | null = 'marketing_messages'): PreferenceEvent {
  return { kind: 'preference', phoneNumberId: 'p1', waId, userId: null, category, value, timestampMs: NOW };
}

describe('inbound replies and preferences applied through writeBatch', () => {
  let store: SqliteStore;
  let fence: SenderFence;

  /** What the webhook processor does with a body's inbound events: inboundChanges with the account's words, then one apply. */
  const handle = async (events: InboundEvent[], preferences: PreferenceEvent[] = [], nowMs = NOW): Promise<WebhookApplied> => {
    const optOutWords = (await store.getAccount('a1'))?.optOutWords ?? [];
    return applyEffects(store, 'a1', inboundChanges(events, preferences, optOutWords, nowMs), nowMs);
  };
  const replyOf = async (key: string, campaignId = 'c1') => (await viewsByKey(store, campaignId)).get(key)?.reply ?? null;
  const isSuppressed = async (to: string) => (await store.suppressedAmong('a1', [to])).has(to);

  beforeEach(async () => {
    store = new SqliteStore(':memory:', plainCipher);
    await store.insertAccount(newAccount('a1', { phoneNumberId: 'p1', optOutWords: ['basta'] }));
    await store.insertCampaign(newCampaign('a1', 'c1'));
    fence = await takeLease(store, 'a1');
    const sends = [['k1', '+5511987654321', 'wamid.A'], ['k2', '+5215512345678', 'wamid.B'], ['k3', '+447700900123', 'wamid.C']] as const;
    const ids = await addRows(store, 'a1', 'c1', sends.map(([key, to]) => newRow(to, key)));
    await sendRows(store, fence, sends.map(([, to, wamid]) => ({ id: ids.get(to) as number, wamid })));
  });
  afterEach(async () => {
    await store?.close();
  });

  it('stores a quick-reply tap as the reply of the message its context names', async () => {
    const applied = await handle([inbound('447700900123', 'button', { payload: 'YES', text: 'Yes please' }, 'wamid.C')]);
    expect(applied.touchedCampaignIds).toEqual(['c1']);
    expect(await replyOf('k3')).toEqual({ text: 'Yes please', at: NOW + 60_000 });
  });

  it('finds the row of a Brazilian number whose ninth digit Meta dropped, and of a Mexican number with the mobile 1', async () => {
    await handle([inbound('551187654321', 'text', { body: 'Olá! 😀' })]);
    await handle([inbound('525512345678', 'text', { body: 'gracias' })]);
    expect((await replyOf('k1'))?.text).toBe('Olá! 😀');
    expect((await replyOf('k2'))?.text).toBe('gracias');
  });

  it('without a quoted message, goes to the latest send to the person; with one, to the message it quotes', async () => {
    await store.insertCampaign(newCampaign('a1', 'c2', 'running', NOW + 5));
    const later = await addRows(store, 'a1', 'c2', [newRow('+447700900123', 'k3')]);
    await sendRows(store, fence, [{ id: later.get('+447700900123') as number, wamid: 'wamid.C2' }], NOW + 10);

    const latest = await handle([inbound('447700900123', 'text', { body: 'which one?' })], [], NOW + 20);
    expect(latest.touchedCampaignIds).toEqual(['c2']);
    expect((await replyOf('k3', 'c2'))?.text).toBe('which one?');
    expect(await replyOf('k3', 'c1')).toBeNull();

    const quoted = await handle([inbound('447700900123', 'text', { body: 'the first' }, 'wamid.C')], [], NOW + 30);
    expect(quoted.touchedCampaignIds).toEqual(['c1']);
    expect((await replyOf('k3', 'c1'))?.text).toBe('the first');
    expect((await replyOf('k3', 'c2'))?.text).toBe('which one?');
  });

  it('a reply from someone never sent to changes no row', async () => {
    const applied = await handle([inbound('14155550000', 'text', { body: 'hi' })]);
    expect(applied.touchedCampaignIds).toEqual([]);
    expect([...(await viewsByKey(store, 'c1')).values()].map((v) => v.reply)).toEqual([null, null, null]);
  });

  it('labels media, reactions and interactive replies', () => {
    expect(replyText({ image: { caption: 'look' } }, 'image')).toBe('[image] look');
    expect(replyText({ reaction: { emoji: '👍', message_id: 'x' } }, 'reaction')).toBe('[reaction] 👍');
    expect(replyText({ interactive: { type: 'button_reply', button_reply: { id: 'b', title: 'Book now' } } }, 'interactive')).toBe('Book now');
    expect(replyText({}, 'unsupported')).toBe('[unsupported message]');
  });

  it('suppresses a number that answers with an opt-out word, in any listed language or the account own', async () => {
    await handle([inbound('447700900123', 'text', { body: ' Stop! ' })]);
    expect(await isSuppressed('+447700900123')).toBe(true);
    // The opt-out is stored as the reply too.
    expect((await replyOf('k3'))?.text).toBe(' Stop! ');
    await handle([inbound('5511987654321', 'text', { body: 'BASTA' })]);
    expect(await isSuppressed('+5511987654321')).toBe(true);
    expect((await store.listSuppressions('a1')).map((s) => s.source)).toEqual(['keyword', 'keyword']);
    // An opt-out button's payload counts even when its title does not.
    expect(inboundChanges([inbound('447700900123', 'button', { payload: 'STOP', text: 'No more, thanks' })], [], [], NOW).replies[0]?.isOptOut).toBe(true);
    expect(isOptOutReply('berhenti')).toBe(true);
    expect(isOptOutReply('توقف')).toBe(true);
    expect(isOptOutReply('please stop by the shop')).toBe(false);
    expect(await isSuppressed('+5215512345678')).toBe(false);
  });

  it('suppresses the row recipient spelling, and the sender id own spelling when no row matches', async () => {
    // Meta dropped the ninth digit: the row's number is what goes on the list.
    await handle([inbound('551187654321', 'text', { body: 'stop' })]);
    expect(await isSuppressed('+5511987654321')).toBe(true);
    // Never sent to: the id as it came.
    await handle([inbound('14155550000', 'text', { body: 'stop' })]);
    expect(await isSuppressed('+14155550000')).toBe(true);
  });

  it('puts a marketing stop preference on the list and takes it off on resume', async () => {
    await handle([], [preference('447700900123', 'stop')]);
    expect(await store.listSuppressions('a1')).toEqual([{ to: '+447700900123', userId: null, source: 'user_preferences', createdAt: NOW }]);
    await handle([], [preference('447700900123', 'resume')]);
    expect(await isSuppressed('+447700900123')).toBe(false);
    // Other categories and values change nothing.
    await handle([], [preference('447700900123', 'stop', 'utility_messages'), preference('447700900123', 'pause')]);
    expect(await store.listSuppressions('a1')).toEqual([]);
  });

  it('a stop preference suppresses the number sent to, and resume lifts every spelling', async () => {
    await handle([], [preference('551187654321', 'stop')]);
    expect(await store.listSuppressions('a1')).toEqual([{ to: '+5511987654321', userId: null, source: 'user_preferences', createdAt: NOW }]);
    await store.addSuppression('a1', '+551187654321', 'api', NOW);
    await handle([], [preference('551187654321', 'resume')]);
    expect(await store.listSuppressions('a1')).toEqual([]);
  });

  it('spells rewritten numbers both ways', () => {
    expect(recipientVariants('551187654321')).toEqual(['+551187654321', '+5511987654321']);
    expect(recipientVariants('5215512345678')).toEqual(['+5215512345678', '+525512345678']);
    expect(recipientVariants('447700900123')).toEqual(['+447700900123']);
  });
});
