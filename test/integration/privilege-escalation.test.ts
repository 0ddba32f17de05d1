import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const CREATE = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';

describe('PRIV_USER_MANAGEMENT without ROLE_ADMIN', () => {
  let gateway: TestGateway;
  let managerToken: string;
  let roleIds: Record<string, string>;
  beforeAll(async () => {
    gateway = await startTestGateway();
    const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
    managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
    roleIds = Object.fromEntries((await sql<{ id: string; name: string }>('select id, name from realm_roles')).map((r) => [r.name, r.id]));
  });
  afterAll(() => gateway?.close());

  const newUser = (extra: Record<string, unknown> = {}) => ({
    email: `escalate-${randomUUID().slice(0, 8)}@example.test`,
    firstName: 'Eve',
    lastName: 'Mallory',
    password: 'Str0ng-password',
    ...extra,
  });

  /** An administrator the gateway created, so the mirror knows the role. */
  async function mirroredAdmin() {
    const input = newUser({ roleIds: [roleIds.role_admin] });
    const response = await gateway.graphql(CREATE, { token: await adminAccessToken(), variables: { input } });
    return { id: response.data!.createUser.user.id as string, email: input.email.toLowerCase(), password: input.password };
  }

  it('may create users with ordinary roles', async () => {
    const response = await gateway.graphql(CREATE, { token: managerToken, variables: { input: newUser({ roleIds: [roleIds.role_manager] }) } });
    expect(response.errors).toBeUndefined();
  });

  it('may not grant role_admin, directly or through a group that carries it, and nothing is created', async () => {
    const created = await keycloakAdmin('POST', '/groups', { name: `admins-${randomUUID().slice(0, 8)}` });
    const groupId = created.location!.split('/').at(-1)!;
    await keycloakAdmin('POST', `/groups/${groupId}/role-mappings/realm`, [{ id: roleIds.role_admin, name: 'role_admin' }]);
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

    for (const extra of [{ roleIds: [roleIds.role_admin] }, { groupIds: [groupId] }]) {
      const input = newUser(extra);
      const response = await gateway.graphql(CREATE, { token: managerToken, variables: { input } });
      expect(response.errors?.[0]?.extensions.code, JSON.stringify(extra)).toBe('FORBIDDEN');
      expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${input.email}&exact=true`)).body).toEqual([]);
    }
  });

  it('may not change, delete or set the password of an administrator', async () => {
    const admin = await mirroredAdmin();
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
