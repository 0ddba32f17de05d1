import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type GroupRepresentation from '@keycloak/keycloak-admin-client/lib/defs/groupRepresentation.js';
import type RoleRepresentation from '@keycloak/keycloak-admin-client/lib/defs/roleRepresentation.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../db/loaders.js';
import { isKeycloakNotFound } from '../keycloak/keycloak-errors.js';
import { PRIVILEGE_PREFIX, ROLE_PREFIX } from '../keycloak/realm-catalog.js';
import type { RealmRoleKind } from '../keycloak/realm-catalog.js';

interface DirectoryRole {
  id: string;
  name: string;
  kind: RealmRoleKind;
  description: string | null;
  /** Sorted ids of the privileges a role is a composite of; none for a privilege. */
  privilegeIds: string[];
  /** Sorted ids of its other composites: roles a role is composed of, anything a privilege is composed of. */
  compositeIds: string[];
}

/** The advisory lock that serializes the directory syncs of every process on a database. */
export const DIRECTORY_SYNC_LOCK = 'iam-gateway:directory-sync';

/** A role or group the mirror refused to take from Keycloak in this run; the next run tries again. */
export interface UnsyncedObject {
  kind: 'role' | 'group';
  id: string;
  reason: string;
}

interface DirectoryGroup {
  id: string;
  name: string;
  /** The group it is a subgroup of; null at the top. */
  parentId: string | null;
  /** Sorted ids of the realm roles mapped to the group. */
  roleIds: string[];
}

/** Keycloak lists a group's subgroups ten at a time unless told otherwise. */
const SUBGROUP_PAGE = 100;

/**
 * Brings the mirror of roles, privileges and groups to what Keycloak holds: run at start
 * (so roles created by provisioning or in the admin console are known) and by the
 * reconciler. Keycloak is the source of truth; rows it no longer has are removed. Subgroups
 * come with their parent, and composites with every link (not only role → privilege):
 * effective roles (src/modules/roles/role.loader.ts) need both.
 *
 * The gateway keeps writing while this runs, and a listing of Keycloak is already old when
 * it arrives: a role created since would look deleted, a group's new role would look
 * removed. So the listing only finds what differs from the mirror; each difference is read
 * again from Keycloak, one object at a time, and that fresh read is what gets written. A
 * gateway write that lands in between is then seen, not undone. Runs from several
 * processes are serialized by a transaction-scoped advisory lock. Answers what it could not
 * write.
 */
export async function syncDirectory(keycloak: KeycloakAdminClient, em: EntityManager): Promise<UnsyncedObject[]> {
  const listedRoles = await listRoles(keycloak);
  const listedGroups = await listGroups(keycloak);
  const mirror = await readMirror(em);

  const staleRoles = differing(
    listedRoles,
    mirror.roles,
    (a, b) => a.name === b.name && a.kind === b.kind && a.description === b.description && same(a.privilegeIds, b.privilegeIds) && same(a.compositeIds, b.compositeIds),
  );
  const staleGroups = differing(listedGroups, mirror.groups, (a, b) => a.name === b.name && a.parentId === b.parentId && same(a.roleIds, b.roleIds));
  const roles = await Promise.all(staleRoles.map(async (id) => ({ id, now: await readRole(keycloak, id) })));
  const groups = await Promise.all(staleGroups.map(async (id) => ({ id, now: await readGroup(keycloak, id) })));
  if (roles.length === 0 && groups.length === 0) return [];

  const unsynced: UnsyncedObject[] = [];
  await em.transactional(async (tx) => {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [DIRECTORY_SYNC_LOCK]);
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
    for (const { id, now } of roles) if (!now) await write('role', id, () => tx.execute('delete from realm_roles where id = ?', [id]));
    for (const { id, now } of groups) if (!now) await write('group', id, () => tx.execute('delete from groups where id = ?', [id]));

    // Every row before any composite link, since a link may name a role new in this run.
    const present = roles.flatMap((role) => (role.now ? [role.now] : []));
    const written = new Set<string>();
    for (const role of present) {
      await write('role', role.id, async () => {
        await tx.execute(
          `insert into realm_roles (id, name, kind, description) values (?, ?, ?, ?)
           on conflict (id) do update set name = excluded.name, kind = excluded.kind, description = excluded.description`,
          [role.id, role.name, role.kind, role.description],
        );
        written.add(role.id);
      });
    }
    for (const role of present.filter(({ id }) => written.has(id))) {
      await write('role', role.id, async () => {
        await replaceLinks(tx, 'role_privileges', 'role_id', 'privilege_id', role.id, role.privilegeIds, "kind = 'PRIVILEGE'");
        await replaceLinks(tx, 'role_composites', 'role_id', 'child_id', role.id, role.compositeIds, 'true');
      });
    }
    for (const group of parentsFirst(groups.flatMap(({ now }) => (now ? [now] : [])))) {
      await write('group', group.id, async () => {
        await tx.execute(
          'insert into groups (id, name, parent_id) values (?, ?, ?) on conflict (id) do update set name = excluded.name, parent_id = excluded.parent_id',
          [group.id, group.name, group.parentId],
        );
        await replaceLinks(tx, 'group_roles', 'group_id', 'role_id', group.id, group.roleIds, 'true');
      });
    }
  });
  return unsynced;
}

/** Sets an owner's links to `targetIds`, keeping only targets the mirror has (others are not managed). */
async function replaceLinks(tx: EntityManager, table: string, ownerColumn: string, targetColumn: string, ownerId: string, targetIds: string[], targetFilter: string) {
  await tx.execute(`delete from ${table} where ${ownerColumn} = ?`, [ownerId]);
  if (targetIds.length === 0) return;
  await tx.execute(
    `insert into ${table} (${ownerColumn}, ${targetColumn}) select ?, id from realm_roles where ${targetFilter} and id in (?) on conflict do nothing`,
    [ownerId, targetIds],
  );
}

async function listRoles(keycloak: KeycloakAdminClient): Promise<Map<string, DirectoryRole>> {
  const managed = (await keycloak.roles.find({ briefRepresentation: false })).filter((role) => isManaged(role.name));
  const described = await Promise.all(managed.map((role) => describeRole(keycloak, role)));
  return new Map(described.flatMap((role) => (role ? [[role.id, role] as const] : [])));
}

/** Every group, subgroups at any depth included. */
async function listGroups(keycloak: KeycloakAdminClient): Promise<Map<string, DirectoryGroup>> {
  const listed: { id: string; name: string; parentId: string | null }[] = [];
  let level = (await keycloak.groups.find({ briefRepresentation: true, max: 10_000 })).map((group) => ({ ...group, parentId: null as string | null }));
  while (level.length > 0) {
    listed.push(...level.map((group) => ({ id: group.id!, name: group.name!, parentId: group.parentId })));
    const parents = level.filter((group) => group.subGroupCount !== 0);
    level = (await Promise.all(parents.map((parent) => listSubGroups(keycloak, parent.id!)))).flat();
  }
  const described = await Promise.all(listed.map((group) => describeGroup(keycloak, group.id, group.name, group.parentId)));
  return new Map(described.flatMap((group) => (group ? [[group.id, group] as const] : [])));
}

/** A group's direct subgroups, every page of them; none when the group vanished meanwhile. */
async function listSubGroups(keycloak: KeycloakAdminClient, parentId: string) {
  const subgroups: (GroupRepresentation & { parentId: string })[] = [];
  for (let first = 0; ; first += SUBGROUP_PAGE) {
    const page = (await unlessVanished(keycloak.groups.listSubGroups({ parentId, first, max: SUBGROUP_PAGE, briefRepresentation: true }))) ?? [];
    subgroups.push(...page.map((group) => ({ ...group, parentId })));
    if (page.length < SUBGROUP_PAGE) return subgroups;
  }
}

/** The role as Keycloak holds it now; null when it is gone or not one the gateway manages. */
async function readRole(keycloak: KeycloakAdminClient, id: string): Promise<DirectoryRole | null> {
  const role = await unlessVanished(keycloak.roles.findOneById({ id }));
  return role && isManaged(role.name) ? describeRole(keycloak, role) : null;
}

async function readGroup(keycloak: KeycloakAdminClient, id: string): Promise<DirectoryGroup | null> {
  const group = await unlessVanished(keycloak.groups.findOne({ id }));
  return group ? describeGroup(keycloak, id, group.name!, group.parentId ?? null) : null;
}

async function describeRole(keycloak: KeycloakAdminClient, role: RoleRepresentation): Promise<DirectoryRole | null> {
  const kind = kindOf(role.name!);
  const composites = role.composite ? await mirroredComposites(keycloak, role.id!) : [];
  if (composites === null) return null;
  // Role → privilege links are the ones the gateway's API shows and edits; the rest are kept apart.
  const isPrivilegeOfRole = (child: RoleRepresentation) => kind === 'ROLE' && kindOf(child.name!) === 'PRIVILEGE';
  return {
    id: role.id!,
    name: role.name!,
    kind,
    description: role.description ?? null,
    privilegeIds: composites.filter(isPrivilegeOfRole).map((child) => child.id!).sort(),
    compositeIds: composites.filter((child) => !isPrivilegeOfRole(child)).map((child) => child.id!).sort(),
  };
}

/**
 * The mirrored roles a role is composed of. A realm role the mirror leaves out (neither
 * role_* nor priv_*) is followed through to the mirrored roles it is composed of: Keycloak
 * puts those in the token too. Null when the role itself vanished meanwhile.
 */
async function mirroredComposites(keycloak: KeycloakAdminClient, roleId: string): Promise<RoleRepresentation[] | null> {
  const found = new Map<string, RoleRepresentation>();
  const seen = new Set([roleId]);
  let unmirrored = [roleId];
  while (unmirrored.length > 0) {
    const next: string[] = [];
    for (const id of unmirrored) {
      const children = await unlessVanished(keycloak.roles.getCompositeRolesForRealm({ id }));
      if (children === null && id === roleId) return null;
      for (const child of children ?? []) {
        if (seen.has(child.id!)) continue;
        seen.add(child.id!);
        if (isManaged(child.name)) found.set(child.id!, child);
        else if (child.composite !== false) next.push(child.id!);
      }
    }
    unmirrored = next;
  }
  return [...found.values()];
}

async function describeGroup(keycloak: KeycloakAdminClient, id: string, name: string, parentId: string | null): Promise<DirectoryGroup | null> {
  const roles = await unlessVanished(keycloak.groups.listRealmRoleMappings({ id }));
  if (roles === null) return null;
  return { id, name, parentId, roleIds: roles.filter((role) => isManaged(role.name)).map((role) => role.id!).sort() };
}

async function readMirror(em: EntityManager): Promise<{ roles: Map<string, DirectoryRole>; groups: Map<string, DirectoryGroup> }> {
  const roles = await selectRows<DirectoryRole>(
    em,
    `select r.id, r.name, r.kind, r.description,
            array(select rp.privilege_id::text from role_privileges rp where rp.role_id = r.id order by rp.privilege_id::text collate "C") as "privilegeIds",
            array(select rc.child_id::text from role_composites rc where rc.role_id = r.id order by rc.child_id::text collate "C") as "compositeIds"
       from realm_roles r`,
    [],
  );
  const groups = await selectRows<DirectoryGroup>(
    em,
    `select g.id, g.name, g.parent_id as "parentId",
            array(select gr.role_id::text from group_roles gr where gr.group_id = g.id order by gr.role_id::text collate "C") as "roleIds"
       from groups g`,
    [],
  );
  return { roles: new Map(roles.map((role) => [role.id, role])), groups: new Map(groups.map((group) => [group.id, group])) };
}

/** Groups in an order where a parent among them comes before its subgroups, which refer to it. */
function parentsFirst(groups: DirectoryGroup[]): DirectoryGroup[] {
  const byId = new Map(groups.map((group) => [group.id, group]));
  const depth = (group: DirectoryGroup): number => {
    let count = 0;
    for (let parent = byId.get(group.parentId ?? ''); parent && count < groups.length; parent = byId.get(parent.parentId ?? '')) count++;
    return count;
  };
  return groups.map((group) => ({ group, depth: depth(group) })).sort((a, b) => a.depth - b.depth).map(({ group }) => group);
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

function isManaged(name: string | undefined): boolean {
  return Boolean(name?.startsWith(ROLE_PREFIX) || name?.startsWith(PRIVILEGE_PREFIX));
}

/** The read's result, or null when its role or group was deleted in Keycloak meanwhile. */
async function unlessVanished<T>(read: Promise<T>): Promise<T | null> {
  try {
    return (await read) ?? null;
  } catch (error) {
    if (isKeycloakNotFound(error)) return null;
    throw error;
  }
}

function kindOf(roleName: string): RealmRoleKind {
  return roleName.startsWith(PRIVILEGE_PREFIX) ? 'PRIVILEGE' : 'ROLE';
}
