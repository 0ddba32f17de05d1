import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { authorizationRequest, createKeycloakUser, keycloakAdmin, passwordGrant, type TestUser } from '../support/keycloak.js';
import { decodeToken, directGrantClient, grant, offlineGrant, refreshAtKeycloak } from '../support/tokens.js';

// Access ends when it is revoked: what an administrator takes away through the gateway
// (the account, its enabled flag, a role, a group, the password) stops working at the
// caller's next request, and the Keycloak sessions opened with it end too.
const config = inject('config');
const { realm, url: keycloakUrl, apiClientId, apiClientSecret } = config.keycloak;
const tokenEndpoint = `${keycloakUrl}/realms/${realm}/protocol/openid-connect/token`;

const UPDATE_USER = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';
const SET_PASSWORD = 'mutation($id: ID!, $password: String!) { setUserPassword(userId: $id, password: $password) { message } }';
const REFRESH = 'mutation($refreshToken: String!) { refreshToken(refreshToken: $refreshToken) { tokens { accessToken refreshToken } } }';

let gateway: TestGateway;
/** An administrator of this file's own (Keycloak refuses concurrent logins of one account). */
let adminToken: string;
let roleIds: Record<string, string>;

beforeAll(async () => {
  gateway = await startTestGateway();
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = (await passwordGrant(admin.email, admin.password)).access_token;
  roleIds = Object.fromEntries((await sql<{ id: string; name: string }>('select id, name from realm_roles')).map((r) => [r.name, r.id]));
});
afterAll(() => gateway?.close());

async function asAdmin(query: string, variables: Record<string, unknown>) {
  const response = await gateway.graphql(query, { token: adminToken, variables });
  expect(response.errors, query).toBeUndefined();
  return response.data!;
}

/** An offline token for `user` (offlineGrant), its client remembered for the refreshes. */
async function offlineToken(user: TestUser): Promise<string> {
  const { client, refreshToken } = await offlineGrant(user);
  offlineClients.set(refreshToken, client);
  return refreshToken;
}
const offlineClients = new Map<string, { clientId: string; secret: string }>();
const refreshOffline = (token: string) => refreshAtKeycloak(token, offlineClients.get(token));

const ME = '{ me { user { id enabled } roles privileges } }';
const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
const USERS = '{ users(first: 1) { totalCount } }';

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;
const mirrorRows = (id: string) => sql('select id from users where id = $1', [id]);

/** A group holding priv_user_management, made through the gateway. */
async function userManagementGroup(): Promise<string> {
  const data = await asAdmin('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
    input: { groupName: `user-managers-${randomUUID().slice(0, 8)}`, privilegeIds: [roleIds.priv_user_management] },
  });
  return data.createGroup.group.id as string;
}

describe('access ends at the next request', () => {
  it("M2: a disabled user's earlier access token answers UNAUTHENTICATED at the next request", async () => {
    const user = await gatewayUser();
    const { access_token: token } = await passwordGrant(user.email, user.password);
    expect(codeOf(await gateway.graphql(ME, { token }))).toBeUndefined();

    await asAdmin(UPDATE_USER, {
      id: user.id,
      input: { email: user.email, firstName: user.firstName, lastName: user.lastName, enabled: false },
    });

    expect(codeOf(await gateway.graphql(ME, { token }))).toBe('UNAUTHENTICATED');
    const tenant = await gateway.graphql(CREATE_TENANT, { token, variables: { name: `ghost-${randomUUID().slice(0, 8)}` } });
    expect(codeOf(tenant)).toBe('UNAUTHENTICATED');
    expect(await sql('select 1 from memberships where user_id = $1', [user.id])).toEqual([]);
  });

  it("M2: a deleted user's token is refused and does not bring the user's record back", async () => {
    const user = await gatewayUser();
    const { access_token: token } = await passwordGrant(user.email, user.password);
    expect(codeOf(await gateway.graphql(ME, { token }))).toBeUndefined();

    await asAdmin('mutation($id: ID!) { deleteUser(id: $id) { message } }', { id: user.id });

    for (const [query, variables] of [
      [ME, {}],
      [CREATE_TENANT, { name: 'ghost tenant' }],
    ] as const) {
      expect(codeOf(await gateway.graphql(query, { token, variables })), query).toBe('UNAUTHENTICATED');
    }
    expect(await mirrorRows(user.id)).toEqual([]);
  });

  it("M2: a token of a user deleted in Keycloak's console, never seen by the gateway, is refused and creates no record", async () => {
    const user = await createKeycloakUser();
    const { access_token: token } = await passwordGrant(user.email, user.password);
    await keycloakAdmin('DELETE', `/users/${user.id}`);

    expect(codeOf(await gateway.graphql(ME, { token }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await gateway.graphql(ME, { token }))).toBe('UNAUTHENTICATED');
    expect(await mirrorRows(user.id)).toEqual([]);
    expect(await sql('select id from deleted_users where id = $1', [user.id])).toEqual([{ id: user.id }]);
  });

  it('M2: a user manager stripped of priv_user_management through the gateway cannot list users with the same token', async () => {
    const group = await userManagementGroup();
    const manager = await gatewayUser({ groupIds: [group] });
    const { access_token: token } = await passwordGrant(manager.email, manager.password);
    expect(codeOf(await gateway.graphql(USERS, { token }))).toBeUndefined();

    await asAdmin(UPDATE_USER, {
      id: manager.id,
      input: { email: manager.email, firstName: manager.firstName, lastName: manager.lastName, groupIdsToRemove: [group] },
    });

    expect(codeOf(await gateway.graphql(USERS, { token }))).toBe('FORBIDDEN');
    const me = await gateway.graphql(ME, { token });
    expect(me.data!.me.privileges).not.toContain('priv_user_management');
  });

  it('M2: a privilege taken from a group stops working for its members at their next request', async () => {
    const group = await userManagementGroup();
    const manager = await gatewayUser({ groupIds: [group] });
    const { access_token: token } = await passwordGrant(manager.email, manager.password);
    expect(codeOf(await gateway.graphql(USERS, { token }))).toBeUndefined();

    await asAdmin(
      'mutation($id: ID!, $input: UpdateGroupRolesPrivilegesInput!) { updateGroupRolesPrivileges(id: $id, input: $input) { message } }',
      {
        id: group,
        input: { roleIdsToAdd: [], roleIdsToRemove: [], privilegeIdsToAdd: [], privilegeIdsToRemove: [roleIds.priv_user_management] },
      },
    );

    expect(codeOf(await gateway.graphql(USERS, { token }))).toBe('FORBIDDEN');
  });

  it('M2: a change another process makes in PostgreSQL reaches the cached caller once PostgreSQL announces it', async () => {
    const group = await userManagementGroup();
    const manager = await gatewayUser({ groupIds: [group] });
    const { access_token: token } = await passwordGrant(manager.email, manager.password);
    expect(codeOf(await gateway.graphql(USERS, { token }))).toBeUndefined();

    // Another gateway process, or the reconciler, takes the user out of the group.
    await sql('delete from user_groups where user_id = $1 and group_id = $2', [manager.id, group]);
    await expect.poll(async () => codeOf(await gateway.graphql(USERS, { token })), { timeout: 10_000, interval: 50 }).toBe('FORBIDDEN');

    await sql('update users set enabled = false where id = $1', [manager.id]);
    await expect.poll(async () => codeOf(await gateway.graphql(ME, { token })), { timeout: 10_000, interval: 50 }).toBe('UNAUTHENTICATED');
  });

  it('M2: a person the mirror has never seen is looked up in Keycloak and mirrored with their roles', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_manager'] });
    const { access_token: token } = await passwordGrant(user.email, user.password);

    const me = await gateway.graphql(ME, { token });
    expect(me.data!.me).toMatchObject({ user: { id: user.id, enabled: true }, roles: ['role_manager'] });
    expect(await sql('select r.name from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = $1', [user.id])).toEqual([
      { name: 'role_manager' },
    ]);
  });

  it("I4: a client's service-account token acts for no person: FORBIDDEN, and no record is made for it", async () => {
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: apiClientId, client_secret: apiClientSecret }),
    });
    const { access_token: token } = (await response.json()) as { access_token: string };
    const { sub } = decodeToken(token).payload as { sub: string };

    for (const query of [ME, USERS, '{ tenants { id } }']) expect(codeOf(await gateway.graphql(query, { token })), query).toBe('FORBIDDEN');
    expect(await mirrorRows(sub)).toEqual([]);
  });
});

describe('Keycloak sessions end with what was taken away', () => {
  it('M3: after setUserPassword, the refresh token and an offline token of the user are refused', async () => {
    const user = await gatewayUser();
    const { refresh_token } = await passwordGrant(user.email, user.password);
    const offline = await offlineToken(user);

    await asAdmin(SET_PASSWORD, { id: user.id, password: `Reset-${randomUUID().slice(0, 8)}-1a` });

    expect((await gateway.graphql(REFRESH, { variables: { refreshToken: refresh_token } })).errors?.[0]?.extensions.code).toBe(
      'UNAUTHENTICATED',
    );
    expect(await refreshAtKeycloak(refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refreshOffline(offline)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('M3: removing a role or a group through updateUser ends the sessions, offline ones included', async () => {
    for (const change of ['role', 'group'] as const) {
      const group = await mirroredGroup();
      const user = await gatewayUser({ roleIds: [roleIds.role_manager], groupIds: [group] });
      const { refresh_token } = await passwordGrant(user.email, user.password);
      const offline = await offlineToken(user);

      const input = {
        email: user.email,
        firstName: user.firstName,
        lastName: user.lastName,
        ...(change === 'role' ? { roleIdsToRemove: [roleIds.role_manager] } : { groupIdsToRemove: [group] }),
      };
      await asAdmin(UPDATE_USER, { id: user.id, input });

      expect(await refreshAtKeycloak(refresh_token), change).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(await refreshOffline(offline), change).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
  });

  it('M3: a refresh token works once: refreshing answers a new one, and the old one is refused', async () => {
    const user = await createKeycloakUser();
    const { refresh_token: first } = await passwordGrant(user.email, user.password);
    const refreshed = await gateway.graphql(REFRESH, { variables: { refreshToken: first } });
    expect(refreshed.errors).toBeUndefined();
    const second = refreshed.data!.refreshToken.tokens.refreshToken as string;
    expect(second).not.toBe(first);

    const reused = await gateway.graphql(REFRESH, { variables: { refreshToken: first } });
    expect(reused.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it("M3: no offline token for a user as the realm gives them: the role is not theirs, the scope not the clients'", async () => {
    const user = await createKeycloakUser();
    for (const client of [{ clientId: apiClientId, secret: apiClientSecret }, await directGrantClient({ audience: true })]) {
      const answer = await grant(realm, client, user.email, user.password).then(
        (tokens) => decodeToken(tokens.refresh_token).payload.typ,
        (error: Error) => error.message,
      );
      expect(answer, client.clientId).not.toBe('Offline');
    }
    const asked = await fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: apiClientId,
        client_secret: apiClientSecret,
        username: user.email,
        password: user.password,
        scope: 'openid offline_access',
      }),
    });
    const body = (await asked.json()) as { refresh_token?: string; error?: string };
    if (asked.status === 200) expect(decodeToken(body.refresh_token!).payload.typ).not.toBe('Offline');
    else expect(body.error).toBeDefined();
  });
});

describe('the managed realm', () => {
  it("I1: Keycloak sends the frontend back only to the configured page, not anywhere on the API's origin", async () => {
    const authorize = (redirectUri: string) => authorizationRequest(config.keycloak.frontendClientId, redirectUri);
    const [callback] = config.keycloak.frontendRedirectUris;
    expect(callback).toBe(`${config.publicUrl}/callback`);
    expect((await authorize(callback!)).status, 'the sign-in page').toBe(200);
    for (const elsewhere of [`${config.publicUrl}/graphql`, `${config.publicUrl}/ide/x`, `${callback}/../graphql`, `${callback}x`]) {
      const refused = await authorize(elsewhere);
      expect(refused.status, elsewhere).toBe(400);
      expect(await refused.text(), elsewhere).toMatch(/redirect_uri/i);
    }
  });

  it('L6: refuses a password grant through admin-cli, which would bypass the gateway’s limits', async () => {
    const user = await createKeycloakUser();
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: user.email, password: user.password }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  it('L6: records login events, a failed login among them', async () => {
    const user = await createKeycloakUser();
    await passwordGrant(user.email, 'Wrong-password-1').catch(() => undefined);
    await expect
      .poll(async () => (await keycloakAdmin<{ userId?: string }[]>('GET', `/events?type=LOGIN_ERROR&user=${user.id}`)).body.length, {
        // The event can reach Keycloak's store after the token answer; on a busy machine, later than poll's default second.
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
  });
});

/** A group of the realm, created in Keycloak and mirrored. */
async function mirroredGroup(): Promise<string> {
  const created = await keycloakAdmin('POST', '/groups', { name: `revocation-${randomUUID().slice(0, 8)}` });
  await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
  return created.location!.split('/').at(-1)!;
}

/** A user the gateway created (so the mirror knows its roles and groups), with a password. */
async function gatewayUser(links: { roleIds?: string[]; groupIds?: string[] } = {}): Promise<TestUser> {
  const user = {
    email: `revoked-${randomUUID().slice(0, 8)}@example.test`,
    password: `Pw-${randomUUID().slice(0, 8)}-9a`,
    firstName: 'Rev',
    lastName: 'Oked',
  };
  const data = await asAdmin('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', {
    input: { ...user, ...links },
  });
  return { id: data.createUser.user.id as string, ...user };
}
