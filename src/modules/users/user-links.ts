import type { EntityManager } from '@mikro-orm/postgresql';
import type { GroupRecord } from '../groups/group.type.js';
import type { GroupsQueries } from '../groups/groups.queries.js';
import type { LinkChanges } from '../roles/links.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { RolesQueries } from '../roles/roles.queries.js';

/**
 * A user's direct roles (and privileges) and groups. The link tables are the roles' and
 * groups' (user_roles, user_groups): these go through their queries.
 */
export interface UserLinks {
  /** The same statements inside the transaction `em`. */
  within(em: EntityManager): UserLinks;
  roleIdsOf(userId: string): Promise<string[]>;
  groupIdsOf(userId: string): Promise<string[]>;
  rolesOf(userId: string): Promise<RoleRecord[]>;
  groupsOf(userId: string): Promise<GroupRecord[]>;
  changeRoles(userId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  changeGroups(userId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  /** Sets the user's links to those of the ids the mirror has (Keycloak's word, mirrored). */
  replace(userId: string, roleIds: readonly string[], groupIds: readonly string[]): Promise<void>;
}

type LinkQueries = {
  roles: Pick<RolesQueries, 'roleIdsOfUser' | 'rolesOfUser' | 'changeUserRoles' | 'replaceUserRoles'> & {
    within(em: EntityManager): LinkQueries['roles'];
  };
  groups: Pick<GroupsQueries, 'groupIdsOfUser' | 'groupsOfUser' | 'changeUserGroups' | 'replaceUserGroups'> & {
    within(em: EntityManager): LinkQueries['groups'];
  };
};

/** UserLinks through the roles and groups queries. */
export function userLinks({ roles, groups }: LinkQueries): UserLinks {
  return {
    within: (em) => userLinks({ roles: roles.within(em), groups: groups.within(em) }),
    roleIdsOf: (userId) => roles.roleIdsOfUser(userId),
    groupIdsOf: (userId) => groups.groupIdsOfUser(userId),
    rolesOf: (userId) => roles.rolesOfUser(userId),
    groupsOf: (userId) => groups.groupsOfUser(userId),
    changeRoles: (userId, changes) => roles.changeUserRoles(userId, changes),
    changeGroups: (userId, changes) => groups.changeUserGroups(userId, changes),
    async replace(userId, roleIds, groupIds) {
      await roles.replaceUserRoles(userId, roleIds);
      await groups.replaceUserGroups(userId, groupIds);
    },
  };
}
