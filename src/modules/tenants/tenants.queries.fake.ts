import type { EntityManager } from '@mikro-orm/postgresql';
import type { TenantRole } from './tenant.entity.js';
import type { TenantRecord } from './tenant.type.js';
import type { MemberTenantsQueries, TenantServiceQueries } from './tenants.queries.js';

interface StoredTenant extends TenantRecord {
  realm: string | null;
  members: Map<string, TenantRole>;
}

/**
 * Tenants and their members in memory, for unit tests: what the tenant rules and a user's
 * deletion read and write. Transactions are not modelled: `within(em)` answers the same store.
 */
export class FakeTenantsQueries implements MemberTenantsQueries, TenantServiceQueries {
  readonly tenants = new Map<string, StoredTenant>();

  within(_em: EntityManager): FakeTenantsQueries {
    return this;
  }

  /** A tenant that already exists, with its members. */
  add(name: string, members: Record<string, TenantRole>, realm: string | null = null): string {
    const id = `tenant-${this.tenants.size + 1}`;
    this.tenants.set(id, { id, name, realm, createdAt: new Date(), members: new Map(Object.entries(members)) });
    return id;
  }

  async insert(tenant: TenantRecord, ownerId: string, realm: string | null = null): Promise<void> {
    if (this.tenants.has(tenant.id)) throw new Error(`duplicate key: tenant ${tenant.id}`);
    this.tenants.set(tenant.id, { ...tenant, realm, members: new Map([[ownerId, 'OWNER']]) });
  }

  async listAll(): Promise<TenantRecord[]> {
    return [...this.tenants.values()].map(record).sort((a, b) => a.name.localeCompare(b.name));
  }

  async listFor(userId: string): Promise<TenantRecord[]> {
    return (await this.listAll()).filter((tenant) => this.tenants.get(tenant.id)!.members.has(userId));
  }

  async findWithRealm(id: string): Promise<(TenantRecord & { realm: string | null }) | undefined> {
    const tenant = this.tenants.get(id);
    return tenant && { ...record(tenant), realm: tenant.realm };
  }

  async soleMemberTenants(userId: string): Promise<{ id: string; realm: string | null }[]> {
    return this.soleMemberOf(userId).map(({ id, realm }) => ({ id, realm }));
  }

  async deleteSoleMemberTenants(userId: string): Promise<void> {
    for (const tenant of this.soleMemberOf(userId)) this.tenants.delete(tenant.id);
  }

  async deleteByRealms(realms: readonly string[]): Promise<void> {
    for (const tenant of [...this.tenants.values()]) if (tenant.realm && realms.includes(tenant.realm)) this.tenants.delete(tenant.id);
  }

  async lastOwnerOf(userId: string): Promise<string[]> {
    return [...this.tenants.values()]
      .filter(({ members }) => {
        const others = [...members].filter(([id]) => id !== userId);
        return members.get(userId) === 'OWNER' && others.length > 0 && others.every(([, role]) => role !== 'OWNER');
      })
      .map((tenant) => tenant.name)
      .sort();
  }

  private soleMemberOf(userId: string): StoredTenant[] {
    return [...this.tenants.values()].filter(({ members }) => members.has(userId) && members.size === 1);
  }
}

function record({ id, name, createdAt }: StoredTenant): TenantRecord {
  return { id, name, createdAt };
}
