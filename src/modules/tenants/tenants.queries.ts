import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { MembershipEntity, TenantEntity, type TenantRole } from './tenant.entity.js';
import type { MembershipRecord, TenantRecord } from './tenant.type.js';

const TENANT_COLUMNS = 't.id, t.name, t.created_at as "createdAt"';
const MEMBERSHIP_COLUMNS = 'm.tenant_id as "tenantId", m.user_id as "userId", m.role, m.joined_at as "joinedAt"';

/** The number of tenants as a scalar subquery, for a statement that reads several features' counts at once. */
export const TENANT_COUNT = '(select count(*)::int from tenants)';

/**
 * The tenants the user `?` (given twice) is the only member of: deleting the user deletes
 * them. Written once, for the lookup before a deletion and for the deletion itself.
 */
const SOLE_MEMBER_OF = `exists (select 1 from memberships m where m.tenant_id = t.id and m.user_id = ?)
  and not exists (select 1 from memberships o where o.tenant_id = t.id and o.user_id <> ?)`;

/** What a user's deletion reads and writes of the tenants it belongs to (an in-memory fake serves unit tests). */
export interface MemberTenantsQueries {
  within(em: EntityManager): MemberTenantsQueries;
  soleMemberTenants(userId: string): Promise<{ id: string; realm: string | null }[]>;
  deleteSoleMemberTenants(userId: string): Promise<void>;
  deleteByRealms(realms: readonly string[]): Promise<void>;
  lastOwnerOf(userId: string): Promise<string[]>;
}

/** What the tenant rules read and write (an in-memory fake serves unit tests). */
export interface TenantServiceQueries {
  within(em: EntityManager): TenantServiceQueries;
  insert(tenant: TenantRecord, ownerId: string, realm?: string | null): Promise<void>;
  listAll(): Promise<TenantRecord[]>;
  listFor(userId: string): Promise<TenantRecord[]>;
  findWithRealm(id: string): Promise<(TenantRecord & { realm: string | null }) | undefined>;
}

/**
 * Every statement on `tenants` and `memberships`. Bound to an EntityManager: the request's,
 * or with `within(em)` the transaction of a journal write.
 */
export class TenantsQueries implements MemberTenantsQueries, TenantServiceQueries {
  constructor(private readonly em: EntityManager) {}

  /** The same statements inside the transaction `em`. */
  within(em: EntityManager): TenantsQueries {
    return new TenantsQueries(em);
  }

  listAll(): Promise<TenantRecord[]> {
    return selectRows(this.em, `select ${TENANT_COLUMNS} from tenants t order by t.name`, []);
  }

  listFor(userId: string): Promise<TenantRecord[]> {
    return selectRows(
      this.em,
      `select ${TENANT_COLUMNS} from tenants t join memberships m on m.tenant_id = t.id where m.user_id = ? order by t.name`,
      [userId],
    );
  }

  findByIds(ids: readonly string[]): Promise<TenantRecord[]> {
    return selectRows(this.em, `select ${TENANT_COLUMNS} from tenants t where t.id in (?)`, [ids]);
  }

  /** The tenant with its realm (realm tenancy; null in shared tenancy), if it exists. */
  async findWithRealm(id: string): Promise<(TenantRecord & { realm: string | null }) | undefined> {
    const [tenant] = await selectRows<TenantRecord & { realm: string | null }>(
      this.em,
      `select ${TENANT_COLUMNS}, t.realm from tenants t where t.id = ?`,
      [id],
    );
    return tenant;
  }

  /** Realm tenancy: every tenant realm recorded. */
  async realms(): Promise<string[]> {
    return (await selectRows<{ realm: string }>(this.em, 'select realm from tenants where realm is not null', [])).map((row) => row.realm);
  }

  /** The tenants `userId` is the only member of: deleting the user deletes them. */
  soleMemberTenants(userId: string): Promise<{ id: string; realm: string | null }[]> {
    return selectRows(this.em, `select t.id, t.realm from tenants t where ${SOLE_MEMBER_OF}`, [userId, userId]);
  }

  /** Deletes the tenants `userId` is the only member of (their memberships and invitations cascade). */
  async deleteSoleMemberTenants(userId: string): Promise<void> {
    await this.em.execute(`delete from tenants t where ${SOLE_MEMBER_OF}`, [userId, userId]);
  }

  async deleteByRealms(realms: readonly string[]): Promise<void> {
    if (realms.length > 0) await this.em.execute('delete from tenants where realm in (?)', [realms]);
  }

  /** The names of the tenants with other members whose only OWNER is `userId`. */
  async lastOwnerOf(userId: string): Promise<string[]> {
    const rows = await selectRows<{ name: string }>(
      this.em,
      `select t.name from memberships m join tenants t on t.id = m.tenant_id
        where m.user_id = ? and m.role = 'OWNER'
          and not exists (select 1 from memberships o where o.tenant_id = m.tenant_id and o.user_id <> m.user_id and o.role = 'OWNER')
          and exists (select 1 from memberships x where x.tenant_id = m.tenant_id and x.user_id <> m.user_id)
        order by t.name`,
      [userId],
    );
    return rows.map((row) => row.name);
  }

  /** Stores a tenant (with its realm in realm tenancy) and its owner's membership. */
  async insert(tenant: TenantRecord, ownerId: string, realm: string | null = null): Promise<void> {
    await this.em.insert(TenantEntity, { ...tenant, realm });
    await this.em.insert(MembershipEntity, { tenant: tenant.id, user: ownerId, role: 'OWNER', joinedAt: tenant.createdAt });
  }

  /** Adds a membership; one already there stays as it is. */
  async addMember(tenantId: string, userId: string, role: TenantRole): Promise<void> {
    await this.em
      .createQueryBuilder(MembershipEntity)
      .insert({ tenant: tenantId, user: userId, role, joinedAt: new Date() })
      .onConflict(['tenant', 'user'])
      .ignore()
      .execute();
  }

  /**
   * Holds the tenant's row until the transaction ends (FOR NO KEY UPDATE, which leaves the
   * foreign keys of memberships and invitations free): writers that count something of
   * the tenant take turns.
   */
  async lock(tenantId: string): Promise<void> {
    await this.em.execute('select id from tenants where id = ? for no key update', [tenantId]);
  }

  /** The memberships of each user, keyed by user id, in tenant name order. */
  membershipsOfUsers(userIds: readonly string[]): Promise<(MembershipRecord & { key: string })[]> {
    return selectRows(
      this.em,
      `select m.user_id as key, ${MEMBERSHIP_COLUMNS} from memberships m join tenants t on t.id = m.tenant_id
        where m.user_id in (?) order by t.name`,
      [userIds],
    );
  }

  /** The memberships of each tenant, keyed by tenant id, oldest first. */
  membershipsOfTenants(tenantIds: readonly string[]): Promise<(MembershipRecord & { key: string })[]> {
    return selectRows(
      this.em,
      `select m.tenant_id as key, ${MEMBERSHIP_COLUMNS} from memberships m where m.tenant_id in (?) order by m.joined_at`,
      [tenantIds],
    );
  }
}
