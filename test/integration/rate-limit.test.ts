import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { createMailbox } from '../support/mailbox.js';
import { findOrStartRedis } from '../support/redis.js';

const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }';

const twice = { max: 2, windowSeconds: 60 };

// Two gateway processes share their counts through Redis: the one the tests find, or one started for them.
const sharedRedis = await findOrStartRedis();
if (sharedRedis.reason) console.warn(`Skipping the shared-Redis rate-limit test: ${sharedRedis.reason}.`);
afterAll(() => sharedRedis.url && sharedRedis.stop());

/** Small limits, so a test reaches them in a few calls; every gateway here has its own counts. */
function limited(config: Config, overrides: Partial<Config> = {}): Config {
  const login = { perAccountAndIp: { max: 3, windowSeconds: 60 }, perIp: { max: 6, windowSeconds: 60 } };
  const rateLimits = {
    ...config.rateLimits,
    login,
    createTenant: { perCaller: twice },
    createInvitation: { perCaller: { max: 3, windowSeconds: 60 }, perTenant: twice, perRecipient: twice },
    acceptInvitation: { perIp: twice },
    registerUser: { perCaller: twice },
    sendPasswordSetupEmail: { perCaller: { max: 3, windowSeconds: 60 }, perRecipient: twice },
    emailChange: { perCaller: { max: 1, windowSeconds: 60 } },
  };
  return { ...config, redis: undefined, rateLimits, ...overrides };
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
    const inputs = Array.from({ length: 15 }, (_, i) => ({
      username: users[i]?.email ?? unknownUser(),
      password: users[i]?.password ?? 'x',
    }));
    const variables = Object.fromEntries(inputs.map((input, i) => [`i${i}`, input]));
    const declarations = inputs.map((_, i) => `$i${i}: LoginInput!`).join(', ');
    const aliases = inputs.map((_, i) => `a${i}: login(input: $i${i}) { tokens { accessToken } }`).join('\n');

    const response = await behindProxy.graphql(`mutation Aliased(${declarations}) { ${aliases} }`, {
      variables,
      headers: { 'x-forwarded-for': '203.0.113.4' },
    });

    // Six signed in; mutations run one after another, and the first refusal ends the request.
    expect(response.errors).toEqual([
      expect.objectContaining({ path: ['a6'], extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) }),
    ]);
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

  it.skipIf(!sharedRedis.url)('holds across two gateway processes that share one Redis (REDIS_URL)', async () => {
    const redis = { url: sharedRedis.url!, keyPrefix: `iam-gateway-test:${randomUUID()}:` };
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

describe('abuse limits wherever email is sent or an account is made', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway((config) => limited(config, { http: { ...config.http, trustedProxies: 1 } }));
  });
  afterAll(() => gateway?.close());

  /** A new user with these realm roles, signed in and mirrored. */
  async function signIn(realmRoles: string[] = ['role_user']) {
    const user = await createKeycloakUser({ realmRoles });
    const token = (await passwordGrant(user.email, user.password)).access_token;
    await gateway.graphql('{ me { user { id } } }', { token });
    return { ...user, token };
  }
  const code = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code ?? 'OK';
  const createTenant = (token: string) =>
    gateway.graphql('mutation { createTenant(input: { name: "Limited" }) { tenant { id } } }', { token });
  const invite = (token: string, tenantId: string, email = `limited-${randomUUID().slice(0, 8)}@example.test`) =>
    gateway.graphql('mutation($i: CreateInvitationInput!) { createInvitation(input: $i) { message } }', {
      token,
      variables: { i: { tenantId, email } },
    });

  it('L5: a call refused by a rate limit answers HTTP 429 with Retry-After; a refusal of another kind keeps its status', async () => {
    const send = () =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.20' },
        body: JSON.stringify({ query: LOGIN, variables: { input: { username: unknownUser(), password: 'Any-password-1' } } }),
      });
    for (let call = 1; call <= 6; call += 1) expect((await send()).status).toBe(200);

    const refused = await send();

    const body = (await refused.json()) as { data: unknown; errors: { extensions: { code: string; retryAfterSeconds: number } }[] };
    expect(body.errors[0]!.extensions.code).toBe('RATE_LIMITED');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe(String(body.errors[0]!.extensions.retryAfterSeconds));
  });

  it('M4: createTenant is limited per caller', async () => {
    const [ann, bob] = await Promise.all([signIn(), signIn()]);
    const codes = [
      code(await createTenant(ann.token)),
      code(await createTenant(ann.token)),
      code(await createTenant(ann.token)),
      code(await createTenant(bob.token)),
    ];
    expect(codes).toEqual(['OK', 'OK', 'RATE_LIMITED', 'OK']);
  });

  it('M4: createInvitation is limited per tenant, whoever invites, and the refused invitation sends no email', async () => {
    const owner = await signIn();
    const admin = await signIn(['role_admin']);
    const tenantId = (await createTenant(owner.token)).data!.createTenant.tenant.id as string;
    const refusedEmail = `refused-${randomUUID().slice(0, 8)}@example.test`;
    const codes = [
      code(await invite(owner.token, tenantId)),
      code(await invite(admin.token, tenantId)),
      code(await invite(owner.token, tenantId, refusedEmail)),
    ];
    expect(codes).toEqual(['OK', 'OK', 'RATE_LIMITED']);
    // Another tenant of the same owner has its own count.
    const other = (await createTenant(owner.token)).data!.createTenant.tenant.id as string;
    expect(code(await invite(owner.token, other))).toBe('OK');
    expect(await createMailbox(inject('mailboxUrl')).list(refusedEmail)).toEqual([]);
  });

  it('M4: createInvitation is limited per inviter across tenants; a call the permission table refuses is not counted', async () => {
    const admin = await signIn(['role_admin']);
    const outsider = await signIn();
    const tenants = await Promise.all(
      [1, 2].map(async () => (await createTenant((await signIn()).token)).data!.createTenant.tenant.id as string),
    );
    // Not a member: FORBIDDEN, and the outsider's own count stays untouched.
    for (let call = 1; call <= 4; call += 1) expect(code(await invite(outsider.token, tenants[0]!))).toBe('FORBIDDEN');
    const codes = [tenants[0], tenants[1], tenants[0], tenants[1]].map((tenantId) => invite(admin.token, tenantId!));
    expect((await Promise.all(codes)).map(code).sort()).toEqual(['OK', 'OK', 'OK', 'RATE_LIMITED']);
  });

  it('ATTACK: createInvitation is limited per recipient address, however many tenants and inviters send to it', async () => {
    const [ann, bob] = await Promise.all([signIn(), signIn()]);
    const [annTenant, bobTenant] = await Promise.all(
      [ann, bob].map(async ({ token }) => (await createTenant(token)).data!.createTenant.tenant.id as string),
    );
    const victim = `flooded-${randomUUID().slice(0, 8)}@example.test`;
    const codes = [code(await invite(ann.token, annTenant, victim)), code(await invite(bob.token, bobTenant, victim.toUpperCase()))];
    codes.push(code(await invite(bob.token, bobTenant, ` ${victim}`)), code(await invite(ann.token, annTenant)));
    expect(codes).toEqual(['OK', 'OK', 'RATE_LIMITED', 'OK']);
    expect(await createMailbox(inject('mailboxUrl')).list(victim)).toHaveLength(2);
  });

  it('M4: acceptInvitation is limited per client address', async () => {
    const accept = () =>
      gateway.graphql('mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { message } }', {
        variables: { i: { token: randomUUID(), firstName: 'A', lastName: 'B' } },
        headers: { 'x-forwarded-for': '203.0.113.21' },
      });
    expect([code(await accept()), code(await accept()), code(await accept())]).toEqual([
      'BAD_USER_INPUT',
      'BAD_USER_INPUT',
      'RATE_LIMITED',
    ]);
  });

  it('M4: registerUser is limited per caller, sendPasswordSetupEmail per caller and per recipient', async () => {
    const manager = await signIn(['priv_user_management']);
    const register = () =>
      gateway.graphql('mutation($i: RegisterUserInput!) { registerUser(input: $i) { user { id } } }', {
        token: manager.token,
        variables: { i: { email: `registered-${randomUUID().slice(0, 8)}@example.test`, firstName: 'Reg', lastName: 'Istered' } },
      });
    const registered = [await register(), await register(), await register()];
    expect(registered.map(code)).toEqual(['OK', 'OK', 'RATE_LIMITED']);

    const [first, second] = registered.map((response) => response.data?.registerUser.user.id as string);
    const setupEmail = (userId: string) =>
      gateway.graphql('mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', {
        token: manager.token,
        variables: { id: userId },
      });
    // Per recipient: the third email to one user is refused; then the caller's own limit ends the rest.
    expect([
      code(await setupEmail(first!)),
      code(await setupEmail(first!)),
      code(await setupEmail(first!)),
      code(await setupEmail(second!)),
    ]).toEqual(['OK', 'OK', 'RATE_LIMITED', 'RATE_LIMITED']);
  });

  it('M4: updateMyProfile is limited per caller for email changes only', async () => {
    const user = await signIn();
    const update = (input: Record<string, string>) =>
      gateway.graphql('mutation($i: UpdateProfileInput!) { updateMyProfile(input: $i) { user { email } } }', {
        token: user.token,
        variables: { i: input },
      });
    const codes = [
      code(await update({ firstName: 'Once' })),
      code(await update({ firstName: 'Twice', email: user.email })),
      code(await update({ email: `changed-${randomUUID().slice(0, 8)}@example.test` })),
      code(await update({ email: `again-${randomUUID().slice(0, 8)}@example.test` })),
      code(await update({ lastName: 'Still fine' })),
    ];
    expect(codes).toEqual(['OK', 'OK', 'OK', 'RATE_LIMITED', 'OK']);
  });
});
