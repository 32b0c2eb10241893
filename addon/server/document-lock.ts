// Serialises the add-on's writers on one spreadsheet (an upload run, a sync, a trigger tick) with LockService, so
// two executions never interleave their reads and rectangular writes of the status columns.
import { AddonError } from '../core/addon-error';
import { flush } from './sheet-io';

/**
 * Runs `fn` holding the document lock (the user lock where Apps Script has no document, e.g. some trigger runs).
 * Throws `busy` when another execution holds it for longer than `waitMs`. Flushes sheet writes before releasing,
 * as the Lock documentation advises.
 */
export function withDocumentLock<T>(fn: () => T, waitMs = 10_000): T {
  const lock = LockService.getDocumentLock() ?? LockService.getUserLock();
  if (!lock.tryLock(waitMs)) {
    throw new AddonError('busy', 'Another run of the add-on is updating this spreadsheet right now. Try again in a minute.');
  }
  try {
    return fn();
  } finally {
    flush();
    lock.releaseLock();
  }
}
