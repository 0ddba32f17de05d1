import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UserEntity } from '../../src/modules/users/user.entity.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, type TestUser } from '../support/keycloak.js';

const TOKENS = 'tokens { accessToken refreshToken expiresIn refreshExpiresIn tokenType }';
const ME = 'me { roles privileges user { id username email firstName lastName enabled syncStatus } }';
const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { ${TOKENS} ${ME} } }`;
const REFRESH = `mutation Refresh($refreshToken: String!) { refreshToken(refreshToken: $refreshToken) { ${TOKENS} ${ME} } }`;
const LOGOUT = 'mutation Logout($refreshToken: String!) { logout(refreshToken: $refreshToken) { message timestamp } }';

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

describe('login, refreshToken and logout', () => {
  let gateway: TestGateway;
  // Its own in-memory limiter: these tests never share counts with another file's gateway.
  beforeAll(async () => {
    gateway = await startTestGateway((config) => ({ ...config, redis: undefined }));
  });
  afterAll(() => gateway?.close());

  const login = (username: string, password: string) => gateway.graphql(LOGIN, { variables: { input: { username, password } } });

  async function signIn(user: TestUser): Promise<Tokens> {
    const response = await login(user.email, user.password);
    expect(response.errors).toBeUndefined();
    return response.data!.login.tokens;
  }

  /** The whole answer but its timestamps, to compare two refusals. */
  const withoutTimestamps = (response: unknown): unknown =>
    JSON.parse(JSON.stringify(response, (key, value: unknown) => (key === 'timestamp' ? undefined : value)));

  it('login with email and password answers Keycloak tokens and me, and records a user the gateway had not seen', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_manager'] });

    const response = await login(user.email, user.password);

    expect(response.errors).toBeUndefined();
    const { tokens, me } = response.data!.login;
    expect(tokens).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(tokens.expiresIn).toBeGreaterThan(0);
    expect(tokens.refreshExpiresIn).toBeGreaterThan(0);
    expect(me).toMatchObject({
      roles: ['role_manager'],
      privileges: [],
      user: { id: user.id, username: user.email, email: user.email, firstName: user.firstName, enabled: true, syncStatus: 'SYNCED' },
    });
    expect(await sql('select email from users where id = $1', [user.id])).toEqual([{ email: user.email }]);
    // The access token is a real one: the me query accepts it.
    const asCaller = await gateway.graphql(`{ ${ME} }`, { token: tokens.accessToken });
    expect(asCaller.data!.me).toEqual(me);
  });

  it('login accepts the email in another case and with surrounding spaces', async () => {
    const user = await createKeycloakUser();
    const response = await login(`  ${user.email.toUpperCase()} `, user.password);
    expect(response.errors).toBeUndefined();
    expect(response.data!.login.me.user.id).toBe(user.id);
  });

  describe('answers every Keycloak refusal with the one UNAUTHENTICATED "Invalid username or password"', () => {
    const cases: [string, () => Promise<{ username: string; password: string }>][] = [
      ['a wrong password', async () => ({ username: (await createKeycloakUser()).email, password: 'Wrong-password-1' })],
      ['an unknown user', async () => ({ username: `nobody-${randomUUID()}@example.test`, password: 'Any-password-1' })],
      [
        'a user disabled in Keycloak',
        async () => {
          const user = await createKeycloakUser();
          await keycloakAdmin('PUT', `/users/${user.id}`, { enabled: false });
          return { username: user.email, password: user.password };
        },
      ],
      [
        'a user who must first update their password (a required action)',
        async () => {
          const user = await createKeycloakUser();
          await keycloakAdmin('PUT', `/users/${user.id}`, { requiredActions: ['UPDATE_PASSWORD'] });
          return { username: user.email, password: user.password };
        },
      ],
    ];
    let reference: unknown;

    it.each(cases)('login refuses %s', async (_name, arrange) => {
      const { username, password } = await arrange();

      const response = await login(username, password);

      expect(response.data).toBeNull();
      expect(response.errors).toEqual([
        expect.objectContaining({
          message: 'Invalid username or password',
          extensions: expect.objectContaining({ code: 'UNAUTHENTICATED', status: 401 }),
        }),
      ]);
      expect(JSON.stringify(response)).not.toContain(password);
      // Nothing in the answer tells one refusal from another.
      reference ??= withoutTimestamps(response);
      expect(withoutTimestamps(response)).toEqual(reference);
    });
  });

  it('login refuses a user locked by brute-force detection, even with the right password, with the same answer', async () => {
    const user = await createKeycloakUser();
    // The realm's failureFactor: five failures lock the account for a while.
    for (let attempt = 1; attempt <= 5; attempt += 1) await login(user.email, `Wrong-password-${attempt}`);

    const response = await login(user.email, user.password);

    expect(response.data).toBeNull();
    expect(response.errors?.[0]).toMatchObject({
      message: 'Invalid username or password',
      extensions: { code: 'UNAUTHENTICATED', status: 401 },
    });
    const { body: detection } = await keycloakAdmin<{ disabled: boolean }>('GET', `/attack-detection/brute-force/users/${user.id}`);
    expect(detection.disabled).toBe(true);
  });

  it('login answers FORBIDDEN "This account is not active" with no tokens when the local record is disabled, and ends the new Keycloak session', async () => {
    const user = await createKeycloakUser();
    const em = gateway.app.orm.em.fork();
    em.create(UserEntity, {
      id: user.id,
      username: user.email,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      enabled: false,
    });
    await em.flush();

    const response = await login(user.email, user.password);

    expect(response.data).toBeNull();
    expect(response.errors).toEqual([
      expect.objectContaining({
        message: 'This account is not active. Contact your administrator.',
        extensions: expect.objectContaining({ code: 'FORBIDDEN', status: 403 }),
      }),
    ]);
    const { body: sessions } = await keycloakAdmin<unknown[]>('GET', `/users/${user.id}/sessions`);
    expect(sessions).toEqual([]);
  });

  it('login answers BAD_USER_INPUT naming the empty fields, without asking Keycloak', async () => {
    const response = await login(' ', '');
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: { username: expect.any(String), password: expect.any(String) },
    });
  });

  it('login answers UPSTREAM_UNAVAILABLE when Keycloak cannot be reached', async () => {
    const cut = await startTestGateway((config) => ({
      ...config,
      redis: undefined,
      keycloak: { ...config.keycloak, url: 'http://127.0.0.1:1' },
    }));
    try {
      const response = await cut.graphql(LOGIN, { variables: { input: { username: 'someone@example.test', password: 'Any-password-1' } } });
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
    } finally {
      await cut.close();
    }
  });

  it('refreshToken exchanges a refresh token for new working tokens and the same me', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_user'] });
    const first = await signIn(user);

    const response = await gateway.graphql(REFRESH, { variables: { refreshToken: first.refreshToken } });

    expect(response.errors).toBeUndefined();
    const { tokens, me } = response.data!.refreshToken;
    expect(tokens.accessToken).not.toBe(first.accessToken);
    expect(me).toMatchObject({ roles: ['role_user'], user: { id: user.id } });
    const asCaller = await gateway.graphql(`{ ${ME} }`, { token: tokens.accessToken });
    expect(asCaller.data!.me.user.id).toBe(user.id);
  });

  it('refreshToken answers UNAUTHENTICATED for a garbage token and for an access token', async () => {
    const { accessToken } = await signIn(await createKeycloakUser());
    for (const refreshToken of ['not-a-token', accessToken]) {
      const response = await gateway.graphql(REFRESH, { variables: { refreshToken } });
      expect(response.data).toBeNull();
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    }
  });

  it('refreshToken answers FORBIDDEN once the local record is disabled, and ends that session', async () => {
    const user = await createKeycloakUser();
    const { refreshToken } = await signIn(user);
    await sql('update users set enabled = false where id = $1', [user.id]);

    const refused = await gateway.graphql(REFRESH, { variables: { refreshToken } });

    expect(refused.errors?.[0]).toMatchObject({
      message: 'This account is not active. Contact your administrator.',
      extensions: { code: 'FORBIDDEN' },
    });
    await sql('update users set enabled = true where id = $1', [user.id]);
    const again = await gateway.graphql(REFRESH, { variables: { refreshToken } });
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('logout ends the session at Keycloak: afterwards its refresh token no longer works', async () => {
    const { accessToken, refreshToken } = await signIn(await createKeycloakUser());

    const response = await gateway.graphql(LOGOUT, { token: accessToken, variables: { refreshToken } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.logout).toMatchObject({ message: expect.any(String), timestamp: expect.any(String) });
    const refreshed = await gateway.graphql(REFRESH, { variables: { refreshToken } });
    expect(refreshed.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('logout answers UNAUTHENTICATED without an access token, and the session lives on', async () => {
    const { refreshToken } = await signIn(await createKeycloakUser());

    const response = await gateway.graphql(LOGOUT, { variables: { refreshToken } });

    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect((await gateway.graphql(REFRESH, { variables: { refreshToken } })).errors).toBeUndefined();
  });

  it("logout refuses another user's refresh token, and that user's session lives on", async () => {
    const caller = await signIn(await createKeycloakUser());
    const other = await signIn(await createKeycloakUser());

    const response = await gateway.graphql(LOGOUT, { token: caller.accessToken, variables: { refreshToken: other.refreshToken } });

    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect((await gateway.graphql(REFRESH, { variables: { refreshToken: other.refreshToken } })).errors).toBeUndefined();
  });

  describe('a frontend that redirects to Keycloak (authorization code with PKCE, client iam-frontend)', () => {
    const { keycloak, publicUrl } = inject('config');
    const endpoint = `${keycloak.url}/realms/${keycloak.realm}/protocol/openid-connect`;
    const redirectUri = `${publicUrl}/callback`;
    const authorizeUrl = (extra: Record<string, string>) =>
      `${endpoint}/auth?${new URLSearchParams({ client_id: keycloak.frontendClientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 'state-1', ...extra })}`;

    /** What the browser does: load Keycloak's sign-in page, post its form, and stop at the redirect back. */
    async function signInAtKeycloak(url: string, user: TestUser): Promise<URL> {
      const page = await fetch(url, { redirect: 'manual' });
      const cookie = page.headers
        .getSetCookie()
        .map((header) => header.split(';')[0])
        .join('; ');
      const action = /<form[^>]*action="([^"]+)"/.exec(await page.text())![1]!.replaceAll('&amp;', '&');
      const form = await fetch(action, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie },
        body: new URLSearchParams({ username: user.email, password: user.password }),
      });
      return new URL(form.headers.get('location')!);
    }

    it('gets an access token the gateway accepts, by exchanging the code with its verifier', async () => {
      const user = await createKeycloakUser();
      const verifier = randomBytes(48).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const back = await signInAtKeycloak(authorizeUrl({ code_challenge: challenge, code_challenge_method: 'S256' }), user);

      const exchanged = await fetch(`${endpoint}/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          client_id: keycloak.frontendClientId,
          code: back.searchParams.get('code')!,
          redirect_uri: redirectUri,
          code_verifier: verifier,
        }),
      });
      const { access_token } = (await exchanged.json()) as { access_token: string };

      const response = await gateway.graphql(`{ ${ME} }`, { token: access_token });
      expect(response.errors).toBeUndefined();
      expect(response.data!.me.user.id).toBe(user.id);
    });

    it('is refused by Keycloak without a code challenge', async () => {
      const refused = await fetch(authorizeUrl({}), { redirect: 'manual' });
      const back = new URL(refused.headers.get('location')!);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('error_description')).toMatch(/code_challenge/);
    });
  });
});
