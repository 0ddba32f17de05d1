import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type UserRepresentation from '@keycloak/keycloak-admin-client/lib/defs/userRepresentation.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../db/loaders.js';
import { UUID } from '../validation.js';
import type { Logger } from '../logger.js';
import type { UserAttributes } from '../modules/users/user.entity.js';
import { syncDirectory } from './directory-sync.js';

export interface ReconcilerOptions {
  /** A journal entry PENDING for longer than this was interrupted: it is settled. */
  pendingTimeoutSeconds: number;
}

export interface ReconcileRun {
  usersAdded: number;
  usersUpdated: number;
  usersRemoved: number;
  linksChanged: number;
  eventsSettled: number;
}

interface Deps {
  em: EntityManager;
  keycloak: KeycloakAdminClient;
  log: Logger;
}

interface MirroredUser {
  id: string;
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes: UserAttributes;
  syncStatus: string;
  createdAt: Date;
  updatedAt: Date;
}

const PAGE_SIZE = 500;
/** The user attributes the gateway manages (declared by provisioning's user profile). */
const MIRRORED_ATTRIBUTES = ['entity_code', 'country_code'];
const CREATE_ACTIONS = new Set(['USER_CREATE', 'USER_SIGNUP', 'USER_REGISTER', 'INVITATION_ACCEPT']);
const DELETE_ACTIONS = new Set(['USER_DELETE', 'ACCOUNT_DELETE']);

/**
 * Keeps the mirror of the gateway's own realm (users with no `realm`) equal to Keycloak whatever happened outside the gateway or half-way
 * through one of its writes. Keycloak is the source of truth for identities, so every
 * rule here moves PostgreSQL towards Keycloak and never the reverse:
 *
 * 1. Roles, privileges and groups: syncDirectory.
 * 2. Users and their direct role and group links: a paged comparison of Keycloak with the
 *    mirror (rather than admin events, which miss changes users make themselves, expire,
 *    and can be turned off; a comparison heals any drift, whatever caused it). Writes the
 *    gateway has in flight (a young PENDING journal entry) are left alone; a user that
 *    looks deleted is checked once more before it goes.
 * 3. Journal entries PENDING past the timeout (a crash or a failed undo between the
 *    Keycloak call and the local commit): a created user Keycloak has is mirrored, not
 *    deleted, as it may already be in use; a deletion Keycloak did is finished locally.
 *
 * Run by one process at a time (the job lease in src/jobs/jobs.ts).
 */
export async function reconcile(deps: Deps, options: ReconcilerOptions, now: Date = new Date()): Promise<ReconcileRun> {
  const unsynced = await syncDirectory(deps.keycloak, deps.em.fork());
  if (unsynced.length > 0) deps.log.warn({ unsynced }, 'directory sync left roles or groups for its next run');
  const run: ReconcileRun = { usersAdded: 0, usersUpdated: 0, usersRemoved: 0, linksChanged: 0, eventsSettled: 0 };
  await mirrorUsers(deps, options, now, run);
  await settleStaleEvents(deps, options, now, run);
  return run;
}

async function mirrorUsers(deps: Deps, options: ReconcilerOptions, now: Date, run: ReconcileRun): Promise<void> {
  const { keycloak, log } = deps;
  const em = deps.em.fork();
  // Rows written after this instant are newer than what the comparison reads from Keycloak.
  const snapshotAt = new Date();
  const remote = new Map<string, UserRepresentation>();
  for (let first = 0; ; first += PAGE_SIZE) {
    const page = await keycloak.users.find({ first, max: PAGE_SIZE, briefRepresentation: false });
    for (const user of page) if (user.id) remote.set(user.id, user);
    if (page.length < PAGE_SIZE) break;
  }
  // Read after the listing: covers every write that was under way while Keycloak was read.
  const inFlight = await touchedTargets(em, options, now, snapshotAt);
  const local = new Map(
    (
      await selectRows<MirroredUser>(
        em,
        `select id, username, email, first_name as "firstName", last_name as "lastName", enabled, email_verified as "emailVerified",
                attributes, sync_status as "syncStatus", created_at as "createdAt", updated_at as "updatedAt"
           from users where realm is null`,
        [],
      )
    ).map((user) => [user.id, { ...user, createdAt: new Date(user.createdAt), updatedAt: new Date(user.updatedAt) }]),
  );

  // Deletions first, so that a user re-created under the same email can take its place.
  for (const user of local.values()) {
    if (user.syncStatus !== 'SYNCED' || remote.has(user.id) || user.createdAt >= snapshotAt || inFlight.has(user.id)) continue;
    if (await keycloak.users.findOne({ id: user.id })) continue;
    await deleteLocalUser(em, user.id);
    local.delete(user.id);
    run.usersRemoved++;
    log.info({ userId: user.id, email: user.email }, 'reconciler: user deleted outside the gateway removed from the mirror');
  }

  const added = new Set<string>();
  const pendingEmails = new Set([...local.values()].filter((user) => user.syncStatus !== 'SYNCED').map((user) => user.email));
  for (const remoteUser of remote.values()) {
    const fields = mirroredFields(remoteUser);
    const mine = local.get(remoteUser.id!);
    try {
      if (!mine) {
        // A pending local user of this email is the sync job's to adopt; an in-flight creation is the gateway's.
        if (pendingEmails.has(fields.email) || inFlight.has(fields.email)) continue;
        await em.execute(
          `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED', ?, ?) on conflict (id) do nothing`,
          [remoteUser.id, fields.username, fields.email, fields.firstName, fields.lastName, fields.enabled, fields.emailVerified,
            JSON.stringify(fields.attributes), new Date(remoteUser.createdTimestamp ?? Date.now()), new Date()],
        );
        added.add(remoteUser.id!);
        run.usersAdded++;
      } else if (mine.syncStatus === 'SYNCED' && mine.updatedAt < snapshotAt && !inFlight.has(mine.id) && differs(mine, fields)) {
        await em.execute(
          `update users set username = ?, email = ?, first_name = ?, last_name = ?, enabled = ?, email_verified = ?, attributes = ?,
             updated_at = ? where id = ? and updated_at < ?`,
          [fields.username, fields.email, fields.firstName, fields.lastName, fields.enabled, fields.emailVerified,
            JSON.stringify(fields.attributes), new Date(), mine.id, snapshotAt],
        );
        run.usersUpdated++;
      }
    } catch (error) {
      // For example an email still held by another row: the next run sees the situation anew.
      log.warn({ err: error, userId: remoteUser.id }, 'reconciler: could not mirror a Keycloak user');
    }
  }

  run.linksChanged += await mirrorLinks(deps, em, remote, () => touchedTargets(em, options, now, snapshotAt), snapshotAt, added);
}

/**
 * Direct role, privilege and group memberships: one listing per role and per group, not
 * one per user. Privileges too, and subgroups: Keycloak's console can map a privilege to a
 * user, or put one in a subgroup, and the token then holds what they give (effective roles).
 */
async function mirrorLinks(
  { keycloak }: Deps,
  em: EntityManager,
  remote: Map<string, UserRepresentation>,
  touched: () => Promise<Set<string>>,
  snapshotAt: Date,
  added: Set<string>,
): Promise<number> {
  const settled = new Set(
    (
      await selectRows<{ id: string }>(em, `select id from users where sync_status = 'SYNCED' and realm is null and updated_at < ?`, [snapshotAt])
    ).map((row) => row.id),
  );
  // Each listing is compared with the writes journaled since the comparison began, read
  // after the listing: a user, role or group the gateway wrote meanwhile waits for the next run.
  const eligibleNow = async (targetId: string) => {
    const busy = await touched();
    if (busy.has(targetId)) return undefined;
    return (userId: string) => (settled.has(userId) || added.has(userId)) && remote.has(userId) && !busy.has(userId);
  };
  let changed = 0;

  const roles = await selectRows<{ id: string; name: string }>(em, 'select id, name from realm_roles', []);
  for (const role of roles) {
    const members = await pagedIds((first, max) => keycloak.roles.findUsersWithRole({ name: role.name, first, max, briefRepresentation: true }));
    const eligible = await eligibleNow(role.id);
    if (eligible) changed += await applyLinks(em, 'user_roles', 'role_id', role.id, members, eligible);
  }
  const groups = await selectRows<{ id: string }>(em, 'select id from groups', []);
  for (const group of groups) {
    const members = await pagedIds((first, max) => keycloak.groups.listMembers({ id: group.id, first, max, briefRepresentation: true }));
    const eligible = await eligibleNow(group.id);
    if (eligible) changed += await applyLinks(em, 'user_groups', 'group_id', group.id, members, eligible);
  }
  return changed;
}

async function applyLinks(
  em: EntityManager,
  table: 'user_roles' | 'user_groups',
  column: 'role_id' | 'group_id',
  targetId: string,
  members: Set<string>,
  eligible: (userId: string) => boolean,
): Promise<number> {
  const held = new Set(
    (await selectRows<{ userId: string }>(em, `select user_id as "userId" from ${table} where ${column} = ?`, [targetId])).map(
      (row) => row.userId,
    ),
  );
  const add = [...members].filter((id) => !held.has(id) && eligible(id));
  const remove = [...held].filter((id) => !members.has(id) && eligible(id));
  for (const userId of add) {
    await em.execute(`insert into ${table} (user_id, ${column}) values (?, ?) on conflict do nothing`, [userId, targetId]);
  }
  if (remove.length > 0) await em.execute(`delete from ${table} where ${column} = ? and user_id in (?)`, [targetId, remove]);
  return add.length + remove.length;
}

async function pagedIds(list: (first: number, max: number) => Promise<{ id?: string }[]>): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let first = 0; ; first += PAGE_SIZE) {
    const page = await list(first, PAGE_SIZE);
    for (const { id } of page) if (id) ids.add(id);
    if (page.length < PAGE_SIZE) return ids;
  }
}

/**
 * Targets (ids and emails) the gateway is writing or wrote since `since`: journal entries
 * still PENDING within their time, and any entry recorded or settled since then.
 */
async function touchedTargets(em: EntityManager, options: ReconcilerOptions, now: Date, since: Date): Promise<Set<string>> {
  const rows = await selectRows<{ targetId: string | null; email: string | null }>(
    em,
    `select target_id as "targetId", details->>'email' as email from audit_events
      where (status = 'PENDING' and updated_at >= ?) or updated_at >= ?`,
    [new Date(now.getTime() - options.pendingTimeoutSeconds * 1000), since],
  );
  return new Set(rows.flatMap((row) => [row.targetId, row.email?.toLowerCase()]).filter((value): value is string => Boolean(value)));
}

interface StaleEvent {
  id: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown> | null;
}

async function settleStaleEvents(deps: Deps, options: ReconcilerOptions, now: Date, run: ReconcileRun): Promise<void> {
  const em = deps.em.fork();
  const stale = await selectRows<StaleEvent>(
    em,
    `select id, action, target_type as "targetType", target_id as "targetId", details from audit_events
      where status = 'PENDING' and updated_at < ? order by at limit 200`,
    [new Date(now.getTime() - options.pendingTimeoutSeconds * 1000)],
  );
  for (const event of stale) {
    try {
      const outcome = await settlement(deps, em, event);
      await em.execute(
        `update audit_events set status = ?, error = ?, target_id = coalesce(?, target_id), updated_at = ? where id = ? and status = 'PENDING'`,
        [outcome.status, `settled by the reconciler: ${outcome.note}`, outcome.targetId ?? null, new Date(), event.id],
      );
      run.eventsSettled++;
      deps.log.info({ eventId: event.id, action: event.action, status: outcome.status }, 'reconciler: stale journal entry settled');
    } catch (error) {
      deps.log.warn({ err: error, eventId: event.id }, 'reconciler: could not settle a stale journal entry; next run tries again');
    }
  }
}

async function settlement(
  { keycloak }: Deps,
  em: EntityManager,
  event: StaleEvent,
): Promise<{ status: 'SUCCEEDED' | 'FAILED'; note: string; targetId?: string }> {
  const email = typeof event.details?.email === 'string' ? event.details.email.toLowerCase() : undefined;
  // Realm tenancy: an account of a tenant realm is not the gateway realm's to compare with; left as it is.
  const tenantRealm =
    typeof event.details?.realm === 'string' ||
    (event.targetType === 'User' && event.targetId && UUID.test(event.targetId)
      ? (await selectRows<{ realm: string | null }>(em, 'select realm from users where id = ?', [event.targetId]))[0]?.realm
      : null);
  if (tenantRealm) return { status: 'FAILED', note: 'an account of a tenant realm: only the gateway realm is reconciled' };
  if (event.targetType === 'User' && CREATE_ACTIONS.has(event.action) && email) {
    const [remoteUser] = await keycloak.users.find({ email, exact: true, briefRepresentation: false });
    if (!remoteUser?.id) return { status: 'FAILED', note: 'the user never reached Keycloak' };
    const [pending] = await selectRows(em, `select 1 from users where email = ? and sync_status <> 'SYNCED'`, [email]);
    if (pending) return { status: 'FAILED', note: 'interrupted; the sync job takes the user up again', targetId: remoteUser.id };
    await mirrorOne(keycloak, em, remoteUser);
    return { status: 'SUCCEEDED', note: 'the user Keycloak created was mirrored', targetId: remoteUser.id };
  }
  if (event.targetType === 'User' && event.action === 'USER_SYNC') {
    return { status: 'FAILED', note: 'interrupted; the sync job takes the user up again' };
  }
  if (event.targetType === 'User' && DELETE_ACTIONS.has(event.action) && event.targetId) {
    if (await keycloak.users.findOne({ id: event.targetId })) return { status: 'FAILED', note: 'Keycloak still has the user' };
    await deleteLocalUser(em, event.targetId);
    return { status: 'SUCCEEDED', note: 'Keycloak had deleted the user; the local deletion was finished' };
  }
  if (event.targetType === 'User' && event.targetId) {
    const remoteUser = await keycloak.users.findOne({ id: event.targetId });
    if (remoteUser) await mirrorOne(keycloak, em, remoteUser);
    else await deleteLocalUser(em, event.targetId);
  }
  // Roles and groups were just mirrored from Keycloak; local-only writes never committed.
  return { status: 'FAILED', note: 'interrupted before the local commit; the mirror now matches Keycloak' };
}

/**
 * Writes one Keycloak user (of the gateway's realm, or of the tenant realm `realm`), its
 * direct roles and privileges and its groups into the mirror; never a user the gateway saw
 * deleted. Answers whether the user is in the mirror now.
 */
export async function mirrorOne(
  keycloak: KeycloakAdminClient,
  em: EntityManager,
  remoteUser: UserRepresentation,
  realm: string | null = null,
): Promise<boolean> {
  const id = remoteUser.id!;
  const fields = mirroredFields(remoteUser);
  const roles = await keycloak.users.listRealmRoleMappings({ id });
  const groups = await keycloak.users.listGroups({ id, briefRepresentation: true });
  return em.transactional(async (tx) => {
    const written = await tx.execute(
      `insert into users (id, realm, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
       select ?, ?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED', ?, ? where not exists (select 1 from deleted_users where id = ?)
       on conflict (id) do update set username = excluded.username, email = excluded.email, first_name = excluded.first_name,
         last_name = excluded.last_name, enabled = excluded.enabled, email_verified = excluded.email_verified,
         attributes = excluded.attributes, sync_status = 'SYNCED', updated_at = excluded.updated_at
       returning id`,
      [id, realm, fields.username, fields.email, fields.firstName, fields.lastName, fields.enabled, fields.emailVerified,
        JSON.stringify(fields.attributes), new Date(remoteUser.createdTimestamp ?? Date.now()), new Date(), id],
    );
    if (written.length === 0) return false;
    await tx.execute('delete from user_roles where user_id = ?', [id]);
    await tx.execute(
      `insert into user_roles (user_id, role_id) select ?, id from realm_roles where id in (?)`,
      [id, ['00000000-0000-0000-0000-000000000000', ...roles.map((role) => role.id!)]],
    );
    await tx.execute('delete from user_groups where user_id = ?', [id]);
    await tx.execute(`insert into user_groups (user_id, group_id) select ?, id from groups where id in (?)`, [
      id,
      ['00000000-0000-0000-0000-000000000000', ...groups.map((group) => group.id!)],
    ]);
    return true;
  });
}

/** Removes a user from the mirror, with the tenants nobody else belongs to (as a deletion through the gateway does). */
async function deleteLocalUser(em: EntityManager, id: string): Promise<void> {
  await em.transactional(async (tx) => {
    await tx.execute(
      `delete from tenants t where exists (select 1 from memberships m where m.tenant_id = t.id and m.user_id = ?)
         and not exists (select 1 from memberships o where o.tenant_id = t.id and o.user_id <> ?)`,
      [id, id],
    );
    await recordDeletion(tx, id);
    await tx.execute('delete from users where id = ?', [id]);
  });
}

/**
 * Remembers that the user `id` is gone, in the transaction that removes its row: its
 * tokens, valid until they expire, must not bring the row back (see mirrorOne).
 */
export async function recordDeletion(em: EntityManager, id: string): Promise<void> {
  await em.execute('insert into deleted_users (id, deleted_at) values (?, ?) on conflict (id) do nothing', [id, new Date()]);
}

function mirroredFields(user: UserRepresentation) {
  const attributes: UserAttributes = {};
  for (const name of MIRRORED_ATTRIBUTES) {
    const value = (user.attributes as UserAttributes | undefined)?.[name];
    if (value?.length) attributes[name] = value;
  }
  return {
    username: user.username!,
    // Every user of a realm with email as username has one; fall back to the username otherwise.
    email: (user.email ?? user.username!).toLowerCase(),
    firstName: user.firstName ?? '',
    lastName: user.lastName ?? '',
    enabled: user.enabled ?? true,
    emailVerified: user.emailVerified ?? false,
    attributes,
  };
}

function differs(mine: MirroredUser, remote: ReturnType<typeof mirroredFields>): boolean {
  return (
    mine.username !== remote.username ||
    mine.email !== remote.email ||
    mine.firstName !== remote.firstName ||
    mine.lastName !== remote.lastName ||
    mine.enabled !== remote.enabled ||
    mine.emailVerified !== remote.emailVerified ||
    JSON.stringify(sortKeys(mine.attributes ?? {})) !== JSON.stringify(sortKeys(remote.attributes))
  );
}

function sortKeys(attributes: UserAttributes): UserAttributes {
  return Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)));
}
