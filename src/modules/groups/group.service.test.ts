import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FakeJournal } from '../../journal/journal.fake.js';
import { RoleService } from '../roles/role.service.js';
import type { RoleRecord } from '../roles/role.type.js';
import { FakeRolesDirectory } from '../roles/roles.directory.fake.js';
import { FakeRolesQueries, MirrorTables } from '../roles/roles.queries.fake.js';
import { GroupService, type Member } from './group.service.js';
import { FakeGroupsDirectory } from './groups.directory.fake.js';
import { FakeGroupsQueries } from './groups.queries.fake.js';
import { failure } from '../../../test/support/failure.js';

/** A realm and its mirror in step: a role, a privilege, a group with both, and three users. */
function setUp() {
  const tables = new MirrorTables();
  const roleDirectory = new FakeRolesDirectory();
  const directory = new FakeGroupsDirectory();
  const journal = new FakeJournal();
  const mirrorRole = (name: string): RoleRecord => {
    const { id } = roleDirectory.seed(name);
    const role: RoleRecord = { id, name, kind: name.startsWith('priv_') ? 'PRIVILEGE' : 'ROLE', description: null };
    tables.roles.set(id, role);
    return role;
  };
  const support = mirrorRole('role_support');
  const review = mirrorRole('priv_code_review');
  const users = new Map<string, Member>(
    ['ann', 'bob', 'cy'].map((name) => {
      const id = randomUUID();
      return [id, { id, email: `${name}@example.test` }];
    }),
  );
  const [ann, bob, cy] = [...users.values()] as [Member, Member, Member];
  const roles = new RoleService({ queries: new FakeRolesQueries(tables), directory: roleDirectory, journal });
  const service = new GroupService({
    queries: new FakeGroupsQueries(tables),
    directory,
    journal,
    roles,
    users: { findByIds: async (ids) => ids.flatMap((id) => users.get(id) ?? []) },
  });
  return { service, directory, tables, journal, support, review, ann, bob, cy };
}

/** A group made through the service, with `members` in it on both sides. */
async function groupWith(world: ReturnType<typeof setUp>, name: string, members: Member[] = []) {
  const group = await world.service.create({ groupName: name, roleIds: [world.support.id], privilegeIds: [world.review.id] }, null);
  if (members.length > 0) await world.service.updateUsers(group.id, { userIdsToAdd: members.map((m) => m.id), userIdsToRemove: [] }, null);
  world.directory.calls.length = 0;
  return group;
}

describe('GroupService', () => {
  it('createGroup creates a top-level group with its roles and privileges, in Keycloak and the mirror', async () => {
    const world = setUp();
    const { service, directory, tables, journal, support, review } = world;

    const group = await service.create({ groupName: ' Support ', roleIds: [support.id], privilegeIds: [review.id] }, 'actor-1');

    expect(group.name).toBe('Support');
    expect([...directory.groups.get(group.id)!.roleIds]).toEqual([support.id, review.id]);
    expect(tables.groups.get(group.id)).toEqual({ id: group.id, name: 'Support', parentId: null });
    expect(tables.groupRoles).toEqual([
      [group.id, support.id],
      [group.id, review.id],
    ]);
    expect(journal.entries.at(-1)).toMatchObject({
      action: 'GROUP_CREATE',
      targetId: group.id,
      status: 'SUCCEEDED',
      details: { roles: ['role_support'], privileges: ['priv_code_review'] },
    });
  });

  it('createGroup answers CONFLICT for a top-level name the mirror knows, before any Keycloak call', async () => {
    const world = setUp();
    await groupWith(world, 'Support');

    expect((await failure(world.service.create({ groupName: 'Support' }, null))).code).toBe('CONFLICT');
    expect(world.directory.calls).toEqual([]);
  });

  it('createGroup answers BAD_USER_INPUT for a privilege given as a role, before any Keycloak call', async () => {
    const { service, directory, review } = setUp();

    const error = await failure(service.create({ groupName: 'Support', roleIds: [review.id] }, null));

    expect(error.code).toBe('BAD_USER_INPUT');
    expect(directory.groups.size).toBe(0);
  });

  it('updateGroupUsers and updateGroupRolesPrivileges change only the lists given', async () => {
    const world = setUp();
    const { service, directory, ann, cy, support } = world;
    const group = await groupWith(world, 'Support', [ann]);

    await service.updateUsers(group.id, { userIdsToAdd: [cy.id] }, null);
    await service.updateRolesPrivileges(group.id, { roleIdsToRemove: [support.id] }, null);

    expect(directory.calls).toEqual([`add ${cy.id} to Support`, 'change roles of Support: -role_support']);
    expect([...directory.groups.get(group.id)!.memberIds].sort()).toEqual([ann.id, cy.id].sort());
  });

  it('updateGroupUsers adds and removes only real changes, and ends the sessions of those who left', async () => {
    const world = setUp();
    const { service, directory, tables, journal, ann, bob, cy } = world;
    const group = await groupWith(world, 'Support', [ann, bob]);

    await service.updateUsers(group.id, { userIdsToAdd: [ann.id, cy.id], userIdsToRemove: [bob.id] }, null);

    expect(directory.calls).toEqual([`add ${cy.id} to Support`, `remove ${bob.id} from Support`]);
    expect([...directory.groups.get(group.id)!.memberIds].sort()).toEqual([ann.id, cy.id].sort());
    expect(
      tables.userGroups
        .filter(([, g]) => g === group.id)
        .map(([user]) => user)
        .sort(),
    ).toEqual([ann.id, cy.id].sort());
    expect(directory.sessionsEnded).toEqual([bob.id]);
    expect(journal.entries.at(-1)).toMatchObject({ details: { usersAdded: ['cy@example.test'], usersRemoved: ['bob@example.test'] } });
  });

  it('updateGroupUsers answers NOT_FOUND for a user the mirror does not know, before any write', async () => {
    const world = setUp();
    const group = await groupWith(world, 'Support');
    const unknown = randomUUID();

    const error = await failure(world.service.updateUsers(group.id, { userIdsToAdd: [world.ann.id, unknown], userIdsToRemove: [] }, null));

    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain(unknown);
    expect(world.directory.calls).toEqual([]);
  });

  it('updateGroupUsers takes out the members it added when a later one fails in Keycloak: FAILED, mirror unchanged', async () => {
    const world = setUp();
    const { service, directory, tables, journal, ann, bob } = world;
    const group = await groupWith(world, 'Support');
    directory.failing.add(`add ${bob.id} to Support`);

    await expect(service.updateUsers(group.id, { userIdsToAdd: [ann.id, bob.id], userIdsToRemove: [] }, null)).rejects.toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
    });

    expect(directory.groups.get(group.id)!.memberIds.size).toBe(0);
    expect(tables.userGroups).toEqual([]);
    expect(journal.entries.at(-1)?.status).toBe('FAILED');
  });

  it('updateGroupRolesPrivileges changes only what differs, in Keycloak and the mirror', async () => {
    const world = setUp();
    const { service, directory, tables, support, review } = world;
    const group = await groupWith(world, 'Support');

    await service.updateRolesPrivileges(
      group.id,
      { roleIdsToAdd: [support.id], roleIdsToRemove: [], privilegeIdsToAdd: [], privilegeIdsToRemove: [review.id] },
      null,
    );

    expect(directory.calls).toEqual(['change roles of Support: -priv_code_review']);
    expect([...directory.groups.get(group.id)!.roleIds]).toEqual([support.id]);
    expect(tables.groupRoles).toEqual([[group.id, support.id]]);
  });

  it('updateGroupRolesPrivileges answers BAD_USER_INPUT for a role given as a privilege', async () => {
    const world = setUp();
    const group = await groupWith(world, 'Support');

    const error = await failure(
      world.service.updateRolesPrivileges(
        group.id,
        { roleIdsToAdd: [], roleIdsToRemove: [], privilegeIdsToAdd: [world.support.id], privilegeIdsToRemove: [] },
        null,
      ),
    );

    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toContain('privilegeIdsToAdd');
  });

  it('deleteGroup answers NOT_FOUND for an unknown group', async () => {
    const { service } = setUp();

    expect((await failure(service.delete(randomUUID(), null))).code).toBe('NOT_FOUND');
  });

  it('deleteGroup re-creates the group with its roles and members when the local delete fails, and the mirror follows its new id: COMPENSATED', async () => {
    const world = setUp();
    const { service, directory, tables, journal, support, review, ann } = world;
    const group = await groupWith(world, 'Support', [ann]);
    tables.failing.add('delete group');

    await expect(service.delete(group.id, null)).rejects.toThrow();

    const [again] = [...directory.groups.values()];
    expect(again!.id).not.toBe(group.id);
    expect([...again!.roleIds]).toEqual([support.id, review.id]);
    expect([...again!.memberIds]).toEqual([ann.id]);
    expect(tables.groups.has(group.id)).toBe(false);
    expect(tables.groups.get(again!.id)?.name).toBe('Support');
    expect(tables.userGroups).toEqual([[ann.id, again!.id]]);
    expect(journal.entries.at(-1)?.status).toBe('COMPENSATED');
  });

  it('deleteGroup removes the group from Keycloak and the mirror; its members remain users', async () => {
    const world = setUp();
    const { service, directory, tables, journal, ann } = world;
    const group = await groupWith(world, 'Support', [ann]);

    await service.delete(group.id, null);

    expect(directory.groups.size).toBe(0);
    expect(tables.groups.size).toBe(0);
    expect(tables.userGroups).toEqual([]);
    expect(journal.entries.at(-1)).toMatchObject({ action: 'GROUP_DELETE', status: 'SUCCEEDED', details: { members: 1 } });
  });
});
