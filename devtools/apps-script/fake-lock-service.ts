// In-memory LockService: document, script and user locks that a test can hold "from another execution" to check
// contention handling. Counts calls. Shared by the tests and the playground (devtools/playground); never bundled into
// the add-on.
import type { CallCounter } from './call-counter';

export class FakeLock {
  /** Set by a test to model another execution holding the lock. */
  heldElsewhere = false;
  private held = false;
  constructor(private readonly calls: CallCounter) {}

  tryLock(_timeoutMs: number): boolean {
    this.calls.hit('Lock.tryLock');
    if (this.heldElsewhere) return false;
    this.held = true;
    return true;
  }

  waitLock(timeoutMs: number): void {
    if (!this.tryLock(timeoutMs)) throw new Error('Lock timeout: another process was holding the lock for too long.');
  }

  releaseLock(): void {
    this.calls.hit('Lock.releaseLock');
    this.held = false;
  }

  hasLock(): boolean {
    return this.held;
  }
}

export class FakeLockService {
  readonly document: FakeLock;
  readonly script: FakeLock;
  readonly user: FakeLock;
  hasDocument = true;
  constructor(private readonly calls: CallCounter) {
    this.document = new FakeLock(calls);
    this.script = new FakeLock(calls);
    this.user = new FakeLock(calls);
  }
  getDocumentLock(): FakeLock | null { this.calls.hit('LockService.getDocumentLock'); return this.hasDocument ? this.document : null; }
  getScriptLock(): FakeLock { this.calls.hit('LockService.getScriptLock'); return this.script; }
  getUserLock(): FakeLock { this.calls.hit('LockService.getUserLock'); return this.user; }
}
