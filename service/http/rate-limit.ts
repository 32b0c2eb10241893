// Per-account request rate limit on /v1: one token bucket per account, checked after auth and before the body is
// parsed. Over the limit: 429 rate_limited with Retry-After (seconds). Time comes from the injected clock.
import type { RequestHandler } from 'express';
import { AppError } from '../errors';
import { accountOf } from './auth';
import { TokenBucket, type TokenBucketOptions } from './token-bucket';

/** Generous for the add-on (5,000-row uploads back to back, progress polls), tight enough to stop a runaway loop. */
export const DEFAULT_RATE_LIMIT: TokenBucketOptions = { ratePerSecond: 20, burst: 100 };

/** Full buckets are dropped once there are this many, so memory follows active accounts, not all accounts ever. */
const SWEEP_AT_BUCKETS = 1000;

export class AccountRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly options: TokenBucketOptions, private readonly now: () => number) {}

  /** Counts one request of `accountId`; throws AppError('rate_limited') with retryAfterMs when over the limit. */
  take(accountId: string): void {
    const nowMs = this.now();
    let bucket = this.buckets.get(accountId);
    if (!bucket) {
      if (this.buckets.size >= SWEEP_AT_BUCKETS) this.sweep(nowMs);
      bucket = new TokenBucket(this.options, nowMs);
      this.buckets.set(accountId, bucket);
    }
    const result = bucket.take(nowMs);
    if (!result.isAllowed) {
      throw new AppError('rate_limited',
        `Too many requests for this account (limit ${this.options.ratePerSecond} a second, bursts of ${this.options.burst}). Try again shortly.`,
        { retryAfterMs: result.retryAfterMs });
    }
  }

  /** Drops the account's bucket (the account was erased). */
  forget(accountId: string): void {
    this.buckets.delete(accountId);
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Express middleware; must run after requireApiKey. */
  middleware(): RequestHandler {
    return (req, _res, next) => {
      this.take(accountOf(req).id);
      next();
    };
  }

  private sweep(nowMs: number): void {
    for (const [id, bucket] of this.buckets) if (bucket.isFull(nowMs)) this.buckets.delete(id);
  }
}
