import type { EntityManager } from '@mikro-orm/postgresql';
import { groupedLoader, selectRows, singleLoader } from '../../db/loaders.js';
import type { MembershipRecord, TenantRecord } from './tenant.type.js';

const MEMBERSHIP_COLUMNS = 'm.tenant_id as "tenantId", m.user_id as "userId", m.role, m.joined_at as "joinedAt"';

/** Per-request loaders for tenants and memberships. */
export function createTenantLoaders(em: EntityManager) {
  return {
    tenantById: singleLoader<TenantRecord>((ids) =>
      selectRows(em, 'select id, name, created_at as "createdAt" from tenants where id in (?)', [ids]),
    ),
    membershipsByUserId: groupedLoader<MembershipRecord>((ids) =>
      selectRows(
        em,
        `select m.user_id as key, ${MEMBERSHIP_COLUMNS} from memberships m join tenants t on t.id = m.tenant_id
          where m.user_id in (?) order by t.name`,
        [ids],
      ),
    ),
    membershipsByTenantId: groupedLoader<MembershipRecord>((ids) =>
      selectRows(
        em,
        `select m.tenant_id as key, ${MEMBERSHIP_COLUMNS} from memberships m where m.tenant_id in (?) order by m.joined_at`,
        [ids],
      ),
    ),
  };
}
