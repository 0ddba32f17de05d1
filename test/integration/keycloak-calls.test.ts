import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DEFAULT_JWKS_COOLDOWN_MS, JWKS_REFRESH_MS, JWKS_TIMEOUT_MS } from '../../src/auth/token-verifier.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { sql } from '../support/database.js';
import { realmRoleIds } from '../support/directory.js';
import { createKeycloakUser } from '../support/keycloak.js';
import { decodeToken, directGrantClient, grant, newRsaKey, signRs256 } from '../support/tokens.js';

// The gateway reaches Keycloak only through a counting proxy, while tokens keep naming the
// real Keycloak as their issuer (config.keycloak.publicUrl).
const config = inject('config');
const KEY_SET = `GET /realms/${config.keycloak.realm}/protocol/openid-connect/certs`;
const ME = '{ me { user { id email } roles privileges } }';
const USERS = '{ users(first: 5) { totalCount edges { node { id email roles { name } groups { name } effectivePrivileges { name } } } } }';

let proxy: KeycloakProxy;
let gateway: TestGateway;
// Access tokens living an hour, so that they outlive the clock moved past the key refresh.
let client: Awaited<ReturnType<typeof directGrantClient>>;
beforeAll(async () => {
  client = await directGrantClient({ audience: true, accessTokenLifespanSeconds: 3600 });
  proxy = await startKeycloakProxy(config.keycloak.url);
  gateway = await startTestGateway((base) => ({
    ...base,
    keycloak: { ...base.keycloak, url: proxy.url, acceptedClientIds: [...base.keycloak.acceptedClientIds, client.clientId] },
  }));
});
afterAll(async () => {
  await gateway?.close();
  await proxy?.close();
});
// vi.setSystemTime below moves Date alone, for the gateway too as it runs in this process:
// the key set's cooldown and age follow it, timers and sockets do not.
afterEach(() => vi.useRealTimers());

/**
 * An access token of a new administrator. One login per user: while brute-force detection
 * is on, Keycloak refuses logins of one user that come close together (keycloak/keycloak#48272).
 */
async function adminToken(): Promise<string> {
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  return (await grant(config.keycloak.realm, client, admin.email, admin.password)).access_token;
}

async function expectAnswered(query: string, token: string) {
  const response = await gateway.graphql(query, { token });
  expect(response.errors).toBeUndefined();
}

async function expectRefused(token: string) {
  const response = await gateway.graphql(ME, { token });
  expect(response.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
}

/** The claims of a genuine token, signed by a key of a kid the realm never published. */
function withUnknownKid(genuine: string): string {
  const key = newRsaKey();
  return signRs256({ typ: 'JWT', kid: key.kid }, decodeToken(genuine).payload, key.privateKey);
}

/**
 * What the first request of a person the mirror has never seen costs: Keycloak is asked
 * whether they exist and what they hold, then they are mirrored (src/admission.ts);
 * the gateway's own service-account token may be fetched for it.
 */
const FIRST_SIGHT = new RegExp(
  `^(GET /admin/realms/${config.keycloak.realm}/users/[0-9a-f-]{36}(/role-mappings/realm|/groups(\\?.*)?)?|POST /realms/${config.keycloak.realm}/protocol/openid-connect/token)$`,
);

describe('calls from the gateway to Keycloak', () => {
  it('are none for me, users and node once the first request fetched the realm keys and each caller was seen once', async () => {
    // Distinct tokens, so that each is verified rather than found in the verified-token cache;
    // two administrators, the second token of each from a second sign-in.
    const admins = [await createKeycloakUser({ realmRoles: ['role_admin'] }), await createKeycloakUser({ realmRoles: ['role_admin'] })];
    const tokens: string[] = [];
    for (const admin of [...admins, ...admins])
      tokens.push((await grant(config.keycloak.realm, client, admin.email, admin.password)).access_token);
    await expectAnswered(ME, tokens[0]!);
    expect(proxy.requests[0]).toBe(KEY_SET);
    for (const token of tokens.slice(1)) await expectAnswered(ME, token);
    expect(proxy.requests.slice(1).filter((request) => !FIRST_SIGHT.test(request))).toEqual([]);
    const seen = proxy.requests.length;
    // node(id:) of a user and of a role: read from the mirror as user(id:) and role(id:) are.
    const { role_user: roleId } = await realmRoleIds();
    const NODES = `{ user: node(id: "${admins[0]!.id}") { id ... on User { email roles { name } effectivePrivileges { name } } }
      role: node(id: "${roleId}") { id ... on Role { name privileges { name } userCount } } }`;

    for (const token of tokens) {
      for (let i = 0; i < 3; i++) {
        await expectAnswered(ME, token);
        await expectAnswered(USERS, token);
      }
      const nodes = await gateway.graphql(NODES, { token });
      expect(nodes.errors).toBeUndefined();
      expect(nodes.data).toMatchObject({ user: { id: admins[0]!.id }, role: { id: roleId } });
    }
    expect(proxy.requests.slice(seen)).toEqual([]);
  });

  it('are one key-set refetch for an unknown kid, and no more within the cooldown', async () => {
    const genuine = await adminToken();
    await expectAnswered(ME, genuine);
    // The cooldown counts from the last fetch, however long the tests before took: one now.
    vi.setSystemTime(Date.now() + DEFAULT_JWKS_COOLDOWN_MS + 1000);
    const start = proxy.requests.length;
    await expectRefused(withUnknownKid(genuine));
    expect(proxy.requests.slice(start)).toEqual([KEY_SET]);
    const before = proxy.requests.length;

    await expectRefused(withUnknownKid(genuine));
    expect(proxy.requests.slice(before), 'the keys were fetched moments ago: still cooling down').toEqual([]);

    vi.setSystemTime(Date.now() + DEFAULT_JWKS_COOLDOWN_MS + 1000);
    for (let i = 0; i < 5; i++) await expectRefused(withUnknownKid(genuine));
    expect(proxy.requests.slice(before)).toEqual([KEY_SET]);

    await expectAnswered(ME, await adminToken());
    expect(proxy.requests.slice(before).filter((request) => !FIRST_SIGHT.test(request))).toEqual([KEY_SET]);
  });
});

describe('while Keycloak is unreachable', () => {
  afterEach(() => {
    proxy.mode = 'pass';
  });

  it('me and users answer at once, with the keys the gateway has', async () => {
    // Two tokens of one administrator: the gateway has seen the person, not the second token.
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const [known, fresh] = [
      (await grant(config.keycloak.realm, client, admin.email, admin.password)).access_token,
      (await grant(config.keycloak.realm, client, admin.email, admin.password)).access_token,
    ];
    await expectAnswered(ME, known);
    proxy.mode = 'blackhole';
    const before = proxy.requests.length;
    // The keys are old enough to be refreshed: the refresh hangs, the requests do not.
    vi.setSystemTime(Date.now() + JWKS_REFRESH_MS + 1000);
    const started = performance.now();
    await expectAnswered(ME, fresh);
    await expectAnswered(USERS, known);
    // Waiting on the hanging refresh would take its whole timeout: any less means no wait,
    // however slow the machine.
    expect(performance.now() - started, 'no wait on Keycloak').toBeLessThan(JWKS_TIMEOUT_MS);
    expect(proxy.requests.slice(before)).toEqual([KEY_SET]);
  });

  it('a token with an unknown kid answers UNAUTHENTICATED at once', async () => {
    const token = await adminToken();
    await expectAnswered(ME, token);
    proxy.mode = 'reset';
    vi.setSystemTime(Date.now() + DEFAULT_JWKS_COOLDOWN_MS + 1000);
    const started = performance.now();
    await expectRefused(withUnknownKid(token));
    expect(performance.now() - started, 'no wait on Keycloak').toBeLessThan(JWKS_TIMEOUT_MS);
  });
});

describe("a user manager's write, checked against Keycloak's effective roles", () => {
  it('ATTACK: asks Keycloak once per subject however many aliases and repeated ids a request holds', async () => {
    const manager = await createKeycloakUser({ realmRoles: ['role_user', 'priv_user_management'] });
    const target = await createKeycloakUser({ realmRoles: ['role_user'] });
    const managerToken = (await grant(config.keycloak.realm, client, manager.email, manager.password)).access_token;
    const targetToken = (await grant(config.keycloak.realm, client, target.email, target.password)).access_token;
    await expectAnswered(ME, managerToken);
    await expectAnswered(ME, targetToken);
    const targetId = decodeToken(targetToken).payload.sub as string;
    const roleUser = (await realmRoleIds()).role_user!;
    const aliases = Array.from(
      { length: 10 },
      (_, index) =>
        `a${index}: updateUser(id: $id, input: { email: "${target.email}", firstName: "Ann", lastName: "L${index}", roleIdsToAdd: $roles, roleIdsToRemove: [] }) { user { id } }`,
    );
    const before = proxy.requests.length;

    const response = await gateway.graphql(`mutation($id: ID!, $roles: [ID!]) { ${aliases.join(' ')} }`, {
      token: managerToken,
      variables: { id: targetId, roles: [roleUser, roleUser, roleUser] },
    });

    expect(response.errors).toBeUndefined();
    const asked = proxy.requests.slice(before).filter((request) => request.includes('/ui-ext/effective-roles-all/'));
    // The manager, the target, the role, and the service account itself: once each for the whole request.
    expect(asked).toHaveLength(4);
    expect(new Set(asked).size).toBe(4);
  });
});

describe('an update that names nothing to change', () => {
  it('answers the current object without a call to Keycloak or a journal entry: updateUser, updateMyProfile, updateRole, both group updates', async () => {
    const token = await adminToken();
    const suffix = randomUUID().slice(0, 8);
    const created = await gateway.graphql(
      `mutation($user: CreateUserInput!, $role: CreateRoleInput!, $group: CreateGroupInput!) {
        createUser(input: $user) { user { id } }
        createRole(input: $role) { role { id } }
        createGroup(input: $group) { group { id } }
      }`,
      {
        token,
        variables: {
          user: { email: `still-${suffix}@example.test`, firstName: 'Still', lastName: 'Life', password: 'Str0ng-password' },
          role: { roleName: `role_still_${suffix}`, description: 'unchanged' },
          group: { groupName: `still-${suffix}` },
        },
      },
    );
    expect(created.errors).toBeUndefined();
    const userId = created.data!.createUser.user.id as string;
    const roleId = created.data!.createRole.role.id as string;
    const groupId = created.data!.createGroup.group.id as string;
    const roleUser = (await realmRoleIds()).role_user!;
    const self = await createKeycloakUser({ realmRoles: ['role_user'] });
    const selfToken = (await grant(config.keycloak.realm, client, self.email, self.password)).access_token;
    await expectAnswered(ME, selfToken);
    const journal = () =>
      sql<{ count: string }>('select count(*) from audit_events where target_id = any($1)', [[userId, roleId, groupId, self.id]]);
    const journaled = await journal();
    const before = proxy.requests.length;

    const updates = await gateway.graphql(
      `mutation($user: ID!, $role: ID!, $group: ID!, $roleUser: ID!) {
        empty: updateUser(id: $user, input: {}) { user { id email firstName lastName } }
        nulls: updateUser(id: $user, input: { firstName: null, enabled: null, roleIdsToAdd: null, groupIdsToRemove: [] }) { user { id } }
        notHeld: updateUser(id: $user, input: { roleIdsToRemove: [$roleUser] }) { user { id } }
        updateRole(id: $role, input: { privilegeIdsToAdd: [], privilegeIdsToRemove: null }) { role { id description } }
        updateGroupUsers(id: $group, input: {}) { message }
        updateGroupRolesPrivileges(id: $group, input: { roleIdsToRemove: [$roleUser] }) { message }
      }`,
      { token, variables: { user: userId, role: roleId, group: groupId, roleUser } },
    );
    const own = await gateway.graphql('mutation { updateMyProfile(input: { username: null }) { user { id email } } }', {
      token: selfToken,
    });

    expect(updates.errors).toBeUndefined();
    expect(updates.data).toMatchObject({
      empty: { user: { id: userId, email: `still-${suffix}@example.test`, firstName: 'Still', lastName: 'Life' } },
      updateRole: { role: { id: roleId, description: 'unchanged' } },
    });
    expect(own.errors).toBeUndefined();
    expect(own.data!.updateMyProfile.user).toEqual({ id: self.id, email: self.email });
    expect(proxy.requests.slice(before)).toEqual([]);
    expect(await journal()).toEqual(journaled);
  });
});
