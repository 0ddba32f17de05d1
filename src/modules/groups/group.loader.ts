import type { EntityManager } from '@mikro-orm/postgresql';
import { countLoader, groupedLoader, selectRows, singleLoader } from '../../db/loaders.js';
import { ROLE_COLUMNS } from '../roles/role.loader.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { GroupRecord } from './group.type.js';

/** Per-request loaders for groups, their members and their roles. */
export function createGroupLoaders(em: EntityManager) {
  return {
    groupById: singleLoader<GroupRecord>((ids) => selectRows(em, 'select id, name from groups where id in (?)', [ids])),
    groupsByUserId: groupedLoader<GroupRecord>((ids) =>
      selectRows(
        em,
        `select ug.user_id as key, g.id, g.name from user_groups ug join groups g on g.id = ug.group_id
          where ug.user_id in (?) order by g.name`,
        [ids],
      ),
    ),
    /** Roles and privileges mapped to each group. */
    rolesByGroupId: groupedLoader<RoleRecord>((ids) =>
      selectRows(
        em,
        `select gr.group_id as key, ${ROLE_COLUMNS}
           from group_roles gr join realm_roles r on r.id = gr.role_id
          where gr.group_id in (?) order by r.name`,
        [ids],
      ),
    ),
    userCountByGroupId: countLoader((ids) =>
      selectRows(em, 'select group_id as key, count(*) from user_groups where group_id in (?) group by group_id', [ids]),
    ),
  };
}
