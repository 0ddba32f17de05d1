import { countLoader, groupedLoader, singleLoader } from '../../db/loaders.js';
import type { RoleRecord } from './role.type.js';
import type { GrantStepRecord, RolesQueries } from './roles.queries.js';

/** Per-request loaders for roles and privileges, and for who holds them. */
export function createRoleLoaders(queries: RolesQueries) {
  return {
    roleById: singleLoader<RoleRecord>((ids) => queries.findByIds(ids)),
    privilegesByRoleId: groupedLoader<RoleRecord>((ids) => queries.privilegesByRoleIds(ids)),
    /** Roles (role_*) assigned to each user directly. */
    rolesByUserId: groupedLoader<RoleRecord>((ids) => queries.directRolesByUserIds(ids)),
    /** Each user's effective roles and privileges (selectEffectiveRoles): what Keycloak puts in their token. */
    effectiveRolesByUserId: groupedLoader<RoleRecord>((ids) => queries.effectiveRoles('user', ids)),
    /** Every path by which each user holds each privilege (selectGrantPaths); grantsOf groups them. */
    grantPathsByUserId: groupedLoader<RoleRecord & { steps: GrantStepRecord[] }>((ids) => queries.grantPaths(ids)),
    /** Everything a member of each group holds through it, its ancestors' roles included. */
    effectiveRolesByGroupId: groupedLoader<RoleRecord>((ids) => queries.effectiveRoles('group', ids)),
    /** Each role with everything it is composed of, directly or not. */
    effectiveRolesByRoleId: groupedLoader<RoleRecord>((ids) => queries.effectiveRoles('role', ids)),
    userCountByRoleId: countLoader((ids) => queries.userCountsByRoleIds(ids)),
  };
}
