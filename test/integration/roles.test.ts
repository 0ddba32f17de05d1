import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { refusingWrites, sql } from '../support/database.js';
import {
  auditOf,
  createUserThroughGateway,
  keycloakComposites,
  keycloakRole,
  realmRoleIds,
  sortedNames,
  unique,
  withoutDirectorySync,
} from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const ROLE_FIELDS = 'id name displayName description composite privileges { name } userCount';
const CREATE_ROLE = /* GraphQL */ `
  mutation CreateRole($input: CreateRoleInput!) {
    createRole(input: $input) { message timestamp role { ${ROLE_FIELDS} } }
  }
`;
const UPDATE_ROLE = /* GraphQL */ `
  mutation UpdateRole($id: ID!, $input: UpdateRoleInput!) {
    updateRole(id: $id, input: $input) { message role { ${ROLE_FIELDS} } }
  }
`;
const DELETE_ROLE = /* GraphQL */ `
  mutation DeleteRole($id: ID!) { deleteRole(id: $id) { message timestamp } }
`;

/** What the mirror holds for a role: its row and the names of its privileges. */
async function mirroredRole(id: string) {
  const [row] = await sql<{ name: string; kind: string; description: string | null }>(
    'select name, kind, description from realm_roles where id = $1',
    [id],
  );
  const privileges = await sql<{ name: string }>(
    `select p.name from role_privileges rp join realm_roles p on p.id = rp.privilege_id where rp.role_id = $1`,
    [id],
  );
  return row && { ...row, privileges: sortedNames(privileges) };
}

describe('roles and privileges', () => {
  let gateway: TestGateway;
  let token: string;
  let ids: Record<string, string>;
  beforeAll(async () => {
    gateway = await startTestGateway();
    token = await adminAccessToken();
    ids = await realmRoleIds();
  });
  afterAll(() => gateway?.close());

  async function createRole(input: Record<string, unknown>) {
    const response = await gateway.graphql(CREATE_ROLE, { token, variables: { input } });
    expect(response.errors).toBeUndefined();
    return response.data!.createRole.role as { id: string; name: string };
  }

  it('createRole prepends role_ and makes the role a composite of the given privileges, in Keycloak and PostgreSQL', async () => {
    const bare = unique('support_');
    const response = await gateway.graphql(CREATE_ROLE, {
      token,
      variables: { input: { roleName: bare, description: 'Support desk', privilegeIds: [ids.priv_view_reports, ids.priv_code_review] } },
    });

    expect(response.errors).toBeUndefined();
    const name = `role_${bare}`;
    const { message, timestamp, role } = response.data!.createRole;
    expect(message).toBe(`Role ${name} created`);
    expect(Number.isNaN(Date.parse(timestamp))).toBe(false);
    expect(role).toEqual({
      id: expect.any(String),
      name,
      displayName: bare,
      description: 'Support desk',
      composite: true,
      privileges: [{ name: 'priv_code_review' }, { name: 'priv_view_reports' }],
      userCount: 0,
    });

    expect(await keycloakRole(name)).toMatchObject({ id: role.id, description: 'Support desk', composite: true });
    expect(await keycloakComposites(role.id)).toEqual(['priv_code_review', 'priv_view_reports']);
    expect(await mirroredRole(role.id)).toEqual({
      name,
      kind: 'ROLE',
      description: 'Support desk',
      privileges: ['priv_code_review', 'priv_view_reports'],
    });
    expect(await auditOf('ROLE_CREATE', name)).toEqual([
      {
        status: 'SUCCEEDED',
        target_id: role.id,
        error: null,
        details: { name, description: 'Support desk', privileges: ['priv_view_reports', 'priv_code_review'] },
      },
    ]);
  });

  it('createRole keeps a name given with its prefix; without privileges the role is not composite', async () => {
    const name = unique('role_plain_');
    const role = await createRole({ roleName: name });
    expect(role).toMatchObject({ name, description: null, composite: false, privileges: [] });
    expect(await keycloakRole(name)).toMatchObject({ id: role.id, composite: false });
    expect(await mirroredRole(role.id)).toEqual({ name, kind: 'ROLE', description: null, privileges: [] });
  });

  it('createRole answers BAD_USER_INPUT naming the field, and creates nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ roleName: 'Role_Upper' }, 'roleName'],
      [{ roleName: 'with space' }, 'roleName'],
      [{ roleName: '   ' }, 'roleName'],
      [{ roleName: 'role_' }, 'roleName'],
      [{ roleName: unique('ok_'), privilegeIds: ['priv_view_reports'] }, 'privilegeIds'],
      [{ roleName: unique('ok_'), privilegeIds: [ids.role_manager] }, 'privilegeIds'],
    ];
    for (const [input, field] of cases) {
      const response = await gateway.graphql(CREATE_ROLE, { token, variables: { input } });
      expect(response.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { [field]: expect.any(String) },
      });
    }
    expect(
      (await gateway.graphql(CREATE_ROLE, { token, variables: { input: { roleName: 'Role_Upper' } } })).errors?.[0]?.extensions.fieldErrors,
    ).toEqual({ roleName: 'must be lower-case letters, digits and underscores, e.g. role_support' });
    for (const [input] of cases.slice(-2)) {
      const name = `role_${input.roleName}`;
      expect(await keycloakRole(name)).toBeUndefined();
      expect(await sql('select 1 from realm_roles where name = $1', [name])).toEqual([]);
    }
  });

  it('createRole answers NOT_FOUND for an unknown privilege id before writing anything', async () => {
    const name = unique('role_ghost_priv_');
    const response = await gateway.graphql(CREATE_ROLE, { token, variables: { input: { roleName: name, privilegeIds: [randomUUID()] } } });
    expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await keycloakRole(name)).toBeUndefined();
    expect(await sql('select 1 from realm_roles where name = $1', [name])).toEqual([]);
    expect(await auditOf('ROLE_CREATE', name)).toEqual([]);
  });

  it('createRole answers CONFLICT for a name the mirror already knows, before writing anything', async () => {
    const response = await gateway.graphql(CREATE_ROLE, { token, variables: { input: { roleName: 'manager' } } });
    expect(response.errors?.[0]).toMatchObject({ message: 'A role named role_manager already exists', extensions: { code: 'CONFLICT' } });
    expect(await auditOf('ROLE_CREATE', 'role_manager')).toEqual([]);
  });

  it('createRole leaves PostgreSQL unchanged when Keycloak refuses (a role only Keycloak knows): CONFLICT, audit FAILED', async () => {
    const name = unique('role_only_in_keycloak_');
    await withoutDirectorySync(async () => {
      await keycloakAdmin('POST', '/roles', { name, description: 'made in the console' });

      const response = await gateway.graphql(CREATE_ROLE, { token, variables: { input: { roleName: name, description: 'mine' } } });

      expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
      expect(await keycloakRole(name)).toMatchObject({ description: 'made in the console' });
      expect(await sql('select 1 from realm_roles where name = $1', [name])).toEqual([]);
      expect(await auditOf('ROLE_CREATE', name)).toMatchObject([{ status: 'FAILED', error: expect.any(String) }]);
    });
  });

  it('updateRole sets the description and adds and removes privileges, in Keycloak and PostgreSQL', async () => {
    const { id, name } = await createRole({ roleName: unique('editor_'), description: 'before', privilegeIds: [ids.priv_view_reports] });

    const response = await gateway.graphql(UPDATE_ROLE, {
      token,
      variables: {
        id,
        // Adding a privilege the role has, or removing one it lacks, changes nothing.
        input: {
          description: 'after',
          privilegeIdsToAdd: [ids.priv_code_review, ids.priv_view_reports],
          privilegeIdsToRemove: [ids.priv_user_management],
        },
      },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data!.updateRole).toMatchObject({
      message: `Role ${name} updated`,
      role: { id, name, description: 'after', privileges: [{ name: 'priv_code_review' }, { name: 'priv_view_reports' }] },
    });

    const removal = await gateway.graphql(UPDATE_ROLE, {
      token,
      variables: { id, input: { privilegeIdsToAdd: [], privilegeIdsToRemove: [ids.priv_view_reports] } },
    });
    expect(removal.data!.updateRole.role).toMatchObject({
      description: 'after',
      composite: true,
      privileges: [{ name: 'priv_code_review' }],
    });

    expect(await keycloakRole(name)).toMatchObject({ id, name, description: 'after' });
    expect(await keycloakComposites(id)).toEqual(['priv_code_review']);
    expect(await mirroredRole(id)).toEqual({ name, kind: 'ROLE', description: 'after', privileges: ['priv_code_review'] });
    expect(await auditOf('ROLE_UPDATE', name)).toMatchObject([
      {
        status: 'SUCCEEDED',
        target_id: id,
        details: { description: { from: 'before', to: 'after' }, privilegesAdded: ['priv_code_review'], privilegesRemoved: [] },
      },
      { status: 'SUCCEEDED', details: { privilegesAdded: [], privilegesRemoved: ['priv_view_reports'] } },
    ]);
  });

  it('updateRole changes only what is given: a description alone keeps the privileges, a privilege alone the description', async () => {
    const { id, name } = await createRole({ roleName: unique('partial_'), description: 'before', privilegeIds: [ids.priv_view_reports] });

    const described = await gateway.graphql(UPDATE_ROLE, { token, variables: { id, input: { description: 'after' } } });
    expect(described.errors).toBeUndefined();
    expect(described.data!.updateRole.role).toMatchObject({ description: 'after', privileges: [{ name: 'priv_view_reports' }] });

    const added = await gateway.graphql(UPDATE_ROLE, { token, variables: { id, input: { privilegeIdsToAdd: [ids.priv_code_review] } } });
    expect(added.errors).toBeUndefined();
    expect(added.data!.updateRole.role).toMatchObject({
      description: 'after',
      privileges: [{ name: 'priv_code_review' }, { name: 'priv_view_reports' }],
    });
    expect(await mirroredRole(id)).toEqual({
      name,
      kind: 'ROLE',
      description: 'after',
      privileges: ['priv_code_review', 'priv_view_reports'],
    });
    expect(await keycloakComposites(id)).toEqual(['priv_code_review', 'priv_view_reports']);
  });

  it('updateRole takes an explicit null as left out, for the description and each privilege list', async () => {
    const { id } = await createRole({ roleName: unique('nulls_'), description: 'kept', privilegeIds: [ids.priv_view_reports] });

    const response = await gateway.graphql(UPDATE_ROLE, {
      token,
      variables: { id, input: { description: null, privilegeIdsToAdd: null, privilegeIdsToRemove: [ids.priv_view_reports] } },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data!.updateRole.role).toMatchObject({ description: 'kept', privileges: [] });
    const nothingRemoved = await gateway.graphql(UPDATE_ROLE, {
      token,
      variables: { id, input: { privilegeIdsToAdd: [ids.priv_code_review], privilegeIdsToRemove: null } },
    });
    expect(nothingRemoved.errors).toBeUndefined();
    expect(await keycloakComposites(id)).toEqual(['priv_code_review']);
  });

  it('updateRole answers BAD_USER_INPUT for a privilege’s id (privileges are read-only) and NOT_FOUND for an unknown id', async () => {
    const input = { description: 'hijacked', privilegeIdsToAdd: [], privilegeIdsToRemove: [] };
    const privilege = await gateway.graphql(UPDATE_ROLE, { token, variables: { id: ids.priv_user_management, input } });
    expect(privilege.errors?.[0]).toMatchObject({
      message: 'priv_user_management is a privilege: privileges are predefined and read-only',
      extensions: { code: 'BAD_USER_INPUT', fieldErrors: { id: expect.any(String) } },
    });
    const deletion = await gateway.graphql(DELETE_ROLE, { token, variables: { id: ids.priv_user_management } });
    expect(deletion.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await keycloakRole('priv_user_management')).toMatchObject({ description: 'Manage users, their roles and groups' });
    expect(await mirroredRole(ids.priv_user_management)).toMatchObject({ description: 'Manage users, their roles and groups' });

    const unknown = await gateway.graphql(UPDATE_ROLE, { token, variables: { id: randomUUID(), input } });
    expect(unknown.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    const notAnId = await gateway.graphql(UPDATE_ROLE, { token, variables: { id: 'role_manager', input } });
    expect(notAnId.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { id: expect.any(String) } });
  });

  it('updateRole answers BAD_USER_INPUT for a privilege both added and removed', async () => {
    const { id } = await createRole({ roleName: unique('twice_') });
    const response = await gateway.graphql(UPDATE_ROLE, {
      token,
      variables: { id, input: { privilegeIdsToAdd: [ids.priv_code_review], privilegeIdsToRemove: [ids.priv_code_review] } },
    });
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: { privilegeIdsToRemove: expect.any(String) },
    });
    expect(await keycloakComposites(id)).toEqual([]);
  });

  it('updateRole leaves PostgreSQL unchanged when Keycloak no longer has the role: NOT_FOUND, audit FAILED', async () => {
    const { id, name } = await createRole({ roleName: unique('vanished_'), description: 'kept' });
    await withoutDirectorySync(async () => {
      await keycloakAdmin('DELETE', `/roles-by-id/${id}`);

      const response = await gateway.graphql(UPDATE_ROLE, {
        token,
        variables: { id, input: { description: 'changed', privilegeIdsToAdd: [ids.priv_code_review], privilegeIdsToRemove: [] } },
      });

      expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
      expect(await mirroredRole(id)).toEqual({ name, kind: 'ROLE', description: 'kept', privileges: [] });
      expect(await auditOf('ROLE_UPDATE', name)).toMatchObject([{ status: 'FAILED' }]);
    });
  });

  it('deleteRole removes the role from Keycloak and PostgreSQL', async () => {
    const { id, name } = await createRole({ roleName: unique('doomed_'), privilegeIds: [ids.priv_code_review] });

    const response = await gateway.graphql(DELETE_ROLE, { token, variables: { id } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.deleteRole).toEqual({ message: `Role ${name} deleted`, timestamp: expect.any(String) });
    expect(await keycloakRole(name)).toBeUndefined();
    expect(await mirroredRole(id)).toBeUndefined();
    expect(await sql('select 1 from role_privileges where role_id = $1', [id])).toEqual([]);
    expect(await auditOf('ROLE_DELETE', name)).toMatchObject([
      { status: 'SUCCEEDED', target_id: id, details: { privileges: ['priv_code_review'] } },
    ]);
  });

  it('deleteRole answers CONFLICT naming how many users and groups hold the role, and deletes nothing', async () => {
    const { id, name } = await createRole({ roleName: unique('held_') });
    await createUserThroughGateway(gateway, token, { roleIds: [id] });
    await createUserThroughGateway(gateway, token, { roleIds: [id] });
    const group = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token,
      variables: { input: { groupName: unique('holders-'), roleIds: [id] } },
    });
    expect(group.errors).toBeUndefined();

    const response = await gateway.graphql(DELETE_ROLE, { token, variables: { id } });

    expect(response.errors?.[0]).toMatchObject({
      message: `Role ${name} is assigned to 2 users and 1 group; remove it from them first`,
      extensions: { code: 'CONFLICT', status: 409 },
    });
    expect(await keycloakRole(name)).toMatchObject({ id });
    expect(await mirroredRole(id)).toMatchObject({ name });
    expect(await auditOf('ROLE_DELETE', name)).toEqual([]);
  });

  it('deleteRole refuses role_admin: the gateway depends on it', async () => {
    const response = await gateway.graphql(DELETE_ROLE, { token, variables: { id: ids.role_admin } });
    expect(response.errors?.[0]).toMatchObject({
      message: "Role role_admin cannot be deleted: the gateway's administrators depend on it",
      extensions: { code: 'CONFLICT' },
    });
    expect(await keycloakRole('role_admin')).toMatchObject({ id: ids.role_admin });
    expect(await mirroredRole(ids.role_admin)).toMatchObject({ name: 'role_admin' });
  });

  it('deleteRole re-creates the role in Keycloak when the local delete fails (COMPENSATED); the mirror follows its new id', async () => {
    const { id, name } = await createRole({ roleName: unique('undo_'), description: 'comes back', privilegeIds: [ids.priv_view_reports] });

    await withoutDirectorySync(async () => {
      const response = await refusingWrites('delete', 'realm_roles', 'name', name, () =>
        gateway.graphql(DELETE_ROLE, { token, variables: { id } }),
      );

      expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      const recreated = await keycloakRole(name);
      expect(recreated).toMatchObject({ name, description: 'comes back' });
      expect(recreated!.id).not.toBe(id);
      expect(await keycloakComposites(recreated!.id)).toEqual(['priv_view_reports']);
      expect(await mirroredRole(recreated!.id)).toEqual({
        name,
        kind: 'ROLE',
        description: 'comes back',
        privileges: ['priv_view_reports'],
      });
      expect(await mirroredRole(id)).toBeUndefined();
      expect(await auditOf('ROLE_DELETE', name)).toMatchObject([{ status: 'COMPENSATED', target_id: id }]);
    });
  });

  it('roles, role and privileges read the mirror: displayName without prefix, composite, privileges, userCount', async () => {
    const { id, name } = await createRole({ roleName: unique('counted_'), privilegeIds: [ids.priv_user_management] });
    await createUserThroughGateway(gateway, token, { roleIds: [id] });
    // A role made outside the gateway appears once the directory is synced.
    const outside = unique('role_console_');
    await keycloakAdmin('POST', '/roles', { name: outside });
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

    const response = await gateway.graphql(
      `query($id: ID!, $privilege: ID!) {
        roles { name }
        role(id: $id) { ${ROLE_FIELDS} }
        privilegeAsRole: role(id: $privilege) { id }
        privileges { name displayName description }
      }`,
      { token, variables: { id, privilege: ids.priv_view_reports } },
    );

    expect(response.errors).toBeUndefined();
    const data = response.data!;
    expect(data.roles.map((role: { name: string }) => role.name)).toEqual(expect.arrayContaining(['role_admin', name, outside]));
    expect(data.roles.every((role: { name: string }) => role.name.startsWith('role_'))).toBe(true);
    expect(data.role).toEqual({
      id,
      name,
      displayName: name.slice('role_'.length),
      description: null,
      composite: true,
      privileges: [{ name: 'priv_user_management' }],
      userCount: 1,
    });
    expect(data.privilegeAsRole).toBeNull();
    // A name where an id belongs names nothing: refused at the edge, like any malformed id.
    const notAnId = await gateway.graphql('{ role(id: "role_admin") { id } }', { token });
    expect(notAnId).toMatchObject({
      data: { role: null },
      errors: [{ extensions: { code: 'BAD_USER_INPUT', fieldErrors: { id: expect.any(String) } } }],
    });
    // The catalog's privileges, exactly; other files running beside this one add privileges of
    // their own to the shared realm (privilege-grants.test.ts), which the list shows too.
    const catalog = [
      { name: 'priv_code_review', displayName: 'code_review', description: 'Review code' },
      { name: 'priv_user_management', displayName: 'user_management', description: 'Manage users, their roles and groups' },
      { name: 'priv_view_reports', displayName: 'view_reports', description: 'View reports' },
    ];
    const listed = data.privileges as { name: string; displayName: string }[];
    expect(listed.filter((privilege) => catalog.some(({ name }) => name === privilege.name))).toEqual(catalog);
    for (const privilege of listed) expect(privilege.displayName).toBe(privilege.name.slice('priv_'.length));
    const inKeycloak = (await keycloakAdmin<{ name: string }[]>('GET', '/roles')).body.filter((role) => role.name.startsWith('priv_'));
    expect(sortedNames(inKeycloak)).toEqual(expect.arrayContaining(sortedNames(catalog)));
  });

  it('a user with only priv_user_management may read roles but not create, update or delete one (FORBIDDEN)', async () => {
    const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
    const managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
    const { id, name } = await createRole({ roleName: unique('guarded_') });

    const read = await gateway.graphql('{ roles { name } privileges { name } }', { token: managerToken });
    expect(read.errors).toBeUndefined();
    expect(read.data!.roles.map((role: { name: string }) => role.name)).toContain(name);

    const attempted = unique('role_by_manager_');
    const writes = [
      await gateway.graphql(CREATE_ROLE, { token: managerToken, variables: { input: { roleName: attempted } } }),
      await gateway.graphql(UPDATE_ROLE, {
        token: managerToken,
        variables: { id, input: { description: 'x', privilegeIdsToAdd: [ids.priv_code_review], privilegeIdsToRemove: [] } },
      }),
      await gateway.graphql(DELETE_ROLE, { token: managerToken, variables: { id } }),
    ];
    for (const response of writes) expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(await keycloakRole(attempted)).toBeUndefined();
    expect(await keycloakRole(name)).toMatchObject({ id });
    expect(await keycloakComposites(id)).toEqual([]);
    expect(await mirroredRole(id)).toEqual({ name, kind: 'ROLE', description: null, privileges: [] });

    const anonymous = await gateway.graphql(CREATE_ROLE, { variables: { input: { roleName: attempted } } });
    expect(anonymous.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });
});
