import type { EntityManager } from '@mikro-orm/postgresql';
import { countLoader, groupedLoader, selectRows, singleLoader } from '../../db/loaders.js';
import type { RoleRecord } from './role.type.js';

/** A RoleRecord's columns, from realm_roles aliased r. */
export const ROLE_COLUMNS = 'r.id, r.name, r.kind, r.description';

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
 */
export function selectEffectiveRoles(
  em: EntityManager,
  of: EffectiveRolesOf,
  ids: readonly string[],
): Promise<(RoleRecord & { key: string })[]> {
  const { groups, roles } = SEEDS[of];
  const params = [groups, roles].filter((seed) => seed !== NOTHING).map(() => ids);
  return selectRows(
    em,
    `with recursive
       joined(key, group_id) as (
         ${groups}
         union
         select joined.key, g.parent_id from joined join groups g on g.id = joined.group_id where g.parent_id is not null
       ),
       reached(key, role_id) as (
         ${roles}
         union
         select joined.key, gr.role_id from joined join group_roles gr on gr.group_id = joined.group_id
         union
         select reached.key, link.child_id
           from reached
           join (select role_id, privilege_id as child_id from role_privileges
                 union all select role_id, child_id from role_composites) link on link.role_id = reached.role_id
       )
     select reached.key, ${ROLE_COLUMNS} from reached join realm_roles r on r.id = reached.role_id order by r.name`,
    params,
  );
}

/** Per-request loaders for roles and privileges, and for who holds them. */
export function createRoleLoaders(em: EntityManager) {
  return {
    roleById: singleLoader<RoleRecord>((ids) =>
      selectRows(em, `select ${ROLE_COLUMNS} from realm_roles r where r.id in (?)`, [ids]),
    ),
    privilegesByRoleId: groupedLoader<RoleRecord>((ids) =>
      selectRows(
        em,
        `select rp.role_id as key, ${ROLE_COLUMNS}
           from role_privileges rp join realm_roles r on r.id = rp.privilege_id
          where rp.role_id in (?) order by r.name`,
        [ids],
      ),
    ),
    /** Roles (role_*) assigned to each user directly. */
    rolesByUserId: groupedLoader<RoleRecord>((ids) =>
      selectRows(
        em,
        `select ur.user_id as key, ${ROLE_COLUMNS}
           from user_roles ur join realm_roles r on r.id = ur.role_id
          where ur.user_id in (?) and r.kind = 'ROLE' order by r.name`,
        [ids],
      ),
    ),
    /** Each user's effective roles and privileges (selectEffectiveRoles): what Keycloak puts in their token. */
    effectiveRolesByUserId: groupedLoader<RoleRecord>((ids) => selectEffectiveRoles(em, 'user', ids)),
    /** Everything a member of each group holds through it, its ancestors' roles included. */
    effectiveRolesByGroupId: groupedLoader<RoleRecord>((ids) => selectEffectiveRoles(em, 'group', ids)),
    /** Each role with everything it is composed of, directly or not. */
    effectiveRolesByRoleId: groupedLoader<RoleRecord>((ids) => selectEffectiveRoles(em, 'role', ids)),
    userCountByRoleId: countLoader((ids) =>
      selectRows(em, 'select role_id as key, count(*) from user_roles where role_id in (?) group by role_id', [ids]),
    ),
  };
}
