// GroupCommit over a real (in-memory) SQLite store and a fake clock: writes asked for within the delay share one
// transaction, callbacks run only after the commit, and a failing write undoes only itself.
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { GroupCommit } from '../../../service/campaigns/group-commit';
import { FakeClock } from '../../fakes/fake-clock';

const plainCipher = { encrypt: (s: string) => s, decrypt: (s: string) => s };
let store: SqliteStore;

afterEach(() => store?.close());

function setup(): { clock: FakeClock; commits: GroupCommit; callbackErrors: unknown[]; inbox: () => string[]; transactions: () => number } {
  const clock = new FakeClock();
  store = new SqliteStore(':memory:', plainCipher);
  let transactions = 0;
  const counted = {
    transaction: <T>(fn: () => T): T => {
      transactions++;
      return store.transaction(fn);
    },
    savepoint: <T>(fn: () => T): T => store.savepoint(fn),
  };
  const callbackErrors: unknown[] = [];
  const commits = new GroupCommit(counted, clock, 2, (error) => callbackErrors.push(error));
  const inbox = () => store.listPendingWebhooks(100).map((w) => w.body.toString());
  return { clock, commits, callbackErrors, inbox, transactions: () => transactions };
}

describe('GroupCommit', () => {
  it('runs the writes asked for within the delay in one transaction, and calls back only after it', async () => {
    const { clock, commits, inbox, transactions } = setup();
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      commits.add(() => store.saveWebhook('a', Buffer.from(`body ${i}`), clock.now()), (id) => done.push(id), () => {});
    }
    expect(inbox()).toEqual([]);
    expect(done).toEqual([]);
    await clock.advance(1);
    expect(done).toEqual([]);
    await clock.advance(1);
    expect(transactions()).toBe(1);
    expect(inbox()).toEqual(['body 0', 'body 1', 'body 2', 'body 3', 'body 4']);
    expect(done).toHaveLength(5);
    expect(commits.pending).toBe(0);
  });

  it('undoes only the write that threw; the others commit', async () => {
    const { clock, commits, inbox } = setup();
    const results: string[] = [];
    commits.add(() => store.saveWebhook('a', Buffer.from('kept 1'), 0), () => results.push('ok 1'), () => results.push('failed 1'));
    commits.add(() => {
      store.saveWebhook('a', Buffer.from('half-written'), 0);
      throw new Error('boom');
    }, () => results.push('ok 2'), (error) => results.push(`failed 2: ${(error as Error).message}`));
    commits.add(() => store.saveWebhook('a', Buffer.from('kept 3'), 0), () => results.push('ok 3'), () => results.push('failed 3'));
    await clock.advance(2);
    expect(inbox()).toEqual(['kept 1', 'kept 3']);
    expect(results).toEqual(['ok 1', 'failed 2: boom', 'ok 3']);
  });

  it('reports every job as failed when the transaction cannot commit', async () => {
    const { clock, commits, inbox } = setup();
    const results: string[] = [];
    commits.add(() => store.saveWebhook('a', Buffer.from('x'), 0), () => results.push('ok'), () => results.push('failed'));
    commits.add(() => {
      // A deferred foreign-key violation surfaces at COMMIT, failing the whole group.
      store.db.pragma('defer_foreign_keys = ON');
      store.db.prepare("INSERT INTO campaigns (id, account_id, name, template_name, template_language, template_json, state, created_at) VALUES ('c', 'nobody', 'n', 't', 'en', '{}', 'draft', 0)").run();
    }, () => results.push('ok'), () => results.push('failed'));
    await clock.advance(2);
    expect(results).toEqual(['failed', 'failed']);
    expect(inbox()).toEqual([]);
  });

  it('a callback that throws does not stop the others; writes added by callbacks go in the next group', async () => {
    const { clock, commits, callbackErrors, inbox, transactions } = setup();
    const order: string[] = [];
    commits.add(() => 1, () => {
      order.push('first');
      commits.add(() => store.saveWebhook('a', Buffer.from('later'), 0), () => order.push('later'), () => {});
      throw new Error('callback bug');
    }, () => {});
    commits.add(() => 2, () => order.push('second'), () => {});
    await clock.advance(2);
    expect(order).toEqual(['first', 'second']);
    expect(callbackErrors).toHaveLength(1);
    expect(inbox()).toEqual([]);
    await clock.advance(2);
    expect(order).toEqual(['first', 'second', 'later']);
    expect(inbox()).toEqual(['later']);
    expect(transactions()).toBe(2);
  });

  it('commit() writes what is waiting at once (shutdown)', () => {
    const { commits, inbox } = setup();
    commits.add(() => store.saveWebhook('a', Buffer.from('now'), 0), () => {}, () => {});
    commits.commit();
    expect(inbox()).toEqual(['now']);
  });
});
