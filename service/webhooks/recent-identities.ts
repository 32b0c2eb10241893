// The phone ↔ BSUID pairs this instance has lately written, so that the same pair named again by every status of a
// campaign (sent, delivered, read all carry it since 2026) is not written again each time: most bodies then carry no
// pair to store. Only what was committed is remembered, and only for a while, so a pair erased since (contact
// erasure) is learnt again at most `ttlMs` later.
import type { RecipientIdentity } from '../campaigns/business-scoped-user-id';

export class RecentIdentities {
  /** `account \0 userId` → the number stored with it (or '' for none) and when; in insertion order, oldest first. */
  private readonly pairs = new Map<string, { phone: string; atMs: number }>();

  constructor(private readonly ttlMs = 10 * 60 * 1000, private readonly maxPairs = 100_000) {}

  /** The pairs not written lately with the same number. */
  unknownAmong(accountId: string, identities: readonly RecipientIdentity[], nowMs: number): RecipientIdentity[] {
    return identities.filter((identity) => {
      const seen = this.pairs.get(`${accountId}\u0000${identity.userId}`);
      return !seen || nowMs - seen.atMs > this.ttlMs || seen.phone !== (identity.phones[0] ?? seen.phone);
    });
  }

  /** The pairs are committed. */
  remember(accountId: string, identities: readonly RecipientIdentity[], nowMs: number): void {
    for (const identity of identities) {
      const key = `${accountId}\u0000${identity.userId}`;
      this.pairs.delete(key);
      this.pairs.set(key, { phone: identity.phones[0] ?? '', atMs: nowMs });
    }
    for (const key of this.pairs.keys()) {
      if (this.pairs.size <= this.maxPairs) break;
      this.pairs.delete(key);
    }
  }

  /** The account was erased (or its pairs changed outside webhooks): learn everything again. */
  forget(accountId: string): void {
    for (const key of this.pairs.keys()) if (key.startsWith(`${accountId}\u0000`)) this.pairs.delete(key);
  }
}
