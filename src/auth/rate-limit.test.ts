import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ConfigError, defaultRateLimits, loadConfig, RATE_LIMIT_DEFAULTS, type RateLimits } from '../config.js';
import type { AppError } from '../errors.js';
import { createLogger } from '../logger.js';
import { clientAddress, MemoryRateLimitStore, networkOf, RateLimiter, RedisRateLimitStore, type RateLimitStore } from './rate-limit.js';
import { loginAs, loginOutcome, SMALL_LOGIN_LIMITS } from '../../test/support/rate-limits.js';

const log = createLogger({ level: 'silent' });

describe('RateLimiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses the call after the per-username-and-IP limit with RATE_LIMITED and a retry hint', async () => {
    const limiter = new RateLimiter(new MemoryRateLimitStore(), SMALL_LOGIN_LIMITS, log);
    for (let call = 1; call <= 3; call += 1) expect(await loginOutcome(limiter, '198.51.100.1', loginAs('ann'))).toBeUndefined();

    const refused = await loginOutcome(limiter, '198.51.100.1', loginAs('ann'));

    expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfterSeconds: 60 } });
    expect(refused?.message).toBe('Too many attempts. Try again in 1 minute.');
  });

  it('counts a username in any case and with surrounding spaces as one account, per address', async () => {
    const limiter = new RateLimiter(new MemoryRateLimitStore(), SMALL_LOGIN_LIMITS, log);
    for (const username of ['Ann@Example.test', ' ann@example.test', 'ANN@EXAMPLE.TEST']) {
      expect(await loginOutcome(limiter, '198.51.100.1', loginAs(username))).toBeUndefined();
    }
    expect(await loginOutcome(limiter, '198.51.100.1', loginAs('ann@example.test'))).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await loginOutcome(limiter, '198.51.100.2', loginAs('ann@example.test'))).toBeUndefined();
  });

  it('refuses an address that tries many usernames once the per-IP limit is reached', async () => {
    const limiter = new RateLimiter(new MemoryRateLimitStore(), SMALL_LOGIN_LIMITS, log);
    for (let call = 1; call <= 5; call += 1) expect(await loginOutcome(limiter, '198.51.100.1', loginAs(`user-${call}`))).toBeUndefined();

    expect(await loginOutcome(limiter, '198.51.100.1', loginAs('user-6'))).toMatchObject({
      code: 'RATE_LIMITED',
      details: { retryAfterSeconds: 600 },
      message: 'Too many attempts. Try again in 10 minutes.',
    });
    expect(await loginOutcome(limiter, '198.51.100.2', loginAs('user-6'))).toBeUndefined();
  });

  it('lets calls through again once the window has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const limits = { ...SMALL_LOGIN_LIMITS, login: { ...SMALL_LOGIN_LIMITS.login, perIp: { max: 100, windowSeconds: 60 } } };
    const limiter = new RateLimiter(new MemoryRateLimitStore(), limits, log);
    for (let call = 1; call <= 4; call += 1) await loginOutcome(limiter, '198.51.100.1', loginAs('ann'));
    vi.advanceTimersByTime(59_000);
    expect(await loginOutcome(limiter, '198.51.100.1', loginAs('ann'))).toMatchObject({ details: { retryAfterSeconds: 1 } });

    vi.advanceTimersByTime(1_000);

    expect(await loginOutcome(limiter, '198.51.100.1', loginAs('ann'))).toBeUndefined();
  });

  it('answers UPSTREAM_UNAVAILABLE, never lets the call through, when its store fails', async () => {
    const broken: RateLimitStore = { hit: () => Promise.reject(new Error('connection refused')), close: async () => {} };
    const limiter = new RateLimiter(broken, SMALL_LOGIN_LIMITS, log);
    expect(await loginOutcome(limiter, '198.51.100.1', loginAs('ann'))).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('RateLimiter, per caller and per tenant', () => {
  const caller = (userId: string, email = `${userId}@example.test`) => ({ userId, email });
  const invite = (tenantId: string) => ({ input: { tenantId, email: 'someone@example.test' } });
  const limits: RateLimits = {
    ...defaultRateLimits(),
    createInvitation: {
      perCaller: { max: 3, windowSeconds: 60 },
      perTenant: { max: 4, windowSeconds: 60 },
      perRecipient: { max: 100, windowSeconds: 60 },
    },
  };

  async function invitationOutcome(limiter: RateLimiter, userId: string, tenantId: string) {
    return limiter.consume('createInvitation', '198.51.100.1', invite(tenantId), caller(userId)).then(
      () => 'OK',
      (error: AppError) => error.code,
    );
  }

  it('M4: counts invitations per inviter and per tenant, whichever runs out first', async () => {
    const limiter = new RateLimiter(new MemoryRateLimitStore(), limits, log);
    const outcomes = [];
    for (const [userId, tenantId] of [
      ['ann', 't1'],
      ['ann', 't1'],
      ['ann', 't2'],
      ['ann', 't2'],
      ['bob', 't1'],
      ['bob', 't1'],
      ['bob', 't1'],
    ]) {
      outcomes.push(await invitationOutcome(limiter, userId!, tenantId!));
    }
    // ann's 4th call is over her own limit; bob's 3rd is t1's 5th invitation.
    expect(outcomes).toEqual(['OK', 'OK', 'OK', 'RATE_LIMITED', 'OK', 'OK', 'RATE_LIMITED']);
  });

  it('counts a requireUserActions only when it emails, per caller and per user emailed', async () => {
    const limiter = new RateLimiter(
      new MemoryRateLimitStore(),
      {
        ...defaultRateLimits(),
        requireUserActions: { perCaller: { max: 100, windowSeconds: 60 }, perRecipient: { max: 1, windowSeconds: 60 } },
      },
      log,
    );
    const requireActions = (userId: string, sendEmail?: boolean) =>
      limiter.consume('requireUserActions', '198.51.100.1', { userId, actions: ['CONFIGURE_TOTP'], sendEmail }, caller('ann')).then(
        () => 'OK',
        (error: AppError) => error.code,
      );
    expect([
      await requireActions('u1', false),
      await requireActions('u1', false),
      await requireActions('u1', true),
      await requireActions('u2'),
      await requireActions('u1'),
    ]).toEqual(['OK', 'OK', 'OK', 'OK', 'RATE_LIMITED']);
  });

  it('M4: counts an updateMyProfile only when it changes the caller’s email', async () => {
    const limiter = new RateLimiter(
      new MemoryRateLimitStore(),
      { ...defaultRateLimits(), emailChange: { perCaller: { max: 1, windowSeconds: 60 } } },
      log,
    );
    const change = (email?: string) =>
      limiter.consume('emailChange', '198.51.100.1', { input: { email, firstName: 'Ann' } }, caller('ann', 'ann@example.test')).then(
        () => 'OK',
        (error: AppError) => error.code,
      );
    expect([
      await change(),
      await change(' ANN@example.test'),
      await change('new@example.test'),
      await change('other@example.test'),
    ]).toEqual(['OK', 'OK', 'OK', 'RATE_LIMITED']);
  });
});

describe('MemoryRateLimitStore memory (L3)', () => {
  it('L3: once an address is refused, its further calls under new usernames add no counter', async () => {
    const store = new MemoryRateLimitStore();
    const limiter = new RateLimiter(store, SMALL_LOGIN_LIMITS, log);
    for (let call = 1; call <= 1000; call += 1) await loginOutcome(limiter, '198.51.100.1', loginAs(`user-${call}@example.test`));
    // The address's counter, and one per username for the 5 calls the address was allowed.
    expect(store.size).toBe(1 + 5);
  });

  it('L3: holds at most maxKeys windows, dropping the least recently counted', async () => {
    const store = new MemoryRateLimitStore(3);
    for (const key of ['a', 'b', 'c', 'a', 'd']) await store.hit(key, 60_000);
    expect(store.size).toBe(3);
    // b was the least recently counted: it went, and starts again from 1; a kept its count.
    expect(await store.hit('b', 60_000)).toMatchObject({ count: 1 });
    expect(await store.hit('a', 60_000)).toMatchObject({ count: 3 });
  });
});

describe('MemoryRateLimitStore windows', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens a window with an expiry at its first call and only counts after that', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = new MemoryRateLimitStore();
    const opened = await store.hit('key', 2_000);
    vi.advanceTimersByTime(200);
    const counted = await store.hit('key', 2_000);

    expect(opened).toEqual({ count: 1, resetInMs: 2_000 });
    expect(counted).toEqual({ count: 2, resetInMs: 1_800 });
  });
});

describe('RedisRateLimitStore.connect', () => {
  // The shared store itself is tested against a real Redis: test/integration/redis-rate-limit-store.test.ts.
  it('refuses to start when Redis does not answer, naming REDIS_URL', async () => {
    await expect(RedisRateLimitStore.connect('redis://127.0.0.1:1', 'unused:', log)).rejects.toThrow(/REDIS_URL/);
  });
});

describe('clientAddress', () => {
  it('takes the socket address and ignores X-Forwarded-For unless proxies are trusted', () => {
    expect(clientAddress('10.0.0.5', '203.0.113.9', 0)).toBe('10.0.0.5');
  });

  it('behind trusted proxies, takes the address the outermost trusted proxy saw, not what the client claimed', () => {
    // The client sent "X-Forwarded-For: 1.1.1.1"; the load balancer appended the real address.
    expect(clientAddress('10.0.0.5', '1.1.1.1, 203.0.113.9', 1)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.5', '1.1.1.1, 203.0.113.9, 10.0.0.4', 2)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.5', undefined, 1)).toBe('10.0.0.5');
  });

  it('reports IPv4 callers of a dual-stack socket as plain IPv4', () => {
    expect(clientAddress('::ffff:127.0.0.1', undefined, 0)).toBe('127.0.0.1');
  });
});

describe('networkOf', () => {
  it('counts every address of one IPv6 /64 as one network, and IPv4 addresses one by one', () => {
    expect(networkOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(networkOf('::1')).toBe('0:0:0:0::/64');
    expect(networkOf('203.0.113.9')).toBe('203.0.113.9');
  });
});

describe('rate-limit configuration', () => {
  const required = { DATABASE_URL: 'postgres://localhost/db', KEYCLOAK_URL: 'http://localhost:8180', KEYCLOAK_API_CLIENT_SECRET: 's' };

  it('reads every counter of every operation from RATE_LIMIT_<OPERATION>_<COUNTER>', () => {
    const config = loadConfig({
      ...required,
      RATE_LIMIT_CREATE_INVITATION_PER_TENANT: '5/1d',
      RATE_LIMIT_EMAIL_CHANGE_PER_CALLER: '1/1h',
      RATE_LIMIT_SEND_PASSWORD_SETUP_EMAIL_PER_RECIPIENT: '2/10m',
      RATE_LIMIT_ACCEPT_INVITATION_PER_IP: '7/1h',
    });
    expect(config.rateLimits).toMatchObject({
      createInvitation: { perCaller: RATE_LIMIT_DEFAULTS.createInvitation.perCaller, perTenant: { max: 5, windowSeconds: 86_400 } },
      emailChange: { perCaller: { max: 1, windowSeconds: 3600 } },
      sendPasswordSetupEmail: { perRecipient: { max: 2, windowSeconds: 600 } },
      acceptInvitation: { perIp: { max: 7, windowSeconds: 3600 } },
    });
  });

  it('has defaults for every operation, overridden per operation by RATE_LIMIT_<OPERATION>_PER_ACCOUNT_IP and _PER_IP', () => {
    const config = loadConfig({ ...required, RATE_LIMIT_LOGIN_PER_IP: '500/1h', RATE_LIMIT_RESET_PASSWORD_PER_ACCOUNT_IP: '2/30' });
    expect(config.rateLimits).toEqual({
      ...defaultRateLimits(),
      login: { perAccountAndIp: { max: 10, windowSeconds: 900 }, perIp: { max: 500, windowSeconds: 3600 } },
      resetPassword: { perAccountAndIp: { max: 2, windowSeconds: 30 }, perIp: RATE_LIMIT_DEFAULTS.resetPassword.perIp },
    });
    expect(config.redis).toBeUndefined();
    expect(config.http.trustedProxies).toBe(0);
  });

  it('reads REDIS_URL and TRUST_PROXY, and reports malformed limits', () => {
    expect(loadConfig({ ...required, REDIS_URL: 'redis://127.0.0.1:6379', TRUST_PROXY: '1' })).toMatchObject({
      redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'iam-gateway:' },
      http: { trustedProxies: 1 },
    });
    const problems = (() => {
      try {
        loadConfig({ ...required, RATE_LIMIT_LOGIN_PER_IP: 'lots', REDIS_URL: 'http://x', TRUST_PROXY: 'yes' });
      } catch (error) {
        return (error as ConfigError).problems;
      }
    })();
    expect(problems).toEqual([
      'TRUST_PROXY must be a whole number, 0 or more (got "yes")',
      'RATE_LIMIT_LOGIN_PER_IP must be calls per window, like 10/15m (s, m, h or d), at least 1/1s (got "lots")',
      'REDIS_URL must start with redis:// or rediss:// (got http://…)',
    ]);
  });
});
