import { statementsOn } from '../../db/loaders.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { LinkChanges } from '../roles/links.js';
import { changeLinks, replaceLinks, ROLE_COLUMNS, type Keyed, type LinkTable } from '../roles/roles.queries.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { GroupRecord, GroupState } from './group.type.js';

/*
 * The only code that reads or writes the tables of groups: groups, group_roles (the roles
 * and privileges mapped to a group) and user_groups (its members).
 */

export interface GroupsQueries {
  /** The same statements on `em`, such as the transaction of a journal's local commit. */
  within(em: EntityManager): GroupsQueries;

  list(): Promise<GroupRecord[]>;
  findByIds(ids: readonly string[]): Promise<GroupRecord[]>;
  /** Keycloak keeps names unique among siblings: this asks among top-level groups. */
  isTopLevelNameTaken(name: string): Promise<boolean>;
  /** The roles and privileges mapped to a group. */
  rolesOf(groupId: string): Promise<RoleRecord[]>;
  memberIdsOf(groupId: string): Promise<string[]>;
  /** Every group's id, for the reconciler's walk over memberships. */
  ids(): Promise<string[]>;

  /** Batched reads for the loaders; each row keyed by the id it was asked for. */
  groupsByUserIds(userIds: readonly string[]): Promise<Keyed<GroupRecord>[]>;
  rolesByGroupIds(groupIds: readonly string[]): Promise<Keyed<RoleRecord>[]>;
  userCountsByGroupIds(groupIds: readonly string[]): Promise<{ key: string; count: string | number }[]>;

  /** Every mirrored group with its parent and mappings, for the directory sync to compare with Keycloak. */
  states(): Promise<GroupState[]>;

  /** Inserts the group, or updates it when the directory sync mirrored it already. */
  upsert(group: { id: string; name: string; parentId: string | null }): Promise<void>;
  delete(groupId: string): Promise<void>;
  /** Moves a row to a new id (a deletion undone in Keycloak); its links follow (foreign keys cascade on update). */
  changeId(groupId: string, newId: string): Promise<void>;
  changeRoles(groupId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  /** Sets a group's mappings to what Keycloak holds, keeping only roles the mirror has. */
  replaceRoles(groupId: string, roleIds: readonly string[]): Promise<void>;
  changeMembers(groupId: string, userIds: LinkChanges<{ id: string }>): Promise<void>;

  groupIdsOfUser(userId: string): Promise<string[]>;
  /** The user's groups, by name. */
  groupsOfUser(userId: string): Promise<GroupRecord[]>;
  changeUserGroups(userId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  /** Sets a user's groups to those of `groupIds` the mirror has. */
  replaceUserGroups(userId: string, groupIds: readonly string[]): Promise<void>;
}

const LINKS = {
  roles: { table: 'group_roles', owner: 'group_id', target: 'role_id' },
  members: { table: 'user_groups', owner: 'group_id', target: 'user_id' },
  userGroups: { table: 'user_groups', owner: 'user_id', target: 'group_id' },
} satisfies Record<string, LinkTable>;

/** The groups queries on PostgreSQL through `em`. */
export function groupsQueries(em: EntityManager): GroupsQueries {
  // Inside `within(tx)`, a read must see the transaction's writes.
  const { rows, run } = statementsOn(em);
  const idsOf = (found: readonly { id: string }[]) => found.map(({ id }) => id);

  return {
    within: (other) => groupsQueries(other),

    list: () => rows('select id, name from groups order by name'),
    findByIds: async (groupIds) => (groupIds.length === 0 ? [] : rows('select id, name from groups where id in (?)', [groupIds])),
    isTopLevelNameTaken: async (name) => (await rows('select 1 from groups where name = ? and parent_id is null', [name])).length > 0,
    rolesOf: (groupId) =>
      rows(`select ${ROLE_COLUMNS} from group_roles gr join realm_roles r on r.id = gr.role_id where gr.group_id = ?`, [groupId]),
    memberIdsOf: async (groupId) =>
      idsOf(await rows<{ id: string }>('select user_id as id from user_groups where group_id = ?', [groupId])),
    ids: async () => idsOf(await rows<{ id: string }>('select id from groups')),

    // Each link's group looked up by its key (LATERAL, `offset 0` so that it stays a lookup):
    // a plain join hashed every group, a cost that grew with the directory, not the page.
    groupsByUserIds: (userIds) =>
      rows(
        `select ug.user_id as key, g.id, g.name from user_groups ug
           join lateral (select id, name from groups where id = ug.group_id offset 0) g on true
          where ug.user_id in (?) order by g.name`,
        [userIds],
      ),
    rolesByGroupIds: (groupIds) =>
      rows(
        `select gr.group_id as key, ${ROLE_COLUMNS}
           from group_roles gr join realm_roles r on r.id = gr.role_id
          where gr.group_id in (?) order by r.name`,
        [groupIds],
      ),
    userCountsByGroupIds: (groupIds) =>
      rows('select group_id as key, count(*) from user_groups where group_id in (?) group by group_id', [groupIds]),

    states: () =>
      rows(
        `select g.id, g.name, g.parent_id as "parentId",
                array(select gr.role_id::text from group_roles gr where gr.group_id = g.id order by gr.role_id::text collate "C") as "roleIds"
           from groups g`,
      ),

    upsert: ({ id, name, parentId }) =>
      run(
        'insert into groups (id, name, parent_id) values (?, ?, ?) on conflict (id) do update set name = excluded.name, parent_id = excluded.parent_id',
        [id, name, parentId],
      ),
    delete: (groupId) => run('delete from groups where id = ?', [groupId]),
    changeId: (groupId, newId) => run('update groups set id = ? where id = ?', [newId, groupId]),
    changeRoles: (groupId, changes) => changeLinks(run, LINKS.roles, groupId, changes),
    replaceRoles: (groupId, roleIds) => replaceLinks(run, LINKS.roles, groupId, roleIds, 'realm_roles where true'),
    changeMembers: (groupId, userIds) => changeLinks(run, LINKS.members, groupId, userIds),

    groupIdsOfUser: async (userId) =>
      idsOf(await rows<{ id: string }>('select group_id as id from user_groups where user_id = ?', [userId])),
    groupsOfUser: (userId) =>
      rows('select g.id, g.name from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = ? order by g.name', [userId]),
    changeUserGroups: (userId, changes) => changeLinks(run, LINKS.userGroups, userId, changes),
    replaceUserGroups: (userId, groupIds) => replaceLinks(run, LINKS.userGroups, userId, groupIds, 'groups where true'),
  };
}
