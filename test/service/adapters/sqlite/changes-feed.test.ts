// The changes feed (GET /v1/campaigns/:id/messages) at the store: a reader paging with a small limit while writers
// keep changing rows between its pages, some of their writes undone by a failing savepoint (as in the group commit).
// A reader that keeps its cursor must see every change once, never one twice, and end on the store's truth.
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../../service/adapters/sqlite/sqlite-store';
import type { MessageStatus } from '../../../../service/campaigns/message-status';
import type { Campaign } from '../../../../service/campaigns/ports';
import type { TemplateDefinition } from '../../../../service/campaigns/template';
import { seededRandom } from '../../../fakes/seeded-random';

const plainCipher = { encrypt: (s: string) => s, decrypt: (s: string) => s };
const TEMPLATE: TemplateDefinition = {
  name: 'hello', language: 'en_US', category: 'MARKETING', status: 'APPROVED', parameterFormat: 'positional',
  headerFormat: 'none', headerText: null, bodyText: 'Hi {{1}}!', footerText: null, buttons: [],
  parameters: [{ key: '1', component: 'body', example: 'Ann' }],
};


let store: SqliteStore;
afterEach(() => store?.close());

const FORWARD: MessageStatus[] = ['sent', 'delivered', 'read'];

describe('changes feed under concurrent writes', () => {
  for (const seed of [1, 2, 3]) {
    it(`a cursor-keeping reader sees every change once and ends on the stored state (seed ${seed})`, () => {
      const random = seededRandom(seed);
      store = new SqliteStore(':memory:', plainCipher);
      store.insertAccount({
        account: {
          id: 'a', name: 'A', isSandbox: true, phoneNumberId: 'p', wabaId: 'w', messagesPerSecond: 80, dailyLimit: null,
          defaultCountry: null, retentionDays: 30, optOutWords: [], createdAt: 0,
        },
        secrets: { accessToken: 't', appSecret: 's', verifyToken: 'v' }, apiKeyHash: 'h',
      });
      const campaign: Campaign = {
        id: 'c', accountId: 'a', name: 'c', template: { name: 'hello', language: 'en_US' }, templateDefinition: TEMPLATE,
        sendAt: null, defaultCountry: null, sheet: null, state: 'running', stateReason: null, createdAt: 0, startedAt: 0,
        finishedAt: null,
      };
      store.insertCampaign(campaign);
      const rows = 300;
      store.transaction(() => {
        for (let i = 0; i < rows; i++) {
          store.insertMessage('c', 'a', { key: `k${i}`, to: `+1555${String(1_000_000 + i)}`, params: { 1: 'x' }, headerMedia: null, status: 'queued' }, 0);
        }
      });
      const ids = store.loadQueued('c', 0, rows).map((m) => m.id);
      const stage = new Map<number, number>(ids.map((id) => [id, -1]));
      let now = 1;
      let committedChanges = 0;

      /** One writer's turn: a few rows move forward or get a reply; sometimes the whole turn is undone. */
      const writerTurn = (): void => {
        const undo = random() < 0.2;
        const planned: (() => void)[] = [];
        const touched = new Map<number, number>();
        const count = 1 + Math.floor(random() * 8);
        for (let i = 0; i < count; i++) {
          const id = ids[Math.floor(random() * ids.length)] as number;
          const at = touched.get(id) ?? (stage.get(id) as number);
          if (at < FORWARD.length - 1) {
            touched.set(id, at + 1);
            planned.push(() => store.applyDeliveryStatus(id, FORWARD[at + 1] as MessageStatus, `wamid.${id}`, null, now));
          } else {
            planned.push(() => store.setReply(id, `reply ${now}`, now, now));
          }
        }
        store.transaction(() => {
          try {
            store.savepoint(() => {
              for (const write of planned) write();
              if (undo) throw new Error('undone');
            });
            for (const [id, s] of touched) stage.set(id, s);
            committedChanges += planned.length;
          } catch {
            // The savepoint rolled back: none of this turn's changes happened.
          }
        });
        now++;
      };

      // The reader pages 7 rows at a time; between two pages, writers take 0-3 turns.
      const seen: { key: string; status: string; reply: string | null; updatedAt: number }[] = [];
      let cursor = 0;
      let passes = 0;
      for (let turn = 0; turn < 400; turn++) {
        const page = store.listMessagesChangedAfter('c', cursor, 7);
        for (const item of page) {
          expect(item.seq).toBeGreaterThan(cursor);
          seen.push({ key: item.key, status: item.status, reply: item.reply?.text ?? null, updatedAt: item.updatedAt });
          cursor = item.seq;
        }
        if (page.length === 0) passes++;
        const writes = Math.floor(random() * 4);
        for (let w = 0; w < writes; w++) writerTurn();
      }
      // Catch up after the writers stop.
      for (let page = store.listMessagesChangedAfter('c', cursor, 7); page.length > 0; page = store.listMessagesChangedAfter('c', cursor, 7)) {
        for (const item of page) {
          seen.push({ key: item.key, status: item.status, reply: item.reply?.text ?? null, updatedAt: item.updatedAt });
          cursor = item.seq;
        }
      }
      expect(committedChanges).toBeGreaterThan(300);
      expect(passes).toBeGreaterThan(0);

      // Never the same change twice: a row's (status, reply, time) version appears at most once.
      const versions = seen.map((s) => `${s.key}|${s.status}|${s.reply}|${s.updatedAt}`);
      expect(new Set(versions).size).toBe(versions.length);
      // Every row's last version seen is the stored one: no change was skipped.
      const lastSeen = new Map(seen.map((s) => [s.key, s]));
      const truth = store.listMessagesChangedAfter('c', 0, rows * 10);
      expect(truth).toHaveLength(rows);
      for (const row of truth) {
        expect(lastSeen.get(row.key)).toEqual({ key: row.key, status: row.status, reply: row.reply?.text ?? null, updatedAt: row.updatedAt });
      }
      // Statuses a reader sees for one row only move forward, and undone turns never show.
      const rank = (s: string) => ['queued', ...FORWARD].indexOf(s);
      const byKey = new Map<string, number[]>();
      for (const s of seen) byKey.set(s.key, [...(byKey.get(s.key) ?? []), rank(s.status)]);
      for (const ranks of byKey.values()) {
        for (let i = 1; i < ranks.length; i++) expect(ranks[i]).toBeGreaterThanOrEqual(ranks[i - 1] as number);
      }
      for (const row of truth) expect(rank(row.status)).toBe((stage.get(ids[Number(row.key.slice(1))] as number) as number) + 1);
    });
  }
});
