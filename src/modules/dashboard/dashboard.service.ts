import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { TENANT_COUNT } from '../tenants/tenants.queries.js';
import { USER_COUNTS } from '../users/users.queries.js';
import type { DashboardType } from './dashboard.type.js';

/** Counts for an administrator's overview, from the mirror: one statement, no Keycloak call. */
export class DashboardService {
  constructor(private readonly em: EntityManager) {}

  async counts(): Promise<DashboardType> {
    // ::int because count(*) is a bigint, which the driver would hand over as a string; GraphQL's Int is 32-bit anyway.
    const [counts] = await selectRows<DashboardType>(
      this.em,
      `select ${USER_COUNTS.all} as "userCount",
              (select count(*)::int from realm_roles where kind = 'ROLE') as "roleCount",
              (select count(*)::int from groups) as "groupCount",
              ${TENANT_COUNT} as "tenantCount",
              ${USER_COUNTS.unsynced} as "pendingSyncCount"`,
      [],
    );
    return counts!;
  }
}
