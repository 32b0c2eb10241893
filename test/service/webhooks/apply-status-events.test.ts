// Status webhooks end to end at the store: statusChangesFor turns Meta's events into forward-only changes, and an
// apply_webhook write (after its save_webhook) applies them. Statuses only move forward, duplicates and late
// arrivals change nothing, rows are found by callback data then by wamid, and lost sends (`unknown`) are settled.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import type { MessageView, SenderFence, WebhookApplied } from '../../../service/campaigns/ports';
import { callbackDataFor } from '../../../service/campaigns/sender-pipeline';
import { parseCallbackData, statusChangesFor } from '../../../service/webhooks/apply-status-events';
import type { StatusEvent } from '../../../service/webhooks/meta-events';
import {
  NOW, addRows, applyEffects, feedOf, newAccount, newCampaign, newRow, plainCipher, statusEvent, takeLease, writeOne,
} from '../store-contract/store-contract';

let store: SqliteStore;
const fences = new Map<string, SenderFence>();

/** Adds a row and moves it to `sending` (and to `sent` with `wamid` when given); returns its id. */
async function addRow(accountId: string, campaignId: string, to: string, wamid: string | null): Promise<number> {
  const id = (await addRows(store, accountId, campaignId, [newRow(to)])).get(to) as number;
  const fence = fences.get(accountId) as SenderFence;
  expect(await writeOne(store, { kind: 'claim', fence, ids: [id], nowMs: NOW })).toEqual([id]);
  if (wamid) await writeOne(store, { kind: 'outcomes', fence, outcomes: [{ id, kind: 'sent', wamid }], nowMs: NOW });
  return id;
}

/** A status event of account a1's number; `callback` names the row it was sent as. */
function status(wamid: string, value: string, callback: { campaignId: string; id: number } | null = null, errorCode?: string): StatusEvent {
  return { ...statusEvent(wamid, value, callback, errorCode), phoneNumberId: 'p-a1' };
}

/** What the webhook processor does with a body's status events: statusChangesFor, then one apply_webhook. */
async function apply(accountId: string, events: StatusEvent[], nowMs: number): Promise<WebhookApplied & { untracked: number }> {
  const { changes, ignored } = statusChangesFor(events);
  return { ...(await applyEffects(store, accountId, { statuses: changes }, nowMs)), untracked: ignored };
}

/** The row of number `to` in the campaign, as the changes feed shows it. */
async function row(campaignId: string, to: string): Promise<MessageView | undefined> {
  return (await feedOf(store, campaignId)).find((view) => view.to === to);
}

beforeEach(async () => {
  store = new SqliteStore(':memory:', plainCipher);
  for (const [accountId, campaignId] of [['a1', 'c1'], ['a2', 'c2']] as const) {
    await store.insertAccount(newAccount(accountId));
    await store.insertCampaign(newCampaign(accountId, campaignId));
    fences.set(accountId, await takeLease(store, accountId));
  }
});

afterEach(async () => {
  await store?.close();
});

describe('status webhooks applied through writeBatch', () => {
  it('moves sent → read when read arrives first, and ignores the delivered that comes after it', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    const first = await apply('a1', [status('wamid.1', 'read')], NOW + 1);
    expect(first).toEqual({ statuses: { applied: 1, ignored: 0, unmatched: 0 }, touchedCampaignIds: ['c1'], failed: [], requeuedCampaignIds: [], untracked: 0 });
    expect((await row('c1', '+911'))?.status).toBe('read');

    const late = await apply('a1', [status('wamid.1', 'delivered')], NOW + 2);
    expect(late).toMatchObject({ statuses: { applied: 0, ignored: 1 }, touchedCampaignIds: [] });
    expect((await row('c1', '+911'))?.status).toBe('read');
  });

  it('applies a duplicate read once', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    const result = await apply('a1', [status('wamid.1', 'read'), status('wamid.1', 'read')], NOW + 1);
    expect(result.statuses).toEqual({ applied: 1, ignored: 1, unmatched: 0 });
    const before = await feedOf(store, 'c1');
    expect((await apply('a1', [status('wamid.1', 'read')], NOW + 2)).statuses.applied).toBe(0);
    // Nothing rewritten: the changes feed has no new entry for the row.
    expect(await feedOf(store, 'c1')).toEqual(before);
    expect((await row('c1', '+911'))?.status).toBe('read');
  });

  it('moves sent → failed with the error, and keeps failed against a later delivered or read', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    expect((await apply('a1', [status('wamid.1', 'failed', null, '131049')], NOW + 1)).statuses.applied).toBe(1);
    expect((await apply('a1', [status('wamid.1', 'delivered'), status('wamid.1', 'read')], NOW + 2)).statuses.ignored).toBe(2);
    expect(await row('c1', '+911')).toMatchObject({ status: 'failed', error: { code: '131049', message: 'Failed with 131049.' } });
  });

  it('gives a failure without an error a generic reason', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    await apply('a1', [status('wamid.1', 'failed')], NOW + 1);
    expect((await row('c1', '+911'))?.error).toEqual({ code: 'unknown', message: 'Delivery failed.' });
  });

  it('treats played as read', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    await apply('a1', [status('wamid.1', 'played')], NOW + 1);
    expect((await row('c1', '+911'))?.status).toBe('read');
  });

  it('ignores status words it does not track: no change is built for them', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    expect(statusChangesFor([status('wamid.1', 'deleted')])).toEqual({ changes: [], ignored: 1 });
    expect(await apply('a1', [status('wamid.1', 'deleted')], NOW + 1)).toMatchObject({ statuses: { applied: 0 }, untracked: 1 });
    expect((await row('c1', '+911'))?.status).toBe('sent');
  });

  it('finds the row by its callback data first, then by wamid', async () => {
    const a = await addRow('a1', 'c1', '+911', 'wamid.A');
    const b = await addRow('a1', 'c1', '+912', 'wamid.B');
    // Callback data names row A, with another wamid than A's: a status of an earlier attempt of A (a send tried
    // again, e.g. after 131049), which must not settle A's current send, nor move B.
    await apply('a1', [status('wamid.B', 'delivered', { campaignId: 'c1', id: a })], NOW + 1);
    expect((await row('c1', '+911'))?.status).toBe('sent');
    expect((await row('c1', '+912'))?.status).toBe('sent');
    await apply('a1', [status('wamid.A', 'delivered', { campaignId: 'c1', id: a })], NOW + 1);
    expect((await row('c1', '+911'))?.status).toBe('delivered');
    // No callback data: found by wamid.
    await apply('a1', [status('wamid.B', 'read')], NOW + 2);
    expect((await row('c1', '+912'))?.status).toBe('read');
    // Callback data of another campaign with the same row id: not trusted, falls back to the wamid.
    await apply('a1', [status('wamid.A', 'read', { campaignId: 'c_other', id: b })], NOW + 3);
    expect((await row('c1', '+911'))?.status).toBe('read');
  });

  it('settles a `sending` row by callback data and stores the wamid it did not know', async () => {
    const id = await addRow('a1', 'c1', '+911', null);
    expect((await row('c1', '+911'))?.status).toBe('sending');
    await apply('a1', [status('wamid.late', 'sent', { campaignId: 'c1', id })], NOW + 1);
    expect(await row('c1', '+911')).toMatchObject({ status: 'sent', wamid: 'wamid.late' });
  });

  it('settles an `unknown` row (its send outcome was lost) when its sent status arrives', async () => {
    const id = await addRow('a1', 'c1', '+911', null);
    expect(await store.markUnsettledUnknown(NOW + 1, NOW + 2)).toBe(1);
    expect((await row('c1', '+911'))?.status).toBe('unknown');
    const result = await apply('a1', [status('wamid.u', 'sent', { campaignId: 'c1', id })], NOW + 3);
    expect(result.statuses.applied).toBe(1);
    expect(await row('c1', '+911')).toMatchObject({ status: 'sent', wamid: 'wamid.u' });
  });

  it('keeps the status a webhook set when the send outcome comes back after it, and adds the wamid', async () => {
    const id = await addRow('a1', 'c1', '+911', null);
    await apply('a1', [status('wamid.early', 'delivered', { campaignId: 'c1', id })], NOW + 1);
    await writeOne(store, { kind: 'outcomes', fence: fences.get('a1') as SenderFence, outcomes: [{ id, kind: 'sent', wamid: 'wamid.early' }], nowMs: NOW + 2 });
    expect(await row('c1', '+911')).toMatchObject({ status: 'delivered', wamid: 'wamid.early' });
  });

  it("never touches another account's row, by callback data or by wamid", async () => {
    const other = await addRow('a2', 'c2', '+911', 'wamid.X');
    const result = await apply('a1', [
      status('wamid.none', 'read', { campaignId: 'c2', id: other }),
      status('wamid.X', 'read'),
    ], NOW + 1);
    expect(result.statuses).toEqual({ applied: 0, ignored: 0, unmatched: 2 });
    expect((await row('c2', '+911'))?.status).toBe('sent');
  });

  it('suppresses the recipient of a row failed with 131050 (marketing stopped), and only then', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    await addRow('a1', 'c1', '+912', 'wamid.2');
    const [stopped, other] = statusChangesFor([status('wamid.1', 'failed', null, '131050'), status('wamid.2', 'failed', null, '131049')]).changes;
    expect([stopped?.suppressAs, other?.suppressAs]).toEqual(['user_preferences', null]);
    await apply('a1', [status('wamid.1', 'failed', null, '131050'), status('wamid.2', 'failed', null, '131049')], NOW + 1);
    expect(await store.listSuppressions('a1')).toEqual([{ to: '+911', userId: null, source: 'user_preferences', createdAt: NOW + 1 }]);
    // A 131050 for a row already settled as failed is not applied, so it suppresses nobody.
    await store.removeSuppression('a1', '+911');
    await apply('a1', [status('wamid.1', 'failed', null, '131050')], NOW + 2);
    expect(await store.listSuppressions('a1')).toEqual([]);
  });

  it('reports each row that moved to failed, with its code, once (for the error budget)', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    await addRow('a1', 'c1', '+912', 'wamid.2');
    const failed = status('wamid.1', 'failed', null, '131053');
    const result = await apply('a1', [failed, status('wamid.2', 'delivered'), failed], NOW + 1);
    expect(result.failed).toEqual([{ campaignId: 'c1', code: '131053' }]);
    expect((await row('c1', '+911'))?.status).toBe('failed');
  });

  it('never moves a skipped or cancelled row', async () => {
    // Skipped: the recipient opted out after intake, so the claim skipped the row.
    const skippedId = (await addRows(store, 'a1', 'c1', [newRow('+919')])).get('+919') as number;
    await store.addSuppression('a1', '+919', 'keyword', NOW);
    expect(await writeOne(store, { kind: 'claim', fence: fences.get('a1') as SenderFence, ids: [skippedId], nowMs: NOW })).toEqual([]);
    expect((await row('c1', '+919'))?.status).toBe('skipped');
    expect((await apply('a1', [status('wamid.s', 'sent', { campaignId: 'c1', id: skippedId })], NOW + 1)).statuses.ignored).toBe(1);
    expect((await row('c1', '+919'))?.status).toBe('skipped');

    // Cancelled: the campaign was cancelled with the row still queued.
    await store.insertCampaign(newCampaign('a1', 'c3'));
    const cancelledId = (await addRows(store, 'a1', 'c3', [newRow('+918')])).get('+918') as number;
    expect(await store.transitionCampaign({ campaignId: 'c3', from: ['running'], to: 'cancelled', reason: null, nowMs: NOW, cancelQueuedRows: true })).toBe(true);
    const result = await apply('a1', [status('wamid.c', 'delivered', { campaignId: 'c3', id: cancelledId })], NOW + 1);
    expect(result).toMatchObject({ statuses: { applied: 0, ignored: 1 }, touchedCampaignIds: [] });
    expect((await row('c3', '+918'))?.status).toBe('cancelled');
  });

  it('removes the applied body from the webhook inbox in the same write', async () => {
    await addRow('a1', 'c1', '+911', 'wamid.1');
    const { changes } = statusChangesFor([status('wamid.1', 'delivered')]);
    const inboxId = await writeOne(store, { kind: 'save_webhook', accountId: 'a1', body: Buffer.from('{"statuses":[]}'), nowMs: NOW });
    expect((await store.claimPendingWebhooks(10, 60_000)).map((p) => p.id)).toEqual([inboxId]);
    await writeOne(store, { kind: 'apply_webhook', inboxId, accountId: 'a1', effects: { statuses: changes, replies: [], preferences: [], identities: [], identityChanges: [] }, nowMs: NOW + 1 });
    expect((await row('c1', '+911'))?.status).toBe('delivered');
    expect(await store.privacy.deleteStaleWebhooks('a1', Number.MAX_SAFE_INTEGER)).toBe(0);
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
