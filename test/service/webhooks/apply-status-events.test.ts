// applyStatusEvents against an in-memory SQLite store: statuses only move forward, duplicates and late arrivals
// change nothing, rows are found by callback data then by wamid, and lost sends (`unknown`) are settled.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { Account, Campaign } from '../../../service/campaigns/ports';
import { callbackDataFor } from '../../../service/campaigns/sender-pipeline';
import type { TemplateDefinition } from '../../../service/campaigns/template';
import { applyStatusEvents, parseCallbackData } from '../../../service/webhooks/apply-status-events';
import type { StatusEvent } from '../../../service/webhooks/meta-events';

const NOW = Date.UTC(2025, 0, 1);
const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi.', footerText: null, buttons: [], parameters: [],
};

let store: SqliteStore;

function addAccount(id: string): void {
  const account: Account = {
    id, name: id, isSandbox: true, phoneNumberId: `p-${id}`, wabaId: `w-${id}`, messagesPerSecond: 80, dailyLimit: null,
    defaultCountry: null, retentionDays: 30, optOutWords: [], createdAt: NOW,
  };
  store.insertAccount({ account, secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: `h-${id}` });
}

function addCampaign(accountId: string, id: string): void {
  const campaign: Campaign = {
    id, accountId, name: id, template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE, sendAt: null,
    defaultCountry: null, sheet: null, state: 'running', stateReason: null, createdAt: NOW, startedAt: NOW, finishedAt: null,
  };
  store.insertCampaign(campaign);
}

/** Inserts a row and moves it to `sending` (and to `sent` with `wamid` when given); returns its id. */
function addRow(accountId: string, campaignId: string, to: string, wamid: string | null): number {
  store.insertMessage(campaignId, accountId, { key: to, to, params: {}, headerMedia: null, status: 'queued' }, NOW);
  const [row] = store.loadQueued(campaignId, 0, 1000).filter((m) => m.to === to);
  const id = (row as { id: number }).id;
  store.markSending([id], NOW);
  if (wamid) store.recordSendOutcomes([{ id, kind: 'sent', wamid }], NOW);
  return id;
}

function status(wamid: string, value: string, callbackData: string | null = null, errorCode?: string): StatusEvent {
  return {
    kind: 'status', phoneNumberId: 'p-a1', wamid, status: value, timestampMs: NOW, recipientId: null, callbackData,
    error: errorCode ? { code: errorCode, message: `Failed with ${errorCode}.` } : null,
  };
}

function row(accountId: string, id: number) {
  return store.findMessageById(accountId, id);
}

beforeEach(() => {
  store = new SqliteStore(':memory:', { encrypt: (s) => s, decrypt: (s) => s });
  addAccount('a1');
  addAccount('a2');
  addCampaign('a1', 'c1');
  addCampaign('a2', 'c2');
});

afterEach(() => {
  store.close();
});

describe('applyStatusEvents', () => {
  it('moves sent → read when read arrives first, and ignores the delivered that comes after it', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    const first = applyStatusEvents(store, 'a1', [status('wamid.1', 'read')], NOW + 1);
    expect(first).toMatchObject({ applied: 1, ignored: 0, unmatched: 0 });
    expect(first.campaignIds).toEqual(new Set(['c1']));
    expect(row('a1', id)?.status).toBe('read');

    const late = applyStatusEvents(store, 'a1', [status('wamid.1', 'delivered')], NOW + 2);
    expect(late).toMatchObject({ applied: 0, ignored: 1 });
    expect(late.campaignIds.size).toBe(0);
    expect(row('a1', id)?.status).toBe('read');
  });

  it('applies a duplicate read once', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    const result = applyStatusEvents(store, 'a1', [status('wamid.1', 'read'), status('wamid.1', 'read')], NOW + 1);
    expect(result).toMatchObject({ applied: 1, ignored: 1 });
    const before = store.listMessagesChangedAfter('c1', 0, 10);
    expect(applyStatusEvents(store, 'a1', [status('wamid.1', 'read')], NOW + 2).applied).toBe(0);
    // Nothing rewritten: the changes feed has no new entry for the row.
    expect(store.listMessagesChangedAfter('c1', 0, 10)).toEqual(before);
    expect(row('a1', id)?.status).toBe('read');
  });

  it('moves sent → failed with the error, and keeps failed against a later delivered or read', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    expect(applyStatusEvents(store, 'a1', [status('wamid.1', 'failed', null, '131049')], NOW + 1).applied).toBe(1);
    expect(applyStatusEvents(store, 'a1', [status('wamid.1', 'delivered'), status('wamid.1', 'read')], NOW + 2).ignored).toBe(2);
    const [view] = store.listMessagesChangedAfter('c1', 0, 10);
    expect(view).toMatchObject({ status: 'failed', error: { code: '131049', message: 'Failed with 131049.' } });
    expect(row('a1', id)?.status).toBe('failed');
  });

  it('gives a failure without an error a generic reason', () => {
    addRow('a1', 'c1', '+911', 'wamid.1');
    applyStatusEvents(store, 'a1', [status('wamid.1', 'failed')], NOW + 1);
    expect(store.listMessagesChangedAfter('c1', 0, 10)[0]?.error).toEqual({ code: 'unknown', message: 'Delivery failed.' });
  });

  it('treats played as read', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    applyStatusEvents(store, 'a1', [status('wamid.1', 'played')], NOW + 1);
    expect(row('a1', id)?.status).toBe('read');
  });

  it('ignores status words it does not track', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    expect(applyStatusEvents(store, 'a1', [status('wamid.1', 'deleted')], NOW + 1)).toMatchObject({ applied: 0, ignored: 1 });
    expect(row('a1', id)?.status).toBe('sent');
  });

  it('finds the row by its callback data first, then by wamid', () => {
    const a = addRow('a1', 'c1', '+911', 'wamid.A');
    const b = addRow('a1', 'c1', '+912', 'wamid.B');
    // Callback data names row A; the wamid is B's: the callback data wins.
    applyStatusEvents(store, 'a1', [status('wamid.B', 'delivered', callbackDataFor('c1', a))], NOW + 1);
    expect(row('a1', a)?.status).toBe('delivered');
    expect(row('a1', b)?.status).toBe('sent');
    // No callback data: found by wamid.
    applyStatusEvents(store, 'a1', [status('wamid.B', 'read')], NOW + 2);
    expect(row('a1', b)?.status).toBe('read');
    // Callback data of another campaign with the same row id: not trusted, falls back to the wamid.
    applyStatusEvents(store, 'a1', [status('wamid.A', 'read', callbackDataFor('c_other', b))], NOW + 3);
    expect(row('a1', a)?.status).toBe('read');
  });

  it('settles a `sending` row by callback data and stores the wamid it did not know', () => {
    const id = addRow('a1', 'c1', '+911', null);
    applyStatusEvents(store, 'a1', [status('wamid.late', 'sent', callbackDataFor('c1', id))], NOW + 1);
    expect(row('a1', id)).toMatchObject({ status: 'sent', wamid: 'wamid.late' });
  });

  it('settles an `unknown` row (its send outcome was lost) when its sent status arrives', () => {
    const id = addRow('a1', 'c1', '+911', null);
    expect(store.markUnsettledUnknown(NOW + 1, NOW + 2)).toBe(1);
    expect(row('a1', id)?.status).toBe('unknown');
    const result = applyStatusEvents(store, 'a1', [status('wamid.u', 'sent', callbackDataFor('c1', id))], NOW + 3);
    expect(result.applied).toBe(1);
    expect(row('a1', id)).toMatchObject({ status: 'sent', wamid: 'wamid.u' });
  });

  it("never touches another account's row, by callback data or by wamid", () => {
    const other = addRow('a2', 'c2', '+911', 'wamid.X');
    const result = applyStatusEvents(store, 'a1', [
      status('wamid.none', 'read', callbackDataFor('c2', other)),
      status('wamid.X', 'read'),
    ], NOW + 1);
    expect(result).toMatchObject({ applied: 0, unmatched: 2 });
    expect(row('a2', other)?.status).toBe('sent');
  });

  it('reports rows failed with 131050 (marketing stopped) for suppression', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    const result = applyStatusEvents(store, 'a1', [status('wamid.1', 'failed', null, '131050')], NOW + 1);
    expect(result.optedOut).toEqual([expect.objectContaining({ id, to: '+911' })]);
  });

  it('reports each row that moved to failed, with its code, once (for the error budget)', () => {
    const id = addRow('a1', 'c1', '+911', 'wamid.1');
    addRow('a1', 'c1', '+912', 'wamid.2');
    const failed = status('wamid.1', 'failed', null, '131053');
    const result = applyStatusEvents(store, 'a1', [failed, status('wamid.2', 'delivered'), failed], NOW + 1);
    expect(result.failed).toEqual([{ campaignId: 'c1', code: '131053' }]);
    expect(row('a1', id)?.status).toBe('failed');
  });

  it('never moves a cancelled or skipped row', () => {
    store.insertMessage('c1', 'a1', { key: 'k', to: '+919', params: {}, headerMedia: null, status: 'skipped' }, NOW);
    const skipped = store.listMessagesChangedAfter('c1', 0, 10).find((m) => m.to === '+919');
    expect(skipped?.status).toBe('skipped');
    const id = (store.db.prepare("SELECT id FROM messages WHERE to_e164 = '+919'").get() as { id: number }).id;
    expect(applyStatusEvents(store, 'a1', [status('wamid.s', 'sent', callbackDataFor('c1', id))], NOW + 1).ignored).toBe(1);
    expect(row('a1', id)?.status).toBe('skipped');
  });
});

describe('parseCallbackData', () => {
  it('reads "<campaignId>.<rowId>" and refuses anything else', () => {
    expect(parseCallbackData('c_ab.c.42')).toEqual({ campaignId: 'c_ab.c', messageId: 42 });
    expect(parseCallbackData(callbackDataFor('c1', 7))).toEqual({ campaignId: 'c1', messageId: 7 });
    for (const bad of [null, '', '42', '.42', 'c1.', 'c1.x', 'c1.0', 'c1.-3', 'c1.1.5x']) {
      expect(parseCallbackData(bad)).toBeNull();
    }
  });
});
