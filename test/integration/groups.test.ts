import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusingWrites, sql } from '../support/database.js';
import {
  auditOf,
  createUserThroughGateway,
  keycloakGroup,
  keycloakGroupMembers,
  keycloakGroupRoles,
  realmRoleIds,
  sortedNames,
  unique,
  withoutDirectorySync,
} from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const CREATE_GROUP = /* GraphQL */ `
  mutation CreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) { message timestamp group { id name userCount roles { name } privileges { name } } }
  }
`;
const UPDATE_USERS = /* GraphQL */ `
  mutation UpdateGroupUsers($id: ID!, $input: UpdateGroupUsersInput!) {
    updateGroupUsers(id: $id, input: $input) { message timestamp }
  }
`;
const UPDATE_ROLES = /* GraphQL */ `
  mutation UpdateGroupRolesPrivileges($id: ID!, $input: UpdateGroupRolesPrivilegesInput!) {
    updateGroupRolesPrivileges(id: $id, input: $input) { message timestamp }
  }
`;
const DELETE_GROUP = /* GraphQL */ `
  mutation DeleteGroup($id: ID!) { deleteGroup(id: $id) { message timestamp } }
`;
const NO_ROLE_CHANGES = { roleIdsToAdd: [], roleIdsToRemove: [], privilegeIdsToAdd: [], privilegeIdsToRemove: [] };

/** What the mirror holds for a group: its name, mapped role and privilege names, member ids. */
async function mirroredGroup(id: string) {
  const [row] = await sql<{ name: string }>('select name from groups where id = $1', [id]);
  const roles = await sql<{ name: string }>(
    'select r.name from group_roles gr join realm_roles r on r.id = gr.role_id where gr.group_id = $1',
    [id],
  );
  const members = await sql<{ user_id: string }>('select user_id from user_groups where group_id = $1', [id]);
  return row && { name: row.name, roles: sortedNames(roles), members: members.map((m) => m.user_id).sort() };
}

describe('groups', () => {
  let gateway: TestGateway;
  let token: string;
  let ids: Record<string, string>;
  beforeAll(async () => {
    gateway = await startTestGateway();
    token = await adminAccessToken();
    ids = await realmRoleIds();
  });
  afterAll(() => gateway?.close());

  async function createGroup(input: Record<string, unknown>) {
    const response = await gateway.graphql(CREATE_GROUP, { token, variables: { input } });
    expect(response.errors).toBeUndefined();
    return response.data!.createGroup.group as { id: string; name: string };
  }

  const newUser = () => createUserThroughGateway(gateway, token);

  it('createGroup creates a top-level group with its roles and privileges, in Keycloak and PostgreSQL', async () => {
    const name = unique('Engineering ');
    const response = await gateway.graphql(CREATE_GROUP, {
      token,
      variables: { input: { groupName: `  ${name} `, roleIds: [ids.role_manager], privilegeIds: [ids.priv_code_review] } },
    });

    expect(response.errors).toBeUndefined();
    const { message, timestamp, group } = response.data!.createGroup;
    expect(message).toBe(`Group ${name} created`);
    expect(Number.isNaN(Date.parse(timestamp))).toBe(false);
    expect(group).toEqual({
      id: expect.any(String),
      name,
      userCount: 0,
      roles: [{ name: 'role_manager' }],
      privileges: [{ name: 'priv_code_review' }],
    });

    expect(await keycloakGroup(name)).toMatchObject({ id: group.id, name });
    expect(await keycloakGroupRoles(group.id)).toEqual(['priv_code_review', 'role_manager']);
    expect(await mirroredGroup(group.id)).toEqual({ name, roles: ['priv_code_review', 'role_manager'], members: [] });
    expect(await auditOf('GROUP_CREATE', name)).toEqual([
      {
        status: 'SUCCEEDED',
        target_id: group.id,
        error: null,
        details: { name, roles: ['role_manager'], privileges: ['priv_code_review'] },
      },
    ]);
  });

  it('I3: createGroup answers BAD_USER_INPUT naming the field (a "/" in a name included), NOT_FOUND for an unknown role id, and creates nothing', async () => {
    const name = unique('refused-');
    const cases: [Record<string, unknown>, string, string][] = [
      [{ groupName: ' ' }, 'BAD_USER_INPUT', 'groupName'],
      [{ groupName: `${name}/child/..` }, 'BAD_USER_INPUT', 'groupName'],
      [{ groupName: name, roleIds: [ids.priv_code_review] }, 'BAD_USER_INPUT', 'roleIds'],
      [{ groupName: name, privilegeIds: [ids.role_manager] }, 'BAD_USER_INPUT', 'privilegeIds'],
      [{ groupName: name, roleIds: ['role_manager'] }, 'BAD_USER_INPUT', 'roleIds'],
      [{ groupName: name, roleIds: [randomUUID()] }, 'NOT_FOUND', ''],
    ];
    for (const [input, code, field] of cases) {
      const response = await gateway.graphql(CREATE_GROUP, { token, variables: { input } });
      expect(response.errors?.[0]?.extensions, JSON.stringify(input)).toMatchObject({
        code,
        ...(field && { fieldErrors: { [field]: expect.any(String) } }),
      });
    }
    expect(await keycloakGroup(name)).toBeUndefined();
    expect(await keycloakGroup(`${name}/child/..`)).toBeUndefined();
    expect(await sql('select 1 from groups where name like $1', [`${name}%`])).toEqual([]);
    expect(await auditOf('GROUP_CREATE', name)).toEqual([]);
  });

  it('createGroup answers CONFLICT for a name the mirror already knows, before writing anything', async () => {
    const { name } = await createGroup({ groupName: unique('twice-') });
    const response = await gateway.graphql(CREATE_GROUP, { token, variables: { input: { groupName: name } } });
    expect(response.errors?.[0]).toMatchObject({ message: `A group named ${name} already exists`, extensions: { code: 'CONFLICT' } });
    expect(await auditOf('GROUP_CREATE', name)).toHaveLength(1);
  });

  it('createGroup leaves PostgreSQL unchanged when Keycloak refuses (a group only Keycloak knows): CONFLICT, audit FAILED', async () => {
    const name = unique('console-made-');
    await withoutDirectorySync(async () => {
      await keycloakAdmin('POST', '/groups', { name });

      const response = await gateway.graphql(CREATE_GROUP, { token, variables: { input: { groupName: name, roleIds: [ids.role_user] } } });

      expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
      const inKeycloak = await keycloakGroup(name);
      expect(await keycloakGroupRoles(inKeycloak!.id)).toEqual([]);
      expect(await sql('select 1 from groups where name = $1', [name])).toEqual([]);
      expect(await auditOf('GROUP_CREATE', name)).toMatchObject([{ status: 'FAILED', error: expect.any(String) }]);
    });
  });

  it('updateGroupUsers adds and removes members in Keycloak and PostgreSQL; groups, userCount and Group.users page through them', async () => {
    const { id, name } = await createGroup({ groupName: unique('members-') });
    const [ann, bob, cy] = [await newUser(), await newUser(), await newUser()];

    const added = await gateway.graphql(UPDATE_USERS, {
      token,
      variables: { id, input: { userIdsToAdd: [ann.id, bob.id, cy.id], userIdsToRemove: [] } },
    });
    expect(added.errors).toBeUndefined();
    expect(added.data!.updateGroupUsers).toEqual({ message: `Users of group ${name} updated`, timestamp: expect.any(String) });
    expect(await keycloakGroupMembers(id)).toEqual([ann.id, bob.id, cy.id].sort());

    const GROUP_USERS = `query($id: ID!, $after: String) {
      group(id: $id) { userCount users(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { email } } } }
    }`;
    const first = await gateway.graphql(GROUP_USERS, { token, variables: { id } });
    expect(first.data!.group).toMatchObject({ userCount: 3, users: { totalCount: 3, pageInfo: { hasNextPage: true } } });
    const second = await gateway.graphql(GROUP_USERS, { token, variables: { id, after: first.data!.group.users.pageInfo.endCursor } });
    expect(second.data!.group.users.pageInfo.hasNextPage).toBe(false);
    const paged = [...first.data!.group.users.edges, ...second.data!.group.users.edges].map((edge: any) => edge.node.email);
    expect(paged).toEqual([ann.email, bob.email, cy.email]);
    // first: null is no page size given: the default one.
    const unsized = await gateway.graphql('query($id: ID!) { group(id: $id) { users(first: null) { edges { node { email } } } } }', {
      token,
      variables: { id },
    });
    expect(unsized.errors).toBeUndefined();
    expect(unsized.data!.group.users.edges.map((edge: any) => edge.node.email)).toEqual(paged);

    const changed = await gateway.graphql(UPDATE_USERS, {
      token,
      // Adding a member again, or removing a non-member, changes nothing.
      variables: { id, input: { userIdsToAdd: [ann.id], userIdsToRemove: [bob.id, (await newUser()).id] } },
    });
    expect(changed.errors).toBeUndefined();
    expect(await keycloakGroupMembers(id)).toEqual([ann.id, cy.id].sort());
    expect(await mirroredGroup(id)).toEqual({ name, roles: [], members: [ann.id, cy.id].sort() });
    const listed = await gateway.graphql('{ groups { id name userCount } }', { token });
    expect(listed.data!.groups).toContainEqual({ id, name, userCount: 2 });
    expect(await auditOf('GROUP_UPDATE_USERS', name)).toMatchObject([
      { status: 'SUCCEEDED', target_id: id, details: { usersAdded: [ann.email, bob.email, cy.email], usersRemoved: [] } },
      { status: 'SUCCEEDED', details: { usersAdded: [], usersRemoved: [bob.email] } },
    ]);
  });

  it('updateGroupRolesPrivileges changes the mappings in Keycloak and PostgreSQL; members’ effectivePrivileges follow', async () => {
    const role = await gateway.graphql('mutation($input: CreateRoleInput!) { createRole(input: $input) { role { id } } }', {
      token,
      variables: { input: { roleName: unique('reporter_'), privilegeIds: [ids.priv_view_reports] } },
    });
    const roleId = role.data!.createRole.role.id;
    const { id, name } = await createGroup({ groupName: unique('mapped-'), roleIds: [roleId], privilegeIds: [ids.priv_code_review] });
    const member = await newUser();
    await gateway.graphql(UPDATE_USERS, { token, variables: { id, input: { userIdsToAdd: [member.id], userIdsToRemove: [] } } });
    const EFFECTIVE = 'query($id: ID!) { user(id: $id) { roles { name } groups { name } effectivePrivileges { name } } }';

    const before = await gateway.graphql(EFFECTIVE, { token, variables: { id: member.id } });
    expect(before.data!.user).toEqual({
      roles: [],
      groups: [{ name }],
      effectivePrivileges: [{ name: 'priv_code_review' }, { name: 'priv_view_reports' }],
    });

    const response = await gateway.graphql(UPDATE_ROLES, {
      token,
      variables: {
        id,
        input: {
          ...NO_ROLE_CHANGES,
          roleIdsToRemove: [roleId],
          privilegeIdsToAdd: [ids.priv_user_management],
          privilegeIdsToRemove: [ids.priv_code_review],
        },
      },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data!.updateGroupRolesPrivileges.message).toBe(`Roles and privileges of group ${name} updated`);

    const after = await gateway.graphql(EFFECTIVE, { token, variables: { id: member.id } });
    expect(after.data!.user.effectivePrivileges).toEqual([{ name: 'priv_user_management' }]);
    expect(await keycloakGroupRoles(id)).toEqual(['priv_user_management']);
    const effectiveInKeycloak = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${member.id}/role-mappings/realm/composite`)).body;
    expect(sortedNames(effectiveInKeycloak).filter((n) => n.startsWith('priv_'))).toEqual(['priv_user_management']);
    expect(await mirroredGroup(id)).toEqual({ name, roles: ['priv_user_management'], members: [member.id] });
    expect(await auditOf('GROUP_UPDATE_ROLES', name)).toMatchObject([
      {
        status: 'SUCCEEDED',
        target_id: id,
        details: { added: ['priv_user_management'], removed: [expect.stringMatching(/^role_reporter_/), 'priv_code_review'] },
      },
    ]);
  });

  it('updateGroupUsers and updateGroupRolesPrivileges change only the lists given', async () => {
    const { id, name } = await createGroup({ groupName: unique('partial-'), privilegeIds: [ids.priv_code_review] });
    const member = await newUser();

    const joined = await gateway.graphql(UPDATE_USERS, { token, variables: { id, input: { userIdsToAdd: [member.id] } } });
    expect(joined.errors).toBeUndefined();
    const mapped = await gateway.graphql(UPDATE_ROLES, { token, variables: { id, input: { privilegeIdsToAdd: [ids.priv_view_reports] } } });
    expect(mapped.errors).toBeUndefined();

    expect(await mirroredGroup(id)).toEqual({ name, roles: ['priv_code_review', 'priv_view_reports'], members: [member.id] });
    expect(await keycloakGroupRoles(id)).toEqual(['priv_code_review', 'priv_view_reports']);
  });

  it('updateGroupRolesPrivileges answers BAD_USER_INPUT for an id of the wrong kind or both added and removed', async () => {
    const { id, name } = await createGroup({ groupName: unique('strict-') });
    const cases: [Record<string, unknown>, string][] = [
      [{ privilegeIdsToAdd: [ids.role_manager] }, 'privilegeIdsToAdd'],
      [{ roleIdsToAdd: [ids.priv_code_review] }, 'roleIdsToAdd'],
      [{ roleIdsToAdd: [ids.role_user], roleIdsToRemove: [ids.role_user] }, 'roleIdsToRemove'],
    ];
    for (const [changes, field] of cases) {
      const response = await gateway.graphql(UPDATE_ROLES, { token, variables: { id, input: { ...NO_ROLE_CHANGES, ...changes } } });
      expect(response.errors?.[0]?.extensions, JSON.stringify(changes)).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { [field]: expect.any(String) },
      });
    }
    expect(await keycloakGroupRoles(id)).toEqual([]);
    expect(await mirroredGroup(id)).toEqual({ name, roles: [], members: [] });
    expect(await auditOf('GROUP_UPDATE_ROLES', name)).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown group, or a user the mirror does not know, before any write', async () => {
    const { id, name } = await createGroup({ groupName: unique('lookup-') });
    const member = await newUser();
    const stranger = await createKeycloakUser(); // in Keycloak only: never signed in, never mirrored

    const responses = [
      await gateway.graphql(UPDATE_USERS, {
        token,
        variables: { id, input: { userIdsToAdd: [member.id, stranger.id], userIdsToRemove: [] } },
      }),
      await gateway.graphql(UPDATE_USERS, {
        token,
        variables: { id: randomUUID(), input: { userIdsToAdd: [member.id], userIdsToRemove: [] } },
      }),
      await gateway.graphql(UPDATE_ROLES, { token, variables: { id: randomUUID(), input: NO_ROLE_CHANGES } }),
      await gateway.graphql(DELETE_GROUP, { token, variables: { id: randomUUID() } }),
    ];

    for (const response of responses) expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(responses[0]!.errors![0]!.message).toBe(`userIdsToAdd: no user with id ${stranger.id}`);
    expect(await keycloakGroupMembers(id)).toEqual([]);
    expect(await mirroredGroup(id)).toEqual({ name, roles: [], members: [] });
    expect(await auditOf('GROUP_UPDATE_USERS', name)).toEqual([]);
  });

  it('updateGroupUsers undoes the members it added when a later one fails in Keycloak: audit FAILED, PostgreSQL unchanged', async () => {
    const { id, name } = await createGroup({ groupName: unique('half-') });
    const kept = await newUser();
    const gone = await newUser();
    await keycloakAdmin('DELETE', `/users/${gone.id}`); // behind the mirror's back

    const response = await gateway.graphql(UPDATE_USERS, {
      token,
      variables: { id, input: { userIdsToAdd: [kept.id, gone.id], userIdsToRemove: [] } },
    });

    expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await keycloakGroupMembers(id)).toEqual([]);
    expect(await mirroredGroup(id)).toEqual({ name, roles: [], members: [] });
    expect(await auditOf('GROUP_UPDATE_USERS', name)).toMatchObject([{ status: 'FAILED' }]);
  });

  it('deleteGroup removes the group, its mappings and memberships from Keycloak and PostgreSQL; the users remain', async () => {
    const { id, name } = await createGroup({ groupName: unique('doomed-'), privilegeIds: [ids.priv_view_reports] });
    const member = await newUser();
    await gateway.graphql(UPDATE_USERS, { token, variables: { id, input: { userIdsToAdd: [member.id], userIdsToRemove: [] } } });

    const response = await gateway.graphql(DELETE_GROUP, { token, variables: { id } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.deleteGroup).toEqual({ message: `Group ${name} deleted`, timestamp: expect.any(String) });
    expect(await keycloakGroup(name)).toBeUndefined();
    expect((await keycloakAdmin('GET', `/users/${member.id}`)).status).toBe(200);
    expect(await mirroredGroup(id)).toBeUndefined();
    expect(
      await sql('select 1 from group_roles where group_id = $1 union all select 1 from user_groups where group_id = $1', [id]),
    ).toEqual([]);
    expect(await sql('select 1 from users where id = $1', [member.id])).toHaveLength(1);
    expect(await auditOf('GROUP_DELETE', name)).toMatchObject([
      { status: 'SUCCEEDED', target_id: id, details: { roles: ['priv_view_reports'], members: 1 } },
    ]);
  });

  it('deleteGroup re-creates the group with its roles and members when the local delete fails (COMPENSATED)', async () => {
    const { id, name } = await createGroup({ groupName: unique('undo-'), roleIds: [ids.role_premium] });
    const member = await newUser();
    await gateway.graphql(UPDATE_USERS, { token, variables: { id, input: { userIdsToAdd: [member.id], userIdsToRemove: [] } } });

    await withoutDirectorySync(async () => {
      const response = await refusingWrites('delete', 'groups', 'name', name, () =>
        gateway.graphql(DELETE_GROUP, { token, variables: { id } }),
      );

      expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
      const recreated = await keycloakGroup(name);
      expect(recreated!.id).not.toBe(id);
      expect(await keycloakGroupRoles(recreated!.id)).toEqual(['role_premium']);
      expect(await keycloakGroupMembers(recreated!.id)).toEqual([member.id]);
      expect(await mirroredGroup(recreated!.id)).toEqual({ name, roles: ['role_premium'], members: [member.id] });
      expect(await mirroredGroup(id)).toBeUndefined();
      expect(await auditOf('GROUP_DELETE', name)).toMatchObject([{ status: 'COMPENSATED', target_id: id }]);
    });
  });

  it('a user with only priv_user_management may read groups but not change them (FORBIDDEN)', async () => {
    const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
    const managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
    const { id, name } = await createGroup({ groupName: unique('guarded-') });
    const member = await newUser();

    const read = await gateway.graphql('query($id: ID!) { groups { name } group(id: $id) { name userCount } }', {
      token: managerToken,
      variables: { id },
    });
    expect(read.errors).toBeUndefined();
    expect(read.data!.group).toEqual({ name, userCount: 0 });

    const attempted = unique('by-manager-');
    const writes = [
      await gateway.graphql(CREATE_GROUP, { token: managerToken, variables: { input: { groupName: attempted } } }),
      await gateway.graphql(UPDATE_USERS, {
        token: managerToken,
        variables: { id, input: { userIdsToAdd: [member.id], userIdsToRemove: [] } },
      }),
      await gateway.graphql(UPDATE_ROLES, {
        token: managerToken,
        variables: { id, input: { ...NO_ROLE_CHANGES, roleIdsToAdd: [ids.role_admin] } },
      }),
      await gateway.graphql(DELETE_GROUP, { token: managerToken, variables: { id } }),
    ];
    for (const response of writes) expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(await keycloakGroup(attempted)).toBeUndefined();
    expect(await keycloakGroupMembers(id)).toEqual([]);
    expect(await keycloakGroupRoles(id)).toEqual([]);
    expect(await mirroredGroup(id)).toEqual({ name, roles: [], members: [] });
  });
});
