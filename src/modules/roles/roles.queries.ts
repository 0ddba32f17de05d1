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
 * The links of the role graph, as Keycloak follows them for a token: role → privilege
 * (role_privileges) and every other composite (role_composites), as rows (role_id, child_id).
 */
const ROLE_LINKS = `(select role_id, privilege_id as child_id from role_privileges
                     union all select role_id, child_id from role_composites)`;

/**
 * How a walk of the graph keeps what it reached: as a set (each (key, role) once, `union`
 * ending a cycle), or as every path that reaches it (each row carrying the ids walked,
 * a step never taken twice on one path, which ends a cycle).
 */
type Walk = 'set' | 'paths';

interface WalkSql {
  union: string;
  /** The CTE columns past (key, id). */
  columns: string;
  /** The values of those columns for a seed row (the subject's group or role `to`). */
  seed: (to: string) => string;
  /** Their values for a row reached from the row `from` by going to `to`. */
  step: (from: string, to: string) => string;
  /** A further condition on going from `from` to `to`. */
  fresh: (from: string, to: string) => string;
  /** The rows of one step down the composite links, from the select `next` that finds them. */
  composites: (next: string) => string;
}

/**
 * How many paths one step of the `paths` walk takes to each role, for each subject. The
 * paths through composite roles multiply: a ladder of rungs of two roles, each composed of
 * both roles of the next rung, has 2^n paths to its bottom (a console operator builds one in
 * minutes), and walking them all took a `privilegeGrants` of 16 rungs 35 seconds and 65,536
 * paths, 20 rungs a million (ATTACK2-7, test/integration/attack-2.test.ts). Keeping the first
 * few paths to each role at each step bounds the walk (this many, times the roles, times the
 * steps) and still reaches every role the `set` walk reaches: a path cut at a role is
 * replaced by a kept one to that same role, which goes on to whatever the cut one led to
 * (unless that is on the kept path, and so reached already).
 */
const MAX_PATHS_PER_STEP = 10;

const WALKS: Record<Walk, WalkSql> = {
  set: { union: 'union', columns: '', seed: () => '', step: () => '', fresh: () => '', composites: (next) => next },
  paths: {
    union: 'union all',
    columns: ', path',
    seed: (to) => `, array[${to}]`,
    step: (from, to) => `, ${from}.path || ${to}`,
    fresh: (from, to) => ` and ${to} <> all(${from}.path)`,
    // At most MAX_PATHS_PER_STEP new paths to each role a step reaches, for each subject.
    composites: (next) => `select key, role_id, path from (
             select found.*, row_number() over (partition by found.key, found.role_id order by found.path) as nth
               from (${next}) found(key, role_id, path)
           ) kept where kept.nth <= ${MAX_PATHS_PER_STEP}`,
  },
};

/**
 * The walk of effective realm roles, computed the one way Keycloak computes the realm roles
 * of a token: the roles held directly, the roles of every group held and of each of that
 * group's ancestors, then the closure of composite links (ROLE_LINKS). Its CTE `reached`
 * has (key, role_id) rows, and with the `paths` walk each row's `path`: the ids from the
 * subject outwards, groups first (the group held, then its parent, its parent's parent...),
 * then the role mapped to the last of them, then each composite down to `role_id`.
 * The groups and their roles are looked up per group reached (LATERAL, `offset 0` keeping
 * PostgreSQL from flattening it back into a join): it cannot estimate a recursive CTE's size
 * and otherwise hashed every group and every group's roles, a cost that grew with the
 * directory rather than with the users asked about (npm run bench -- --scale).
 */
function effectiveRolesWalk(of: EffectiveRolesOf, ids: readonly string[], walk: Walk): { ctes: string; params: unknown[] } {
  const { groups, roles } = SEEDS[of];
  const { union, columns, seed, step, fresh, composites } = WALKS[walk];
  const params = [groups, roles].filter((seed) => seed !== NOTHING).map(() => ids);
  return {
    ctes: `with recursive
       joined(key, group_id${columns}) as (
         select seed.key, seed.id${seed('seed.id')} from (${groups}) seed(key, id)
         ${union}
         select joined.key, g.parent_id${step('joined', 'g.parent_id')}
           from joined
           cross join lateral (select parent_id from groups where id = joined.group_id and parent_id is not null offset 0) g
          where true${fresh('joined', 'g.parent_id')}
       ),
       reached(key, role_id${columns}) as (
         select seed.key, seed.id${seed('seed.id')} from (${roles}) seed(key, id)
         ${union}
         select joined.key, gr.role_id${step('joined', 'gr.role_id')}
           from joined cross join lateral (select role_id from group_roles where group_id = joined.group_id offset 0) gr
         ${union}
         ${composites(`select reached.key, link.child_id${step('reached', 'link.child_id')}
           from reached join ${ROLE_LINKS} link on link.role_id = reached.role_id
          where true${fresh('reached', 'link.child_id')}`)}
       )`,
    params,
  };
}

/**
 * Effective realm roles (role_* and priv_* alike): effectiveRolesWalk's set. One statement
 * for any number of `ids`; each row carries the subject's id as `key`. Every authorization
 * rule about what someone holds or would be given, and `User.effectivePrivileges`, go
 * through here.
 */
export function selectEffectiveRoles(em: EntityManager, of: EffectiveRolesOf, ids: readonly string[]): Promise<Keyed<RoleRecord>[]> {
  const { ctes, params } = effectiveRolesWalk(of, ids, 'set');
  return em.execute(
    `${ctes}
     select reached.key, ${ROLE_COLUMNS} from reached join realm_roles r on r.id = reached.role_id order by r.name`,
    params,
  ) as Promise<Keyed<RoleRecord>[]>;
}

/** One step of a path that grants a privilege, from the user outwards. */
export interface GrantStepRecord {
  kind: 'GROUP' | RealmRoleKind;
  id: string;
  name: string;
}

/** A privilege a user holds and one path that grants it (selectGrantPaths). */
export type GrantPathRow = Keyed<RoleRecord & { steps: GrantStepRecord[] }>;

/**
 * Every path by which each user of `userIds` holds each privilege: effectiveRolesWalk's
 * paths ending on a privilege, their steps named; where composites multiply them, the
 * first MAX_PATHS_PER_STEP to a role at each step (the privilege itself always among them). The same walk as selectEffectiveRoles,
 * so the privileges here are exactly the effective ones. One statement for any number of
 * users.
 */
export function selectGrantPaths(em: EntityManager, userIds: readonly string[]): Promise<GrantPathRow[]> {
  const { ctes, params } = effectiveRolesWalk('user', userIds, 'paths');
  return em.execute(
    `${ctes}
     select reached.key, ${ROLE_COLUMNS},
            (select json_agg(json_build_object('kind', coalesce(sr.kind, 'GROUP'), 'id', step.id, 'name', coalesce(sr.name, sg.name))
                             order by step.at)
               from unnest(reached.path) with ordinality step(id, at)
               left join realm_roles sr on sr.id = step.id
               left join groups sg on sg.id = step.id) as steps
       from reached join realm_roles r on r.id = reached.role_id
      where r.kind = 'PRIVILEGE'
      order by r.name`,
    params,
  ) as Promise<GrantPathRow[]>;
}

/** What reaches a privilege, for finding its holders (selectPrivilegeReach). */
export interface PrivilegeReach {
  /** The privilege and every role or privilege composed of it, at any depth. */
  roleIds: string[];
  /**
   * Every group mapped one of those, and every subgroup below such a group; or null when
   * there are more than MAX_NAMED_GROUPS of them, and the statements find them themselves.
   */
  groupIds: string[] | null;
  /**
   * Whether its holders are common enough that a page of users is found faster by walking
   * the users in order and checking each (a few index probes a user, stopping once the page
   * is full) than by collecting every holder and sorting them: when the holders H reach
   * sqrt(TYPICAL_PAGE × users), as the walk reads about TYPICAL_PAGE × users / H users.
   */
  common: boolean;
}

/** The page size the choice in PrivilegeReach.common assumes. */
const TYPICAL_PAGE = 50;

/**
 * The most groups a privilege's reach names to the statements as constants. Finding them
 * costs an index probe each, and every statement that names them plans an IN list of that
 * length: at a million users the scale profile's privilege reached 911 groups, and its
 * reach, estimate and page took 11 ms where 9 groups at 10,000 users took 2.6 ms. Past
 * this many, a walk checks each user's own groups and their ancestors instead (work per
 * user read, whatever the directory's size), and a count collects the groups in its own
 * statement.
 */
const MAX_NAMED_GROUPS = 64;

/**
 * effectiveRolesWalk walked the other way, from the privilege `privilegeId` to whoever
 * holds it: the roles and privileges that reach it (ROLE_LINKS backwards), the groups those
 * are mapped to and every subgroup below them (a member of a subgroup holds its ancestors'
 * roles), the groups up to MAX_NAMED_GROUPS. Each group is found through an index (LATERAL,
 * `offset 0`, as in effectiveRolesWalk), so the statement stops once it has one too many;
 * a join here hashed every group and every group's roles. Users are not walked here; the
 * caller finds them through user_roles.role_id and user_groups.group_id with these ids as
 * constants, so the planner sees how many hold them. Whether holders are `common` is the
 * planner's estimate of them (EXPLAIN: planning only, from its statistics), not a count:
 * counting up to the threshold read thousands of index entries at a million users, more
 * than the page itself. Without the groups named, the estimate takes the members of the
 * groups mapped a granting role and leaves subgroups out. An estimate off by a factor only
 * picks the slower of two plans; the answer is the same. Anything but a privilege's id
 * reaches nothing.
 */
export async function selectPrivilegeReach(em: EntityManager, privilegeId: string): Promise<PrivilegeReach> {
  const [found] = (await em.execute(
    `with recursive
       granting(role_id) as (
         select r.id from realm_roles r where r.id = ? and r.kind = 'PRIVILEGE'
         union
         select link.role_id from granting join ${ROLE_LINKS} link on link.child_id = granting.role_id
       ),
       ${REACHED_GROUPS('select role_id from granting')}
     select array(select role_id::text from granting) as "roleIds",
            array(select group_id::text from reached_groups limit ${MAX_NAMED_GROUPS + 1}) as "groupIds",
            (select ceil(sqrt(${TYPICAL_PAGE} * greatest(c.reltuples, 1)))::int from pg_class c where c.oid = 'users'::regclass) as enough`,
    [privilegeId],
  )) as { roleIds: string[]; groupIds: string[]; enough: number }[];
  const { enough, roleIds, groupIds } = found!;
  const named = groupIds.length > MAX_NAMED_GROUPS ? null : groupIds;
  const reach = { roleIds, groupIds: named };
  if (roleIds.length === 0) return { ...reach, common: false };
  const estimated = named ? holderIds({ roleIds, groupIds: named })! : estimatedHolders(roleIds);
  // With the ids as constants, the planner's estimate comes from each id's own statistics.
  const [explained] = (await em.execute(`explain (format json) ${estimated.sql}`, estimated.params)) as {
    'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }];
  }[];
  return { ...reach, common: explained!['QUERY PLAN'][0].Plan['Plan Rows'] >= enough };
}

/**
 * The CTE `reached_groups(group_id)`: the groups mapped one of the roles `roles` selects,
 * and every subgroup below them, each found through an index (group_roles.role_id, then
 * groups by parent_id).
 */
const REACHED_GROUPS = (roles: string) => `reached_groups(group_id) as (
         select gr.group_id from (${roles}) granted(role_id)
           cross join lateral (select group_id from group_roles where role_id = granted.role_id offset 0) gr
         union
         select g.id from reached_groups
           cross join lateral (select id from groups where parent_id = reached_groups.group_id offset 0) g
       )`;

/** For the planner's estimate alone: the direct holders of `roleIds`, and the members of the groups mapped one of them. */
function estimatedHolders(roleIds: string[]): { sql: string; params: unknown[] } {
  return {
    sql: `select ur.user_id from user_roles ur where ur.role_id in (?)
          union all
          select ug.user_id from user_groups ug where ug.group_id in (select gr.group_id from group_roles gr where gr.role_id in (?))`,
    params: [roleIds, roleIds],
  };
}

/** Where the holders of what `reach` names are linked: user_roles and user_groups, each when it has ids. */
function holderSources(reach: { roleIds: string[]; groupIds: string[] }) {
  return [
    { from: 'user_roles ur', link: 'ur.role_id', user: 'ur.user_id', ids: reach.roleIds },
    { from: 'user_groups ug', link: 'ug.group_id', user: 'ug.user_id', ids: reach.groupIds },
  ].filter((source) => source.ids.length > 0);
}

/** The ids of the holders of what `reach` names (a user once per link that grants it), or null when nothing does. */
function holderIds(reach: { roleIds: string[]; groupIds: string[] }): { sql: string; params: unknown[] } | null {
  const sources = holderSources(reach);
  if (sources.length === 0) return null;
  return {
    sql: sources.map(({ from, link, user }) => `select ${user} from ${from} where ${link} in (?)`).join(' union all '),
    params: sources.map((source) => source.ids),
  };
}

/**
 * A condition on users `u`, and its parameters, for the holders of what `reach` names:
 * `walk` as EXISTS per user (for a page of common holders), or `collect` as a semi-join on
 * the holders (for rare ones, and for counting). Without the groups named, the walk checks
 * the user's groups and each one's ancestors (by parent_id, through the primary keys) for a
 * granting role, and the collection finds the groups in its own statement (REACHED_GROUPS).
 */
export function holdersCondition(reach: PrivilegeReach, how: 'walk' | 'collect'): { clause: string; params: unknown[] } {
  const { roleIds, groupIds } = reach;
  if (groupIds === null) return unnamedGroupsCondition(roleIds, how);
  const holders = holderIds({ roleIds, groupIds });
  if (!holders) return { clause: 'false', params: [] };
  if (how === 'collect') return { clause: `u.id in (${holders.sql})`, params: holders.params };
  const sources = holderSources({ roleIds, groupIds });
  return {
    clause: `exists (${sources.map(({ from, link, user }) => `select 1 from ${from} where ${user} = u.id and ${link} in (?)`).join(' union all ')})`,
    params: holders.params,
  };
}

/**
 * holdersCondition when the groups are too many to name. The walk's ancestors are a set
 * (`union`), so a cycle of parents ends; each step is an index probe (LATERAL, `offset 0`):
 * joined, the planner hashed every group for each user.
 */
function unnamedGroupsCondition(roleIds: string[], how: 'walk' | 'collect'): { clause: string; params: unknown[] } {
  if (how === 'collect') {
    return {
      clause: `u.id in (with recursive ${REACHED_GROUPS('select r.id from realm_roles r where r.id in (?)')}
         select ur.user_id from user_roles ur where ur.role_id in (?)
         union all
         select ug.user_id from user_groups ug where ug.group_id in (select group_id from reached_groups))`,
      params: [roleIds, roleIds],
    };
  }
  return {
    clause: `exists (
         select 1 from user_roles ur where ur.user_id = u.id and ur.role_id in (?)
         union all
         select 1 from (
           with recursive up(group_id) as (
             select ug.group_id from user_groups ug where ug.user_id = u.id
             union
             select g.parent_id from up cross join lateral (select parent_id from groups where id = up.group_id and parent_id is not null offset 0) g
           )
           select group_id from up
         ) up cross join lateral (select 1 from group_roles gr where gr.group_id = up.group_id and gr.role_id in (?) offset 0) gr)`,
    params: [roleIds, roleIds],
  };
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
  /** selectGrantPaths. */
  grantPaths(userIds: readonly string[]): Promise<GrantPathRow[]>;

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
    grantPaths: (userIds) => selectGrantPaths(em, userIds),

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
