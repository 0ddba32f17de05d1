import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser } from '../support/keycloak.js';

const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }';

/** Small limits, so a test reaches them in a few calls; every gateway here has its own counts. */
function limited(config: Config, overrides: Partial<Config> = {}): Config {
  const login = { perAccountAndIp: { max: 3, windowSeconds: 60 }, perIp: { max: 6, windowSeconds: 60 } };
  return { ...config, redis: undefined, rateLimits: { ...config.rateLimits, login }, ...overrides };
}

function login(gateway: TestGateway, username: string, password: string, clientIp?: string) {
  return gateway.graphql(LOGIN, {
    variables: { input: { username, password } },
    headers: clientIp ? { 'x-forwarded-for': clientIp } : {},
  });
}

const codeOf = (response: Awaited<ReturnType<typeof login>>) => response.errors?.[0]?.extensions.code ?? 'OK';
const unknownUser = () => `nobody-${randomUUID()}@example.test`;

describe('abuse limits on login', () => {
  // Behind one trusted proxy, X-Forwarded-For gives each test a client address of its own.
  let behindProxy: TestGateway;
  beforeAll(async () => {
    behindProxy = await startTestGateway((config) => limited(config, { http: { ...config.http, trustedProxies: 1 } }));
  });
  afterAll(() => behindProxy?.close());

  it('answers RATE_LIMITED (429, retryAfterSeconds, a retry hint) once one username from one address passes its limit, even with the right password', async () => {
    const user = await createKeycloakUser();
    for (let call = 1; call <= 3; call += 1) {
      expect(codeOf(await login(behindProxy, user.email, `Wrong-password-${call}`, '203.0.113.1'))).toBe('UNAUTHENTICATED');
    }

    const response = await login(behindProxy, user.email, user.password, '203.0.113.1');

    expect(response.data).toBeNull();
    expect(response.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Too many attempts\. Try again in \d+ (seconds?|minutes?)\.$/),
      extensions: { code: 'RATE_LIMITED', status: 429, retryAfterSeconds: expect.any(Number) },
    });
    const retryAfterSeconds = Number((response.errors![0]!.extensions as Record<string, unknown>).retryAfterSeconds);
    expect(retryAfterSeconds).toBeGreaterThan(0);
    expect(retryAfterSeconds).toBeLessThanOrEqual(60);
    // Another address naming the same user is not held back by this one's attempts.
    expect(codeOf(await login(behindProxy, user.email, 'Wrong-password-4', '203.0.113.2'))).toBe('UNAUTHENTICATED');
  });

  it('answers RATE_LIMITED once one address has tried too many different usernames', async () => {
    const codes = [];
    for (let call = 1; call <= 7; call += 1) codes.push(codeOf(await login(behindProxy, unknownUser(), 'Any-password-1', '203.0.113.3')));
    expect(codes).toEqual([...Array<string>(6).fill('UNAUTHENTICATED'), 'RATE_LIMITED']);
  });

  it('counts every aliased login of one request on its own: of 15 aliases, the one past the per-IP limit is refused', async () => {
    // Different users: Keycloak itself refuses one user's logins that follow each other too closely.
    const users = await Promise.all(Array.from({ length: 6 }, () => createKeycloakUser()));
    const inputs = Array.from({ length: 15 }, (_, i) => ({ username: users[i]?.email ?? unknownUser(), password: users[i]?.password ?? 'x' }));
    const variables = Object.fromEntries(inputs.map((input, i) => [`i${i}`, input]));
    const declarations = inputs.map((_, i) => `$i${i}: LoginInput!`).join(', ');
    const aliases = inputs.map((_, i) => `a${i}: login(input: $i${i}) { tokens { accessToken } }`).join('\n');

    const response = await behindProxy.graphql(`mutation Aliased(${declarations}) { ${aliases} }`, {
      variables,
      headers: { 'x-forwarded-for': '203.0.113.4' },
    });

    // Six signed in; mutations run one after another, and the first refusal ends the request.
    expect(response.errors).toEqual([expect.objectContaining({ path: ['a6'], extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) })]);
  });

  it('counts the addresses of one IPv6 /64 as one client', async () => {
    const codes = [];
    for (let call = 1; call <= 7; call += 1) {
      codes.push(codeOf(await login(behindProxy, unknownUser(), 'Any-password-1', `2001:db8:7:7::${call.toString(16)}`)));
    }
    expect(codes.at(-1)).toBe('RATE_LIMITED');
  });

  it('without TRUST_PROXY, counts the socket address and ignores X-Forwarded-For, so changing it does not escape the limit', async () => {
    const direct = await startTestGateway((config) => limited(config));
    try {
      const username = unknownUser();
      const codes = [];
      for (let call = 1; call <= 4; call += 1) codes.push(codeOf(await login(direct, username, 'Any-password-1', `198.51.100.${call}`)));
      expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    } finally {
      await direct.close();
    }
  });

  it('holds across two gateway processes that share one Redis (REDIS_URL)', async () => {
    const redis = { url: 'redis://127.0.0.1:6379', keyPrefix: `iam-gateway-test:${randomUUID()}:` };
    const [first, second] = await Promise.all([1, 2].map(() => startTestGateway((config) => limited(config, { redis }))));
    try {
      const username = unknownUser();
      const codes = [];
      for (const gateway of [first!, second!, first!, second!]) codes.push(codeOf(await login(gateway, username, 'Any-password-1')));
      expect(codes).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    } finally {
      await Promise.all([first?.close(), second?.close()]);
    }
  });
});
