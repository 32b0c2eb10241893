// GroupCommit over a real (in-memory) SQLite store and a fake clock: writes asked for within the delay share one
// transaction, callbacks run only after the commit, a failing write undoes only itself, and one batch is in flight
// at a time (later writes wait for it and go in the next one).
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../../service/adapters/sqlite/sqlite-store';
import { GroupCommit } from '../../../service/campaigns/group-commit';
import type { BatchItemResult, BatchWrite } from '../../../service/campaigns/ports';
import { FakeClock } from '../../fakes/fake-clock';

const plainCipher = { encrypt: (s: string) => s, decrypt: (s: string) => s };
let store: SqliteStore;

afterEach(() => store?.close());

const save = (body: string): Extract<BatchWrite, { kind: 'save_webhook' }> => ({ kind: 'save_webhook', accountId: 'a', body: Buffer.from(body), nowMs: 0 });
/** A write the store refuses on its own (the fence names no lease): it fails alone, inside the batch. */
const refused: BatchWrite = { kind: 'claim', fence: { accountId: 'a', token: 99 }, ids: [1], nowMs: 0 };

interface Setup {
  clock: FakeClock;
  commits: GroupCommit;
  callbackErrors: unknown[];
  inbox: () => Promise<string[]>;
  batches: BatchWrite['kind'][][];
  /** Makes the next writeBatch wait until the returned function is called (a slow commit). */
  holdNextBatch: () => () => void;
  /** The next writeBatch runs its writes, then its COMMIT fails (disk full, connection lost): nothing is kept. */
  failNextCommit: () => void;
}

function setup(): Setup {
  const clock = new FakeClock();
  store = new SqliteStore(':memory:', plainCipher);
  const batches: BatchWrite['kind'][][] = [];
  let hold: Promise<void> | null = null;
  let isCommitFailing = false;
  const counted = {
    writeBatch: async (writes: readonly BatchWrite[]): Promise<BatchItemResult[]> => {
      batches.push(writes.map((w) => w.kind));
      const waitFor = hold;
      hold = null;
      if (waitFor) await waitFor;
      if (!isCommitFailing) return store.writeBatch(writes);
      isCommitFailing = false;
      store.db.exec('BEGIN');
      try {
        await store.writeBatch(writes);
      } finally {
        store.db.exec('ROLLBACK');
      }
      throw new Error('disk I/O error');
    },
  };
  const callbackErrors: unknown[] = [];
  const commits = new GroupCommit(counted, clock, 2, (error) => callbackErrors.push(error));
  const inbox = async () => {
    const pending = await store.claimPendingWebhooks(100, 0);
    return pending.map((w) => w.body.toString());
  };
  const holdNextBatch = () => {
    let release = () => {};
    hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    return release;
  };
  return { clock, commits, callbackErrors, inbox, batches, holdNextBatch, failNextCommit: () => { isCommitFailing = true; } };
}

describe('GroupCommit', () => {
  it('runs the writes asked for within the delay in one transaction, and calls back only after it', async () => {
    const { clock, commits, inbox, batches } = setup();
    const done: number[] = [];
    for (let i = 0; i < 5; i++) commits.add(save(`body ${i}`), (id) => done.push(id), () => {});
    expect(await inbox()).toEqual([]);
    expect(done).toEqual([]);
    await clock.advance(1);
    expect(done).toEqual([]);
    await clock.advance(1);
    expect(batches).toHaveLength(1);
    expect(await inbox()).toEqual(['body 0', 'body 1', 'body 2', 'body 3', 'body 4']);
    expect(done).toHaveLength(5);
    expect(new Set(done).size).toBe(5);
    expect(commits.pending).toBe(0);
  });

  it('undoes only the write that failed; the others commit', async () => {
    const { clock, commits, inbox } = setup();
    const results: string[] = [];
    commits.add(save('kept 1'), () => results.push('ok 1'), () => results.push('failed 1'));
    commits.add(refused, () => results.push('ok 2'), (error) => results.push(`failed 2: ${(error as Error).name}`));
    commits.add(save('kept 3'), () => results.push('ok 3'), () => results.push('failed 3'));
    await clock.advance(2);
    expect(await inbox()).toEqual(['kept 1', 'kept 3']);
    expect(results).toEqual(['ok 1', 'failed 2: LeaseLostError', 'ok 3']);
  });

  it('reports every job as failed when the transaction cannot commit', async () => {
    const { clock, commits, inbox, failNextCommit } = setup();
    const results: string[] = [];
    failNextCommit();
    commits.add(save('x'), () => results.push('ok'), () => results.push('failed'));
    commits.add(save('y'), () => results.push('ok'), () => results.push('failed'));
    await clock.advance(2);
    expect(results).toEqual(['failed', 'failed']);
    expect(await inbox()).toEqual([]);
  });

  it('a callback that throws does not stop the others; writes added by callbacks go in the next group', async () => {
    const { clock, commits, callbackErrors, inbox, batches } = setup();
    const order: string[] = [];
    commits.add(save('first'), () => {
      order.push('first');
      commits.add(save('later'), () => order.push('later'), () => {});
      throw new Error('callback bug');
    }, () => {});
    commits.add(save('second'), () => order.push('second'), () => {});
    await clock.advance(2);
    expect(order).toEqual(['first', 'second']);
    expect(callbackErrors).toHaveLength(1);
    expect(await inbox()).toEqual(['first', 'second']);
    await clock.advance(1);
    expect(order).toEqual(['first', 'second']);
    await clock.advance(1);
    expect(order).toEqual(['first', 'second', 'later']);
    expect(await inbox()).toEqual(['first', 'second', 'later']);
    expect(batches).toHaveLength(2);
  });

  it('keeps one batch in flight: writes asked meanwhile wait for it, then go together in the next', async () => {
    const { clock, commits, inbox, batches, holdNextBatch } = setup();
    const release = holdNextBatch();
    const done: string[] = [];
    commits.add(save('a'), () => done.push('a'), () => {});
    await clock.advance(2);
    expect(batches).toHaveLength(1);
    commits.add(save('b'), () => done.push('b'), () => {});
    commits.add(save('c'), () => done.push('c'), () => {});
    await clock.advance(10);
    // The first commit is still in flight: nothing else started, nothing called back.
    expect(batches).toHaveLength(1);
    expect(done).toEqual([]);
    release();
    // b and c already waited their delay while the first batch was in flight: they go at once after it, together.
    await clock.advance(0);
    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual(['save_webhook', 'save_webhook']);
    expect(done).toEqual(['a', 'b', 'c']);
    expect(await inbox()).toEqual(['a', 'b', 'c']);
  });

  it('builds a write given as a function when its batch starts, taking what accumulated meanwhile', async () => {
    const { clock, commits, inbox } = setup();
    const bodies: string[] = ['one'];
    commits.add(() => save(bodies.join('+')), () => {}, () => {});
    bodies.push('two');
    await clock.advance(2);
    expect(await inbox()).toEqual(['one+two']);
  });

  it('commit() writes what is waiting at once (shutdown) and resolves after the callbacks', async () => {
    const { commits, inbox } = setup();
    const done: string[] = [];
    commits.add(save('now'), () => done.push('now'), () => {});
    await commits.commit();
    expect(done).toEqual(['now']);
    expect(await inbox()).toEqual(['now']);
  });

  it('run() resolves with the committed result and rejects with the write\'s failure', async () => {
    const { clock, commits } = setup();
    const saved = commits.run(save('x'));
    const failed = commits.run(refused).then(() => null, (error: unknown) => error);
    await clock.advance(2);
    expect(typeof await saved).toBe('number');
    expect(await failed).toMatchObject({ name: 'LeaseLostError' });
  });
});
