import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page, PageWindow } from '../../db/pagination.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { LinkChanges } from '../roles/links.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { UserProfile, UserRecord } from './user.type.js';
import type { UserLinks } from './user-links.js';
import type { MirroredUser, PendingUser, UserListFilter, UserServiceQueries } from './users.queries.js';

/**
 * The mirror in memory, for unit tests of the user service: users, the deletion
 * tombstones and the sync queue. Transactions are not modelled: `within(em)` answers the
 * same store. A user's links are FakeUserLinks', which follow the user as the foreign keys do.
 */
export class FakeUsersQueries implements UserServiceQueries {
  readonly users = new Map<string, UserRecord>();
  readonly deleted = new Set<string>();
  readonly syncQueue = new Map<string, { action: string; actorId: string | null }>();

  constructor(readonly links: FakeUserLinks = new FakeUserLinks()) {}

  within(_em: EntityManager): FakeUsersQueries {
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

  async findByEmailsInRealm(emails: readonly string[], realm: string | null): Promise<UserRecord[]> {
    return [...this.users.values()].filter(
      (user) => (user.realm ?? null) === realm && (emails.includes(user.email) || emails.includes(user.username)),
    );
  }

  /** The first page only: cursors are the real queries' business. */
  async list(window: PageWindow, filter: UserListFilter): Promise<Page<UserRecord>> {
    const first = 'first' in window ? window.first : window.last;
    const search = filter.search?.trim().toLowerCase();
    const rows = [...this.users.values()]
      .filter((user) => !search || [user.email, user.firstName, user.lastName].some((text) => text.toLowerCase().includes(search)))
      .filter((user) => typeof filter.enabled !== 'boolean' || user.enabled === filter.enabled)
      .filter((user) => !filter.roleId || this.links.of(user.id).roleIds.has(filter.roleId))
      .filter((user) => !filter.groupId || this.links.of(user.id).groupIds.has(filter.groupId));
    const edges = rows.slice(0, first).map((node) => ({ cursor: node.id, node }));
    return {
      edges,
      pageInfo: {
        hasNextPage: rows.length > first,
        hasPreviousPage: false,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
      countTotal: async () => rows.length,
    };
  }

  async isEmailTaken(email: string, realm: string | null, exceptId: string | null): Promise<boolean> {
    return [...this.users.values()].some(
      (user) => (user.email === email || user.username === email) && (user.realm ?? null) === realm && user.id !== exceptId,
    );
  }

  async pending(localId: string): Promise<PendingUser | undefined> {
    const user = this.users.get(localId);
    const sync = this.syncQueue.get(localId);
    if (!user || !sync || user.syncStatus === 'SYNCED') return undefined;
    return { user: { ...user }, ...sync };
  }

  async wasDeleted(id: string): Promise<boolean> {
    return this.deleted.has(id);
  }

  async insert(record: UserRecord): Promise<void> {
    if (this.users.has(record.id)) throw new Error(`duplicate key: user ${record.id}`);
    this.users.set(record.id, { ...record });
  }

  async insertPending(record: UserRecord, sync: { action: string; actorId: string | null }): Promise<void> {
    await this.insert(record);
    this.syncQueue.set(record.id, sync);
  }

  async adoptKeycloakId(localId: string, id: string): Promise<boolean> {
    const user = this.users.get(localId);
    if (!user || user.syncStatus === 'SYNCED') return this.users.get(id)?.syncStatus === 'SYNCED';
    this.users.delete(localId);
    this.users.set(id, { ...user, id, syncStatus: 'SYNCED', updatedAt: new Date() });
    this.links.move(localId, id);
    this.syncQueue.delete(localId);
    return true;
  }

  async updateProfile(id: string, profile: UserProfile): Promise<void> {
    const user = this.users.get(id);
    if (user) Object.assign(user, profile, { updatedAt: new Date() });
  }

  async remove(id: string): Promise<void> {
    await this.recordDeletion(id);
    this.users.delete(id);
    this.links.forget(id);
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

  async upsertFromKeycloak(user: MirroredUser, realm: string | null): Promise<boolean> {
    if (this.deleted.has(user.id)) return false;
    const { createdAt, ...profile } = user;
    const existing = this.users.get(user.id);
    this.users.set(user.id, {
      ...profile,
      realm,
      syncStatus: 'SYNCED',
      createdAt: existing?.createdAt ?? createdAt,
      updatedAt: new Date(),
    });
    return true;
  }
}

/** Users' direct roles and groups in memory; only the roles and groups it knows can be linked, as in the mirror. */
export class FakeUserLinks implements UserLinks {
  readonly roles = new Map<string, RoleRecord>();
  readonly groups = new Map<string, GroupRecord>();
  private readonly held = new Map<string, { roleIds: Set<string>; groupIds: Set<string> }>();

  within(_em: EntityManager): FakeUserLinks {
    return this;
  }

  of(userId: string): { roleIds: Set<string>; groupIds: Set<string> } {
    let held = this.held.get(userId);
    if (!held) this.held.set(userId, (held = { roleIds: new Set(), groupIds: new Set() }));
    return held;
  }

  async roleIdsOf(userId: string): Promise<string[]> {
    return [...this.of(userId).roleIds];
  }

  async groupIdsOf(userId: string): Promise<string[]> {
    return [...this.of(userId).groupIds];
  }

  async rolesOf(userId: string): Promise<RoleRecord[]> {
    return [...this.of(userId).roleIds].map((id) => this.roles.get(id)!);
  }

  async groupsOf(userId: string): Promise<GroupRecord[]> {
    return [...this.of(userId).groupIds].map((id) => this.groups.get(id)!);
  }

  async changeRoles(userId: string, changes: LinkChanges<{ id: string }>): Promise<void> {
    change(this.of(userId).roleIds, changes);
  }

  async changeGroups(userId: string, changes: LinkChanges<{ id: string }>): Promise<void> {
    change(this.of(userId).groupIds, changes);
  }

  async replace(userId: string, roleIds: readonly string[], groupIds: readonly string[]): Promise<void> {
    this.held.set(userId, {
      roleIds: new Set(roleIds.filter((id) => this.roles.has(id))),
      groupIds: new Set(groupIds.filter((id) => this.groups.has(id))),
    });
  }

  /** A user's links follow it to a new id (ON UPDATE CASCADE). */
  move(fromId: string, toId: string): void {
    this.held.set(toId, this.of(fromId));
    this.held.delete(fromId);
  }

  /** A deleted user's links go with it (ON DELETE CASCADE). */
  forget(userId: string): void {
    this.held.delete(userId);
  }
}

function change(held: Set<string>, { add, remove }: LinkChanges<{ id: string }>): void {
  for (const { id } of add) held.add(id);
  for (const { id } of remove) held.delete(id);
}
