// The changes feed's order and the sender's fence: the locks every writing transaction starts with.
//
// The changes feed (listMessagesChangedAfter, the sheet sync) reads a campaign's rows by `seq > cursor ORDER BY
// seq`, and a reader that has passed a seq never looks below it again. So a change must never become visible with a
// seq lower than one a reader may already have passed. A plain SEQUENCE alone does not give that: T1 takes 101, T2
// takes 102 and commits first, a reader pages past 102, then T1 commits 101, which no reader will ever see.
//
// What makes it hold here is a lock, not the numbers. Every transaction that changes message rows of an account
// (or the seq they carry) first locks the account's row in account_locks, and holds it to COMMIT; only after that
// lock statement has returned does it draw seq numbers, from the one SEQUENCE message_seq. The next writer of the
// account gets the lock only once this one has committed (PostgreSQL makes a transaction visible before it releases
// its locks), so it draws its numbers after all of this one's: per account, commit order is seq order, and a
// campaign belongs to one account. message_seq must keep CACHE 1 (the default): with a per-session cache, numbers
// drawn later by another session could be lower. Numbers drawn by a rolled-back savepoint, or by other accounts,
// leave gaps: gaps are fine, the feed only needs order. Within one transaction the rows' seqs follow the order its
// statements touch them, which may differ from SqliteStore's id order: they all become visible at once.
//
// (Drawing from a sequence rather than bumping a counter column on the lock row lets any set-based UPDATE number its
// rows with nextval() per row: no row_number() join to plan, no reservation to size beforehand, no new version of
// the lock row per commit.)
//
// The same lock serialises with it everything the send path must not race:
// - suppression writes take it, so an opt-out committed before a claim commits is seen by the claim's statement
//   (which runs after the lock, so its snapshot is newer than every commit before the lock), and one committed after
//   is after the send's durable "before" anyway;
// - campaign state changes take it, so the claim's "campaign is running" and a pause or cancel are ordered too, and
//   the finished check (no open rows) cannot miss a row being added or re-queued;
// - retention purges and erasures take it, so their multi-row statements never deadlock with the sender's.
// Lock order, everywhere: account_locks rows first, in ascending account id (COLLATE "C": one order in every
// instance) when a transaction needs several (a group commit mixing accounts, markUnsettledUnknown); then the
// account's sender_leases row FOR SHARE (checkFence); then message rows.
import { LeaseLostError, type SenderFence } from '../../campaigns/ports';
import type { Sql } from './postgres-sql';

/** The next number of the changes feed, for a row changed after its account's lock was taken. */
export const NEXT_SEQ = "nextval('message_seq')";

/**
 * Locks the account_locks rows of `accountIds` in ascending id order (waits for their writers in flight). Accounts
 * without a row (erased) are skipped: they have no message rows left to number either. Call before any other lock.
 */
export async function lockAccounts(sql: Sql, accountIds: Iterable<string>): Promise<void> {
  const ids = [...new Set(accountIds)];
  if (ids.length === 0) return;
  // LockRows sits above the Sort: the rows are locked in ORDER BY order.
  await sql.query(
    'SELECT account_id FROM account_locks WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR NO KEY UPDATE',
    [ids],
  );
}

/**
 * The fence: locks the account (as lockAccounts), then checks that `fence.token` is its current lease token (and,
 * for a claim, that the lease has not expired by the database's clock at that moment, after any wait for the
 * lock); otherwise throws LeaseLostError, having changed nothing. The lease row is read FOR SHARE and so stays
 * locked to COMMIT: a takeover (acquireSenderLease updates that row) waits for this transaction, and the new holder,
 * once it has the lease, sees every row this holder committed (its budget restore counts them). A takeover that
 * committed while this statement waited for the account is caught too: FOR SHARE re-checks the newest lease row.
 * One statement, locks in the documented order: the lease row's index key is the value of the `acct` sub-select, so
 * the account row is locked before the lease row is even looked up.
 */
export async function checkFence(sql: Sql, fence: SenderFence, isClaim: boolean): Promise<void> {
  const { rows } = await sql.query(
    `WITH acct AS (SELECT account_id FROM account_locks WHERE account_id = $1 FOR NO KEY UPDATE)
     SELECT 1 FROM sender_leases l
     -- holder '' is a released lease: during its quiet time nobody writes, its last holder included.
     WHERE l.account_id = (SELECT account_id FROM acct) AND l.token = $2 AND l.holder <> ''
       AND (NOT $3::boolean OR l.expires_at > clock_timestamp())
     FOR SHARE`,
    [fence.accountId, fence.token, isClaim],
  );
  if (rows.length === 0) throw new LeaseLostError(fence.accountId);
}
