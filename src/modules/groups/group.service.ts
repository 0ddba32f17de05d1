import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import { linkChanges, namesOf, noLinkChanges, requireAll } from '../roles/links.js';
import type { RoleService } from '../roles/role.service.js';
import {
  checkCreateGroup,
  checkUpdateGroupRolesPrivileges,
  checkUpdateGroupUsers,
  type CreateGroupInput,
  type UpdateGroupRolesPrivilegesInput,
  type UpdateGroupUsersInput,
} from './group.input.js';
import type { GroupRecord } from './group.type.js';
import type { GroupsDirectory } from './groups.directory.js';
import type { GroupsQueries } from './groups.queries.js';

/** A member as the group writes need it. */
export interface Member {
  id: string;
  email: string;
}

/** The statements the group rules use. */
export type GroupServiceQueries = Pick<
  GroupsQueries,
  | 'list'
  | 'findByIds'
  | 'isTopLevelNameTaken'
  | 'rolesOf'
  | 'memberIdsOf'
  | 'upsert'
  | 'delete'
  | 'changeId'
  | 'changeRoles'
  | 'changeMembers'
> & { within(em: Parameters<GroupsQueries['within']>[0]): GroupServiceQueries };

export interface GroupServiceDeps {
  queries: GroupServiceQueries;
  directory: GroupsDirectory;
  journal: Pick<Journal, 'write'>;
  /** What a role or privilege id an input names is (RoleService.require). */
  roles: Pick<RoleService, 'require'>;
  /** The users behind ids, as the users feature finds them in the mirror. */
  users: { findByIds(ids: readonly string[]): Promise<Member[]> };
}

/**
 * Groups: read from the mirror; written to Keycloak first and then to the mirror, through
 * the journal. Members hold the roles and privileges mapped to the group and to the groups
 * above it. The gateway creates top-level groups; subgroups made in Keycloak's console
 * reach the mirror through the directory sync.
 */
export class GroupService {
  constructor(private readonly deps: GroupServiceDeps) {}

  list(): Promise<GroupRecord[]> {
    return this.deps.queries.list();
  }

  findByIds(ids: readonly string[]): Promise<GroupRecord[]> {
    return this.deps.queries.findByIds(ids);
  }

  /** The groups behind ids given in an input field; NOT_FOUND before any write if one is unknown. */
  require(ids: readonly string[], field: string): Promise<GroupRecord[]> {
    return requireAll(field, 'group', ids, (unique) => this.findByIds(unique));
  }

  async create(input: CreateGroupInput, actorId: string | null): Promise<GroupRecord> {
    checkCreateGroup(input);
    const { queries, directory, journal, roles: roleService } = this.deps;
    const name = input.groupName.trim();
    const roles = await roleService.require('ROLE', input.roleIds ?? [], 'roleIds');
    const privileges = await roleService.require('PRIVILEGE', input.privilegeIds ?? [], 'privilegeIds');
    // Keycloak keeps names unique among siblings: here, among top-level groups.
    if (await queries.isTopLevelNameTaken(name)) throw new AppError('CONFLICT', `A group named ${name} already exists`);
    const mapped = [...roles, ...privileges];

    const id = await journal.write({
      entry: {
        action: 'GROUP_CREATE',
        targetType: 'Group',
        actorId,
        details: { name, roles: namesOf(roles), privileges: namesOf(privileges) },
      },
      keycloak: (undo) => directory.create(name, mapped, undo),
      targetIdOf: (id) => id,
      local: async (em, id) => {
        const tx = queries.within(em);
        await tx.upsert({ id, name, parentId: null });
        await tx.changeRoles(id, { add: mapped, remove: [] });
        return id;
      },
    });
    return { id, name };
  }

  /** Adds and removes members; each user must be in the mirror. */
  async updateUsers(id: string, input: UpdateGroupUsersInput, actorId: string | null): Promise<GroupRecord> {
    checkUpdateGroupUsers(input);
    const { queries, directory, journal } = this.deps;
    const group = await this.requireGroup(id);
    const add = await this.requireUsers(input.userIdsToAdd ?? [], 'userIdsToAdd');
    const remove = await this.requireUsers(input.userIdsToRemove ?? [], 'userIdsToRemove');
    const members = linkChanges(await queries.memberIdsOf(id), add, remove);
    // Nothing to add or remove: answered without a write or a journal entry.
    if (noLinkChanges(members)) return group;

    await journal.write({
      entry: {
        action: 'GROUP_UPDATE_USERS',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, usersAdded: emailsOf(members.add), usersRemoved: emailsOf(members.remove) },
      },
      keycloak: async (undo) => {
        await directory.changeMembers(group, members, undo);
        // Those who left lose the group's roles: the sessions opened with them end.
        for (const user of members.remove) await directory.endSessions(user.id);
      },
      local: (em) => queries.within(em).changeMembers(id, members),
    });
    return group;
  }

  /** Adds and removes the roles (role_*) and privileges (priv_*) mapped to the group. */
  async updateRolesPrivileges(id: string, input: UpdateGroupRolesPrivilegesInput, actorId: string | null): Promise<GroupRecord> {
    checkUpdateGroupRolesPrivileges(input);
    const { queries, directory, journal, roles } = this.deps;
    const group = await this.requireGroup(id);
    const add = [
      ...(await roles.require('ROLE', input.roleIdsToAdd ?? [], 'roleIdsToAdd')),
      ...(await roles.require('PRIVILEGE', input.privilegeIdsToAdd ?? [], 'privilegeIdsToAdd')),
    ];
    const remove = [
      ...(await roles.require('ROLE', input.roleIdsToRemove ?? [], 'roleIdsToRemove')),
      ...(await roles.require('PRIVILEGE', input.privilegeIdsToRemove ?? [], 'privilegeIdsToRemove')),
    ];
    const mapped = linkChanges(
      (await queries.rolesOf(id)).map((role) => role.id),
      add,
      remove,
    );
    if (noLinkChanges(mapped)) return group;

    await journal.write({
      entry: {
        action: 'GROUP_UPDATE_ROLES',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, added: namesOf(mapped.add), removed: namesOf(mapped.remove) },
      },
      keycloak: (undo) => directory.changeRoles(group, mapped, undo),
      local: (em) => queries.within(em).changeRoles(id, mapped),
    });
    return group;
  }

  /** Members simply leave the group; their own roles stay. */
  async delete(id: string, actorId: string | null): Promise<GroupRecord> {
    const { queries, directory, journal } = this.deps;
    const group = await this.requireGroup(id);
    const mapped = await queries.rolesOf(id);
    const memberIds = await queries.memberIdsOf(id);

    await journal.write({
      entry: {
        action: 'GROUP_DELETE',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, roles: namesOf(mapped), members: memberIds.length },
      },
      // The mirror row is still there when the undo runs (the local delete failed): it moves to the new id.
      keycloak: (undo) => directory.delete(group, mapped, memberIds, undo, (newId) => queries.changeId(id, newId)),
      local: (em) => queries.within(em).delete(id),
    });
    return group;
  }

  private async requireGroup(id: string): Promise<GroupRecord> {
    const [group] = await this.findByIds([id]);
    if (!group) throw new AppError('NOT_FOUND', `No group with id ${id}`);
    return group;
  }

  private requireUsers(ids: readonly string[], field: string): Promise<Member[]> {
    return requireAll(field, 'user', ids, (unique) => this.deps.users.findByIds(unique));
  }
}

function emailsOf(users: readonly Member[]): string[] {
  return users.map((user) => user.email);
}
