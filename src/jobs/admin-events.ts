import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AdminEvent, AdminEventsReader } from '../keycloak/admin-events.js';
import type { Logger } from '../logger.js';
import type { Services } from '../services.js';
import { UUID } from '../validation.js';
import { syncDirectory } from './directory-sync.js';
import { differs, forgetDeleted, pass } from './reconciler.js';

export interface AdminEventsOptions {
  /** A journal entry PENDING for longer than this was interrupted: its user is no longer the gateway's to write. */
  pendingTimeoutSeconds: number;
  /** Events read at a time (100 unless told). */
  pageSize?: number;
}

/** What one run did, over every realm read. */
export interface AdminEventsRun {
  /** Events of outside changes read and applied (each compared with the mirror). */
  eventsApplied: number;
  /** The gateway's own writes, already mirrored: skipped. */
  echoesSkipped: number;
  /** Events of a user the gateway is writing right now: read again at the next run. */
  eventsDeferred: number;
  usersAdded: number;
  usersUpdated: number;
  usersRemoved: number;
  /** Runs of the directory sync an event about a role or a group caused. */
  directorySyncs: number;
}

/** One realm the reader follows: null names the gateway's own realm (users with no `realm`). */
export interface FollowedRealm {
  realm: string | null;
  events: AdminEventsReader;
}

interface Deps {
  em: EntityManager;
  /** The gateway's admin client in its own realm, for the directory sync. */
  keycloak: KeycloakAdminClient;
  services: (em: EntityManager) => Services;
  log: Logger;
  /** The realms to follow: the gateway's own, and in realm tenancy every tenant realm. */
  realms: () => Promise<FollowedRealm[]>;
}

const PAGE_SIZE = 100;
/**
 * How far back each read starts before where the last one stopped. Keycloak stamps an event
 * when the change is made and stores it when its transaction commits, so a read can see a
 * later event before an earlier one: the window re-reads those, and the ids seen in it keep
 * them from being applied twice. Events of one millisecond are kept apart the same way.
 */
export const OVERLAP_MS = 5_000;

/**
 * Brings changes made in Keycloak outside the gateway (its admin console, another client of
 * its admin API) into the mirror within seconds, from Keycloak's admin events, which
 * provisioning turns on. Reads each realm's events incrementally from a checkpoint kept in
 * PostgreSQL (`admin_event_checkpoints`); for each event about a user, its role mappings or
 * its groups, the user is read again from Keycloak and compared with the mirror, and only a
 * difference is written (so an echo of the gateway's own write, or an event applied twice,
 * changes nothing); an event about a role or a group runs the directory sync. The events the
 * gateway's own service account caused are skipped without a lookup, being its own writes.
 *
 * A first run in a realm starts from its newest event: what happened before is the full
 * comparison's (src/jobs/reconciler.ts), which stays the safety net for whatever events miss
 * (changes users make themselves, expired events, events turned off).
 *
 * Run by one process at a time (its queue's policy in src/jobs/jobs.ts).
 */
export async function followAdminEvents(deps: Deps, options: AdminEventsOptions, now: Date = new Date()): Promise<AdminEventsRun> {
  const run: AdminEventsRun = {
    eventsApplied: 0,
    echoesSkipped: 0,
    eventsDeferred: 0,
    usersAdded: 0,
    usersUpdated: 0,
    usersRemoved: 0,
    directorySyncs: 0,
  };
  for (const followed of await deps.realms()) {
    try {
      await followRealm(deps, options, now, followed, run);
    } catch (error) {
      deps.log.warn({ err: error, realm: followed.events.realm }, 'admin events not read; the next run tries again from the same point');
    }
  }
  return run;
}

/** Where the reader stopped in one realm. */
export interface Checkpoint {
  /** The time read up to, in Keycloak's milliseconds. */
  readUntil: number;
  /** The events handled at `readUntil - OVERLAP_MS` or later, by id, with their time. */
  seen: Map<string, number>;
}

/** Where each realm's checkpoint is kept: `admin_event_checkpoints` (checkpointsIn), or memory in unit tests. */
export interface CheckpointStore {
  read(realm: string): Promise<Checkpoint | undefined>;
  write(realm: string, checkpoint: Checkpoint): Promise<void>;
}

async function followRealm(
  deps: Deps,
  options: AdminEventsOptions,
  now: Date,
  followed: FollowedRealm,
  run: AdminEventsRun,
): Promise<void> {
  const counts = await readIncrementally(followed.events, checkpointsIn(deps.em.fork()), options.pageSize ?? PAGE_SIZE, (outside) =>
    apply(deps, options, now, followed.realm, outside, run),
  );
  run.eventsApplied += counts.applied;
  run.echoesSkipped += counts.echoes;
  run.eventsDeferred += counts.deferred;
}

/**
 * Reads one realm's events from its checkpoint on, page by page, and hands `apply` those
 * not handled yet that someone else than the gateway caused; `apply` answers the ones to
 * read again next time (deferred). The checkpoint is written after each page, so a run cut
 * short resumes where it stopped. Reading starts OVERLAP_MS before the checkpoint, and an
 * event seen there is known by its id: an event committed late, or one of many in one
 * millisecond, is neither lost nor handled twice. A deferred event holds the checkpoint
 * back until it is handled. With no checkpoint yet, reading starts at the newest event.
 */
export async function readIncrementally(
  events: AdminEventsReader,
  store: CheckpointStore,
  pageSize: number,
  apply: (outside: AdminEvent[]) => Promise<Set<AdminEvent>>,
): Promise<{ applied: number; echoes: number; deferred: number }> {
  const counts = { applied: 0, echoes: 0, deferred: 0 };
  const checkpoint = await store.read(events.realm);
  if (!checkpoint) {
    await store.write(events.realm, { readUntil: (await events.newestTime()) ?? 0, seen: new Map() });
    return counts;
  }
  const gateway = await events.gatewayUserId();
  const handled = new Set<string>();
  let from = Math.max(0, checkpoint.readUntil - OVERLAP_MS);
  let skip = 0;
  let newest = checkpoint.readUntil;
  let hold = Number.POSITIVE_INFINITY;
  for (;;) {
    const page = await events.read(from, skip, pageSize);
    const fresh = page.filter((event) => !checkpoint.seen.has(event.id) && !handled.has(event.id));
    for (const event of fresh) handled.add(event.id);
    const outside = fresh.filter((event) => event.authUserId !== gateway);
    const deferred = outside.length > 0 ? await apply(outside) : new Set<AdminEvent>();
    for (const event of fresh) if (!deferred.has(event)) checkpoint.seen.set(event.id, event.time);
    counts.echoes += fresh.length - outside.length;
    counts.deferred += deferred.size;
    counts.applied += outside.length - deferred.size;

    for (const event of page) newest = Math.max(newest, event.time);
    for (const event of deferred) hold = Math.min(hold, event.time);
    checkpoint.readUntil = Math.min(newest, hold);
    for (const [id, time] of checkpoint.seen) if (time < checkpoint.readUntil - OVERLAP_MS) checkpoint.seen.delete(id);
    await store.write(events.realm, checkpoint);

    if (page.length < pageSize) return counts;
    // The next page starts at this one's newest time (its events there are handled);
    // a page all of one millisecond is stepped over by position instead.
    const last = page.at(-1)!.time;
    if (last === from) skip += page.length;
    else [from, skip] = [last, 0];
  }
}

/**
 * Applies the outside events of one page: each user they name is compared with Keycloak
 * and healed; an event about a role or a group brings the directory sync. Answers the
 * events left for the next run (their user is being written by the gateway right now).
 */
async function apply(
  deps: Deps,
  options: AdminEventsOptions,
  now: Date,
  realm: string | null,
  events: AdminEvent[],
  run: AdminEventsRun,
): Promise<Set<AdminEvent>> {
  const deferred = new Set<AdminEvent>();
  if (events.length === 0) return deferred;
  // A tenant realm's roles and groups are not mirrored.
  if (realm === null && events.some(touchesDirectory)) {
    const unsynced = await syncDirectory(deps.keycloak, deps.em.fork());
    if (unsynced.length > 0) deps.log.warn({ unsynced }, 'directory sync left roles or groups for its next run');
    run.directorySyncs++;
  }
  const byUser = new Map<string, AdminEvent[]>();
  for (const event of events) {
    const userId = userOf(event);
    if (userId) byUser.set(userId, [...(byUser.get(userId) ?? []), event]);
  }
  if (byUser.size === 0) return deferred;
  const view = pass(deps);
  const since = new Date();
  // Read after each user's lookup in Keycloak: covers a gateway write under way meanwhile.
  const touched = () => view.audit.touchedTargets(new Date(now.getTime() - options.pendingTimeoutSeconds * 1000), since);
  const known = realm === null ? await mirroredLinkTargets(view.services) : { roleIds: new Set<string>(), groupIds: new Set<string>() };
  for (const [userId, userEvents] of byUser) {
    try {
      const outcome = await healUser(view, realm, userId, touched, known);
      if (outcome === 'in-flight') for (const event of userEvents) deferred.add(event);
      else if (outcome !== 'unchanged') run[outcome]++;
      if (outcome === 'usersRemoved') {
        deps.log.info({ userId, realm: realm ?? undefined }, 'admin events: user deleted outside the gateway removed from the mirror');
      }
    } catch (error) {
      // For example an email still held by another row: the full comparison sees it anew.
      deps.log.warn({ err: error, userId }, 'admin events: could not mirror a Keycloak user');
    }
  }
  return deferred;
}

type HealOutcome = 'usersAdded' | 'usersUpdated' | 'usersRemoved' | 'unchanged' | 'in-flight';

/**
 * Compares one user of Keycloak (profile, and in the gateway's realm its direct roles and
 * groups) with the mirror, and writes Keycloak's word only where they differ, through the
 * mirror's own writers (UserMirror.mirror, or the deletion's local step). Leaves alone a user
 * the gateway is writing (its journal entry is young, or settled since the run began)
 * and one the sync job still has to push.
 */
async function healUser(
  view: ReturnType<typeof pass>,
  realm: string | null,
  userId: string,
  touched: () => Promise<Set<string>>,
  known: { roleIds: Set<string>; groupIds: Set<string> },
): Promise<HealOutcome> {
  const { services } = view;
  const users = services.queries.users;
  const remote = await services.directories(realm).find(userId);
  const inFlight = await touched();
  const [mine] = await users.realmUsersByIds(realm, [userId]);
  if (inFlight.has(userId) || (remote && inFlight.has(remote.email))) return 'in-flight';
  if (mine && mine.syncStatus !== 'SYNCED') return 'unchanged';
  if (!remote) {
    if (!mine) return 'unchanged';
    await forgetDeleted(view, userId);
    return 'usersRemoved';
  }
  if (!mine && (await users.hasUnsyncedWithEmail(remote.email))) return 'unchanged';
  if (mine && !differs(mine, remote) && (await sameLinks(services, realm, userId, known))) return 'unchanged';
  // Written whole, profile and links in one transaction: the mirror's one way to take a Keycloak user.
  if (!(await services.userMirror.mirror(remote, realm))) return 'unchanged';
  return mine ? 'usersUpdated' : 'usersAdded';
}

/** Whether the mirror's links of the user are Keycloak's, among the roles and groups the mirror keeps. */
async function sameLinks(
  services: Services,
  realm: string | null,
  userId: string,
  known: { roleIds: Set<string>; groupIds: Set<string> },
): Promise<boolean> {
  const remote = await services.directories(realm).links(userId);
  const same = (a: string[], b: string[]) => a.length === b.length && new Set([...a, ...b]).size === a.length;
  return (
    same(
      remote.roleIds.filter((id) => known.roleIds.has(id)),
      await services.queries.roles.roleIdsOfUser(userId),
    ) &&
    same(
      remote.groupIds.filter((id) => known.groupIds.has(id)),
      await services.queries.groups.groupIdsOfUser(userId),
    )
  );
}

async function mirroredLinkTargets(services: Services): Promise<{ roleIds: Set<string>; groupIds: Set<string> }> {
  const { roles, groups } = services.queries;
  const mirrored = [...(await roles.list('ROLE')), ...(await roles.list('PRIVILEGE'))];
  return { roleIds: new Set(mirrored.map((role) => role.id)), groupIds: new Set(await groups.ids()) };
}

/** The user an event is about: `users/{id}`, `users/{id}/role-mappings/realm`, `users/{id}/groups/{groupId}`... */
function userOf(event: AdminEvent): string | undefined {
  const [kind, id] = event.resourcePath.split('/');
  return kind === 'users' && id && UUID.test(id) ? id : undefined;
}

/** An event about a realm role, a group, or a group's role mappings: the directory sync's. */
function touchesDirectory(event: AdminEvent): boolean {
  return event.resourceType === 'REALM_ROLE' || event.resourceType === 'GROUP' || event.resourcePath.startsWith('groups/');
}

/** The checkpoints in `admin_event_checkpoints`, through `em`. */
function checkpointsIn(em: EntityManager): CheckpointStore {
  return {
    async read(realm) {
      const [row] = await em.execute<{ read_until: string; seen_ids: [string, number][] }[]>(
        'select read_until, seen_ids from admin_event_checkpoints where realm = ?',
        [realm],
      );
      return row && { readUntil: Number(row.read_until), seen: new Map(row.seen_ids) };
    },
    async write(realm, checkpoint) {
      await em.execute(
        `insert into admin_event_checkpoints (realm, read_until, seen_ids, updated_at) values (?, ?, ?, ?)
         on conflict (realm) do update set read_until = excluded.read_until, seen_ids = excluded.seen_ids, updated_at = excluded.updated_at`,
        [realm, checkpoint.readUntil, JSON.stringify([...checkpoint.seen]), new Date()],
      );
    },
  };
}
