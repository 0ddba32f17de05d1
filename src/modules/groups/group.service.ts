import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { AppError } from '../../errors.js';
import { endSessions, type Journal, type UndoLog } from '../../journal/journal.js';
import {
  applyLinkChanges,
  linkChanges,
  mirrorLinkChanges,
  namesOf,
  requireAll,
  toMapping,
  undoDeletion,
} from '../roles/directory-writes.js';
import { ROLE_COLUMNS } from '../roles/role.loader.js';
import type { RoleService } from '../roles/role.service.js';
import type { RoleRecord } from '../roles/role.type.js';
import { GroupEntity, GroupRoleEntity, UserGroupEntity } from './group.entity.js';
import {
  checkCreateGroup,
  checkUpdateGroupRolesPrivileges,
  checkUpdateGroupUsers,
  type CreateGroupInput,
  type UpdateGroupRolesPrivilegesInput,
  type UpdateGroupUsersInput,
} from './group.input.js';
import type { GroupRecord } from './group.type.js';

/** A member as the group writes need it. */
interface Member {
  id: string;
  email: string;
}

/**
 * Groups: read from the mirror; written to Keycloak first and then to the mirror, through
 * the journal. Members hold the roles and privileges mapped to the group and to the groups
 * above it. The gateway creates top-level groups; subgroups made in Keycloak's console
 * reach the mirror through the directory sync.
 */
export class GroupService {
  constructor(
    private readonly em: EntityManager,
    private readonly keycloak: KeycloakAdminClient,
    private readonly journal: Journal,
    private readonly roles: RoleService,
  ) {}

  list(): Promise<GroupRecord[]> {
    return selectRows(this.em, 'select id, name from groups order by name', []);
  }

  findByIds(ids: readonly string[]): Promise<GroupRecord[]> {
    return selectRows(this.em, 'select id, name from groups where id in (?)', [ids]);
  }

  /** The groups behind ids given in an input field; NOT_FOUND before any write if one is unknown. */
  require(ids: readonly string[], field: string): Promise<GroupRecord[]> {
    return requireAll(field, 'group', ids, (unique) => this.findByIds(unique));
  }

  async create(input: CreateGroupInput, actorId: string | null): Promise<GroupRecord> {
    checkCreateGroup(input);
    const name = input.groupName.trim();
    const roles = await this.roles.require('ROLE', input.roleIds ?? [], 'roleIds');
    const privileges = await this.roles.require('PRIVILEGE', input.privilegeIds ?? [], 'privilegeIds');
    await this.requireNameFree(name);
    const mapped = [...roles, ...privileges];

    const id = await this.journal.write({
      entry: {
        action: 'GROUP_CREATE',
        targetType: 'Group',
        actorId,
        details: { name, roles: namesOf(roles), privileges: namesOf(privileges) },
      },
      keycloak: (undo) => this.createInKeycloak(name, mapped, [], undo),
      targetIdOf: (id) => id,
      local: async (em, id) => {
        // An upsert: the directory sync may have mirrored the new group already.
        await em.upsert(GroupEntity, { id, name });
        await mirrorLinkChanges(em, GroupRoleEntity, ['group', id], 'role', { add: mapped, remove: [] });
        return id;
      },
    });
    return { id, name };
  }

  /** Adds and removes members; each user must be in the mirror. */
  async updateUsers(id: string, input: UpdateGroupUsersInput, actorId: string | null): Promise<GroupRecord> {
    checkUpdateGroupUsers(input);
    const group = await this.requireGroup(id);
    const add = await this.requireUsers(input.userIdsToAdd, 'userIdsToAdd');
    const remove = await this.requireUsers(input.userIdsToRemove, 'userIdsToRemove');
    const members = linkChanges(await this.membersOf(id), add, remove);

    await this.journal.write({
      entry: {
        action: 'GROUP_UPDATE_USERS',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, usersAdded: emailsOf(members.add), usersRemoved: emailsOf(members.remove) },
      },
      keycloak: async (undo) => {
        await applyLinkChanges(
          undo,
          `members of ${group.name}`,
          members,
          ([user]) => this.keycloak.users.addToGroup({ id: user.id, groupId: id }),
          ([user]) => this.keycloak.users.delFromGroup({ id: user.id, groupId: id }),
          // Keycloak adds and removes members one per call.
          { oneByOne: true },
        );
        // Those who left lose the group's roles: the sessions opened with them end.
        for (const user of members.remove) await endSessions(this.keycloak, user.id);
      },
      local: (em) => mirrorLinkChanges(em, UserGroupEntity, ['group', id], 'user', members),
    });
    return group;
  }

  /** Adds and removes the roles (role_*) and privileges (priv_*) mapped to the group. */
  async updateRolesPrivileges(id: string, input: UpdateGroupRolesPrivilegesInput, actorId: string | null): Promise<GroupRecord> {
    checkUpdateGroupRolesPrivileges(input);
    const group = await this.requireGroup(id);
    const add = [
      ...(await this.roles.require('ROLE', input.roleIdsToAdd, 'roleIdsToAdd')),
      ...(await this.roles.require('PRIVILEGE', input.privilegeIdsToAdd, 'privilegeIdsToAdd')),
    ];
    const remove = [
      ...(await this.roles.require('ROLE', input.roleIdsToRemove, 'roleIdsToRemove')),
      ...(await this.roles.require('PRIVILEGE', input.privilegeIdsToRemove, 'privilegeIdsToRemove')),
    ];
    const mapped = linkChanges(await this.mappedRolesOf(id), add, remove);

    await this.journal.write({
      entry: {
        action: 'GROUP_UPDATE_ROLES',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, added: namesOf(mapped.add), removed: namesOf(mapped.remove) },
      },
      keycloak: (undo) =>
        applyLinkChanges(
          undo,
          `roles of ${group.name}`,
          mapped,
          (roles) => this.keycloak.groups.addRealmRoleMappings({ id, roles: roles.map(toMapping) }),
          (roles) => this.keycloak.groups.delRealmRoleMappings({ id, roles: roles.map(toMapping) }),
        ),
      local: (em) => mirrorLinkChanges(em, GroupRoleEntity, ['group', id], 'role', mapped),
    });
    return group;
  }

  /** Members simply leave the group; their own roles stay. */
  async delete(id: string, actorId: string | null): Promise<GroupRecord> {
    const group = await this.requireGroup(id);
    const mapped = await this.mappedRolesOf(id);
    const members = await this.membersOf(id);

    await this.journal.write({
      entry: {
        action: 'GROUP_DELETE',
        targetType: 'Group',
        targetId: id,
        actorId,
        details: { name: group.name, roles: namesOf(mapped), members: members.length },
      },
      keycloak: async (undo) => {
        await this.keycloak.groups.del({ id });
        undoDeletion(undo, `group ${group.name}`, this.em, GroupEntity, id, () => this.createInKeycloak(group.name, mapped, members));
      },
      local: (em) => em.nativeDelete(GroupEntity, { id }),
    });
    return group;
  }

  /** Creates a top-level group in Keycloak with its role mappings and members; returns its id. */
  private async createInKeycloak(name: string, mapped: RoleRecord[], members: Member[], undo?: UndoLog): Promise<string> {
    const { id } = await this.keycloak.groups.create({ name });
    // Deleting the group also drops the mappings and memberships added below: one undo covers every step.
    undo?.push(`delete group ${name}`, () => this.keycloak.groups.del({ id }));
    if (mapped.length > 0) await this.keycloak.groups.addRealmRoleMappings({ id, roles: mapped.map(toMapping) });
    for (const member of members) await this.keycloak.users.addToGroup({ id: member.id, groupId: id });
    return id;
  }

  private async requireGroup(id: string): Promise<GroupRecord> {
    const [group] = await this.findByIds([id]);
    if (!group) throw new AppError('NOT_FOUND', `No group with id ${id}`);
    return group;
  }

  private async requireNameFree(name: string): Promise<void> {
    // Keycloak keeps names unique among siblings: here, among top-level groups.
    const [taken] = await selectRows(this.em, 'select 1 from groups where name = ? and parent_id is null', [name]);
    if (taken) throw new AppError('CONFLICT', `A group named ${name} already exists`);
  }

  private requireUsers(ids: readonly string[], field: string): Promise<Member[]> {
    return requireAll(field, 'user', ids, (unique) => selectRows(this.em, 'select id, email from users where id in (?)', [unique]));
  }

  private membersOf(id: string): Promise<Member[]> {
    return selectRows(
      this.em,
      'select u.id, u.email from user_groups ug join users u on u.id = ug.user_id where ug.group_id = ?',
      [id],
    );
  }

  private mappedRolesOf(id: string): Promise<RoleRecord[]> {
    return selectRows(
      this.em,
      `select ${ROLE_COLUMNS} from group_roles gr join realm_roles r on r.id = gr.role_id where gr.group_id = ?`,
      [id],
    );
  }
}

function emailsOf(users: readonly Member[]): string[] {
  return users.map((user) => user.email);
}
