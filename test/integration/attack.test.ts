import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { createUserThroughGateway, realmRoleIds } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';

// Holes an attacker-reviewer found in the trust work of issue 10, each kept shut by its test.
let gateway: TestGateway;
let adminToken: string;
let managerToken: string;
let roleIds: Record<string, string>;

beforeAll(async () => {
  gateway = await startTestGateway();
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = (await passwordGrant(admin.email, admin.password)).access_token;
  const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
  managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
  roleIds = await realmRoleIds();
});
afterAll(() => gateway?.close());

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;

describe('one spelling per id', () => {
  it('ATTACK: a user manager cannot delete, edit or reset an administrator by spelling their id in upper case', async () => {
    const victim = await createUserThroughGateway(gateway, adminToken, { roleIds: [roleIds.role_admin!] });
    const upper = victim.id.toUpperCase();
    const attempts = {
      setUserPassword: ['mutation($id: ID!) { setUserPassword(userId: $id, password: "Taken-over-1x") { message } }', { id: upper }],
      updateUser: [
        'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }',
        { id: upper, input: { email: victim.email, firstName: 'G', lastName: 'edited-by-um' } },
      ],
      sendPasswordSetupEmail: ['mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', { id: upper }],
      deleteUser: ['mutation($id: ID!) { deleteUser(id: $id) { message } }', { id: upper }],
    } as const;
    for (const [operation, [query, variables]] of Object.entries(attempts)) {
      const response = await gateway.graphql(query, { token: managerToken, variables });
      // Refused at the edge, before any rule, limit or write: the id is not one the gateway hands out.
      expect(codeOf(response), operation).toBe('BAD_USER_INPUT');
    }
    expect(await sql('select id from users where id = $1', [victim.id]), 'the administrator is still mirrored').toHaveLength(1);
    expect(await sql('select id from deleted_users where id = $1', [victim.id]), 'nor recorded as deleted').toHaveLength(0);
    const me = await gateway.graphql('{ me { user { id } roles } }', { token: (await passwordGrant(victim.email, 'Str0ng-password')).access_token });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me.roles).toContain('role_admin');
  });
});
