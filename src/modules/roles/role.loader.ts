import type { EntityManager } from '@mikro-orm/postgresql';
import { countLoader, groupedLoader, selectRows, singleLoader } from '../../db/loaders.js';
import type { RoleRecord } from './role.type.js';

/** A RoleRecord's columns, from realm_roles aliased r. */
export const ROLE_COLUMNS = 'r.id, r.name, r.kind, r.description';

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
    rolesByUserId: groupedLoader<RoleRecord>((ids) =>
      selectRows(
        em,
        `select ur.user_id as key, ${ROLE_COLUMNS}
           from user_roles ur join realm_roles r on r.id = ur.role_id
          where ur.user_id in (?) order by r.name`,
        [ids],
      ),
    ),
    /** Privileges through the user's roles, their groups, and their groups' roles. */
    effectivePrivilegesByUserId: groupedLoader<RoleRecord>((ids) =>
      selectRows(
        em,
        `select distinct reached.user_id as key, ${ROLE_COLUMNS}
           from (
             select ur.user_id, ur.role_id from user_roles ur where ur.user_id in (?)
             union
             select ug.user_id, gr.role_id from user_groups ug join group_roles gr on gr.group_id = ug.group_id
              where ug.user_id in (?)
           ) reached
           join realm_roles held on held.id = reached.role_id
           left join role_privileges rp on rp.role_id = held.id
           join realm_roles r on r.id = case when held.kind = 'PRIVILEGE' then held.id else rp.privilege_id end
          order by r.name`,
        [ids, ids],
      ),
    ),
    userCountByRoleId: countLoader((ids) =>
      selectRows(em, 'select role_id as key, count(*) from user_roles where role_id in (?) group by role_id', [ids]),
    ),
  };
}

export type RoleLoaders = ReturnType<typeof createRoleLoaders>;
