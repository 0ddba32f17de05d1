import { groupedLoader, singleLoader } from '../../db/loaders.js';
import type { TenantsQueries } from './tenants.queries.js';
import type { MembershipRecord, TenantRecord } from './tenant.type.js';

/** Per-request loaders for tenants and memberships. */
export function createTenantLoaders(tenants: TenantsQueries) {
  return {
    tenantById: singleLoader<TenantRecord>((ids) => tenants.findByIds(ids)),
    membershipsByUserId: groupedLoader<MembershipRecord>((ids) => tenants.membershipsOfUsers(ids)),
    membershipsByTenantId: groupedLoader<MembershipRecord>((ids) => tenants.membershipsOfTenants(ids)),
  };
}
