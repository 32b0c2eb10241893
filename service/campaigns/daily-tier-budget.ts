// Meta's messaging limit: how many unique people an account may message in a moving 24 h (250, 2,000, 10,000,
// 100,000 or unlimited). Counted here, before sending, because Meta names no error for going over (CLOUD_API.md 3.3).

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Unique recipients in the last 24 h. A recipient counts from its first send in the window; sending to them again
 * within it costs nothing. `limit` null means unlimited (nothing is tracked).
 */
export class DailyTierBudget {
  /** Recipient → when it started counting; Map order is that time order, so expiry pops from the front. */
  private readonly countedAtMs = new Map<string, number>();
  /**
   * Recipient → sends recorded against its count and not given back. A send that did not happen gives its use back;
   * the count goes only when no other send relies on it (a second campaign's message to the same person may have
   * left while the first one's answer was still on its way).
   */
  private readonly uses = new Map<string, number>();

  constructor(private readonly limit: number | null, private readonly windowMs = DAY_MS) {}

  /** Seeds the budget with sends made before a restart (any order). */
  restore(sends: Iterable<{ to: string; atMs: number }>): void {
    if (this.limit === null) return;
    const sorted = [...sends].sort((a, b) => a.atMs - b.atMs);
    for (const send of sorted) {
      if (this.countedAtMs.has(send.to)) continue;
      this.countedAtMs.set(send.to, send.atMs);
      this.uses.set(send.to, 1);
    }
  }

  /** True when a message to `to` at `nowMs` fits the budget. */
  allows(to: string, nowMs: number): boolean {
    if (this.limit === null) return true;
    this.expire(nowMs);
    return this.countedAtMs.has(to) || this.countedAtMs.size < this.limit;
  }

  /** Records a send to `to` (call only after `allows` said yes). */
  record(to: string, nowMs: number): void {
    if (this.limit === null) return;
    if (!this.countedAtMs.has(to)) this.countedAtMs.set(to, nowMs);
    this.uses.set(to, (this.uses.get(to) ?? 0) + 1);
  }

  /**
   * Gives back the use of a send recorded at `atMs` that did not happen (refused by Meta, never left); the recipient
   * stops counting when no other send uses it. A use recorded before the count began (an older window) is ignored.
   */
  release(to: string, atMs: number): void {
    const countedAt = this.countedAtMs.get(to);
    if (countedAt === undefined || atMs < countedAt) return;
    const left = (this.uses.get(to) ?? 1) - 1;
    if (left > 0) {
      this.uses.set(to, left);
    } else {
      this.countedAtMs.delete(to);
      this.uses.delete(to);
    }
  }

  /** When the next place frees up, or null when there is room or no limit. */
  nextFreeAtMs(nowMs: number): number | null {
    if (this.limit === null) return null;
    this.expire(nowMs);
    if (this.countedAtMs.size < this.limit) return null;
    const first = this.countedAtMs.values().next();
    return first.done ? null : first.value + this.windowMs;
  }

  used(nowMs: number): number {
    this.expire(nowMs);
    return this.countedAtMs.size;
  }

  private expire(nowMs: number): void {
    for (const [to, at] of this.countedAtMs) {
      if (nowMs - at < this.windowMs) break;
      this.countedAtMs.delete(to);
      this.uses.delete(to);
    }
  }
}
