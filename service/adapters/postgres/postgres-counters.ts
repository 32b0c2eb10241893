// The changes feed's order and the sender's fence, as two small statements every writing transaction starts with.
//
// The changes feed (listMessagesChangedAfter, the sheet sync) reads a campaign's rows by `seq > cursor ORDER BY
// seq`, and a reader that has passed a seq never looks below it again. So a change must never become visible with a
// seq lower than one a reader may already have passed. A plain SEQUENCE does not give that: T1 takes 101, T2 takes
// 102 and commits first, a reader pages past 102, then T1 commits 101, which no reader will ever see. Here every
// transaction that changes message rows (or the seq they carry) first locks its account's row in account_counters
// and bumps it: the row lock is held to COMMIT, so the next writer of the account gets its numbers only after this
// one is committed and visible (PostgreSQL makes a transaction visible before it releases its locks). Per account,
// commit order is seq order; a campaign belongs to one account, so per campaign too. Numbers a transaction reserved
// but did not use (a claimed row that had moved on), or that a rolled-back savepoint took, leave gaps: gaps are
// fine, the feed only needs order.
//
// The same lock serialises with it everything the send path must not race:
// - suppression writes take it, so an opt-out committed before a claim's commit is seen by the claim's statement
//   (which runs after the lock, so its snapshot is newer than every commit before the lock), and one committed after
//   is after the send's durable "before" anyway;
// - campaign state changes take it, so the claim's "campaign is running" and a pause or cancel are ordered too, and
//   the finished check (no open rows) cannot miss a row being added or re-queued;
// - retention purges and erasures take it, so their multi-row statements never deadlock with the sender's.
// A transaction that needs several accounts (a group commit mixing accounts, markUnsettledUnknown) locks all of
// them first, in ascending account id order (COLLATE "C": one order in every instance), so two never wait on each
// other in a cycle. Then the lease row, if any, FOR SHARE (see fenceAndReserve).
import { LeaseLostError, type SenderFence } from '../../campaigns/ports';
import type { Sql } from './postgres-sql';

/**
 * Locks the counter rows of `accountIds` in ascending id order (waits for their writers in flight). Accounts without
 * a counter row (erased) are skipped. Call before any other lock of the transaction.
 */
export async function lockCounters(sql: Sql, accountIds: Iterable<string>): Promise<void> {
  const ids = [...new Set(accountIds)];
  if (ids.length === 0) return;
  // LockRows sits above the Sort: the rows are locked in ORDER BY order.
  await sql.query(
    'SELECT account_id FROM account_counters WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR NO KEY UPDATE',
    [ids],
  );
}

/**
 * Reserves `count` seq numbers of the account: they are base + 1 … base + count. Locks the counter row (a no-op
 * when lockCounters took it). Null when the account has no counter row: it was erased, so it has no message rows
 * to number either.
 */
export async function reserveSeq(sql: Sql, accountId: string, count: number): Promise<number | null> {
  const { rows } = await sql.query<{ base: number }>(
    'UPDATE account_counters SET seq = seq + $2 WHERE account_id = $1 RETURNING seq - $2 AS base',
    [accountId, count],
  );
  return rows[0]?.base ?? null;
}

/**
 * The fence and the counter in one statement: reserves `count` seq numbers only while `fence.token` is the account's
 * current lease token (and, for a claim, the lease has not expired by the database's clock); otherwise throws
 * LeaseLostError and has changed nothing. The lease row is read FOR SHARE and so stays locked to COMMIT: a takeover
 * (acquireSenderLease updates that row) waits for this transaction, and the new holder, once it has the lease,
 * sees every row this holder committed (its budget restore counts them).
 */
export async function fenceAndReserve(sql: Sql, fence: SenderFence, isClaim: boolean, count: number): Promise<number> {
  const { rows } = await sql.query<{ base: number }>(
    `WITH lease AS (
       SELECT 1 FROM sender_leases
       -- holder '' is a released lease: its quiet time lets nobody write, its last holder included.
       WHERE account_id = $1 AND token = $2 AND holder <> '' AND (NOT $3::boolean OR expires_at > statement_timestamp())
       FOR SHARE
     )
     UPDATE account_counters SET seq = seq + $4
     WHERE account_id = $1 AND EXISTS (SELECT 1 FROM lease)
     RETURNING seq - $4 AS base`,
    [fence.accountId, fence.token, isClaim, count],
  );
  const base = rows[0]?.base;
  if (base === undefined) throw new LeaseLostError(fence.accountId);
  return base;
}
