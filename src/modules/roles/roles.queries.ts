import { statementsOn } from '../../db/loaders.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RealmRoleKind } from './role.entity.js';
import type { LinkChanges } from './links.js';
import type { RoleRecord, RoleState } from './role.type.js';

/*
 * The only code that reads or writes the tables of roles and privileges: realm_roles,
 * role_privileges, role_composites and user_roles (a user's direct roles and privileges).
 */

/** A RoleRecord's columns, from realm_roles aliased r. */
export const ROLE_COLUMNS = 'r.id, r.name, r.kind, r.description';

/** A row that belongs to the subject `key` (a user, a group, a role) of a batched read. */
export type Keyed<T> = T & { key: string };

/** What effective roles are asked for: users, or what granting a group or a role gives. */
export type EffectiveRolesOf = 'user' | 'group' | 'role';

const NOTHING = 'select null::uuid, null::uuid where false';

/**
 * Where the closure starts, for each kind of subject: the (key, group_id) pairs of the
 * groups it is in, and the (key, role_id) pairs of the roles it holds directly. A user is
 * in its groups and holds its direct roles and privileges; granting a group puts one in
 * that group; granting a role gives that role.
 */
const SEEDS: Record<EffectiveRolesOf, { groups: string; roles: string }> = {
  user: {
    groups: 'select ug.user_id, ug.group_id from user_groups ug where ug.user_id in (?)',
    roles: 'select ur.user_id, ur.role_id from user_roles ur where ur.user_id in (?)',
  },
  group: { groups: 'select g.id, g.id from groups g where g.id in (?)', roles: NOTHING },
  role: { groups: NOTHING, roles: 'select r.id, r.id from realm_roles r where r.id in (?)' },
};

/**
 * Effective realm roles (role_* and priv_* alike), computed the one way Keycloak computes
 * the realm roles of a token: the roles held directly, the roles of every group held and
 * of each of that group's ancestors, then the closure of composite links: role →
 * privilege (role_privileges) and every other composite (role_composites). One statement
 * for any number of `ids`; each row carries the subject's id as `key`. `union` keeps each
 * (key, role) once, which also ends a cycle of composites. Every authorization rule about
 * what someone holds or would be given, and `User.effectivePrivileges`, go through here.
 * The groups and their roles are looked up per group reached (LATERAL, `offset 0` keeping
 * PostgreSQL from flattening it back into a join): it cannot estimate a recursive CTE's size
 * and otherwise hashed every group and every group's roles, a cost that grew with the
 * directory rather than with the users asked about (npm run bench -- --scale).
 */
export function selectEffectiveRoles(em: EntityManager, of: EffectiveRolesOf, ids: readonly string[]): Promise<Keyed<RoleRecord>[]> {
  const { groups, roles } = SEEDS[of];
  const params = [groups, roles].filter((seed) => seed !== NOTHING).map(() => ids);
  return em.execute(
    `with recursive
       joined(key, group_id) as (
         ${groups}
         union
         select joined.key, g.parent_id from joined
           cross join lateral (select parent_id from groups where id = joined.group_id and parent_id is not null offset 0) g
       ),
       reached(key, role_id) as (
         ${roles}
         union
         select joined.key, gr.role_id from joined
           cross join lateral (select role_id from group_roles where group_id = joined.group_id offset 0) gr
         union
         select reached.key, link.child_id
           from reached
           join (select role_id, privilege_id as child_id from role_privileges
                 union all select role_id, child_id from role_composites) link on link.role_id = reached.role_id
       )
     select reached.key, ${ROLE_COLUMNS} from reached join realm_roles r on r.id = reached.role_id order by r.name`,
    params,
  ) as Promise<Keyed<RoleRecord>[]>;
}

export interface RolesQueries {
  /** The same statements on `em`, such as the transaction of a journal's local commit. */
  within(em: EntityManager): RolesQueries;

  list(kind: RealmRoleKind): Promise<RoleRecord[]>;
  findByIds(ids: readonly string[]): Promise<RoleRecord[]>;
  isNameTaken(name: string): Promise<boolean>;
  /** How many users hold the role directly, and how many groups have it mapped. */
  countHolders(roleId: string): Promise<{ users: number; groups: number }>;
  /** The privileges a role is a composite of. */
  privilegesOf(roleId: string): Promise<RoleRecord[]>;

  /** Batched reads for the loaders; each row keyed by the id it was asked for. */
  privilegesByRoleIds(roleIds: readonly string[]): Promise<Keyed<RoleRecord>[]>;
  /** Roles (role_*, not privileges) assigned to each user directly. */
  directRolesByUserIds(userIds: readonly string[]): Promise<Keyed<RoleRecord>[]>;
  userCountsByRoleIds(roleIds: readonly string[]): Promise<{ key: string; count: string | number }[]>;
  /** selectEffectiveRoles. */
  effectiveRoles(of: EffectiveRolesOf, ids: readonly string[]): Promise<Keyed<RoleRecord>[]>;

  /** Every mirrored role with its links, for the directory sync to compare with Keycloak. */
  states(): Promise<RoleState[]>;

  /** Inserts the role, or updates it when the directory sync mirrored it already. */
  upsert(role: RoleRecord): Promise<void>;
  setDescription(roleId: string, description: string | null): Promise<void>;
  delete(roleId: string): Promise<void>;
  /** Moves a row to a new id (a deletion undone in Keycloak); its links follow (foreign keys cascade on update). */
  changeId(roleId: string, newId: string): Promise<void>;
  changePrivileges(roleId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  /** Sets a role's links to what Keycloak holds, keeping only targets the mirror has (others are not managed). */
  replaceLinks(roleId: string, privilegeIds: readonly string[], compositeIds: readonly string[]): Promise<void>;

  /** Ids of the roles and privileges a user holds directly. */
  roleIdsOfUser(userId: string): Promise<string[]>;
  /** The user's direct roles and privileges, by name. */
  rolesOfUser(userId: string): Promise<RoleRecord[]>;
  changeUserRoles(userId: string, changes: LinkChanges<{ id: string }>): Promise<void>;
  /** Sets a user's direct roles to those of `roleIds` the mirror has. */
  replaceUserRoles(userId: string, roleIds: readonly string[]): Promise<void>;
  /** Ids of the users holding a role directly. */
  holderIdsOf(roleId: string): Promise<string[]>;
  changeHolders(roleId: string, userIds: LinkChanges<{ id: string }>): Promise<void>;
}

/** The roles queries on PostgreSQL through `em`. */
export function rolesQueries(em: EntityManager): RolesQueries {
  // Inside `within(tx)`, a read must see the transaction's writes.
  const { rows, run } = statementsOn(em);
  const ids = (changes: readonly { id: string }[]) => changes.map(({ id }) => id);

  return {
    within: (other) => rolesQueries(other),

    list: (kind) => rows(`select ${ROLE_COLUMNS} from realm_roles r where r.kind = ? order by r.name`, [kind]),
    findByIds: async (roleIds) =>
      roleIds.length === 0 ? [] : rows(`select ${ROLE_COLUMNS} from realm_roles r where r.id in (?)`, [roleIds]),
    isNameTaken: async (name) => (await rows('select 1 from realm_roles where name = ?', [name])).length > 0,
    async countHolders(roleId) {
      const [counts] = await rows<{ users: string; groups: string }>(
        `select (select count(*) from user_roles where role_id = ?) as users,
                (select count(*) from group_roles where role_id = ?) as groups`,
        [roleId, roleId],
      );
      return { users: Number(counts!.users), groups: Number(counts!.groups) };
    },
    privilegesOf: (roleId) =>
      rows(`select ${ROLE_COLUMNS} from role_privileges rp join realm_roles r on r.id = rp.privilege_id where rp.role_id = ?`, [roleId]),

    privilegesByRoleIds: (roleIds) =>
      rows(
        `select rp.role_id as key, ${ROLE_COLUMNS}
           from role_privileges rp join realm_roles r on r.id = rp.privilege_id
          where rp.role_id in (?) order by r.name`,
        [roleIds],
      ),
    directRolesByUserIds: (userIds) =>
      rows(
        `select ur.user_id as key, ${ROLE_COLUMNS}
           from user_roles ur join realm_roles r on r.id = ur.role_id
          where ur.user_id in (?) and r.kind = 'ROLE' order by r.name`,
        [userIds],
      ),
    userCountsByRoleIds: (roleIds) =>
      rows('select role_id as key, count(*) from user_roles where role_id in (?) group by role_id', [roleIds]),
    effectiveRoles: (of, subjectIds) => selectEffectiveRoles(em, of, subjectIds),

    states: () =>
      rows(
        `select ${ROLE_COLUMNS},
                array(select rp.privilege_id::text from role_privileges rp where rp.role_id = r.id order by rp.privilege_id::text collate "C") as "privilegeIds",
                array(select rc.child_id::text from role_composites rc where rc.role_id = r.id order by rc.child_id::text collate "C") as "compositeIds"
           from realm_roles r`,
      ),

    upsert: ({ id, name, kind, description }) =>
      run(
        `insert into realm_roles (id, name, kind, description) values (?, ?, ?, ?)
         on conflict (id) do update set name = excluded.name, kind = excluded.kind, description = excluded.description`,
        [id, name, kind, description],
      ),
    setDescription: (roleId, description) => run('update realm_roles set description = ? where id = ?', [description, roleId]),
    delete: (roleId) => run('delete from realm_roles where id = ?', [roleId]),
    changeId: (roleId, newId) => run('update realm_roles set id = ? where id = ?', [newId, roleId]),
    changePrivileges: (roleId, changes) => changeLinks(run, LINKS.privileges, roleId, changes),
    async replaceLinks(roleId, privilegeIds, compositeIds) {
      await replaceLinks(run, LINKS.privileges, roleId, privilegeIds, "realm_roles where kind = 'PRIVILEGE'");
      await replaceLinks(run, LINKS.composites, roleId, compositeIds, 'realm_roles where true');
    },

    roleIdsOfUser: async (userId) => ids(await rows<{ id: string }>('select role_id as id from user_roles where user_id = ?', [userId])),
    rolesOfUser: (userId) =>
      rows(`select ${ROLE_COLUMNS} from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = ? order by r.name`, [
        userId,
      ]),
    changeUserRoles: (userId, changes) => changeLinks(run, LINKS.userRoles, userId, changes),
    replaceUserRoles: (userId, roleIds) => replaceLinks(run, LINKS.userRoles, userId, roleIds, 'realm_roles where true'),
    holderIdsOf: async (roleId) => ids(await rows<{ id: string }>('select user_id as id from user_roles where role_id = ?', [roleId])),
    changeHolders: (roleId, userIds) => changeLinks(run, LINKS.roleHolders, roleId, userIds),
  };
}

/** A link table seen from one side: rows (`owner`, `target`). */
export interface LinkTable {
  table: string;
  owner: string;
  target: string;
}

const LINKS = {
  privileges: { table: 'role_privileges', owner: 'role_id', target: 'privilege_id' },
  composites: { table: 'role_composites', owner: 'role_id', target: 'child_id' },
  userRoles: { table: 'user_roles', owner: 'user_id', target: 'role_id' },
  roleHolders: { table: 'user_roles', owner: 'role_id', target: 'user_id' },
} satisfies Record<string, LinkTable>;

export type Run = (sql: string, params?: readonly unknown[]) => Promise<void>;

/**
 * Link changes in a link table. A link already there is fine: the directory sync may have
 * mirrored it from Keycloak between the Keycloak step and this commit.
 */
export async function changeLinks(
  run: Run,
  { table, owner, target }: LinkTable,
  ownerId: string,
  { add, remove }: LinkChanges<{ id: string }>,
) {
  if (add.length > 0) {
    await run(
      `insert into ${table} (${owner}, ${target}) values ${add.map(() => '(?, ?)').join(', ')} on conflict do nothing`,
      add.flatMap(({ id }) => [ownerId, id]),
    );
  }
  if (remove.length > 0) await run(`delete from ${table} where ${owner} = ? and ${target} in (?)`, [ownerId, remove.map(({ id }) => id)]);
}

/**
 * Sets an owner's links to `targetIds`, keeping only the rows of `targets` (a table and a
 * condition on it) the mirror has: others are not managed.
 */
export async function replaceLinks(
  run: Run,
  { table, owner, target }: LinkTable,
  ownerId: string,
  targetIds: readonly string[],
  targets: string,
) {
  await run(`delete from ${table} where ${owner} = ?`, [ownerId]);
  if (targetIds.length === 0) return;
  await run(`insert into ${table} (${owner}, ${target}) select ?, id from ${targets} and id in (?) on conflict do nothing`, [
    ownerId,
    targetIds,
  ]);
}
