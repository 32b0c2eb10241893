import { describe, expect, it } from 'vitest';
import { mergeMessageItems } from '../../../addon/core/sync-merge';
import type { MessageItem } from '../../../addon/core/service-contract';
import type { StatusLayout } from '../../../addon/core/status-columns';

const layout: StatusLayout = { key: 2, status: 3, wamid: 4, error: 5, reply: 6, updated: 7 };
const item = (key: string, over: Partial<MessageItem> = {}): MessageItem => ({
  key, to: '+1', status: 'delivered', wamid: 'wamid.1', error: null, reply: null, updatedAt: '2026-01-01T10:00:00.000Z', ...over,
});

describe('mergeMessageItems', () => {
  const rows = [
    ['Bob', '+2', 'kb', 'queued', '', '', '', ''],
    ['Alice', '+1', 'ka', 'queued', '', '', '', ''],
  ];

  it('puts each change on the row holding its key, wherever the sort moved it', () => {
    const r = mergeMessageItems([item('ka', { status: 'read', reply: { text: 'Yes!', at: 'x' } })], rows, layout);
    expect(r.rowsChanged).toBe(1);
    expect([...r.updates.get(1)!.entries()]).toEqual([[3, 'read'], [4, 'wamid.1'], [6, 'Yes!'], [7, '2026-01-01T10:00:00.000Z']]);
  });

  it('applies only the latest change per key', () => {
    const r = mergeMessageItems([item('kb', { status: 'sent' }), item('kb', { status: 'read' })], rows, layout);
    expect(r.updates.get(0)!.get(3)).toBe('read');
  });

  it('writes the error in words with its code', () => {
    const r = mergeMessageItems([item('kb', { status: 'failed', wamid: null, error: { code: '131026', message: 'Not on WhatsApp' } })], rows, layout);
    expect(r.updates.get(0)!.get(5)).toBe('Not on WhatsApp (131026)');
  });

  it('never replaces a newer result already in the sheet', () => {
    const newer = [['Bob', '+2', 'kb', 'read', 'w', '', '', '2026-01-01T11:00:00.000Z']];
    const r = mergeMessageItems([item('kb')], newer, layout);
    expect(r.rowsChanged).toBe(0);
    expect(r.staleSkipped).toBe(1);
  });

  it('treats a Date in the updated cell as a time', () => {
    const newer = [['Bob', '+2', 'kb', 'read', 'w', '', '', new Date('2026-01-01T11:00:00.000Z')]];
    expect(mergeMessageItems([item('kb')], newer, layout).staleSkipped).toBe(1);
  });

  it('counts keys the sheet no longer has and skips rows already showing the same values', () => {
    const same = [['Bob', '+2', 'kb', 'delivered', 'wamid.1', '', '', '2026-01-01T10:00:00.000Z']];
    const r = mergeMessageItems([item('kb'), item('gone')], same, layout);
    expect(r.unknownKeys).toBe(1);
    expect(r.rowsChanged).toBe(0);
  });
});
