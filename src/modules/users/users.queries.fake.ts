import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from '../../db/pagination.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { LinkChanges } from '../roles/directory-writes.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { MemberTenantsQueries } from '../tenants/tenants.queries.js';
import type { TenantRole } from '../tenants/tenant.entity.js';
import type { UserProfile, UserRecord } from './user.type.js';
import type { MirroredUser, PendingUser, UserListFilter, UserServiceQueries } from './users.queries.js';

/**
 * The mirror in memory, for unit tests of the user service: users, their direct links,
 * the deletion tombstones and the sync queue. Transactions are not modelled: `in(em)`
 * answers the same store.
 */
export class FakeUsersQueries implements UserServiceQueries {
  readonly users = new Map<string, UserRecord>();
  readonly links = new Map<string, { roleIds: Set<string>; groupIds: Set<string> }>();
  readonly deleted = new Set<string>();
  readonly syncQueue = new Map<string, { action: string; actorId: string | null }>();
  /** The roles and groups known by id, for pending users' pushes. */
  readonly roles = new Map<string, RoleRecord>();
  readonly groups = new Map<string, GroupRecord>();

  in(_em: EntityManager): FakeUsersQueries {
    return this;
  }

  async findByIds(ids: readonly string[]): Promise<UserRecord[]> {
    return ids.flatMap((id) => (this.users.has(id) ? [{ ...this.users.get(id)! }] : []));
  }

  async findByEmail(email: string): Promise<UserRecord[]> {
    return [...this.users.values()].filter((user) => user.email === email.trim().toLowerCase());
  }

  async findByEmailInRealm(email: string, realm: string | null): Promise<UserRecord[]> {
    return (await this.findByEmail(email)).filter((user) => (user.realm ?? null) === realm);
  }

  async list(first: number, _after: string | null | undefined, filter: UserListFilter): Promise<Page<UserRecord>> {
    const search = filter.search?.trim().toLowerCase();
    const rows = [...this.users.values()]
      .filter((user) => !search || [user.email, user.firstName, user.lastName].some((text) => text.toLowerCase().includes(search)))
      .filter((user) => typeof filter.enabled !== 'boolean' || user.enabled === filter.enabled)
      .filter((user) => !filter.roleId || this.linksOf(user.id).roleIds.has(filter.roleId))
      .filter((user) => !filter.groupId || this.linksOf(user.id).groupIds.has(filter.groupId));
    const edges = rows.slice(0, first).map((node) => ({ cursor: node.id, node }));
    return {
      edges,
      pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
      countTotal: async () => rows.length,
    };
  }

  async isEmailTaken(email: string, realm: string | null, exceptId: string | null): Promise<boolean> {
    return [...this.users.values()].some(
      (user) => (user.email === email || user.username === email) && (user.realm ?? null) === realm && user.id !== exceptId,
    );
  }

  async linkIds(id: string): Promise<{ roleIds: Set<string>; groupIds: Set<string> }> {
    const { roleIds, groupIds } = this.linksOf(id);
    return { roleIds: new Set(roleIds), groupIds: new Set(groupIds) };
  }

  async pending(localId: string): Promise<PendingUser | undefined> {
    const user = this.users.get(localId);
    const sync = this.syncQueue.get(localId);
    if (!user || !sync || user.syncStatus === 'SYNCED') return undefined;
    const { roleIds, groupIds } = this.linksOf(localId);
    const roles = [...roleIds].map((id) => this.roles.get(id)!);
    const groups = [...groupIds].map((id) => this.groups.get(id)!);
    return { user: { ...user }, ...sync, roles, groups };
  }

  async wasDeleted(id: string): Promise<boolean> {
    return this.deleted.has(id);
  }

  async insert(record: UserRecord, roles: readonly { id: string }[], groups: readonly { id: string }[]): Promise<void> {
    if (this.users.has(record.id)) throw new Error(`duplicate key: user ${record.id}`);
    this.users.set(record.id, { ...record });
    this.links.set(record.id, { roleIds: new Set(roles.map((r) => r.id)), groupIds: new Set(groups.map((g) => g.id)) });
  }

  async insertPending(
    record: UserRecord,
    roles: readonly { id: string }[],
    groups: readonly { id: string }[],
    sync: { action: string; actorId: string | null },
  ): Promise<void> {
    await this.insert(record, roles, groups);
    this.syncQueue.set(record.id, sync);
  }

  async adoptKeycloakId(localId: string, id: string): Promise<boolean> {
    const user = this.users.get(localId);
    if (!user || user.syncStatus === 'SYNCED') return this.users.get(id)?.syncStatus === 'SYNCED';
    this.users.delete(localId);
    this.users.set(id, { ...user, id, syncStatus: 'SYNCED', updatedAt: new Date() });
    this.links.set(id, this.linksOf(localId));
    this.links.delete(localId);
    this.syncQueue.delete(localId);
    return true;
  }

  async updateProfile(id: string, profile: UserProfile, roles: LinkChanges<{ id: string }>, groups: LinkChanges<{ id: string }>): Promise<void> {
    const user = this.users.get(id);
    if (!user) return;
    Object.assign(user, profile, { updatedAt: new Date() });
    const held = this.linksOf(id);
    for (const { id: roleId } of roles.add) held.roleIds.add(roleId);
    for (const { id: roleId } of roles.remove) held.roleIds.delete(roleId);
    for (const { id: groupId } of groups.add) held.groupIds.add(groupId);
    for (const { id: groupId } of groups.remove) held.groupIds.delete(groupId);
  }

  async remove(id: string): Promise<void> {
    await this.recordDeletion(id);
    this.users.delete(id);
    this.links.delete(id);
    this.syncQueue.delete(id);
  }

  async recordDeletion(id: string): Promise<void> {
    this.deleted.add(id);
  }

  async updateClaims(id: string, claims: Omit<UserProfile, 'enabled' | 'attributes'>): Promise<UserRecord | null> {
    const user = this.users.get(id);
    if (!user) return null;
    Object.assign(user, claims, { updatedAt: new Date() });
    return { ...user };
  }

  async upsertFromKeycloak(user: MirroredUser, realm: string | null, roleIds: readonly string[], groupIds: readonly string[]): Promise<boolean> {
    if (this.deleted.has(user.id)) return false;
    const { createdAt, ...profile } = user;
    const existing = this.users.get(user.id);
    this.users.set(user.id, { ...profile, realm, syncStatus: 'SYNCED', createdAt: existing?.createdAt ?? createdAt, updatedAt: new Date() });
    this.links.set(user.id, {
      roleIds: new Set(roleIds.filter((id) => this.roles.has(id))),
      groupIds: new Set(groupIds.filter((id) => this.groups.has(id))),
    });
    return true;
  }

  private linksOf(id: string): { roleIds: Set<string>; groupIds: Set<string> } {
    let held = this.links.get(id);
    if (!held) this.links.set(id, (held = { roleIds: new Set(), groupIds: new Set() }));
    return held;
  }
}

/** Tenants and their members in memory, as a user's deletion sees them. */
export class FakeMemberTenants implements MemberTenantsQueries {
  readonly tenants = new Map<string, { id: string; name: string; realm: string | null; members: Map<string, TenantRole> }>();

  in(_em: EntityManager): FakeMemberTenants {
    return this;
  }

  add(name: string, members: Record<string, TenantRole>, realm: string | null = null): string {
    const id = `tenant-${this.tenants.size + 1}`;
    this.tenants.set(id, { id, name, realm, members: new Map(Object.entries(members)) });
    return id;
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

  /** Removes the user from every tenant, as the cascade of its row's deletion does. */
  forget(userId: string): void {
    for (const tenant of this.tenants.values()) tenant.members.delete(userId);
  }

  private soleMemberOf(userId: string) {
    return [...this.tenants.values()].filter(({ members }) => members.has(userId) && members.size === 1);
  }
}
