import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { KeycloakGroupsDirectory, type GroupsDirectory } from '../modules/groups/groups.directory.js';
import { groupsQueries, type GroupsQueries } from '../modules/groups/groups.queries.js';
import type { GroupState } from '../modules/groups/group.type.js';
import { KeycloakRolesDirectory, type RolesDirectory } from '../modules/roles/roles.directory.js';
import { rolesQueries, type RolesQueries } from '../modules/roles/roles.queries.js';

/** The advisory lock that serializes the directory syncs of every process on a database. */
export const DIRECTORY_SYNC_LOCK = 'iam-gateway:directory-sync';

/** A role or group the mirror refused to take from Keycloak in this run; the next run tries again. */
export interface UnsyncedObject {
  kind: 'role' | 'group';
  id: string;
  reason: string;
}

/**
 * Brings the mirror of roles, privileges and groups to what Keycloak holds: run at start
 * (so roles created by provisioning or in the admin console are known) and by the
 * reconciler. Keycloak is the source of truth; rows it no longer has are removed. Subgroups
 * come with their parent, and composites with every link (not only role → privilege):
 * effective roles (src/modules/roles/roles.queries.ts) need both.
 *
 * The gateway keeps writing while this runs, and a listing of Keycloak is already old when
 * it arrives: a role created since would look deleted, a group's new role would look
 * removed. So the listing only finds what differs from the mirror; each difference is read
 * again from Keycloak, one object at a time, and that fresh read is what gets written. A
 * gateway write that lands in between is then seen, not undone. Runs from several
 * processes are serialized by a transaction-scoped advisory lock. Answers what it could not
 * write.
 */
export function syncDirectory(keycloak: KeycloakAdminClient, em: EntityManager): Promise<UnsyncedObject[]> {
  return syncDirectoryWith({
    em,
    roles: { directory: new KeycloakRolesDirectory(keycloak), queries: rolesQueries(em) },
    groups: { directory: new KeycloakGroupsDirectory(keycloak), queries: groupsQueries(em) },
  });
}

/** What the directory sync reads and writes through: each feature's directory and queries. */
export interface DirectorySyncDeps {
  em: EntityManager;
  roles: { directory: RolesDirectory; queries: RolesQueries };
  groups: { directory: GroupsDirectory; queries: GroupsQueries };
}

/** syncDirectory, on directories and queries built elsewhere (src/services.ts). */
export async function syncDirectoryWith({ em, roles: roleSide, groups: groupSide }: DirectorySyncDeps): Promise<UnsyncedObject[]> {
  const listedRoles = await roleSide.directory.list();
  const listedGroups = await groupSide.directory.list();
  const mirror = {
    roles: new Map((await roleSide.queries.states()).map((role) => [role.id, role])),
    groups: new Map((await groupSide.queries.states()).map((group) => [group.id, group])),
  };

  const staleRoles = differing(
    listedRoles,
    mirror.roles,
    (a, b) =>
      a.name === b.name &&
      a.kind === b.kind &&
      a.description === b.description &&
      same(a.privilegeIds, b.privilegeIds) &&
      same(a.compositeIds, b.compositeIds),
  );
  const staleGroups = differing(
    listedGroups,
    mirror.groups,
    (a, b) => a.name === b.name && a.parentId === b.parentId && same(a.roleIds, b.roleIds),
  );
  const roles = await Promise.all(staleRoles.map(async (id) => ({ id, now: await roleSide.directory.read(id) })));
  const groups = await Promise.all(staleGroups.map(async (id) => ({ id, now: await groupSide.directory.read(id) })));
  if (roles.length === 0 && groups.length === 0) return [];

  const unsynced: UnsyncedObject[] = [];
  await em.transactional(async (tx) => {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [DIRECTORY_SYNC_LOCK]);
    const [roleMirror, groupMirror] = [roleSide.queries.within(tx), groupSide.queries.within(tx)];
    /**
     * Each object is written under a savepoint of its own: one the mirror refuses (a name
     * still held by a row the gateway is about to rename, a trigger) is reported and left
     * for the next run, and does not hold back the others.
     */
    const write = async (kind: UnsyncedObject['kind'], id: string, statements: () => Promise<unknown>) => {
      await tx.execute('savepoint directory_object');
      try {
        await statements();
        await tx.execute('release savepoint directory_object');
      } catch (error) {
        await tx.execute('rollback to savepoint directory_object');
        unsynced.push({ kind, id, reason: error instanceof Error ? error.message : String(error) });
      }
    };

    // Deletions first, so that a name Keycloak gave to another object is free again.
    for (const { id, now } of roles) if (!now) await write('role', id, () => roleMirror.delete(id));
    for (const { id, now } of groups) if (!now) await write('group', id, () => groupMirror.delete(id));

    // Every row before any composite link, since a link may name a role new in this run.
    const present = roles.flatMap((role) => (role.now ? [role.now] : []));
    const written = new Set<string>();
    for (const role of present) {
      await write('role', role.id, async () => {
        await roleMirror.upsert(role);
        written.add(role.id);
      });
    }
    for (const role of present.filter(({ id }) => written.has(id))) {
      await write('role', role.id, () => roleMirror.replaceLinks(role.id, role.privilegeIds, role.compositeIds));
    }
    for (const group of parentsFirst(groups.flatMap(({ now }) => (now ? [now] : [])))) {
      await write('group', group.id, async () => {
        await groupMirror.upsert(group);
        await groupMirror.replaceRoles(group.id, group.roleIds);
      });
    }
  });
  return unsynced;
}

/** Groups in an order where a parent among them comes before its subgroups, which refer to it. */
function parentsFirst(groups: GroupState[]): GroupState[] {
  const byId = new Map(groups.map((group) => [group.id, group]));
  const depth = (group: GroupState): number => {
    let count = 0;
    for (let parent = byId.get(group.parentId ?? ''); parent && count < groups.length; parent = byId.get(parent.parentId ?? '')) count++;
    return count;
  };
  return groups
    .map((group) => ({ group, depth: depth(group) }))
    .sort((a, b) => a.depth - b.depth)
    .map(({ group }) => group);
}

/** Ids listed on one side only, or on both but not alike. */
function differing<T>(listed: Map<string, T>, mirrored: Map<string, T>, alike: (a: T, b: T) => boolean): string[] {
  const ids = new Set([...listed.keys(), ...mirrored.keys()]);
  return [...ids].filter((id) => {
    const [a, b] = [listed.get(id), mirrored.get(id)];
    return !a || !b || !alike(a, b);
  });
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
