// The per-account request limit: a token bucket (burst, then the sustained rate), one per account, answered with
// 429 rate_limited and Retry-After; driven by a fake clock, never by sleeping.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../../../service/campaigns/ports';
import { loadConfig } from '../../../service/config';
import { errorMapper } from '../../../service/http/error-mapper';
import { AccountRateLimiter } from '../../../service/http/rate-limit';
import { TokenBucket } from '../../../service/http/token-bucket';
import { startService, type ServiceRuntime } from '../../../service/service-runtime';
import { FakeClock } from '../../fakes/fake-clock';

const silent = { info() {}, warn() {}, error() {} };

describe('TokenBucket', () => {
  it('allows the burst at once, then one request per 1/rate seconds', () => {
    const t0 = 1_000_000;
    const bucket = new TokenBucket({ ratePerSecond: 20, burst: 5 }, t0);
    for (let i = 0; i < 5; i++) expect(bucket.take(t0)).toEqual({ isAllowed: true });
    expect(bucket.take(t0)).toEqual({ isAllowed: false, retryAfterMs: 50 });
    expect(bucket.take(t0 + 30)).toEqual({ isAllowed: false, retryAfterMs: 20 });
    expect(bucket.take(t0 + 50)).toEqual({ isAllowed: true });
    expect(bucket.take(t0 + 50).isAllowed).toBe(false);
    // A long pause refills up to the burst, never beyond.
    const later = t0 + 60_000;
    for (let i = 0; i < 5; i++) expect(bucket.take(later).isAllowed).toBe(true);
    expect(bucket.take(later).isAllowed).toBe(false);
  });

  it('adds nothing when the clock steps back', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, 10_000);
    expect(bucket.take(10_000).isAllowed).toBe(true);
    expect(bucket.take(5_000).isAllowed).toBe(false);
    expect(bucket.take(10_999).isAllowed).toBe(false);
    expect(bucket.take(11_000).isAllowed).toBe(true);
  });
});

describe('AccountRateLimiter middleware', () => {
  const clock = new FakeClock();
  const limiter = new AccountRateLimiter({ ratePerSecond: 2, burst: 3 }, () => clock.now());
  const app = express();
  app.use((req, _res, next) => {
    req.account = { id: String(req.headers['x-account']) } as Account;
    next();
  });
  app.use(limiter.middleware());
  app.get('/x', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorMapper(silent));

  it('answers 429 rate_limited with Retry-After per account, and lets requests through again as time passes', async () => {
    for (let i = 0; i < 3; i++) expect((await request(app).get('/x').set('x-account', 'a')).status).toBe(200);
    const limited = await request(app).get('/x').set('x-account', 'a');
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('Too many requests') } });
    expect(limited.headers['retry-after']).toBe('1');
    // Another account has its own bucket.
    expect((await request(app).get('/x').set('x-account', 'b')).status).toBe(200);

    await clock.advance(499);
    expect((await request(app).get('/x').set('x-account', 'a')).status).toBe(429);
    await clock.advance(1);
    expect((await request(app).get('/x').set('x-account', 'a')).status).toBe(200);

    limiter.forget('a');
    expect(limiter.size).toBe(1);
  });
});

describe('the service', () => {
  let dataDir: string;
  let runtime: ServiceRuntime;
  const clock = new FakeClock();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rate-limit-'));
    runtime = await startService(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', RATE_LIMIT_PER_SECOND: '20', RATE_LIMIT_BURST: '100' }),
      { isLockFree: true, clock, logger: silent });
  });

  afterAll(async () => {
    await runtime?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('limits each API key after authentication, before the body is read', async () => {
    const a = await runtime.createAccount({ name: 'A', isSandbox: true });
    const b = await runtime.createAccount({ name: 'B', isSandbox: true });
    const get = (key: string) => request(runtime.url).get('/v1/account').set('Authorization', `Bearer ${key}`);
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => get(a.apiKey)));
      expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));
    }
    const limited = await request(runtime.url).post('/v1/campaigns').set('Authorization', `Bearer ${a.apiKey}`).send('{not json');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBe('1');

    expect((await get(b.apiKey)).status).toBe(200);
    expect((await request(runtime.url).get('/v1/account')).status).toBe(401);
    // 20 a second: one more request every 50 ms.
    await clock.advance(50);
    expect((await get(a.apiKey)).status).toBe(200);
    expect((await get(a.apiKey)).status).toBe(429);
  });
});
