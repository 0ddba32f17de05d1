import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { refusingWrites, sql } from '../support/database.js';
import { withoutDirectorySync } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const CREATE_USER = /* GraphQL */ `
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      message
      user { id email username firstName lastName enabled emailVerified entityCode countryCode roles { name } groups { name } effectivePrivileges { name } }
    }
  }
`;

interface KeycloakUser {
  id: string;
  username: string;
  email: string;
  enabled: boolean;
  attributes?: Record<string, string[]>;
}

async function keycloakUsersByEmail(email: string) {
  return (await keycloakAdmin<KeycloakUser[]>('GET', `/users?email=${encodeURIComponent(email)}&exact=true`)).body;
}

async function auditOf(email: string) {
  return sql<{ status: string; action: string; details: Record<string, unknown>; error: string | null }>(
    `select status, action, details, error from audit_events where details->>'email' = $1`,
    [email],
  );
}

describe('createUser', () => {
  let gateway: TestGateway;
  let token: string;
  let roles: Record<string, string>;
  beforeAll(async () => {
    gateway = await startTestGateway();
    token = await adminAccessToken();
    const rows = await sql<{ id: string; name: string }>('select id, name from realm_roles');
    roles = Object.fromEntries(rows.map((row) => [row.name, row.id]));
  });
  afterAll(() => gateway?.close());

  const email = () => `new-${randomUUID().slice(0, 8)}@Example.test`;
  const input = (overrides: Record<string, unknown> = {}) => ({
    email: email(),
    firstName: 'Ada',
    lastName: 'Lovelace',
    password: 'Str0ng-password',
    entityCode: 'E-42',
    countryCode: 'gb',
    ...overrides,
  });

  it('creates the user in Keycloak, then in PostgreSQL, with roles, a group and attributes', async () => {
    const groupName = `engineers-${randomUUID().slice(0, 8)}`;
    const created = await keycloakAdmin('POST', '/groups', { name: groupName });
    const groupId = created.location!.split('/').at(-1)!;
    await keycloakAdmin('POST', `/groups/${groupId}/role-mappings/realm`, [{ id: roles.priv_code_review, name: 'priv_code_review' }]);
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    const given = input({ roleIds: [roles.role_manager], groupIds: [groupId] });

    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: given } });

    expect(response.errors).toBeUndefined();
    const user = response.data!.createUser.user;
    const lower = given.email.toLowerCase();
    expect(user).toMatchObject({
      email: lower,
      username: lower,
      firstName: 'Ada',
      enabled: true,
      emailVerified: false,
      entityCode: 'E-42',
      countryCode: 'GB',
      roles: [{ name: 'role_manager' }],
      groups: [{ name: groupName }],
      effectivePrivileges: [{ name: 'priv_code_review' }],
    });

    const [inKeycloak] = await keycloakUsersByEmail(lower);
    expect(inKeycloak).toMatchObject({
      id: user.id,
      username: lower,
      enabled: true,
      attributes: { entity_code: ['E-42'], country_code: ['GB'] },
    });
    const mappings = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${user.id}/role-mappings/realm`)).body.map((r) => r.name);
    expect(mappings).toContain('role_manager');
    const groups = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${user.id}/groups`)).body.map((g) => g.name);
    expect(groups).toEqual([groupName]);

    const [row] = await sql('select email, first_name, sync_status from users where id = $1', [user.id]);
    expect(row).toEqual({ email: lower, first_name: 'Ada', sync_status: 'SYNCED' });
    expect(await sql('select role_id from user_roles where user_id = $1', [user.id])).toEqual([{ role_id: roles.role_manager }]);
    expect(await auditOf(lower)).toMatchObject([{ action: 'USER_CREATE', status: 'SUCCEEDED' }]);
    expect(JSON.stringify(await auditOf(lower))).not.toContain(given.password);
  });

  it('answers BAD_USER_INPUT naming each invalid field (email, names, codes), and creates nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'not-an-email' }, 'email'],
      [{ firstName: '' }, 'firstName'],
      [{ password: 'short' }, 'password'],
      [{ roleIds: ['role_admin'] }, 'roleIds'],
      [{ roleIds: [roles.priv_user_management] }, 'roleIds'],
    ];
    for (const [overrides, field] of cases) {
      const given = input(overrides);
      const response = await gateway.graphql(CREATE_USER, { token, variables: { input: given } });
      expect(response.errors?.[0]?.extensions, JSON.stringify(overrides)).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { [field]: expect.any(String) },
      });
      if (typeof given.email === 'string' && given.email.includes('@')) {
        expect(await keycloakUsersByEmail(given.email.toLowerCase())).toEqual([]);
        expect(await sql('select 1 from users where email = $1', [given.email.toLowerCase()])).toEqual([]);
      }
    }
  });

  it('takes an explicit null as left out: no roles, no groups, enabled and unverified by default', async () => {
    const given = input({ roleIds: null, groupIds: null, enabled: null, emailVerified: null, entityCode: null });
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: given } });
    expect(response.errors).toBeUndefined();
    expect(response.data!.createUser.user).toMatchObject({ enabled: true, emailVerified: false, entityCode: null, roles: [], groups: [] });
  });

  it('says what the password lacks', async () => {
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: input({ password: 'alllowercase' }) } });
    expect(response.errors?.[0]?.extensions.fieldErrors?.password).toBe('Password must contain an upper-case letter, contain a digit');
  });

  it('answers NOT_FOUND for a role id that does not exist, before writing anything', async () => {
    const given = input({ roleIds: [randomUUID()] });
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: given } });
    expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await keycloakUsersByEmail(given.email.toLowerCase())).toEqual([]);
    expect(await auditOf(given.email.toLowerCase())).toEqual([]);
  });

  it('answers CONFLICT for an email already taken, whatever its case', async () => {
    const existing = await createKeycloakUser();
    await gateway.graphql('{ me { user { id } } }', {
      token: (await passwordGrant(existing.email, existing.password)).access_token,
    });
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: input({ email: existing.email.toUpperCase() }) } });
    expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
  });

  it('leaves PostgreSQL unchanged when Keycloak refuses the write (an email only Keycloak knows)', async () => {
    const onlyInKeycloak = await createKeycloakUser();
    const response = await gateway.graphql(CREATE_USER, { token, variables: { input: input({ email: onlyInKeycloak.email }) } });
    expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
    expect(await sql('select 1 from users where email = $1', [onlyInKeycloak.email])).toEqual([]);
    expect(await auditOf(onlyInKeycloak.email)).toMatchObject([{ status: 'FAILED' }]);
    expect(await keycloakUsersByEmail(onlyInKeycloak.email)).toHaveLength(1);
  });

  it('leaves no user in Keycloak when a step after creating it fails (role deleted behind the mirror’s back)', async () => {
    const name = `role_ghost_${randomUUID().slice(0, 8)}`;
    await keycloakAdmin('POST', '/roles', { name });
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    await withoutDirectorySync(async () => {
      const [{ id: roleId }] = await sql<{ id: string }>('select id from realm_roles where name = $1', [name]);
      await keycloakAdmin('DELETE', `/roles/${name}`);

      const given = input({ roleIds: [roleId] });
      const response = await gateway.graphql(CREATE_USER, { token, variables: { input: given } });

      expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
      expect(await keycloakUsersByEmail(given.email.toLowerCase())).toEqual([]);
      expect(await sql('select 1 from users where email = $1', [given.email.toLowerCase()])).toEqual([]);
      expect(await auditOf(given.email.toLowerCase())).toMatchObject([{ status: 'FAILED' }]);
    });
  });

  it('undoes the Keycloak user when the local transaction fails (COMPENSATED)', async () => {
    const given = input({ email: `fail-local-${randomUUID().slice(0, 8)}@example.test` });
    const response = await refusingWrites('insert', 'users', 'email', given.email, () =>
      gateway.graphql(CREATE_USER, { token, variables: { input: given } }),
    );
    expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(await keycloakUsersByEmail(given.email)).toEqual([]);
    expect(await sql('select 1 from users where email = $1', [given.email])).toEqual([]);
    expect(await auditOf(given.email)).toMatchObject([{ status: 'COMPENSATED' }]);
  });

  it('is FORBIDDEN for a caller without ROLE_ADMIN or PRIV_USER_MANAGEMENT', async () => {
    const plain = await createKeycloakUser({ realmRoles: ['role_user'] });
    const response = await gateway.graphql(CREATE_USER, {
      token: (await passwordGrant(plain.email, plain.password)).access_token,
      variables: { input: input() },
    });
    expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  });
});
