import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { refusingWrites, sql } from '../support/database.js';
import { withoutDirectorySync } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const USER_FIELDS = 'id email username firstName lastName enabled emailVerified entityCode countryCode roles { name } groups { name }';
const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { ${USER_FIELDS} } } }`;
const UPDATE_USER = `mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { message timestamp user { ${USER_FIELDS} } } }`;
const DELETE_USER = 'mutation($id: ID!) { deleteUser(id: $id) { message timestamp } }';
const SET_PASSWORD = /* GraphQL */ `
  mutation($userId: ID!, $password: String!, $temporary: Boolean) {
    setUserPassword(userId: $userId, password: $password, temporary: $temporary) { message timestamp }
  }
`;

interface KeycloakUser {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes?: Record<string, string[]>;
  requiredActions?: string[];
}

const keycloakUser = async (id: string) => keycloakAdmin<KeycloakUser>('GET', `/users/${id}`);
const keycloakRoles = async (id: string) =>
  (await keycloakAdmin<{ name: string }[]>('GET', `/users/${id}/role-mappings/realm`)).body.map((role) => role.name).sort();
const keycloakGroups = async (id: string) =>
  (await keycloakAdmin<{ name: string }[]>('GET', `/users/${id}/groups`)).body.map((group) => group.name).sort();

/** The mirror of one user: its row and its links, as PostgreSQL holds them. */
async function mirrorOf(id: string) {
  const [row] = await sql('select email, username, first_name, last_name, enabled, email_verified, attributes from users where id = $1', [
    id,
  ]);
  const roles = await sql<{ name: string }>(
    'select r.name from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = $1 order by r.name',
    [id],
  );
  const groups = await sql<{ name: string }>(
    'select g.name from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = $1 order by g.name',
    [id],
  );
  return { row, roles: roles.map((r) => r.name), groups: groups.map((g) => g.name) };
}

const auditOf = (targetId: string, action: string) =>
  sql<{ status: string; actor_id: string | null; details: any; error: string | null }>(
    'select status, actor_id, details, error from audit_events where target_id = $1 and action = $2 order by at',
    [targetId, action],
  );

describe('updateUser, deleteUser and setUserPassword', () => {
  let gateway: TestGateway;
  let token: string;
  let adminId: string;
  let roles: Record<string, string>;

  beforeAll(async () => {
    gateway = await startTestGateway();
    // An administrator of this file's own: Keycloak rejects concurrent logins of one account
    // (keycloak/keycloak#48272), which the shared bootstrap admin would get from parallel test files.
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    token = (await passwordGrant(admin.email, admin.password)).access_token;
    adminId = admin.id;
    roles = Object.fromEntries((await sql<{ id: string; name: string }>('select id, name from realm_roles')).map((r) => [r.name, r.id]));
  });
  afterAll(() => gateway?.close());

  const uniqueEmail = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}@example.test`;

  /** A group in Keycloak, mirrored. */
  async function createGroup(): Promise<{ id: string; name: string }> {
    const name = `team-${randomUUID().slice(0, 8)}`;
    const id = (await keycloakAdmin('POST', '/groups', { name })).location!.split('/').at(-1)!;
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    return { id, name };
  }

  /** A user created through the gateway, so Keycloak and the mirror both know it. */
  async function createUser(overrides: Record<string, unknown> = {}) {
    const input = {
      email: uniqueEmail('edit'),
      firstName: 'Grace',
      lastName: 'Hopper',
      password: 'Str0ng-password',
      entityCode: 'E-1',
      countryCode: 'us',
      roleIds: [roles.role_user],
      ...overrides,
    };
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input } });
    expect(response.errors).toBeUndefined();
    return { ...response.data!.createUser.user, password: input.password } as { id: string; email: string; password: string };
  }

  const profile = (user: { email: string }, overrides: Record<string, unknown> = {}) => ({
    email: user.email,
    firstName: 'Grace',
    lastName: 'Hopper',
    ...overrides,
  });

  async function plainUserToken(): Promise<string> {
    const plain = await createKeycloakUser({ realmRoles: ['role_user'] });
    return (await passwordGrant(plain.email, plain.password)).access_token;
  }

  describe('updateUser', () => {
    it('changes profile, attributes, roles and groups in Keycloak, then in PostgreSQL, and audits the diff', async () => {
      const [oldTeam, newTeam] = [await createGroup(), await createGroup()];
      const user = await createUser({ groupIds: [oldTeam.id] });
      const newEmail = uniqueEmail('renamed');

      const response = await gateway.graphql(UPDATE_USER, {
        token,
        variables: {
          id: user.id,
          input: {
            ...profile({ email: newEmail.toUpperCase() }, { lastName: 'Hopper-Murray' }),
            enabled: false,
            emailVerified: true,
            entityCode: 'E-2',
            roleIdsToAdd: [roles.role_manager],
            roleIdsToRemove: [roles.role_user],
            groupIdsToAdd: [newTeam.id],
            groupIdsToRemove: [oldTeam.id],
          },
        },
      });

      expect(response.errors).toBeUndefined();
      expect(response.data!.updateUser).toMatchObject({
        message: `User ${newEmail} updated`,
        user: {
          id: user.id,
          email: newEmail,
          username: newEmail,
          lastName: 'Hopper-Murray',
          enabled: false,
          emailVerified: true,
          entityCode: 'E-2',
          countryCode: 'US', // left out: kept
          roles: [{ name: 'role_manager' }],
          groups: [{ name: newTeam.name }],
        },
      });

      expect((await keycloakUser(user.id)).body).toMatchObject({
        username: newEmail,
        email: newEmail,
        lastName: 'Hopper-Murray',
        enabled: false,
        emailVerified: true,
        attributes: { entity_code: ['E-2'], country_code: ['US'] },
      });
      expect(await keycloakRoles(user.id)).toContain('role_manager');
      expect(await keycloakRoles(user.id)).not.toContain('role_user');
      expect(await keycloakGroups(user.id)).toEqual([newTeam.name]);

      expect(await mirrorOf(user.id)).toEqual({
        row: {
          email: newEmail,
          username: newEmail,
          first_name: 'Grace',
          last_name: 'Hopper-Murray',
          enabled: false,
          email_verified: true,
          attributes: { entity_code: ['E-2'], country_code: ['US'] },
        },
        roles: ['role_manager'],
        groups: [newTeam.name],
      });

      const [event] = await auditOf(user.id, 'USER_UPDATE');
      expect(event).toMatchObject({
        status: 'SUCCEEDED',
        actor_id: adminId,
        details: {
          email: user.email,
          changes: {
            email: { from: user.email, to: newEmail },
            lastName: { from: 'Hopper', to: 'Hopper-Murray' },
            enabled: { from: true, to: false },
          },
          rolesAdded: ['role_manager'],
          rolesRemoved: ['role_user'],
          groupsAdded: [newTeam.name],
          groupsRemoved: [oldTeam.name],
        },
      });
      expect(event!.details.changes).not.toHaveProperty('firstName');
    });

    it('removes an attribute given as an empty string', async () => {
      const user = await createUser();
      const response = await gateway.graphql(UPDATE_USER, { token, variables: { id: user.id, input: profile(user, { countryCode: '' }) } });
      expect(response.data!.updateUser.user).toMatchObject({ entityCode: 'E-1', countryCode: null });
      expect((await keycloakUser(user.id)).body.attributes).toEqual({ entity_code: ['E-1'] });
      expect((await mirrorOf(user.id)).row!.attributes).toEqual({ entity_code: ['E-1'] });
    });

    it('changes only the fields given: a last name alone keeps the email, first name, attributes, roles and groups', async () => {
      const user = await createUser();
      const before = (await keycloakUser(user.id)).body;
      const response = await gateway.graphql(UPDATE_USER, { token, variables: { id: user.id, input: { lastName: 'Lovelace' } } });
      expect(response.errors).toBeUndefined();
      expect(response.data!.updateUser.user).toMatchObject({
        email: user.email,
        firstName: before.firstName,
        lastName: 'Lovelace',
        entityCode: 'E-1',
      });
      expect((await keycloakUser(user.id)).body).toMatchObject({
        email: user.email,
        firstName: before.firstName,
        lastName: 'Lovelace',
        attributes: before.attributes,
      });
      expect((await mirrorOf(user.id)).row).toMatchObject({ email: user.email, first_name: before.firstName, last_name: 'Lovelace' });
    });

    it('takes an explicit null as left out, for every optional field and list', async () => {
      const user = await createUser();
      const before = await mirrorOf(user.id);
      const nulls = {
        email: null,
        firstName: null,
        lastName: 'Lovelace',
        entityCode: null,
        countryCode: null,
        enabled: null,
        emailVerified: null,
        roleIdsToAdd: null,
        roleIdsToRemove: null,
        groupIdsToAdd: null,
        groupIdsToRemove: null,
      };
      const response = await gateway.graphql(UPDATE_USER, { token, variables: { id: user.id, input: nulls } });
      expect(response.errors).toBeUndefined();
      expect(await mirrorOf(user.id)).toEqual({ ...before, row: { ...before.row, last_name: 'Lovelace' } });
      expect(await keycloakRoles(user.id)).toContain('role_user');
    });

    it('answers CONFLICT for an email another user has, and changes nothing', async () => {
      const [user, other] = [await createUser(), await createUser()];
      const response = await gateway.graphql(UPDATE_USER, {
        token,
        variables: { id: user.id, input: profile(user, { email: other.email.toUpperCase(), lastName: 'Changed' }) },
      });
      expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
      expect((await keycloakUser(user.id)).body).toMatchObject({ email: user.email, lastName: 'Hopper' });
      expect((await mirrorOf(user.id)).row).toMatchObject({ email: user.email, last_name: 'Hopper' });
    });

    it('leaves PostgreSQL unchanged when Keycloak refuses (an email only Keycloak knows), and says why', async () => {
      const user = await createUser();
      const onlyInKeycloak = await createKeycloakUser();
      const before = await mirrorOf(user.id);

      const response = await gateway.graphql(UPDATE_USER, {
        token,
        variables: {
          id: user.id,
          input: profile(user, { email: onlyInKeycloak.email, lastName: 'Changed', roleIdsToAdd: [roles.role_premium] }),
        },
      });

      expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
      expect(response.errors?.[0]?.message).toMatch(/same email/i);
      expect(await mirrorOf(user.id)).toEqual(before);
      expect((await keycloakUser(user.id)).body).toMatchObject({ email: user.email, lastName: 'Hopper' });
      expect(await keycloakRoles(user.id)).not.toContain('role_premium');
      expect(await auditOf(user.id, 'USER_UPDATE')).toMatchObject([{ status: 'FAILED', error: expect.stringMatching(/same email/i) }]);
    });

    it('undoes its earlier Keycloak steps when a later one fails (a group deleted behind the mirror’s back)', async () => {
      const ghost = await createGroup();
      await withoutDirectorySync(async () => {
        await keycloakAdmin('DELETE', `/groups/${ghost.id}`);
        const user = await createUser();
        const before = await mirrorOf(user.id);

        const response = await gateway.graphql(UPDATE_USER, {
          token,
          variables: {
            id: user.id,
            input: profile(user, {
              lastName: 'Changed',
              entityCode: 'E-9',
              roleIdsToAdd: [roles.role_premium],
              roleIdsToRemove: [roles.role_user],
              groupIdsToAdd: [ghost.id],
            }),
          },
        });

        expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
        expect((await keycloakUser(user.id)).body).toMatchObject({
          lastName: 'Hopper',
          attributes: { entity_code: ['E-1'], country_code: ['US'] },
        });
        expect(await keycloakRoles(user.id)).toContain('role_user');
        expect(await keycloakRoles(user.id)).not.toContain('role_premium');
        expect(await mirrorOf(user.id)).toEqual(before);
        expect(await auditOf(user.id, 'USER_UPDATE')).toMatchObject([{ status: 'FAILED' }]);
      });
    });

    it('answers NOT_FOUND for an unknown user and BAD_USER_INPUT naming each field for invalid input', async () => {
      const unknown = await gateway.graphql(UPDATE_USER, {
        token,
        variables: { id: randomUUID(), input: profile({ email: uniqueEmail('x') }) },
      });
      expect(unknown.errors?.[0]?.extensions.code).toBe('NOT_FOUND');

      const user = await createUser();
      const invalid = await gateway.graphql(UPDATE_USER, {
        token,
        variables: {
          id: user.id,
          input: profile(user, {
            email: 'not-an-email',
            firstName: ' ',
            roleIdsToAdd: [roles.role_user],
            roleIdsToRemove: [roles.role_user],
            groupIdsToRemove: [],
          }),
        },
      });
      expect(invalid.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: {
          email: expect.any(String),
          firstName: expect.any(String),
          roleIdsToRemove: expect.any(String),
        },
      });
      // A name where an id belongs is refused at the edge, before the profile's own rules.
      const named = await gateway.graphql(UPDATE_USER, {
        token,
        variables: { id: user.id, input: profile(user, { roleIdsToAdd: ['role_admin'] }) },
      });
      expect(named.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { roleIdsToAdd: expect.any(String) } });

      const privilege = await gateway.graphql(UPDATE_USER, {
        token,
        variables: { id: user.id, input: profile(user, { roleIdsToAdd: [roles.priv_user_management] }) },
      });
      expect(privilege.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { roleIdsToAdd: expect.any(String) },
      });
      expect(await keycloakRoles(user.id)).not.toContain('priv_user_management');
      expect(await auditOf(user.id, 'USER_UPDATE')).toEqual([]);
    });
  });

  describe('deleteUser', () => {
    it('deletes the user in Keycloak, then its record and links in PostgreSQL, and audits USER_DELETE', async () => {
      const team = await createGroup();
      const user = await createUser({ groupIds: [team.id] });

      const response = await gateway.graphql(DELETE_USER, { token, variables: { id: user.id } });

      expect(response.errors).toBeUndefined();
      expect(response.data!.deleteUser).toEqual({ message: `User ${user.email} deleted`, timestamp: expect.any(String) });
      expect((await keycloakUser(user.id)).status).toBe(404);
      expect(await sql('select 1 from users where id = $1', [user.id])).toEqual([]);
      expect(
        await sql('select 1 from user_roles where user_id = $1 union all select 1 from user_groups where user_id = $1', [user.id]),
      ).toEqual([]);
      expect(await auditOf(user.id, 'USER_DELETE')).toMatchObject([
        { status: 'SUCCEEDED', actor_id: adminId, details: { email: user.email } },
      ]);
    });

    it('succeeds when retried after Keycloak already deleted the user, and cleans the mirror', async () => {
      const user = await createUser();
      await keycloakAdmin('DELETE', `/users/${user.id}`);

      const response = await gateway.graphql(DELETE_USER, { token, variables: { id: user.id } });

      expect(response.errors).toBeUndefined();
      expect(await sql('select 1 from users where id = $1', [user.id])).toEqual([]);
      expect(await auditOf(user.id, 'USER_DELETE')).toMatchObject([{ status: 'SUCCEEDED' }]);
      const again = await gateway.graphql(DELETE_USER, { token, variables: { id: user.id } });
      expect(again.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    });

    it('keeps the event PENDING when the local delete fails after Keycloak deleted the user, and a retry finishes it', async () => {
      const user = await createUser({ email: uniqueEmail('fail-delete') });
      const response = await refusingWrites('delete', 'users', 'email', user.email, () =>
        gateway.graphql(DELETE_USER, { token, variables: { id: user.id } }),
      );
      expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      expect((await keycloakUser(user.id)).status).toBe(404);
      expect((await mirrorOf(user.id)).row).toMatchObject({ email: user.email });
      // A deleted Keycloak user cannot be restored: not COMPENSATED, left for a retry or the reconciler.
      expect(await auditOf(user.id, 'USER_DELETE')).toMatchObject([{ status: 'PENDING' }]);

      const retry = await gateway.graphql(DELETE_USER, { token, variables: { id: user.id } });
      expect(retry.errors).toBeUndefined();
      expect(await sql('select 1 from users where id = $1', [user.id])).toEqual([]);
      expect(await auditOf(user.id, 'USER_DELETE')).toMatchObject([{ status: 'PENDING' }, { status: 'SUCCEEDED' }]);
    });

    it('changes nothing when Keycloak is unreachable', async () => {
      const user = await createUser();
      const proxy: KeycloakProxy = await startKeycloakProxy(inject('config').keycloak.url);
      const cut = await startTestGateway((config) => ({ ...config, keycloak: { ...config.keycloak, url: proxy.url } }));
      try {
        // Lets the gateway fetch the realm's signing keys first, so the token still verifies.
        await cut.graphql('{ me { user { id } } }', { token });
        proxy.mode = 'reset';
        const response = await cut.graphql(DELETE_USER, { token, variables: { id: user.id } });
        expect(response.errors?.[0]?.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
      } finally {
        await cut.close();
        await proxy.close();
      }
      expect((await keycloakUser(user.id)).status).toBe(200);
      expect((await mirrorOf(user.id)).row).toMatchObject({ email: user.email });
      expect(await auditOf(user.id, 'USER_DELETE')).toMatchObject([{ status: 'FAILED' }]);
    });

    it('refuses to delete the caller (deleteMyAccount is for that), answers NOT_FOUND for an unknown id and BAD_USER_INPUT for a malformed one', async () => {
      const self = await gateway.graphql(DELETE_USER, { token, variables: { id: adminId } });
      expect(self.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { id: expect.stringContaining('deleteMyAccount') },
      });
      expect((await keycloakUser(adminId)).status).toBe(200);

      const unknown = await gateway.graphql(DELETE_USER, { token, variables: { id: randomUUID() } });
      expect(unknown.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
      const malformed = await gateway.graphql(DELETE_USER, { token, variables: { id: 'not-a-user-id' } });
      expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { id: expect.any(String) } });
    });
  });

  describe('setUserPassword', () => {
    it('sets the password in Keycloak, where it then works, and keeps it out of the answer and the audit trail', async () => {
      const user = await createUser();
      const password = `New-${randomUUID()}-7x`;

      const response = await gateway.graphql(SET_PASSWORD, { token, variables: { userId: user.id, password } });

      expect(response.errors).toBeUndefined();
      expect(JSON.stringify(response)).not.toContain(password);
      await expect(passwordGrant(user.email, password)).resolves.toMatchObject({ access_token: expect.any(String) });
      await expect(passwordGrant(user.email, user.password)).rejects.toThrow();
      expect(await auditOf(user.id, 'USER_SET_PASSWORD')).toMatchObject([
        { status: 'SUCCEEDED', details: { email: user.email, temporary: false } },
      ]);
      expect(JSON.stringify(await sql('select * from audit_events where target_id = $1', [user.id]))).not.toContain(password);
    });

    it('with temporary: true, Keycloak requires a new password at the next login', async () => {
      const user = await createUser();
      const response = await gateway.graphql(SET_PASSWORD, {
        token,
        variables: { userId: user.id, password: `Tmp-${randomUUID()}-7x`, temporary: true },
      });
      expect(response.errors).toBeUndefined();
      expect((await keycloakUser(user.id)).body.requiredActions).toContain('UPDATE_PASSWORD');
      expect(await auditOf(user.id, 'USER_SET_PASSWORD')).toMatchObject([{ status: 'SUCCEEDED', details: { temporary: true } }]);
    });

    it('checks the password policy before calling Keycloak, naming what is missing but never the password', async () => {
      const user = await createUser();
      const weak = 'weakpassword';
      const response = await gateway.graphql(SET_PASSWORD, { token, variables: { userId: user.id, password: weak } });
      expect(response.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { password: 'Password must contain an upper-case letter, contain a digit' },
      });
      expect(JSON.stringify(response)).not.toContain(weak);
      await expect(passwordGrant(user.email, user.password)).resolves.toBeDefined();
      expect(await auditOf(user.id, 'USER_SET_PASSWORD')).toEqual([]);
    });
  });

  it('is FORBIDDEN for a caller without ROLE_ADMIN or PRIV_USER_MANAGEMENT, and changes nothing', async () => {
    const user = await createUser();
    const plain = await plainUserToken();
    const attempts = [
      gateway.graphql(UPDATE_USER, { token: plain, variables: { id: user.id, input: profile(user, { lastName: 'Hacked' }) } }),
      gateway.graphql(DELETE_USER, { token: plain, variables: { id: user.id } }),
      gateway.graphql(SET_PASSWORD, { token: plain, variables: { userId: user.id, password: 'Hacked-passw0rd' } }),
    ];
    for (const response of await Promise.all(attempts)) expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect((await keycloakUser(user.id)).body.lastName).toBe('Hopper');
    await expect(passwordGrant(user.email, user.password)).resolves.toBeDefined();
    expect((await mirrorOf(user.id)).row).toMatchObject({ last_name: 'Hopper' });
  });
});
