import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { selectEffectiveRoles } from '../../src/modules/roles/role.loader.js';
import { sql } from '../support/database.js';
import { consoleGroup, consoleRole, tokenRealmRoles, unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const CREATE = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const PASSWORD = 'Str0ng-password';

let gateway: TestGateway;
let adminToken: string;
beforeAll(async () => {
  gateway = await startTestGateway();
  adminToken = await adminAccessToken();
});
afterAll(() => gateway?.close());

/** What the directory sync does in production (at start and in each reconciler run): the mirror learns the console's changes. */
const syncFromKeycloak = () => syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

const newUser = (extra: Record<string, unknown> = {}) => ({
  email: `escalate-${randomUUID().slice(0, 8)}@example.test`,
  firstName: 'Eve',
  lastName: 'Mallory',
  password: PASSWORD,
  ...extra,
});

/** A user created by an administrator through the gateway, holding what `extra` grants. */
async function userWith(extra: { roleIds?: string[]; groupIds?: string[] }) {
  const input = newUser(extra);
  const response = await gateway.graphql(CREATE, { token: adminToken, variables: { input } });
  if (response.errors) throw new Error(`createUser failed: ${JSON.stringify(response.errors)}`);
  return { id: response.data!.createUser.user.id as string, email: input.email.toLowerCase(), password: PASSWORD };
}

/** Names of the effective roles the mirror computes for `of` (selectEffectiveRoles), sorted. */
async function mirrorEffective(of: 'user' | 'group' | 'role', id: string): Promise<string[]> {
  return (await selectEffectiveRoles(gateway.app.orm.em.fork(), of, [id])).map((role) => role.name).sort();
}

describe('effective roles, computed from the mirror as Keycloak computes a token', () => {
  const tag = unique('eff-');
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    // Everything here is made in Keycloak's console (its admin REST API), not through the gateway.
    const inner = `${tag}-inner`; // neither role_* nor priv_*: the mirror leaves it out
    await consoleRole(inner, ['priv_code_review']);
    ids.through = await consoleRole(`role_${tag}-through`, [inner]);
    ids.composite = await consoleRole(`role_${tag}-composite`, ['role_admin']);
    ids.top = await consoleGroup(`${tag}-top`, { roles: ['priv_view_reports'] });
    ids.middle = await consoleGroup(`${tag}-middle`, { parentId: ids.top, roles: ['role_premium'] });
    ids.leaf = await consoleGroup(`${tag}-leaf`, { parentId: ids.middle });
    await syncFromKeycloak();
  });

  it('the directory sync mirrors subgroups with their parent and composites beyond role → privilege', async () => {
    expect(await sql('select id, parent_id from groups where id = any($1) order by name', [[ids.top, ids.middle, ids.leaf]])).toEqual(
      expect.arrayContaining([
        { id: ids.top, parent_id: null },
        { id: ids.middle, parent_id: ids.top },
        { id: ids.leaf, parent_id: ids.middle },
      ]),
    );
    expect(await mirrorEffective('role', ids.composite)).toEqual(
      [`role_${tag}-composite`, 'role_admin', 'priv_code_review', 'priv_user_management', 'priv_view_reports'].sort(),
    );
    expect(await mirrorEffective('role', ids.through)).toEqual(['priv_code_review', `role_${tag}-through`]);
    expect(await mirrorEffective('group', ids.leaf)).toEqual(['priv_view_reports', 'role_premium']);
  });

  it.each([
    ['directly', () => ({ roleIds: [ids.composite] })],
    ['through a role composed of a role the mirror leaves out', () => ({ roleIds: [ids.through] })],
    ['through a subgroup and the groups above it', () => ({ groupIds: [ids.leaf] })],
  ])('a user holding roles %s: the mirror computes the realm roles of their token, and effectivePrivileges shows them', async (_how, grant) => {
    const user = await userWith(grant());
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const inToken = tokenRealmRoles(token);

    expect(await mirrorEffective('user', user.id)).toEqual(inToken);
    const read = await gateway.graphql('query($id: ID!) { user(id: $id) { effectivePrivileges { name } } }', {
      token: adminToken,
      variables: { id: user.id },
    });
    expect(read.data!.user.effectivePrivileges.map((privilege: { name: string }) => privilege.name)).toEqual(
      inToken.filter((name) => name.startsWith('priv_')),
    );
  });
});

describe('PRIV_USER_MANAGEMENT without ROLE_ADMIN', () => {
  let managerToken: string;
  let roleIds: Record<string, string>;
  beforeAll(async () => {
    const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
    managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
    roleIds = Object.fromEntries((await sql<{ id: string; name: string }>('select id, name from realm_roles')).map((r) => [r.name, r.id]));
  });

  it('may create users with ordinary roles', async () => {
    const response = await gateway.graphql(CREATE, { token: managerToken, variables: { input: newUser({ roleIds: [roleIds.role_manager] }) } });
    expect(response.errors).toBeUndefined();
  });

  it('may not grant role_admin, directly or through a group that carries it, and nothing is created', async () => {
    const created = await keycloakAdmin('POST', '/groups', { name: `admins-${randomUUID().slice(0, 8)}` });
    const groupId = created.location!.split('/').at(-1)!;
    await keycloakAdmin('POST', `/groups/${groupId}/role-mappings/realm`, [{ id: roleIds.role_admin, name: 'role_admin' }]);
    await syncFromKeycloak();

    for (const extra of [{ roleIds: [roleIds.role_admin] }, { groupIds: [groupId] }]) {
      const input = newUser(extra);
      const response = await gateway.graphql(CREATE, { token: managerToken, variables: { input } });
      expect(response.errors?.[0]?.extensions.code, JSON.stringify(extra)).toBe('FORBIDDEN');
      expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${input.email}&exact=true`)).body).toEqual([]);
    }
  });

  it('may not change, delete or set the password of an administrator', async () => {
    const admin = await userWith({ roleIds: [roleIds.role_admin] });
    const attempts = [
      ['mutation($id: ID!) { updateUser(id: $id, input: { email: "taken-over@example.test", firstName: "X", lastName: "Y" }) { user { id } } }', { id: admin.id }],
      ['mutation($id: ID!) { deleteUser(id: $id) { message } }', { id: admin.id }],
      ['mutation($id: ID!) { setUserPassword(userId: $id, password: "Attacker-pass1") { message } }', { id: admin.id }],
    ] as const;
    for (const [mutation, variables] of attempts) {
      const response = await gateway.graphql(mutation, { token: managerToken, variables });
      expect(response.errors?.[0]?.extensions.code, mutation).toBe('FORBIDDEN');
    }
    await passwordGrant(admin.email, admin.password);
    expect((await keycloakAdmin<{ email: string }>('GET', `/users/${admin.id}`)).body.email).toBe(admin.email);
  });
});
