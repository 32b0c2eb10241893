// readMetaEvents over recorded-shape payloads: every entry, change, status, message and preference, flattened.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readMetaEvents, type InboundEvent, type StatusEvent } from '../../../service/webhooks/meta-events';

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../fixtures/meta-webhooks/${name}`, import.meta.url), 'utf8'));
}

describe('readMetaEvents', () => {
  it('reads every status across entries and changes, with callback data, times and errors', () => {
    const { events, skipped } = readMetaEvents(fixture('statuses-batch.json'));
    expect(skipped).toBe(0);
    const statuses = events as StatusEvent[];
    expect(statuses.map((e) => [e.kind, e.status, e.wamid.slice(-1)])).toEqual([
      ['status', 'sent', '1'], ['status', 'delivered', '2'], ['status', 'failed', '3'], ['status', 'read', '4'], ['status', 'played', '5'],
    ]);
    expect(statuses[0]).toEqual({
      kind: 'status', phoneNumberId: '106540352242922', wamid: 'wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1', status: 'sent',
      timestampMs: 1750030073000, recipientId: '919876543210', recipientUserId: null, callbackData: 'c_abc.41', error: null,
    });
    // Numeric timestamps are read too.
    expect(statuses[2]).toMatchObject({
      timestampMs: 1750030090000,
      callbackData: 'c_abc.43',
      error: { code: '131049', message: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' },
    });
    // The second entry is another number, and its statuses carry no callback data.
    expect(statuses[3]).toMatchObject({ phoneNumberId: '106540352242923', callbackData: null });
  });

  it('reads every inbound message type, keeping the context wamid and the raw message', () => {
    const { events, skipped } = readMetaEvents(fixture('inbound-messages.json'));
    expect(skipped).toBe(0);
    const inbound = events as InboundEvent[];
    expect(inbound.every((e) => e.kind === 'inbound' && e.phoneNumberId === '106540352242922')).toBe(true);
    expect(inbound.map((e) => e.type)).toEqual(['text', 'button', 'interactive', 'interactive', 'image', 'reaction', 'system', 'unsupported']);
    expect(inbound.map((e) => e.contextWamid)).toEqual(['wamid.OUT1', 'wamid.OUT2', 'wamid.OUT3', null, null, null, null, null]);
    expect(inbound[0]).toMatchObject({ wamid: 'wamid.IN1', from: '919876543210', timestampMs: 1750030200000 });
    expect((inbound[0]?.raw as { text: { body: string } }).text.body).toBe('¡Gracias! Me encantó 😍 ¿envían a São Paulo 24/7?');
    expect(inbound[1]?.raw).toMatchObject({ button: { payload: 'Stop promotions' } });
    expect(inbound[3]?.raw).toMatchObject({ interactive: { type: 'list_reply', list_reply: { id: 'row-1' } } });
    expect(inbound[5]?.raw).toMatchObject({ reaction: { message_id: 'wamid.OUT6', emoji: '👍' } });
    expect(inbound[6]?.raw).toMatchObject({ system: { type: 'user_changed_number', wa_id: '919876543299' } });
    expect(inbound[7]?.raw).toMatchObject({ errors: [{ code: 131051 }] });
  });

  it('reads marketing stop and resume preferences', () => {
    const { events, skipped } = readMetaEvents(fixture('user-preferences.json'));
    expect(skipped).toBe(0);
    expect(events).toEqual([
      { kind: 'preference', phoneNumberId: '106540352242922', waId: '16505551234', userId: null, category: 'marketing_messages', value: 'stop', timestampMs: 1731705721000 },
      { kind: 'preference', phoneNumberId: '106540352242922', waId: '16505551235', userId: null, category: 'marketing_messages', value: 'resume', timestampMs: 1731705722000 },
    ]);
  });

  it('keeps the items it understands and counts the ones it does not, without throwing', () => {
    const { events, skipped } = readMetaEvents(fixture('malformed-items.json'));
    expect(events).toEqual([expect.objectContaining({ kind: 'status', wamid: 'wamid.OK', status: 'delivered' })]);
    // A status without id, a message without from, and a change whose value is not an object.
    expect(skipped).toBe(3);
  });

  it.each([
    ['another object type', { object: 'page', entry: [] }],
    ['no entry list', { object: 'whatsapp_business_account' }],
    ['null', null],
    ['a string', 'hello'],
  ])('yields nothing for %s', (_label, payload) => {
    const { events, skipped } = readMetaEvents(payload);
    expect(events).toEqual([]);
    expect(skipped).toBe(1);
  });
});
