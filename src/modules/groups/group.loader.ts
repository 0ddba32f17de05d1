import { countLoader, groupedLoader, singleLoader } from '../../db/loaders.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { GroupRecord } from './group.type.js';
import type { GroupsQueries } from './groups.queries.js';

/** Per-request loaders for groups, their members and their roles. */
export function createGroupLoaders(queries: GroupsQueries) {
  return {
    groupById: singleLoader<GroupRecord>((ids) => queries.findByIds(ids)),
    groupsByUserId: groupedLoader<GroupRecord>((ids) => queries.groupsByUserIds(ids)),
    /** Roles and privileges mapped to each group. */
    rolesByGroupId: groupedLoader<RoleRecord>((ids) => queries.rolesByGroupIds(ids)),
    userCountByGroupId: countLoader((ids) => queries.userCountsByGroupIds(ids)),
  };
}
