// The changes feed (GET /v1/campaigns/:id/messages) at the store: a reader paging with a small limit while several
// writers keep committing small writeBatch calls (claims, send outcomes, delivered/read statuses and replies from
// the webhook inbox), some of their fenced writes refused (a wrong lease token) while the rest of the same batch
// commits, as in the group commit. A reader that keeps its cursor must see every change once, in order, never one
// twice, and end on the store's truth. The scenario is shared with the store contract (runFeedUnderConcurrentWriters).
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../../service/adapters/sqlite/sqlite-store';
import { plainCipher, runFeedUnderConcurrentWriters } from '../../store-contract/store-contract';

let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

describe('changes feed under concurrent writes', () => {
  for (const seed of [1, 2, 3]) {
    it(`a cursor-keeping reader sees every change once and ends on the stored state (seed ${seed})`, async () => {
      store = new SqliteStore(':memory:', plainCipher);
      const report = await runFeedUnderConcurrentWriters(store, {
        seed, rows: 300, writers: 4, turnsPerWriter: 150, pageSize: 7, undoShare: 0.2,
      });
      expect(report.committedChanges).toBeGreaterThan(300);
      // Some turns were undone, and the reader was level with the writers at least once while they wrote.
      expect(report.refusedWrites).toBeGreaterThan(0);
      expect(report.caughtUpWhileWriting).toBeGreaterThan(0);
    });
  }
});
