import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { holdersCondition, selectPrivilegeReach } from '../roles/roles.queries.js';
import { keysetPage, type Page, type PageWindow } from '../../db/pagination.js';
import { UserEntity } from './user.entity.js';
import { UserSyncEntity } from './user-sync.entity.js';
import type { UserProfile, UserRecord } from './user.type.js';

/** The user's shape as read: written once, for every read below. */
const USER_COLUMNS = `u.id, u.username, u.email, u.first_name as "firstName", u.last_name as "lastName", u.enabled,
  u.email_verified as "emailVerified", u.sync_status as "syncStatus", u.attributes, u.created_at as "createdAt",
  u.updated_at as "updatedAt", u.realm`;

/**
 * The mirror's user counts as scalar subqueries, for a statement that reads several
 * features' counts at once (the dashboard's one statement).
 */
export const USER_COUNTS = {
  /** Kept by triggers (users_count, UsersCountEntity): a million users are not counted at each read. */
  all: '(select coalesce(sum(count), 0)::int from users_count)',
  unsynced: "(select count(*)::int from users where sync_status in ('PENDING', 'FAILED'))",
} as const;

export interface UserListFilter {
  search?: string | null;
  enabled?: boolean | null;
  roleId?: string | null;
  groupId?: string | null;
  tenantId?: string | null;
  privilegeId?: string | null;
}

/** A role (or privilege) or a group whose direct holders or members the reconciler compares. */
export interface LinkTarget {
  kind: 'role' | 'group';
  id: string;
}

// The link tables are the roles' and groups' (user-links.ts); read here only to walk a user range.
const LINK_TABLES = { role: 'user_roles l', group: 'user_groups l' } as const;
const LINK_COLUMNS = { role: 'role_id', group: 'group_id' } as const;

/** A user of Keycloak as the mirror keeps it. */
export interface MirroredUser extends UserProfile {
  id: string;
  createdAt: Date;
}

/** A user kept locally while Keycloak was unreachable, with the journal action it was registered under. */
export interface PendingUser {
  user: UserRecord;
  action: string;
  actorId: string | null;
}

/**
 * What the user service reads and writes: the part of UsersQueries it uses, so that its
 * unit tests run against an in-memory fake (users.queries.fake.ts).
 */
export interface UserServiceQueries {
  /** The same statements inside the transaction `em` (a journal write's local step). */
  within(em: EntityManager): UserServiceQueries;
  findByIds(ids: readonly string[]): Promise<UserRecord[]>;
  findByEmail(email: string): Promise<UserRecord[]>;
  findByEmailInRealm(email: string, realm: string | null): Promise<UserRecord[]>;
  findByEmailsInRealm(emails: readonly string[], realm: string | null): Promise<UserRecord[]>;
  list(window: PageWindow, filter: UserListFilter): Promise<Page<UserRecord>>;
  /** Whether another account of the realm has this email or username. */
  isEmailTaken(email: string, realm: string | null, exceptId: string | null): Promise<boolean>;
  pending(localId: string): Promise<PendingUser | undefined>;
  wasDeleted(id: string): Promise<boolean>;
  insert(record: UserRecord): Promise<void>;
  /** Inserts the user and queues it for the sync job. */
  insertPending(record: UserRecord, sync: { action: string; actorId: string | null }): Promise<void>;
  /**
   * The pending user `localId` takes its Keycloak id `id` and becomes SYNCED (its links
   * and memberships follow by ON UPDATE CASCADE), its sync row goes, and the journal entries naming it
   * follow it. False when no such user is left (deleted before it reached Keycloak).
   */
  adoptKeycloakId(localId: string, id: string): Promise<boolean>;
  updateProfile(id: string, profile: UserProfile): Promise<void>;
  /** Removes the user's row (links cascade), remembering the deletion (see recordDeletion). */
  remove(id: string): Promise<void>;
  recordDeletion(id: string): Promise<void>;
  /** Writes a token's profile claims into the record; null when there is no record. */
  updateClaims(id: string, claims: Omit<UserProfile, 'enabled' | 'attributes'>): Promise<UserRecord | null>;
  /**
   * Writes a Keycloak user into the mirror; never a user the gateway saw deleted. Answers
   * whether the user is in the mirror now.
   */
  upsertFromKeycloak(user: MirroredUser, realm: string | null): Promise<boolean>;
}

/**
 * Every statement on `users`, on the deletion tombstones (`deleted_users`) and on the
 * sync queue (`user_sync`); a user's role and group links are in the roles' and groups'
 * tables (user-links.ts). Bound to an EntityManager: the request's, a job's, or with `within(em)` a journal write's transaction.
 */
export class UsersQueries implements UserServiceQueries {
  constructor(private readonly em: EntityManager) {}

  within(em: EntityManager): UsersQueries {
    return new UsersQueries(em);
  }

  // ---- reads

  findByIds(ids: readonly string[]): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.id in (?)`, [ids]);
  }

  /** Every account with this email, whatever its realm. */
  findByEmail(email: string): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.email = ?`, [email.trim().toLowerCase()]);
  }

  findByEmailInRealm(email: string, realm: string | null): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.email = ? and u.realm is not distinct from ?`, [
      email.trim().toLowerCase(),
      realm,
    ]);
  }

  /** The accounts of the realm whose email or username is one of `emails` (lower-cased): one statement for a whole import. */
  findByEmailsInRealm(emails: readonly string[], realm: string | null): Promise<UserRecord[]> {
    if (emails.length === 0) return Promise.resolve([]);
    return selectRows(
      this.em,
      `select ${USER_COLUMNS} from users u where (u.email in (?) or u.username in (?)) and u.realm is not distinct from ?`,
      [emails, emails, realm],
    );
  }

  async list(window: PageWindow, filter: UserListFilter = {}): Promise<Page<UserRecord>> {
    // The privilege's reach first (one small statement), so that the page's statement names
    // its roles and groups as constants and can be written for how common its holders are.
    const reach = filter.privilegeId ? await selectPrivilegeReach(this.em, filter.privilegeId) : undefined;
    return keysetPage(
      this.em,
      {
        list: 'users',
        columns: USER_COLUMNS,
        from: 'users u',
        where: filterCondition(filter, reach && holdersCondition(reach, reach.common ? 'walk' : 'collect')),
        countWhere: reach?.common ? filterCondition(filter, holdersCondition(reach, 'collect')) : undefined,
        orderBy: ['u.created_at', 'u.id'],
        direction: 'asc',
        positionOf: (user: UserRecord) => ({ at: user.createdAt, id: user.id }),
        countTotal: async () => {
          const [total] = await selectRows<{ count: string }>(this.em, `select ${USER_COUNTS.all} as count`, []);
          return Number(total!.count);
        },
      },
      window,
    );
  }

  async isEmailTaken(email: string, realm: string | null, exceptId: string | null): Promise<boolean> {
    const [taken] = await selectRows(
      this.em,
      'select 1 from users where (email = ? or username = ?) and realm is not distinct from ? and id is distinct from ?',
      [email, email, realm, exceptId],
    );
    return Boolean(taken);
  }

  async pending(localId: string): Promise<PendingUser | undefined> {
    const [row] = await selectRows<UserRecord & { action: string; actorId: string | null }>(
      this.em,
      `select ${USER_COLUMNS}, s.action, s.actor_id as "actorId" from users u join user_sync s on s.user_id = u.id
        where u.id = ? and u.sync_status <> 'SYNCED'`,
      [localId],
    );
    if (!row) return undefined;
    const { action, actorId, ...user } = row;
    // Raw rows carry timestamps as text.
    return { user: { ...user, createdAt: new Date(user.createdAt), updatedAt: new Date(user.updatedAt) }, action, actorId };
  }

  async wasDeleted(id: string): Promise<boolean> {
    return (await selectRows(this.em, 'select 1 from deleted_users where id = ?', [id])).length > 0;
  }

  /**
   * The enabled, synced account a password reset names: with `tenantRealmOf` the account
   * in that tenant's realm (realm tenancy; an unknown tenant matches no one), else the
   * gateway realm's.
   */
  async findForPasswordReset(email: string, tenantRealmOf?: string): Promise<{ id: string; realm: string | null } | undefined> {
    const [user] = await selectRows<{ id: string; realm: string | null }>(
      this.em,
      tenantRealmOf === undefined
        ? "select id, realm from users where email = ? and realm is null and enabled and sync_status = 'SYNCED'"
        : `select u.id, u.realm from users u where u.email = ? and u.enabled and u.sync_status = 'SYNCED'
             and u.realm is not distinct from (select t.realm from tenants t where t.id = ?)
             and exists (select 1 from tenants t where t.id = ?)`,
      tenantRealmOf === undefined ? [email] : [email, tenantRealmOf, tenantRealmOf],
    );
    return user;
  }

  /** The accounts of `realm` (null: the gateway's own) among `ids`, timestamps as dates. */
  async realmUsersByIds(realm: string | null, ids: readonly string[]): Promise<UserRecord[]> {
    if (ids.length === 0) return [];
    const rows = await selectRows<UserRecord>(this.em, `select ${USER_COLUMNS} from users u where u.id in (?) and ${inRealm(realm)}`, [
      ids,
      ...realmParams(realm),
    ]);
    return rows.map(withDates);
  }

  /**
   * Up to `limit` accounts of `realm` whose username lies in (`above`, `upTo`] (null: no
   * bound), after the account `after` (username and id), in bytewise order (`collate "C"`,
   * indexed): the reconciler walks the mirror in ranges, never holding all of it.
   */
  async realmUsersInUsernameRange(
    realm: string | null,
    range: { above: string | null; upTo: string | null },
    after: { username: string; id: string } | null,
    limit: number,
    linkedTo?: LinkTarget,
  ): Promise<UserRecord[]> {
    const clauses = [inRealm(realm)];
    const params: unknown[] = [...realmParams(realm)];
    if (linkedTo) {
      clauses.push(`exists (select 1 from ${LINK_TABLES[linkedTo.kind]} where l.user_id = u.id and l.${LINK_COLUMNS[linkedTo.kind]} = ?)`);
      params.push(linkedTo.id);
    }
    if (range.above !== null) {
      clauses.push('u.username collate "C" > ?');
      params.push(range.above);
    }
    if (range.upTo !== null) {
      clauses.push('u.username collate "C" <= ?');
      params.push(range.upTo);
    }
    if (after) {
      clauses.push('(u.username collate "C", u.id) > (? collate "C", ?)');
      params.push(after.username, after.id);
    }
    const rows = await selectRows<UserRecord>(
      this.em,
      `select ${USER_COLUMNS} from users u where ${clauses.join(' and ')} order by u.username collate "C", u.id limit ?`,
      [...params, limit],
    );
    return rows.map(withDates);
  }

  /** Those of `ids` the mirror links to the role or group `target`. */
  async linkedAmong(target: LinkTarget, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await selectRows<{ id: string }>(
      this.em,
      `select l.user_id as id from ${LINK_TABLES[target.kind]} where l.${LINK_COLUMNS[target.kind]} = ? and l.user_id in (?)`,
      [target.id, ids],
    );
    return new Set(rows.map((row) => row.id));
  }

  /** Those of `ids` that are synced accounts of the gateway's realm last written before `before`. */
  async settledHomeRealmIds(ids: readonly string[], before: Date): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await selectRows<{ id: string }>(
      this.em,
      `select id from users where id in (?) and sync_status = 'SYNCED' and realm is null and updated_at < ?`,
      [ids, before],
    );
    return new Set(rows.map((row) => row.id));
  }

  async hasUnsyncedWithEmail(email: string): Promise<boolean> {
    return (await selectRows(this.em, `select 1 from users where email = ? and sync_status <> 'SYNCED'`, [email])).length > 0;
  }

  // ---- writes

  async insert(record: UserRecord): Promise<void> {
    await this.em.insert(UserEntity, { ...record, realm: record.realm ?? null });
  }

  async insertPending(record: UserRecord, sync: { action: string; actorId: string | null }): Promise<void> {
    await this.insert(record);
    await this.em.insert(UserSyncEntity, {
      user: record.id,
      action: sync.action,
      actorId: sync.actorId,
      attempts: 0,
      nextAt: record.createdAt,
      createdAt: record.createdAt,
    });
  }

  async adoptKeycloakId(localId: string, id: string): Promise<boolean> {
    const swapped = await this.em.execute(
      `update users set id = ?, sync_status = 'SYNCED', updated_at = ? where id = ? and sync_status <> 'SYNCED' returning id`,
      [id, new Date(), localId],
    );
    if (swapped.length === 0) {
      // A process whose lease on this user expired may have finished it already.
      const [done] = await this.em.execute(`select 1 from users where id = ? and sync_status = 'SYNCED'`, [id]);
      if (!done) return false;
    }
    await this.em.execute('delete from user_sync where user_id = ?', [id]);
    await this.em.execute('update audit_events set target_id = ? where target_id = ?', [id, localId]);
    return true;
  }

  async updateProfile(id: string, profile: UserProfile): Promise<void> {
    await this.em.nativeUpdate(UserEntity, { id }, { ...profile, updatedAt: new Date() });
  }

  async remove(id: string): Promise<void> {
    await this.recordDeletion(id);
    await this.em.nativeDelete(UserEntity, { id });
  }

  /**
   * Remembers that the user `id` is gone, in the transaction that removes its row: its
   * tokens, valid until they expire, must not bring the row back (see upsertFromKeycloak).
   */
  async recordDeletion(id: string): Promise<void> {
    await this.em.execute('insert into deleted_users (id, deleted_at) values (?, ?) on conflict (id) do nothing', [id, new Date()]);
  }

  async updateClaims(id: string, claims: Omit<UserProfile, 'enabled' | 'attributes'>): Promise<UserRecord | null> {
    const [row] = await this.em
      .createQueryBuilder(UserEntity)
      .update({ ...claims, updatedAt: new Date() })
      .where({ id })
      .returning('*')
      .execute('all');
    return (row as UserRecord | undefined) ?? null;
  }

  async upsertFromKeycloak(user: MirroredUser, realm: string | null): Promise<boolean> {
    const written = await this.em.execute(
      `insert into users (id, realm, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
       select ?, ?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED', ?, ? where not exists (select 1 from deleted_users where id = ?)
       on conflict (id) do update set username = excluded.username, email = excluded.email, first_name = excluded.first_name,
         last_name = excluded.last_name, enabled = excluded.enabled, email_verified = excluded.email_verified,
         attributes = excluded.attributes, sync_status = 'SYNCED', updated_at = excluded.updated_at
       returning id`,
      [user.id, realm, ...profileValues(user), user.createdAt, new Date(), user.id],
    );
    return written.length > 0;
  }

  /** A Keycloak user of `realm` (null: the gateway's) the mirror lacks; one already there stays as it is. */
  async insertFromKeycloak(user: MirroredUser, realm: string | null = null): Promise<void> {
    await this.em.execute(
      `insert into users (id, realm, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED', ?, ?) on conflict (id) do nothing`,
      [user.id, realm, ...profileValues(user), user.createdAt, new Date()],
    );
  }

  /** Keycloak's profile of a mirrored user, unless the row was written since `notSince`. */
  async updateFromKeycloak(id: string, profile: UserProfile, notSince: Date): Promise<void> {
    await this.em.execute(
      `update users set username = ?, email = ?, first_name = ?, last_name = ?, enabled = ?, email_verified = ?, attributes = ?,
         updated_at = ? where id = ? and updated_at < ?`,
      [...profileValues(profile), new Date(), id, notSince],
    );
  }

  // ---- the sync queue: users kept locally while Keycloak was unreachable

  /**
   * Leases up to `batchSize` users due for a push until `leaseUntil`, counting the attempt.
   * `FOR UPDATE SKIP LOCKED`: processes claiming at once never claim the same user.
   */
  claimDueSync(now: Date, leaseUntil: Date, batchSize: number): Promise<{ userId: string; attempts: number }[]> {
    return this.em.getConnection().execute<{ userId: string; attempts: number }[]>(
      `update user_sync s set lease_until = ?, attempts = s.attempts + 1
        where s.user_id in (
          select user_id from user_sync
           where next_at <= ? and (lease_until is null or lease_until < ?)
           order by next_at limit ? for update skip locked)
        returning s.user_id as "userId", s.attempts`,
      [leaseUntil, now, now, batchSize],
    );
  }

  /** Ends a lease on a user not pushed: its status, why, and when it is tried again. */
  async releaseSync(userId: string, outcome: { status: 'PENDING' | 'FAILED'; reason: string; nextAt: Date }): Promise<void> {
    await this.em.transactional(async (tx) => {
      await tx.execute(`update users set sync_status = ?, updated_at = ? where id = ? and sync_status <> 'SYNCED'`, [
        outcome.status,
        new Date(),
        userId,
      ]);
      await tx.execute('update user_sync set last_error = ?, next_at = ?, lease_until = null where user_id = ?', [
        outcome.reason,
        outcome.nextAt,
        userId,
      ]);
    });
  }
}

function inRealm(realm: string | null): string {
  return realm === null ? 'u.realm is null' : 'u.realm = ?';
}

function realmParams(realm: string | null): unknown[] {
  return realm === null ? [] : [realm];
}

/** Raw rows carry timestamps as text. */
function withDates(user: UserRecord): UserRecord {
  return { ...user, createdAt: new Date(user.createdAt), updatedAt: new Date(user.updatedAt) };
}

function profileValues(profile: UserProfile): unknown[] {
  return [
    profile.username,
    profile.email,
    profile.firstName,
    profile.lastName,
    profile.enabled,
    profile.emailVerified,
    JSON.stringify(profile.attributes),
  ];
}

/** The filter's criteria, with the holders of its privilege as holdersCondition writes them. */
function filterCondition(
  filter: UserListFilter,
  holders?: { clause: string; params: unknown[] },
): { clauses: string[]; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const search = filter.search?.trim();
  if (search) {
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    clauses.push('(u.email ilike ? or u.username ilike ? or u.first_name ilike ? or u.last_name ilike ?)');
    params.push(pattern, pattern, pattern, pattern);
  }
  if (typeof filter.enabled === 'boolean') {
    clauses.push('u.enabled = ?');
    params.push(filter.enabled);
  }
  if (filter.roleId) {
    clauses.push('exists (select 1 from user_roles ur where ur.user_id = u.id and ur.role_id = ?)');
    params.push(filter.roleId);
  }
  if (filter.groupId) {
    clauses.push('exists (select 1 from user_groups ug where ug.user_id = u.id and ug.group_id = ?)');
    params.push(filter.groupId);
  }
  if (filter.tenantId) {
    clauses.push('exists (select 1 from memberships m where m.user_id = u.id and m.tenant_id = ?)');
    params.push(filter.tenantId);
  }
  if (holders) {
    clauses.push(holders.clause);
    params.push(...holders.params);
  }
  return { clauses, params };
}
