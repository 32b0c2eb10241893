// A token bucket: `burst` requests at once, refilled at `ratePerSecond`. Pure: the caller passes the time in.

export interface TokenBucketOptions {
  /** Tokens added per second (the sustained request rate). */
  ratePerSecond: number;
  /** Most tokens held at once (the largest burst); a new bucket starts full. */
  burst: number;
}

export type TakeResult = { isAllowed: true } | { isAllowed: false; retryAfterMs: number };

export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(private readonly options: TokenBucketOptions, nowMs: number) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    this.tokens = options.burst;
    this.updatedAtMs = nowMs;
  }

  /** Takes one token at `nowMs`, or says how long until one is there. A clock that steps back adds nothing. */
  take(nowMs: number): TakeResult {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { isAllowed: true };
    }
    return { isAllowed: false, retryAfterMs: Math.ceil(((1 - this.tokens) * 1000) / this.options.ratePerSecond) };
  }

  /** True when the bucket is full at `nowMs`: forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.options.burst;
  }

  private refill(nowMs: number): void {
    const elapsedMs = nowMs - this.updatedAtMs;
    if (elapsedMs <= 0) return;
    this.tokens = Math.min(this.options.burst, this.tokens + (elapsedMs * this.options.ratePerSecond) / 1000);
    this.updatedAtMs = nowMs;
  }
}
