import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { UUID } from '../validation.js';
import type { Logger } from '../logger.js';
import { AuditQueries, type StaleEvent } from '../modules/audit/audit.queries.js';
import type { LinkChanges } from '../modules/roles/links.js';
import type { UserRecord } from '../modules/users/user.type.js';
import type { MirroredUser } from '../modules/users/users.queries.js';
import type { Services } from '../services.js';
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
  /** The gateway's admin client in its own realm, for the directory sync. */
  keycloak: KeycloakAdminClient;
  /** The service graph over an EntityManager (src/services.ts). */
  services: (em: EntityManager) => Services;
  log: Logger;
}

/** One pass's view: the services over one fork, and the journal's entries. */
interface Pass {
  em: EntityManager;
  services: Services;
  audit: AuditQueries;
  log: Logger;
}

const PAGE_SIZE = 500;
const STALE_BATCH = 200;
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
  await mirrorUsers(pass(deps), options, now, run);
  await settleStaleEvents(pass(deps), options, now, run);
  return run;
}

function pass(deps: Deps): Pass {
  const em = deps.em.fork();
  return { em, services: deps.services(em), audit: new AuditQueries(em), log: deps.log };
}

async function mirrorUsers(pass: Pass, options: ReconcilerOptions, now: Date, run: ReconcileRun): Promise<void> {
  const { services, log } = pass;
  const users = services.queries.users;
  const keycloak = services.directories(null);
  // Rows written after this instant are newer than what the comparison reads from Keycloak.
  const snapshotAt = new Date();
  const remote = new Map<string, MirroredUser>();
  for (let first = 0; ; first += PAGE_SIZE) {
    const page = await keycloak.list(first, PAGE_SIZE);
    for (const user of page) remote.set(user.id, user);
    if (page.length < PAGE_SIZE) break;
  }
  // Read after the listing: covers every write that was under way while Keycloak was read.
  const touched = () => touchedTargets(pass, options, now, snapshotAt);
  const inFlight = await touched();
  const local = new Map((await users.homeRealmUsers()).map((user) => [user.id, user]));

  // Deletions first, so that a user re-created under the same email can take its place.
  for (const user of local.values()) {
    if (user.syncStatus !== 'SYNCED' || remote.has(user.id) || user.createdAt >= snapshotAt || inFlight.has(user.id)) continue;
    if (await keycloak.find(user.id)) continue;
    await forgetDeleted(pass, user.id);
    local.delete(user.id);
    run.usersRemoved++;
    // The id only: the info log holds no personal data, and the id finds the user in the journal.
    log.info({ userId: user.id }, 'reconciler: user deleted outside the gateway removed from the mirror');
  }

  const added = new Set<string>();
  const pendingEmails = new Set([...local.values()].filter((user) => user.syncStatus !== 'SYNCED').map((user) => user.email));
  for (const remoteUser of remote.values()) {
    const mine = local.get(remoteUser.id);
    try {
      if (!mine) {
        // A pending local user of this email is the sync job's to adopt; an in-flight creation is the gateway's.
        if (pendingEmails.has(remoteUser.email) || inFlight.has(remoteUser.email)) continue;
        await users.insertFromKeycloak(remoteUser);
        added.add(remoteUser.id);
        run.usersAdded++;
      } else if (mine.syncStatus === 'SYNCED' && mine.updatedAt < snapshotAt && !inFlight.has(mine.id) && differs(mine, remoteUser)) {
        await users.updateFromKeycloak(mine.id, remoteUser, snapshotAt);
        run.usersUpdated++;
      }
    } catch (error) {
      // For example an email still held by another row: the next run sees the situation anew.
      log.warn({ err: error, userId: remoteUser.id }, 'reconciler: could not mirror a Keycloak user');
    }
  }

  run.linksChanged += await mirrorLinks(pass, remote, touched, snapshotAt, added);
}

/**
 * Direct role, privilege and group memberships: one listing per role and per group, not
 * one per user. Privileges too, and subgroups: Keycloak's console can map a privilege to a
 * user, or put one in a subgroup, and the token then holds what they give (effective roles).
 */
async function mirrorLinks(
  { services }: Pass,
  remote: Map<string, MirroredUser>,
  touched: () => Promise<Set<string>>,
  snapshotAt: Date,
  added: Set<string>,
): Promise<number> {
  const users = services.queries.users;
  const keycloak = services.directories(null);
  const settled = await users.settledHomeRealmIds(snapshotAt);
  // Each listing is compared with the writes journaled since the comparison began, read
  // after the listing: a user, role or group the gateway wrote meanwhile waits for the next run.
  const eligibleNow = async (targetId: string) => {
    const busy = await touched();
    if (busy.has(targetId)) return undefined;
    return (userId: string) => (settled.has(userId) || added.has(userId)) && remote.has(userId) && !busy.has(userId);
  };
  const { roles, groups } = services.queries;
  const applyLinks = async (
    targetId: string,
    members: Set<string>,
    held: () => Promise<string[]>,
    change: (changes: LinkChanges<{ id: string }>) => Promise<void>,
  ) => {
    const eligible = await eligibleNow(targetId);
    if (!eligible) return 0;
    const linked = new Set(await held());
    const add = [...members].filter((id) => !linked.has(id) && eligible(id));
    const remove = [...linked].filter((id) => !members.has(id) && eligible(id));
    await change({ add: add.map((id) => ({ id })), remove: remove.map((id) => ({ id })) });
    return add.length + remove.length;
  };
  let changed = 0;

  for (const role of [...(await roles.list('ROLE')), ...(await roles.list('PRIVILEGE'))]) {
    const holders = await pagedIds((first, max) => keycloak.usersWithRole(role.name, first, max));
    changed += await applyLinks(
      role.id,
      holders,
      () => roles.holderIdsOf(role.id),
      (changes) => roles.changeHolders(role.id, changes),
    );
  }
  for (const groupId of await groups.ids()) {
    const members = await pagedIds((first, max) => keycloak.groupMembers(groupId, first, max));
    changed += await applyLinks(
      groupId,
      members,
      () => groups.memberIdsOf(groupId),
      (changes) => groups.changeMembers(groupId, changes),
    );
  }
  return changed;
}

async function pagedIds(list: (first: number, max: number) => Promise<string[]>): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let first = 0; ; first += PAGE_SIZE) {
    const page = await list(first, PAGE_SIZE);
    for (const id of page) ids.add(id);
    if (page.length < PAGE_SIZE) return ids;
  }
}

/**
 * Targets (ids and emails) the gateway is writing or wrote since `since`: journal entries
 * still PENDING within their time, and any entry recorded or settled since then.
 */
function touchedTargets({ audit }: Pass, options: ReconcilerOptions, now: Date, since: Date): Promise<Set<string>> {
  return audit.touchedTargets(new Date(now.getTime() - options.pendingTimeoutSeconds * 1000), since);
}

async function settleStaleEvents(pass: Pass, options: ReconcilerOptions, now: Date, run: ReconcileRun): Promise<void> {
  const stale = await pass.audit.stale(new Date(now.getTime() - options.pendingTimeoutSeconds * 1000), STALE_BATCH);
  for (const event of stale) {
    try {
      const outcome = await settlement(pass, event);
      await pass.audit.settle(event.id, outcome.status, `settled by the reconciler: ${outcome.note}`, outcome.targetId ?? null);
      run.eventsSettled++;
      pass.log.info({ eventId: event.id, action: event.action, status: outcome.status }, 'reconciler: stale journal entry settled');
    } catch (error) {
      pass.log.warn({ err: error, eventId: event.id }, 'reconciler: could not settle a stale journal entry; next run tries again');
    }
  }
}

async function settlement(pass: Pass, event: StaleEvent): Promise<{ status: 'SUCCEEDED' | 'FAILED'; note: string; targetId?: string }> {
  const { services } = pass;
  const users = services.queries.users;
  const keycloak = services.directories(null);
  const email = typeof event.details?.email === 'string' ? event.details.email.toLowerCase() : undefined;
  // Realm tenancy: an account of a tenant realm is not the gateway realm's to compare with; left as it is.
  const tenantRealm =
    typeof event.details?.realm === 'string' ||
    (event.targetType === 'User' && event.targetId && UUID.test(event.targetId)
      ? (await users.findByIds([event.targetId]))[0]?.realm
      : null);
  if (tenantRealm) return { status: 'FAILED', note: 'an account of a tenant realm: only the gateway realm is reconciled' };
  if (event.targetType === 'User' && CREATE_ACTIONS.has(event.action) && email) {
    const remoteUser = await keycloak.findByEmail(email);
    if (!remoteUser) return { status: 'FAILED', note: 'the user never reached Keycloak' };
    if (await users.hasUnsyncedWithEmail(email)) {
      return { status: 'FAILED', note: 'interrupted; the sync job takes the user up again', targetId: remoteUser.id };
    }
    await services.userMirror.mirror(remoteUser);
    return { status: 'SUCCEEDED', note: 'the user Keycloak created was mirrored', targetId: remoteUser.id };
  }
  if (event.targetType === 'User' && event.action === 'USER_SYNC') {
    return { status: 'FAILED', note: 'interrupted; the sync job takes the user up again' };
  }
  if (event.targetType === 'User' && DELETE_ACTIONS.has(event.action) && event.targetId) {
    if (await keycloak.find(event.targetId)) return { status: 'FAILED', note: 'Keycloak still has the user' };
    await forgetDeleted(pass, event.targetId);
    return { status: 'SUCCEEDED', note: 'Keycloak had deleted the user; the local deletion was finished' };
  }
  if (event.targetType === 'User' && event.targetId) {
    const remoteUser = await keycloak.find(event.targetId);
    if (remoteUser) await services.userMirror.mirror(remoteUser);
    else await forgetDeleted(pass, event.targetId);
  }
  // Roles and groups were just mirrored from Keycloak; local-only writes never committed.
  return { status: 'FAILED', note: 'interrupted before the local commit; the mirror now matches Keycloak' };
}

/** Removes a user Keycloak no longer has from the mirror, as a deletion through the gateway does. */
function forgetDeleted({ em, services }: Pass, id: string): Promise<void> {
  return em.transactional((tx) => services.users.forgetDeleted(tx, id));
}

function differs(mine: UserRecord, remote: MirroredUser): boolean {
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

function sortKeys(attributes: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)));
}
