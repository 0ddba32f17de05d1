import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { RateLimiter, RedisRateLimitStore } from '../../src/auth/rate-limit.js';
import { findOrStartRedis } from '../support/redis.js';
import { loginAs, loginOutcome, SMALL_LOGIN_LIMITS } from '../support/rate-limits.js';

// The rate-limit counts shared by gateway processes, against a real Redis: the one
// TEST_REDIS_URL (or 127.0.0.1:6379) names, else a redis-server started for this file.
const redis = await findOrStartRedis();
if (redis.reason) console.warn(`Skipping the Redis rate-limit store tests: ${redis.reason}.`);
afterAll(() => redis.url && redis.stop());

const log = createLogger({ level: 'silent' });

describe.skipIf(!redis.url)('RedisRateLimitStore', () => {
  const url = redis.url!;

  it('gives two limiters sharing one Redis one count, as two gateway processes would have', async () => {
    const keyPrefix = `iam-gateway-test:${randomUUID()}:`;
    const stores = await Promise.all([1, 2].map(() => RedisRateLimitStore.connect(url, keyPrefix, log)));
    const [first, second] = stores.map((store) => new RateLimiter(store, SMALL_LOGIN_LIMITS, log)) as [RateLimiter, RateLimiter];
    try {
      expect(await loginOutcome(first, '198.51.100.1', loginAs('ann'))).toBeUndefined();
      expect(await loginOutcome(second, '198.51.100.1', loginAs('ann'))).toBeUndefined();
      expect(await loginOutcome(first, '198.51.100.1', loginAs('ann'))).toBeUndefined();

      const refused = await loginOutcome(second, '198.51.100.1', loginAs('ann'));

      expect(refused).toMatchObject({ code: 'RATE_LIMITED' });
      expect(refused?.details.retryAfterSeconds).toBeGreaterThan(55);
      expect(refused?.details.retryAfterSeconds).toBeLessThanOrEqual(60);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('opens a window with an expiry at its first call and only counts after that', async () => {
    const keyPrefix = `iam-gateway-test:${randomUUID()}:`;
    const store = await RedisRateLimitStore.connect(url, keyPrefix, log);
    const direct = createClient({ url });
    await direct.connect();
    try {
      const opened = await store.hit('key', 2_000);
      // The window as if 200 ms had passed: a later call must leave its expiry alone.
      await direct.pExpire(`${keyPrefix}key`, 1_800);
      const counted = await store.hit('key', 2_000);

      expect(opened).toMatchObject({ count: 1 });
      expect(opened.resetInMs).toBeGreaterThan(1_800);
      expect(counted.count).toBe(2);
      expect(counted.resetInMs).toBeLessThanOrEqual(1_800);
      expect(counted.resetInMs).toBeGreaterThan(0);
    } finally {
      await Promise.all([store.close(), direct.close()]);
    }
  });
});
