import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { selectEffectiveRoles } from '../../src/modules/roles/roles.queries.js';
import { sql } from '../support/database.js';
import { consoleGroup, consoleRole, realmRoleIds, tokenRealmRoles, unique, withoutDirectorySync } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, renewedToken } from '../support/keycloak.js';
import { keycloakLinks, localLinks } from '../support/sync.js';

const CREATE = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const REGISTER = 'mutation($input: RegisterUserInput!) { registerUser(input: $input) { user { id } } }';
const UPDATE = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id lastName } } }';
const DELETE = 'mutation($id: ID!) { deleteUser(id: $id) { message } }';
const SET_PASSWORD = 'mutation($id: ID!, $password: String!) { setUserPassword(userId: $id, password: $password) { message } }';
const SETUP_EMAIL = 'mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }';
const PASSWORD = 'Str0ng-password';

let gateway: TestGateway;
let adminToken: () => Promise<string>;
beforeAll(async () => {
  gateway = await startTestGateway();
  // An administrator of this file's own: Keycloak rejects concurrent logins of one account
  // (keycloak/keycloak#48272), which the shared bootstrap admin would get from parallel test files.
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
});
afterAll(() => gateway?.close());

/** What the directory sync does in production (at start and in each reconciler run): the mirror learns the console's changes. */
const syncFromKeycloak = () => syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

interface Account {
  id: string;
  email: string;
  password: string;
}

const newUser = (extra: Record<string, unknown> = {}) => ({
  email: `escalate-${randomUUID().slice(0, 8)}@example.test`,
  firstName: 'Eve',
  lastName: 'Mallory',
  password: PASSWORD,
  ...extra,
});

/** A user created by an administrator through the gateway, holding what `extra` grants. */
async function userWith(extra: { roleIds?: string[]; groupIds?: string[] }): Promise<Account> {
  const input = newUser(extra);
  const response = await gateway.graphql(CREATE, { token: await adminToken(), variables: { input } });
  if (response.errors) throw new Error(`createUser failed: ${JSON.stringify(response.errors)}`);
  return { id: response.data!.createUser.user.id as string, email: input.email.toLowerCase(), password: PASSWORD };
}

/** A top-level group created by an administrator through the gateway. */
async function groupWith(groupName: string, mapped: { roleIds?: string[]; privilegeIds?: string[] }): Promise<string> {
  const response = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
    token: await adminToken(),
    variables: { input: { groupName, ...mapped } },
  });
  if (response.errors) throw new Error(`createGroup failed: ${JSON.stringify(response.errors)}`);
  return response.data!.createGroup.group.id;
}

/** Names of the effective roles the mirror computes for `of` (selectEffectiveRoles), sorted. */
async function mirrorEffective(of: 'user' | 'group' | 'role', id: string): Promise<string[]> {
  return (await selectEffectiveRoles(gateway.app.orm.em.fork(), of, [id])).map((role) => role.name).sort();
}

/** The journal's actions on a user: a refused call leaves none. */
async function journaledActions(userId: string): Promise<string[]> {
  return (await sql<{ action: string }>('select action from audit_events where target_id = $1 order by at', [userId])).map(
    (row) => row.action,
  );
}

/**
 * Maps a client's role to a user or group (`/users/{id}`, `/groups/{id}`) in Keycloak, as an
 * operator does in its console: the mirror never hears of client roles.
 */
async function consoleClientRole(path: string, clientId: string, roleName: string): Promise<void> {
  const [client] = (await keycloakAdmin<{ id: string }[]>('GET', `/clients?clientId=${encodeURIComponent(clientId)}`)).body;
  const role = (await keycloakAdmin('GET', `/clients/${client!.id}/roles/${encodeURIComponent(roleName)}`)).body;
  const mapped = await keycloakAdmin('POST', `${path}/role-mappings/clients/${client!.id}`, [role]);
  if (mapped.status !== 204) throw new Error(`mapping ${clientId}/${roleName} to ${path} failed: ${mapped.status}`);
}

/** The error code of a response, or 'OK'. */
const outcome = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code ?? 'OK';

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
  ])(
    'a user holding roles %s: the mirror computes the realm roles of their token, and effectivePrivileges shows them',
    async (_how, grant) => {
      const user = await userWith(grant());
      const inToken = tokenRealmRoles((await passwordGrant(user.email, user.password)).access_token);

      expect(await mirrorEffective('user', user.id)).toEqual(inToken);
      const read = await gateway.graphql('query($id: ID!) { user(id: $id) { effectivePrivileges { name } } }', {
        token: await adminToken(),
        variables: { id: user.id },
      });
      expect(read.data!.user.effectivePrivileges.map((privilege: { name: string }) => privilege.name)).toEqual(
        inToken.filter((name) => name.startsWith('priv_')),
      );
    },
  );
});

describe('PRIV_USER_MANAGEMENT without ROLE_ADMIN: no escalation', () => {
  const tag = unique('um-');
  let roleIds: Record<string, string>;
  const groupIds: Record<string, string> = {};
  let manager: Account;
  let managerToken: () => Promise<string>;
  const admins = new Map<string, Account>();

  beforeAll(async () => {
    roleIds = await realmRoleIds();
    // As in the review: the user manager holds priv_user_management through a group, and role_user directly.
    groupIds.managers = await groupWith(`${tag}-managers`, { privilegeIds: [roleIds.priv_user_management!] });
    groupIds.plain = await groupWith(`${tag}-plain`, { roleIds: [roleIds.role_user!] });
    groupIds.admins = await groupWith(`${tag}-admins`, { roleIds: [roleIds.role_admin!] });
    manager = await userWith({ roleIds: [roleIds.role_user!], groupIds: [groupIds.managers] });
    managerToken = renewedToken(manager.email, manager.password);

    // Made in Keycloak's console, learnt by the mirror through the directory sync. The
    // composite becomes one after its holder got it: the mirror must follow that too.
    roleIds.boss = await consoleRole(`role_${tag}-boss`);
    groupIds.top = await consoleGroup(`${tag}-top`, { roles: ['role_admin'] });
    groupIds.sub = await consoleGroup(`${tag}-sub`, { parentId: groupIds.top });
    await syncFromKeycloak();
    admins.set('directly', await userWith({ roleIds: [roleIds.role_admin!] }));
    admins.set('through a group', await userWith({ groupIds: [groupIds.admins] }));
    admins.set('through a composite role made in Keycloak’s console', await userWith({ roleIds: [roleIds.boss] }));
    admins.set('through a parent group', await userWith({ groupIds: [groupIds.sub] }));
    await keycloakAdmin('POST', `/roles-by-id/${roleIds.boss}/composites`, [{ id: roleIds.role_admin, name: 'role_admin' }]);
    await syncFromKeycloak();
  });

  it.each(['directly', 'through a group', 'through a composite role made in Keycloak’s console', 'through a parent group'])(
    'H1: a user manager cannot update, delete, set the password of or send the setup email to an admin who is admin %s',
    async (way) => {
      const admin = admins.get(way)!;
      expect(tokenRealmRoles((await passwordGrant(admin.email, admin.password)).access_token)).toContain('role_admin');
      const attempts = [
        [UPDATE, { id: admin.id, input: { email: admin.email, firstName: 'Eve', lastName: 'edited-by-um' } }],
        [SET_PASSWORD, { id: admin.id, password: 'Pwned-by-um-1' }],
        [SETUP_EMAIL, { id: admin.id }],
        [DELETE, { id: admin.id }],
      ] as const;
      for (const [mutation, variables] of attempts) {
        expect(outcome(await gateway.graphql(mutation, { token: await managerToken(), variables })), mutation).toBe('FORBIDDEN');
      }

      expect(await journaledActions(admin.id)).toEqual(['USER_CREATE']);
      expect((await keycloakAdmin<{ lastName: string }>('GET', `/users/${admin.id}`)).body.lastName).toBe('Mallory');
      await passwordGrant(admin.email, admin.password);
    },
  );

  it('H1: the review’s reproduction: a user manager sets the password of an admin-through-group, then signs in as them', async () => {
    const admin = await userWith({ groupIds: [groupIds.admins] });
    const response = await gateway.graphql(SET_PASSWORD, {
      token: await managerToken(),
      variables: { id: admin.id, password: 'Taken-over-1' },
    });

    expect(outcome(response)).toBe('FORBIDDEN');
    await expect(passwordGrant(admin.email, 'Taken-over-1')).rejects.toThrow(/invalid_grant/);
    expect(tokenRealmRoles((await passwordGrant(admin.email, admin.password)).access_token)).toContain('role_admin');
  });

  it('H1: a user manager cannot grant or take away a role or group whose effective closure holds something it lacks', async () => {
    const target = await userWith({ roleIds: [roleIds.role_user!] });
    const created = [
      newUser({ roleIds: [roleIds.boss] }),
      newUser({ groupIds: [groupIds.sub] }),
      newUser({ roleIds: [roleIds.role_premium] }),
    ];
    const registered = newUser({ groupIds: [groupIds.admins], password: undefined });
    const attempts = [
      ...created.map((input) => [CREATE, { input }] as const),
      [REGISTER, { input: registered }] as const,
      ...[{ roleIdsToAdd: [roleIds.boss] }, { groupIdsToAdd: [groupIds.sub] }, { groupIdsToRemove: [groupIds.admins] }].map(
        (change) => [UPDATE, { id: target.id, input: { email: target.email, firstName: 'Eve', lastName: 'Mallory', ...change } }] as const,
      ),
    ];
    for (const [mutation, variables] of attempts) {
      expect(outcome(await gateway.graphql(mutation, { token: await managerToken(), variables })), JSON.stringify(variables)).toBe(
        'FORBIDDEN',
      );
    }

    for (const { email } of [...created, registered]) {
      expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${encodeURIComponent(email)}&exact=true`)).body).toEqual([]);
    }
    expect(await localLinks(target.id)).toEqual({ roles: ['role_user'], groups: [] });
    expect(await keycloakLinks(target.id)).toMatchObject({ groups: [] });
  });

  it('L4: a user manager cannot change its own roles or groups, not even to ones it holds', async () => {
    const before = { local: await localLinks(manager.id), keycloak: await keycloakLinks(manager.id) };
    const changes = [
      { roleIdsToAdd: [roleIds.role_manager] }, // the review's probe
      { roleIdsToRemove: [roleIds.role_user] },
      { groupIdsToAdd: [groupIds.plain] },
      { groupIdsToRemove: [groupIds.managers] },
    ];
    for (const change of changes) {
      const input = { email: manager.email, firstName: 'Eve', lastName: 'Mallory', ...change };
      expect(
        outcome(await gateway.graphql(UPDATE, { token: await managerToken(), variables: { id: manager.id, input } })),
        JSON.stringify(change),
      ).toBe('FORBIDDEN');
    }
    expect({ local: await localLinks(manager.id), keycloak: await keycloakLinks(manager.id) }).toEqual(before);
  });

  it('ATTACK: a user manager cannot state that an address is verified, on a user it manages or on itself; an administrator can', async () => {
    const plain = await userWith({ roleIds: [roleIds.role_user!] });
    const created = newUser({ roleIds: [roleIds.role_user], emailVerified: true });
    const attempts = [
      [CREATE, { input: created }],
      [UPDATE, { id: plain.id, input: { email: plain.email, firstName: 'Eve', lastName: 'Mallory', emailVerified: true } }],
      [UPDATE, { id: manager.id, input: { email: manager.email, firstName: 'Eve', lastName: 'Mallory', emailVerified: true } }],
    ] as const;
    for (const [mutation, variables] of attempts) {
      expect(outcome(await gateway.graphql(mutation, { token: await managerToken(), variables })), JSON.stringify(variables)).toBe(
        'FORBIDDEN',
      );
    }

    expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${encodeURIComponent(created.email)}&exact=true`)).body).toEqual([]);
    for (const { id } of [plain, manager]) {
      expect((await keycloakAdmin<{ emailVerified: boolean }>('GET', `/users/${id}`)).body.emailVerified).toBe(false);
      expect((await sql<{ email_verified: boolean }>('select email_verified from users where id = $1', [id]))[0]!.email_verified).toBe(
        false,
      );
    }
    const byAdmin = await gateway.graphql(UPDATE, {
      token: await adminToken(),
      variables: { id: plain.id, input: { email: plain.email, firstName: 'Eve', lastName: 'Mallory', emailVerified: true } },
    });
    expect(outcome(byAdmin)).toBe('OK');
    expect((await keycloakAdmin<{ emailVerified: boolean }>('GET', `/users/${plain.id}`)).body.emailVerified).toBe(true);
  });

  it('H1: an id that names no user answers FORBIDDEN to a user manager, as an administrator’s does; NOT_FOUND to an administrator', async () => {
    const nobody = randomUUID();
    for (const [mutation, variables] of [
      [UPDATE, { id: nobody, input: { email: `${nobody}@example.test`, firstName: 'No', lastName: 'Body' } }],
      [SET_PASSWORD, { id: nobody, password: 'Whatever-pass-1' }],
      [SETUP_EMAIL, { id: nobody }],
      [DELETE, { id: nobody }],
    ] as const) {
      expect(outcome(await gateway.graphql(mutation, { token: await managerToken(), variables })), mutation).toBe('FORBIDDEN');
      expect(outcome(await gateway.graphql(mutation, { token: await adminToken(), variables })), mutation).toBe('NOT_FOUND');
    }
  });

  /** The password of `account` is still the one it had: it signs in, and `attempted` does not. */
  async function expectPasswordUnchanged(account: Account, attempted: string) {
    await expect(passwordGrant(account.email, attempted)).rejects.toThrow(/invalid_grant/);
    await passwordGrant(account.email, account.password);
  }

  it('ATTACK: a user manager cannot put a new user, or a plain one, in a group a console operator mapped realm-management/manage-users to', async () => {
    const puppets = await consoleGroup(`${tag}-puppets`);
    await consoleClientRole(`/groups/${puppets}`, 'realm-management', 'manage-users');
    await syncFromKeycloak();
    expect(await mirrorEffective('group', puppets), 'the mirror sees nothing in the group').toEqual([]);
    const puppet = newUser({ roleIds: [roleIds.role_user], groupIds: [puppets] });
    const plain = await userWith({ roleIds: [roleIds.role_user!] });

    expect(outcome(await gateway.graphql(CREATE, { token: await managerToken(), variables: { input: puppet } }))).toBe('FORBIDDEN');
    const joined = { email: plain.email, firstName: 'Eve', lastName: 'Mallory', groupIdsToAdd: [puppets] };
    expect(outcome(await gateway.graphql(UPDATE, { token: await managerToken(), variables: { id: plain.id, input: joined } }))).toBe(
      'FORBIDDEN',
    );

    expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${encodeURIComponent(puppet.email)}&exact=true`)).body).toEqual([]);
    expect((await keycloakLinks(plain.id)).groups).toEqual([]);
  });

  it('ATTACK: a user manager cannot set the password of a user holding a client role (realm-management/realm-admin) directly', async () => {
    const realmAdmin = await userWith({ roleIds: [roleIds.role_user!] });
    await consoleClientRole(`/users/${realmAdmin.id}`, 'realm-management', 'realm-admin');
    await syncFromKeycloak();
    expect(await mirrorEffective('user', realmAdmin.id), 'the mirror sees a plain user').toEqual(['role_user']);

    const response = await gateway.graphql(SET_PASSWORD, {
      token: await managerToken(),
      variables: { id: realmAdmin.id, password: 'Taken-over-2b' },
    });

    expect(outcome(response)).toBe('FORBIDDEN');
    await expectPasswordUnchanged(realmAdmin, 'Taken-over-2b');
  });

  it('ATTACK: a user manager cannot set the password of a user holding a console role, named neither role_* nor priv_*, composed of role_admin', async () => {
    const chiefRole = `${tag}-chief`;
    const chiefId = await consoleRole(chiefRole, ['role_admin']);
    const chief = await userWith({ roleIds: [roleIds.role_user!] });
    await keycloakAdmin('POST', `/users/${chief.id}/role-mappings/realm`, [{ id: chiefId, name: chiefRole }]);
    await syncFromKeycloak();
    expect(await mirrorEffective('user', chief.id), 'the mirror sees a plain user').toEqual(['role_user']);
    expect(tokenRealmRoles((await passwordGrant(chief.email, chief.password)).access_token)).toContain('role_admin');

    const response = await gateway.graphql(SET_PASSWORD, {
      token: await managerToken(),
      variables: { id: chief.id, password: 'Taken-over-3c' },
    });

    expect(outcome(response)).toBe('FORBIDDEN');
    await expectPasswordUnchanged(chief, 'Taken-over-3c');
  });

  it('ATTACK: a user manager cannot set the password of an administrator appointed in the console before the mirror hears of it', async () => {
    const appointed = await userWith({ roleIds: [roleIds.role_user!] });
    // No directory sync may run meanwhile (another file's could): the mirror must still say role_user.
    const response = await withoutDirectorySync(async () => {
      await keycloakAdmin('POST', `/users/${appointed.id}/role-mappings/realm`, [{ id: roleIds.role_admin, name: 'role_admin' }]);
      expect(await mirrorEffective('user', appointed.id), 'the mirror has not heard yet').toEqual(['role_user']);
      return gateway.graphql(SET_PASSWORD, { token: await managerToken(), variables: { id: appointed.id, password: 'Taken-over-4d' } });
    });

    expect(outcome(response)).toBe('FORBIDDEN');
    await expectPasswordUnchanged(appointed, 'Taken-over-4d');
    expect(tokenRealmRoles((await passwordGrant(appointed.email, appointed.password)).access_token)).toContain('role_admin');
  });

  it('ATTACK: a group the mirror still has but Keycloak no longer does answers FORBIDDEN to a user manager, not an error', async () => {
    const gone = await consoleGroup(`${tag}-gone`);
    await syncFromKeycloak();
    const input = newUser({ roleIds: [roleIds.role_user], groupIds: [gone] });
    const response = await withoutDirectorySync(async () => {
      expect((await keycloakAdmin('DELETE', `/groups/${gone}`)).status).toBe(204);
      return gateway.graphql(CREATE, { token: await managerToken(), variables: { input } });
    });

    expect(outcome(response)).toBe('FORBIDDEN');
    expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${encodeURIComponent(input.email)}&exact=true`)).body).toEqual([]);
  });

  it('ATTACK (control): with Keycloak asked, a user manager still manages a plain user, client roles of the default roles and all, and grants a group whose client role it holds', async () => {
    const profiles = await consoleGroup(`${tag}-profiles`);
    // Every user holds account/view-profile through the realm's default roles, the user manager too.
    await consoleClientRole(`/groups/${profiles}`, 'account', 'view-profile');
    await syncFromKeycloak();
    const plain = await userWith({ roleIds: [roleIds.role_user!] });
    const ok = async (mutation: string, variables: Record<string, unknown>) => {
      const response = await gateway.graphql(mutation, { token: await managerToken(), variables });
      expect(response.errors, mutation).toBeUndefined();
    };

    await ok(UPDATE, { id: plain.id, input: { email: plain.email, firstName: 'Eve', lastName: 'Mallory', groupIdsToAdd: [profiles] } });
    await ok(SET_PASSWORD, { id: plain.id, password: 'Set-by-um-2b' });
    await passwordGrant(plain.email, 'Set-by-um-2b');
    await ok(CREATE, { input: newUser({ roleIds: [roleIds.role_user], groupIds: [profiles] }) });
    expect((await keycloakLinks(plain.id)).groups).toEqual([`${tag}-profiles`]);
  });

  it('still manages a user whose roles and privileges it holds all of, and grants what it holds', async () => {
    const plain = await userWith({ roleIds: [roleIds.role_user!] });
    const ok = async (mutation: string, variables: Record<string, unknown>) => {
      const response = await gateway.graphql(mutation, { token: await managerToken(), variables });
      expect(response.errors, mutation).toBeUndefined();
      return response.data!;
    };

    const updated = await ok(UPDATE, {
      id: plain.id,
      input: { email: plain.email, firstName: 'Eve', lastName: 'edited-by-um', groupIdsToAdd: [groupIds.plain] },
    });
    expect(updated.updateUser.user.lastName).toBe('edited-by-um');
    expect(await localLinks(plain.id)).toEqual({ roles: ['role_user'], groups: [`${tag}-plain`] });
    await ok(SET_PASSWORD, { id: plain.id, password: 'Set-by-um-1a' });
    await passwordGrant(plain.email, 'Set-by-um-1a');
    await ok(SETUP_EMAIL, { id: plain.id });
    await ok(CREATE, { input: newUser({ roleIds: [roleIds.role_user], groupIds: [groupIds.plain] }) });
    await ok(UPDATE, { id: manager.id, input: { email: manager.email, firstName: 'Eve', lastName: 'Manager' } });
    await ok(DELETE, { id: plain.id });
    expect((await keycloakAdmin('GET', `/users/${plain.id}`)).status).toBe(404);
  });

  it('ATTACK: an update leaves what it does not name as Keycloak has it: a user disabled and unverified in the console stays so', async () => {
    const target = await userWith({ roleIds: [roleIds.role_user!] });
    await keycloakAdmin('PUT', `/users/${target.id}`, { enabled: false, emailVerified: false, firstName: 'Console' });

    const response = await gateway.graphql(UPDATE, {
      token: await managerToken(),
      variables: { id: target.id, input: { lastName: 'edited-by-um' } },
    });

    expect(outcome(response)).toBe('OK');
    expect((await keycloakAdmin<Record<string, unknown>>('GET', `/users/${target.id}`)).body).toMatchObject({
      enabled: false,
      emailVerified: false,
      firstName: 'Console',
      lastName: 'edited-by-um',
    });
    expect(await sql('select enabled, email_verified, first_name from users where id = $1', [target.id])).toEqual([
      { enabled: false, email_verified: false, first_name: 'Console' },
    ]);
  });

  it('ATTACK: a user manager cannot move a verified account to an address nobody proved, on another user or on itself', async () => {
    const verified = await userWith({ roleIds: [roleIds.role_user!] });
    // Verified as its owner would make it, by following Keycloak's link.
    await keycloakAdmin('PUT', `/users/${verified.id}`, { emailVerified: true });
    await sql('update users set email_verified = true where id = $1', [verified.id]);
    const moves = [
      [verified.id, { email: `ceo-${randomUUID().slice(0, 8)}@victim-corp.example`, firstName: 'Eve', lastName: 'Mallory' }],
      [manager.id, { email: `boss-${randomUUID().slice(0, 8)}@victim-corp.example`, firstName: 'Eve', lastName: 'Mallory' }],
    ] as const;
    await keycloakAdmin('PUT', `/users/${manager.id}`, { emailVerified: true });
    await sql('update users set email_verified = true where id = $1', [manager.id]);

    for (const [id, input] of moves) {
      const response = await gateway.graphql(UPDATE, { token: await managerToken(), variables: { id, input } });
      expect(outcome(response), input.email).toBe('OK');
      expect((await keycloakAdmin<{ email: string; emailVerified: boolean }>('GET', `/users/${id}`)).body).toMatchObject({
        email: input.email,
        emailVerified: false,
      });
      expect(await sql('select email, email_verified from users where id = $1', [id])).toEqual([
        { email: input.email, email_verified: false },
      ]);
    }
    await gateway.graphql(UPDATE, {
      token: await adminToken(),
      variables: { id: manager.id, input: { email: manager.email, firstName: 'Eve', lastName: 'Mallory' } },
    });
  });
});

describe('when roles alone cannot tell what a user may do, user managers act on no one', () => {
  // A realm of its own: these tests change realm-wide settings that would refuse the user
  // managers of every other test file in the shared realm.
  let backends: IsolatedBackends;
  let gateway: TestGateway;
  let managerToken: () => Promise<string>;
  beforeAll(async () => {
    backends = await isolatedBackends('admin-permissions');
    gateway = await startTestGateway(() => backends.config);
    const manager = await createKeycloakUser({ realmRoles: ['role_user', 'priv_user_management'], realm: backends.realm });
    managerToken = renewedToken(manager.email, manager.password, backends.realm);
  });
  afterAll(async () => {
    await gateway?.close();
    await backends?.close();
  });

  const setPassword = async (id: string, password: string) =>
    outcome(await gateway.graphql(SET_PASSWORD, { token: await managerToken(), variables: { id, password } }));
  /** A plain user the user manager reaches, seen once by the gateway so the mirror knows them. */
  async function plainUser() {
    const user = await createKeycloakUser({ realmRoles: ['role_user'], realm: backends.realm });
    await gateway.graphql('{ me { user { id } } }', {
      token: (await passwordGrant(user.email, user.password, backends.realm)).access_token,
    });
    const [{ id }] = await backends.sql<{ id: string }>('select id from users where email = $1', [user.email]);
    return { ...user, id: id! };
  }

  it('ATTACK: a user manager cannot set the password of a user a console operator made a user administrator through an admin permission (no role)', async () => {
    const control = await plainUser();
    expect(await setPassword(control.id, 'Set-by-um-1a'), 'within reach while the realm grants power only through roles').toBe('OK');

    const delegate = await plainUser();
    expect((await keycloakAdmin('PUT', '', { adminPermissionsEnabled: true }, backends.realm)).status).toBe(204);
    const [permissionsClient] = (
      await keycloakAdmin<{ id: string }[]>('GET', '/clients?clientId=admin-permissions', undefined, backends.realm)
    ).body;
    const server = `/clients/${permissionsClient!.id}/authz/resource-server`;
    const policy = await keycloakAdmin<{ id: string }>(
      'POST',
      `${server}/policy/user`,
      { name: 'delegate', users: [delegate.id], logic: 'POSITIVE' },
      backends.realm,
    );
    const permission = await keycloakAdmin(
      'POST',
      `${server}/permission/scope`,
      { name: 'delegate-manages-users', resourceType: 'Users', scopes: ['view', 'manage'], policies: [policy.body.id] },
      backends.realm,
    );
    expect(permission.status).toBe(201);

    expect(await setPassword(delegate.id, 'Taken-over-5e')).toBe('FORBIDDEN');
    await expect(passwordGrant(delegate.email, 'Taken-over-5e', backends.realm)).rejects.toThrow(/invalid_grant/);
    await passwordGrant(delegate.email, delegate.password, backends.realm);

    expect((await keycloakAdmin('PUT', '', { adminPermissionsEnabled: false }, backends.realm)).status).toBe(204);
    expect(await setPassword(control.id, 'Set-by-um-2b')).toBe('OK');
  });

  it("ATTACK: taking view-clients from the gateway's service account refuses user managers at once, not when its token is renewed", async () => {
    const target = await plainUser();
    const serviceAccount = (
      await keycloakAdmin<{ id: string }[]>('GET', `/clients?clientId=${backends.config.keycloak.apiClientId}`, undefined, backends.realm)
    ).body[0]!;
    const account = (
      await keycloakAdmin<{ id: string }>('GET', `/clients/${serviceAccount.id}/service-account-user`, undefined, backends.realm)
    ).body;
    const management = (await keycloakAdmin<{ id: string }[]>('GET', '/clients?clientId=realm-management', undefined, backends.realm))
      .body[0]!;
    const mappings = `/users/${account.id}/role-mappings/clients/${management.id}`;
    const viewClients = (await keycloakAdmin<{ id: string; name: string }[]>('GET', mappings, undefined, backends.realm)).body.filter(
      (role) => role.name === 'view-clients',
    );
    expect(viewClients).toHaveLength(1);
    expect(await setPassword(target.id, 'Set-by-um-3c')).toBe('OK');

    expect((await keycloakAdmin('DELETE', mappings, viewClients, backends.realm)).status).toBe(204);
    try {
      expect(await setPassword(target.id, 'Set-by-um-4d')).toBe('FORBIDDEN');
    } finally {
      await keycloakAdmin('POST', mappings, viewClients, backends.realm);
    }
    expect(await setPassword(target.id, 'Set-by-um-5e')).toBe('OK');
  });
});
