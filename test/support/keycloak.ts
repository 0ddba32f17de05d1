import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

/**
 * Direct access to the test realm through Keycloak's own APIs: to arrange state the
 * gateway did not create, to read back what it did, and to obtain real tokens.
 */
export interface TestUser {
  id: string;
  email: string;
  password: string;
  firstName: string;
  lastName: string;
}

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  id_token?: string;
}

const testRealm = () => inject('config').keycloak.realm;

function realmUrl(realm = testRealm()): string {
  return `${inject('config').keycloak.url}/realms/${encodeURIComponent(realm)}`;
}

function adminUrl(path: string, realm: string): string {
  return `${inject('config').keycloak.url}/admin/realms/${encodeURIComponent(realm)}${path}`;
}

async function masterAdminToken(): Promise<string> {
  const { url, masterAdmin } = inject('config').keycloak;
  if (!masterAdmin) throw new Error('the tests need KEYCLOAK_ADMIN_USERNAME/PASSWORD to arrange Keycloak state');
  const response = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', ...masterAdmin }),
  });
  if (!response.ok) throw new Error(`master admin login failed: ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Calls a realm's admin REST API (the test realm's unless named) as the master admin. */
export async function keycloakAdmin<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  realm = testRealm(),
): Promise<{ status: number; body: T; location: string | null }> {
  const response = await fetch(adminUrl(path, realm), {
    method,
    headers: { authorization: `Bearer ${await masterAdminToken()}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, location: response.headers.get('location') };
}

/** A new, enabled, fully set-up user in the test realm (or `realm`), created directly in Keycloak. */
export async function createKeycloakUser(options: { realmRoles?: string[]; email?: string; realm?: string } = {}): Promise<TestUser> {
  const realm = options.realm ?? testRealm();
  const suffix = randomUUID().slice(0, 8);
  const user = {
    email: options.email ?? `user-${suffix}@example.test`,
    password: `Pw-${randomUUID()}-9a`,
    firstName: 'Test',
    lastName: `User ${suffix}`,
  };
  const created = await keycloakAdmin(
    'POST',
    '/users',
    {
      username: user.email,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      enabled: true,
      emailVerified: true,
      credentials: [{ type: 'password', value: user.password, temporary: false }],
    },
    realm,
  );
  if (created.status !== 201 || !created.location) throw new Error(`creating a Keycloak user failed: ${created.status}`);
  const id = created.location.split('/').at(-1)!;
  if (options.realmRoles?.length) {
    const roles = await Promise.all(
      options.realmRoles.map(async (name) => (await keycloakAdmin('GET', `/roles/${name}`, undefined, realm)).body),
    );
    await keycloakAdmin('POST', `/users/${id}/role-mappings/realm`, roles, realm);
  }
  return { id, ...user };
}

/** Tokens from a realm's token endpoint (the test realm's unless named; password grant through the API client). */
export async function passwordGrant(username: string, password: string, realm?: string): Promise<TokenSet> {
  const { apiClientId, apiClientSecret } = inject('config').keycloak;
  const response = await fetch(`${realmUrl(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: apiClientId,
      client_secret: apiClientSecret,
      username,
      password,
      scope: 'openid',
    }),
  });
  if (!response.ok) throw new Error(`password grant failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenSet;
}

/**
 * An account's access token, fetched again shortly before it expires: under load, a test
 * file can outlive one access token.
 */
export function renewedToken(username: string, password: string, realm?: string): () => Promise<string> {
  let current: { token: string; expiresAt: number } | undefined;
  return async () => {
    if (!current || Date.now() / 1000 > current.expiresAt - 30) {
      const token = (await passwordGrant(username, password, realm)).access_token;
      const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
      current = { token, expiresAt: exp };
    }
    return current.token;
  };
}

/** The bootstrap admin's access token (role_admin). */
export async function adminAccessToken(): Promise<string> {
  const admin = inject('config').bootstrapAdmin;
  if (!admin) throw new Error('the tests need BOOTSTRAP_ADMIN_EMAIL/PASSWORD');
  return (await passwordGrant(admin.email, admin.password)).access_token;
}

/**
 * Follows the link of a Keycloak action email as the addressee's browser would: the link
 * opens Keycloak's "perform the following action(s)" page, whose own link (with that
 * page's cookies) carries the actions out. Keycloak marks the email verified on the way.
 */
export async function followEmailAction(link: string): Promise<void> {
  const cookies = new Map<string, string>();
  async function open(url: string): Promise<{ status: number; body: string }> {
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const at = pair.indexOf('=');
      cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return { status: response.status, body: await response.text() };
  }
  const info = await open(link);
  const proceed = /href="([^"]*\/login-actions\/action-token[^"]*)"/.exec(info.body)?.[1];
  if (info.status !== 200 || !proceed) throw new Error(`Keycloak's action page (HTTP ${info.status}) offers no link to proceed`);
  const done = await open(proceed.replaceAll('&amp;', '&'));
  if (done.status >= 400) throw new Error(`Keycloak refused the action link: HTTP ${done.status}`);
}

/**
 * The authorization request of the code flow with PKCE, as a frontend sends its browser to
 * Keycloak: `codeChallenge` is the S256 hash of the verifier the frontend keeps.
 */
export function authorizationUrl(
  clientId: string,
  redirectUri: string,
  { codeChallenge = 'x'.repeat(43), state = 'state-1' }: { codeChallenge?: string; state?: string } = {},
  realm = testRealm(),
): string {
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    state,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
  });
  return `${realmUrl(realm)}/protocol/openid-connect/auth?${query}`;
}

/**
 * A browser's first step of the code flow with PKCE: Keycloak's answer to the authorization
 * request, not followed, so that a test reads whether it accepts the redirect URI (a redirect
 * to its login page) or refuses it.
 */
export function authorizationRequest(clientId: string, redirectUri: string, realm = testRealm()): Promise<Response> {
  return fetch(authorizationUrl(clientId, redirectUri, {}, realm), { redirect: 'manual' });
}

/** The frontend's last step of the code flow: the code and its PKCE verifier exchanged at the token endpoint (public client). */
export async function exchangeCode(
  clientId: string,
  { code, redirectUri, verifier }: { code: string; redirectUri: string; verifier: string },
  realm?: string,
): Promise<TokenSet> {
  const response = await fetch(`${realmUrl(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: clientId,
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error(`code exchange failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenSet;
}
