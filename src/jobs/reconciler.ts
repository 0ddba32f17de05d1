import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import pRetry from 'p-retry';
import { UUID } from '../validation.js';
import type { Logger } from '../logger.js';
import { AuditQueries, type StaleEvent } from '../modules/audit/audit.queries.js';
import type { LinkChanges } from '../modules/roles/links.js';
import type { UserRecord } from '../modules/users/user.type.js';
import type { ListedUser } from '../modules/users/users.directory.js';
import type { LinkTarget, MirroredUser } from '../modules/users/users.queries.js';
import type { Services } from '../services.js';
import { syncDirectory } from './directory-sync.js';

export interface ReconcilerOptions {
  /** A journal entry PENDING for longer than this was interrupted: it is settled. */
  pendingTimeoutSeconds: number;
  /** Keycloak users read, and mirror rows compared with them, at a time (500 unless told). */
  pageSize?: number;
}

export interface ReconcileRun {
  usersAdded: number;
  usersUpdated: number;
  usersRemoved: number;
  linksChanged: number;
  eventsSettled: number;
  /**
   * The most users (Keycloak's and the mirror's together) the comparison held at once: it
   * follows the page size, not the realm's size. Not a healing: kept out of the metrics.
   */
  usersHeldAtMost: number;
}

interface Deps {
  em: EntityManager;
  /** The gateway's admin client in its own realm, for the directory sync. */
  keycloak: KeycloakAdminClient;
  /** The service graph over an EntityManager (src/services.ts). */
  services: (em: EntityManager) => Services;
  log: Logger;
  /** The tenant realms to heal too (realm tenancy); none otherwise. */
  tenantRealms?: () => Promise<readonly string[]>;
}

/** One pass's view: the services over one fork, and the journal's entries. */
interface Pass {
  em: EntityManager;
  services: Services;
  audit: AuditQueries;
  log: Logger;
}

const PAGE_SIZE = 500;
/**
 * A page Keycloak fails to answer (a timeout on a large, busy realm, a dropped connection) is
 * asked again, 1 s then 2 s later, before the run gives up: a full comparison of a large realm
 * takes many minutes, and one slow page among hundreds used to throw all of it away, the next
 * run starting again from the first page. p-retry does the waiting and the counting.
 */
const PAGE_RETRIES = 2;

function readPage<T>(log: Logger, what: string, first: number, read: () => Promise<T>): Promise<T> {
  return pRetry(read, {
    retries: PAGE_RETRIES,
    minTimeout: 1000,
    onFailedAttempt: ({ error, retriesLeft }) => {
      if (retriesLeft > 0)
        log.warn({ err: error, page: what, first, retriesLeft }, 'Keycloak did not answer a page of the comparison: asked again');
    },
  });
}
const STALE_BATCH = 200;
const CREATE_ACTIONS = new Set(['USER_CREATE', 'USER_SIGNUP', 'USER_REGISTER', 'INVITATION_ACCEPT']);
const DELETE_ACTIONS = new Set(['USER_DELETE', 'ACCOUNT_DELETE']);

/**
 * Keeps the mirror equal to Keycloak whatever happened outside the gateway or half-way
 * through one of its writes: the gateway's own realm (users with no `realm`), and in realm
 * tenancy the users of every tenant realm. Keycloak is the source of truth for identities, so every
 * rule here moves PostgreSQL towards Keycloak and never the reverse:
 *
 * 1. Roles, privileges and groups: syncDirectory.
 * 2. Users and their direct role and group links: a paged comparison of Keycloak with the
 *    mirror. Keycloak's admin events (src/jobs/admin-events.ts) bring most outside changes
 *    within seconds; this comparison is the safety net, as events miss changes users make
 *    themselves, expire, and can be turned off, while a comparison heals any drift, whatever
 *    caused it. Writes the gateway has in flight (a young PENDING journal entry) are left
 *    alone; a user that looks deleted is checked once more before it goes.
 * 3. Journal entries PENDING past the timeout (a crash or a failed undo between the
 *    Keycloak call and the local commit): a created user Keycloak has is mirrored, not
 *    deleted, as it may already be in use; a deletion Keycloak did is finished locally.
 *
 * Run by one process at a time (its queue's policy in src/jobs/jobs.ts).
 */
export async function reconcile(deps: Deps, options: ReconcilerOptions, now: Date = new Date()): Promise<ReconcileRun> {
  const unsynced = await syncDirectory(deps.keycloak, deps.em.fork());
  if (unsynced.length > 0) deps.log.warn({ unsynced }, 'directory sync left roles or groups for its next run');
  const run: ReconcileRun = { usersAdded: 0, usersUpdated: 0, usersRemoved: 0, linksChanged: 0, eventsSettled: 0, usersHeldAtMost: 0 };
  await mirrorUsers(pass(deps), options, now, run, null);
  for (const realm of (await deps.tenantRealms?.()) ?? []) {
    try {
      await mirrorUsers(pass(deps), options, now, run, realm);
    } catch (error) {
      // A realm deleted meanwhile, or unreachable: the others are healed all the same.
      deps.log.warn({ err: error, realm }, 'reconciler: could not compare a tenant realm; its next run tries again');
    }
  }
  await settleStaleEvents(pass(deps), options, now, run);
  return run;
}

/** One pass's view over a fresh fork of `deps.em`. */
export function pass(deps: Pick<Deps, 'em' | 'services' | 'log'>): Pass {
  const em = deps.em.fork();
  return { em, services: deps.services(em), audit: new AuditQueries(em), log: deps.log };
}

/**
 * The comparison of one realm's users (null: the gateway's own), streamed: Keycloak lists
 * its users page by page in username order, and each page is compared with the mirror rows
 * of its ids (additions, changes). Users the mirror has and Keycloak lacks are found without
 * remembering every id seen: each page covers a range of usernames, (the previous page's
 * last, this page's last], and the mirror's rows in that range are walked in chunks; one
 * not on the page is a deletion candidate, which Keycloak is asked about once more before it
 * goes. A set of every id seen would grow with the realm (a million uuids is a hundred
 * megabytes), and marking each row as seen would rewrite every row at every run. Keycloak's
 * ordering need not match PostgreSQL's byte order: the ranges are kept rising, so that they
 * cover every username once, and a user met in another range than expected only costs one
 * more lookup. Users Keycloak lists twice or skips while it changes are seen at the next run.
 */
async function mirrorUsers(pass: Pass, options: ReconcilerOptions, now: Date, run: ReconcileRun, realm: string | null): Promise<void> {
  const { services, log } = pass;
  const users = services.queries.users;
  const keycloak = services.directories(realm);
  const pageSize = options.pageSize ?? PAGE_SIZE;
  // Rows written after this instant are newer than what the comparison reads from Keycloak.
  const snapshotAt = new Date();
  const touched = () => touchedTargets(pass, options, now, snapshotAt);
  const added = new Set<string>();
  let above: string | null = null;
  for (let first = 0; ; first += pageSize) {
    const page = await readPage(log, 'users', first, () => keycloak.list(first, pageSize));
    const last = page.length < pageSize;
    // Read after the listing: covers every write that was under way while Keycloak was read.
    const inFlight = await touched();
    const remote = new Map(page.map((user) => [user.id, user]));
    const upTo: string | null = last ? null : highest(above, page);
    const local = new Map((await users.realmUsersByIds(realm, [...remote.keys()])).map((user) => [user.id, user]));
    const held = remote.size + local.size;
    run.usersHeldAtMost = Math.max(run.usersHeldAtMost, held);

    // Deletions first, so that a user re-created under the same email can take its place.
    for (let after: UserRecord | null = null; ; ) {
      const chunk: UserRecord[] = await users.realmUsersInUsernameRange(realm, { above, upTo }, after, pageSize);
      run.usersHeldAtMost = Math.max(run.usersHeldAtMost, held + chunk.length);
      for (const user of chunk) {
        if (user.syncStatus !== 'SYNCED' || remote.has(user.id) || user.createdAt >= snapshotAt || inFlight.has(user.id)) continue;
        if (await keycloak.find(user.id)) continue;
        await forgetDeleted(pass, user.id);
        run.usersRemoved++;
        // The id only: the info log holds no personal data, and the id finds the user in the journal.
        log.info({ userId: user.id, realm: realm ?? undefined }, 'reconciler: user deleted outside the gateway removed from the mirror');
      }
      if (chunk.length < pageSize) break;
      after = chunk.at(-1)!;
    }

    for (const remoteUser of remote.values()) {
      const mine = local.get(remoteUser.id);
      try {
        if (!mine) {
          // A pending local user of this email is the sync job's to adopt; an in-flight creation is the gateway's.
          if (inFlight.has(remoteUser.email) || (await users.hasUnsyncedWithEmail(remoteUser.email))) continue;
          await mirrorAdded(pass, remoteUser, realm);
          added.add(remoteUser.id);
          run.usersAdded++;
        } else if (mine.syncStatus === 'SYNCED' && mine.updatedAt < snapshotAt && !inFlight.has(mine.id) && differs(mine, remoteUser)) {
          await mirrorUpdated(pass, remoteUser, snapshotAt);
          run.usersUpdated++;
        }
      } catch (error) {
        // For example an email still held by another row: the next run sees the situation anew.
        log.warn({ err: error, userId: remoteUser.id }, 'reconciler: could not mirror a Keycloak user');
      }
    }
    above = upTo;
    if (last) break;
  }

  // A tenant realm's roles and groups are not mirrored: only the gateway realm's links are.
  if (realm === null) run.linksChanged += await mirrorLinks(pass, touched, snapshotAt, added, pageSize, run);
}

/** The higher of `bound` and the page's highest username, bytewise: the ranges only rise. */
function highest(bound: string | null, page: readonly { username: string }[]): string | null {
  let top = bound;
  for (const { username } of page) if (top === null || Buffer.compare(Buffer.from(username), Buffer.from(top)) > 0) top = username;
  return top;
}

/** A Keycloak user the mirror lacked, written into it (its links follow in mirrorLinks). */
async function mirrorAdded({ services }: Pass, user: MirroredUser, realm: string | null): Promise<void> {
  await services.queries.users.insertFromKeycloak(user, realm);
}

/** Keycloak's profile of a mirrored user, written over the mirror's unless the row changed since `notSince`. */
async function mirrorUpdated({ services }: Pass, user: MirroredUser, notSince: Date): Promise<void> {
  await services.queries.users.updateFromKeycloak(user.id, user, notSince);
}

/**
 * Direct role, privilege and group memberships: one listing per role and per group, not
 * one per user. Privileges too, and subgroups: Keycloak's console can map a privilege to a
 * user, or put one in a subgroup, and the token then holds what they give (effective roles).
 * Streamed as the users are: each page of a role's holders (or a group's members) is
 * compared with the mirror's links of those users, and the mirror's linked users in the
 * page's username range that the page lacks are asked about once more (their links in
 * Keycloak) before their link goes.
 */
async function mirrorLinks(
  { services, log }: Pass,
  touched: () => Promise<Set<string>>,
  snapshotAt: Date,
  added: Set<string>,
  pageSize: number,
  run: ReconcileRun,
): Promise<number> {
  const users = services.queries.users;
  const keycloak = services.directories(null);
  // Each listing is compared with the writes journaled since the comparison began, read
  // after the listing: a user, role or group the gateway wrote meanwhile waits for the next run.
  const eligibleNow = async (targetId: string) => {
    const busy = await touched();
    if (busy.has(targetId)) return undefined;
    return async (userIds: string[]) => {
      const settled = await users.settledHomeRealmIds(userIds, snapshotAt);
      return new Set(userIds.filter((userId) => (settled.has(userId) || added.has(userId)) && !busy.has(userId)));
    };
  };
  /** Whether Keycloak still links the user to the target: a user it no longer has keeps its link until it goes. */
  const stillLinked = async (userId: string, target: LinkTarget) => {
    try {
      const { roleIds, groupIds } = await keycloak.links(userId);
      return (target.kind === 'role' ? roleIds : groupIds).includes(target.id);
    } catch {
      return true;
    }
  };
  const applyLinks = async (
    target: LinkTarget,
    list: (first: number, max: number) => Promise<ListedUser[]>,
    change: (changes: LinkChanges<{ id: string }>) => Promise<void>,
  ) => {
    let changed = 0;
    let above: string | null = null;
    for (let first = 0; ; first += pageSize) {
      const page = await readPage(log, `${target.kind} members`, first, () => list(first, pageSize));
      const last = page.length < pageSize;
      const eligibleAmong = await eligibleNow(target.id);
      if (!eligibleAmong) return changed;
      const members = new Set(page.map((user) => user.id));
      const linked = await users.linkedAmong(target, [...members]);
      const add = [...members].filter((id) => !linked.has(id));
      const upTo: string | null = last ? null : highest(above, page);
      const remove: string[] = [];
      for (let after: UserRecord | null = null; ; ) {
        const chunk: UserRecord[] = await users.realmUsersInUsernameRange(null, { above, upTo }, after, pageSize, target);
        run.usersHeldAtMost = Math.max(run.usersHeldAtMost, page.length + chunk.length);
        for (const user of chunk) if (!members.has(user.id) && !(await stillLinked(user.id, target))) remove.push(user.id);
        if (chunk.length < pageSize) break;
        after = chunk.at(-1)!;
      }
      const eligible = await eligibleAmong([...add, ...remove]);
      const changes = { add: add.filter((id) => eligible.has(id)), remove: remove.filter((id) => eligible.has(id)) };
      await mirrorLinkChanges(change, { add: changes.add.map((id) => ({ id })), remove: changes.remove.map((id) => ({ id })) });
      changed += changes.add.length + changes.remove.length;
      above = upTo;
      if (last) return changed;
    }
  };
  const { roles, groups } = services.queries;
  let changed = 0;
  for (const role of [...(await roles.list('ROLE')), ...(await roles.list('PRIVILEGE'))]) {
    changed += await applyLinks(
      { kind: 'role', id: role.id },
      (first, max) => keycloak.usersWithRole(role.name, first, max),
      (changes) => roles.changeHolders(role.id, changes),
    );
  }
  for (const groupId of await groups.ids()) {
    changed += await applyLinks(
      { kind: 'group', id: groupId },
      (first, max) => keycloak.groupMembers(groupId, first, max),
      (changes) => groups.changeMembers(groupId, changes),
    );
  }
  return changed;
}

/** Links of one role or group changed in the mirror to Keycloak's: the one place the full comparison writes them. */
async function mirrorLinkChanges(
  change: (changes: LinkChanges<{ id: string }>) => Promise<void>,
  changes: LinkChanges<{ id: string }>,
): Promise<void> {
  if (changes.add.length > 0 || changes.remove.length > 0) await change(changes);
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
  const email = typeof event.details?.email === 'string' ? event.details.email.toLowerCase() : undefined;
  // Realm tenancy: an account of a tenant realm is compared with that realm.
  const realm =
    (typeof event.details?.realm === 'string' ? event.details.realm : null) ??
    (event.targetType === 'User' && event.targetId && UUID.test(event.targetId)
      ? ((await users.findByIds([event.targetId]))[0]?.realm ?? null)
      : null);
  const keycloak = realm === null || event.targetType === 'User' ? reachable(() => services.directories(realm)) : undefined;
  if (!keycloak) return { status: 'FAILED', note: 'a tenant realm the reconciler cannot compare with; left as it is' };
  if (event.targetType === 'User' && CREATE_ACTIONS.has(event.action) && email) {
    const remoteUser = await keycloak.findByEmail(email);
    if (!remoteUser) return { status: 'FAILED', note: 'the user never reached Keycloak' };
    if (await users.hasUnsyncedWithEmail(email)) {
      return { status: 'FAILED', note: 'interrupted; the sync job takes the user up again', targetId: remoteUser.id };
    }
    await services.userMirror.mirror(remoteUser, realm);
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
    if (remoteUser) await services.userMirror.mirror(remoteUser, realm);
    else await forgetDeleted(pass, event.targetId);
  }
  // Roles and groups were just mirrored from Keycloak; local-only writes never committed.
  return { status: 'FAILED', note: 'interrupted before the local commit; the mirror now matches Keycloak' };
}

/** The directory `directory` answers, or undefined when its realm cannot be reached (a tenant realm without realm tenancy). */
function reachable<T>(directory: () => T): T | undefined {
  try {
    return directory();
  } catch {
    return undefined;
  }
}

/** Removes a user Keycloak no longer has from the mirror, as a deletion through the gateway does. */
export function forgetDeleted({ em, services }: Pass, id: string): Promise<void> {
  return em.transactional((tx) => services.users.forgetDeleted(tx, id));
}

export function differs(mine: UserRecord, remote: MirroredUser): boolean {
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
