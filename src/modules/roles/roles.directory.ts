import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type RoleRepresentation from '@keycloak/keycloak-admin-client/lib/defs/roleRepresentation.js';
import type { UndoLog } from '../../journal/journal.js';
import { isKeycloakNotFound } from '../../keycloak/keycloak-errors.js';
import { PRIVILEGE_PREFIX, ROLE_PREFIX } from '../../keycloak/realm-catalog.js';
import type { RealmRoleKind } from './role.entity.js';
import type { LinkChanges } from './links.js';
import type { RoleRef, RoleState } from './role.type.js';

/**
 * The only code that calls Keycloak about realm roles and privileges: the roles
 * themselves, their composites, and who holds them. Every write registers its undo on the
 * journal's UndoLog as soon as it succeeded.
 */
export interface RolesDirectory {
  /** Creates a role as a composite of `privileges`; its undo deletes it. Returns its id. */
  create(role: { name: string; description: string | null }, privileges: readonly RoleRef[], undo: UndoLog): Promise<string>;
  setDescription(role: RoleRef, description: string | null, undo: UndoLog): Promise<void>;
  changePrivileges(role: RoleRef, privileges: LinkChanges<RoleRef>, undo: UndoLog): Promise<void>;
  /**
   * Deletes the role. Keycloak cannot bring a role back under its old id, so the undo makes
   * it again (name, description, privileges) and hands the new id to `recreated`.
   */
  delete(
    role: RoleRef & { description: string | null },
    privileges: readonly RoleRef[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void>;

  /** Grants and takes away a user's direct roles or privileges (additions first). */
  changeUserRoles(userId: string, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void>;
  /** Ids of the realm roles Keycloak maps to a user directly. */
  roleIdsOfUser(userId: string): Promise<string[]>;
  /** Ids of the users holding the role directly. */
  holderIdsOf(roleName: string): Promise<Set<string>>;

  /** Every role and privilege the gateway manages (role_*, priv_*), with its composites. */
  list(): Promise<Map<string, RoleState>>;
  /** The role as Keycloak holds it now; null when it is gone or not one the gateway manages. */
  read(id: string): Promise<RoleState | null>;
}

/** Keycloak lists a role's holders, or a group's members, a page at a time. */
export const HOLDERS_PAGE = 500;

/** A role or privilege as Keycloak's mapping APIs take it. */
export function toMapping({ id, name }: RoleRef): RoleRef {
  return { id, name };
}

/** The roles directory on a Keycloak realm. */
export class KeycloakRolesDirectory implements RolesDirectory {
  constructor(private readonly keycloak: KeycloakAdminClient) {}

  async create(role: { name: string; description: string | null }, privileges: readonly RoleRef[], undo: UndoLog): Promise<string> {
    return this.createRole(role, privileges, undo);
  }

  async setDescription({ id, name }: RoleRef, description: string | null, undo: UndoLog): Promise<void> {
    // Keycloak sets every field of a role from the body: send the whole role back.
    const before = (await this.keycloak.roles.findOneById({ id }, { catchNotFound: false }))!;
    await this.keycloak.roles.updateById({ id }, { ...before, description: description ?? undefined });
    undo.push(`restore the description of ${name}`, () => this.keycloak.roles.updateById({ id }, before));
  }

  changePrivileges({ id, name }: RoleRef, privileges: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      `privileges of ${name}`,
      privileges,
      (items) => this.keycloak.roles.createComposite({ roleId: id }, items.map(toMapping)),
      (items) => this.keycloak.roles.delCompositeRoles({ id }, items.map(toMapping)),
    );
  }

  async delete(
    role: RoleRef & { description: string | null },
    privileges: readonly RoleRef[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void> {
    await this.keycloak.roles.delById({ id: role.id });
    undo.push(`re-create role ${role.name}`, async () => recreated(await this.createRole(role, privileges)));
  }

  changeUserRoles(userId: string, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      'roles of the user',
      roles,
      (items) => this.keycloak.users.addRealmRoleMappings({ id: userId, roles: items.map(toMapping) }),
      (items) => this.keycloak.users.delRealmRoleMappings({ id: userId, roles: items.map(toMapping) }),
    );
  }

  async roleIdsOfUser(userId: string): Promise<string[]> {
    return (await this.keycloak.users.listRealmRoleMappings({ id: userId })).map((role) => role.id!);
  }

  holderIdsOf(roleName: string): Promise<Set<string>> {
    return pagedIds((first, max) => this.keycloak.roles.findUsersWithRole({ name: roleName, first, max, briefRepresentation: true }));
  }

  async list(): Promise<Map<string, RoleState>> {
    const managed = (await this.keycloak.roles.find({ briefRepresentation: false })).filter((role) => isManaged(role.name));
    const described = await Promise.all(managed.map((role) => this.describe(role)));
    return new Map(described.flatMap((role) => (role ? [[role.id, role] as const] : [])));
  }

  async read(id: string): Promise<RoleState | null> {
    const role = await unlessVanished(this.keycloak.roles.findOneById({ id }));
    return role && isManaged(role.name) ? this.describe(role) : null;
  }

  /** Creates the role in Keycloak as a composite of `privileges`; returns its id. */
  private async createRole(
    { name, description }: { name: string; description: string | null },
    privileges: readonly RoleRef[],
    undo?: UndoLog,
  ): Promise<string> {
    await this.keycloak.roles.create({ name, description: description ?? undefined });
    // Deleting the role also drops the composites added below: one undo covers both steps.
    undo?.push(`delete role ${name}`, () => this.keycloak.roles.delByName({ name }));
    const { id } = (await this.keycloak.roles.findOneByName({ name }, { catchNotFound: false }))!;
    if (privileges.length > 0) await this.keycloak.roles.createComposite({ roleId: id! }, privileges.map(toMapping));
    return id!;
  }

  private async describe(role: RoleRepresentation): Promise<RoleState | null> {
    const kind = kindOf(role.name!);
    const composites = role.composite ? await this.mirroredComposites(role.id!) : [];
    if (composites === null) return null;
    // Role → privilege links are the ones the gateway's API shows and edits; the rest are kept apart.
    const isPrivilegeOfRole = (child: RoleRepresentation) => kind === 'ROLE' && kindOf(child.name!) === 'PRIVILEGE';
    return {
      id: role.id!,
      name: role.name!,
      kind,
      description: role.description ?? null,
      privilegeIds: composites
        .filter(isPrivilegeOfRole)
        .map((child) => child.id!)
        .sort(),
      compositeIds: composites
        .filter((child) => !isPrivilegeOfRole(child))
        .map((child) => child.id!)
        .sort(),
    };
  }

  /**
   * The mirrored roles a role is composed of. A realm role the mirror leaves out (neither
   * role_* nor priv_*) is followed through to the mirrored roles it is composed of: Keycloak
   * puts those in the token too. Null when the role itself vanished meanwhile.
   */
  private async mirroredComposites(roleId: string): Promise<RoleRepresentation[] | null> {
    const found = new Map<string, RoleRepresentation>();
    const seen = new Set([roleId]);
    let unmirrored = [roleId];
    while (unmirrored.length > 0) {
      const next: string[] = [];
      for (const id of unmirrored) {
        const children = await unlessVanished(this.keycloak.roles.getCompositeRolesForRealm({ id }));
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
}

/**
 * Applies link changes in Keycloak, additions first, registering the reverse of each call
 * as soon as it succeeded. `oneByOne` for Keycloak APIs that take one item per call.
 */
export async function applyLinkChanges<T extends { id: string }>(
  undo: UndoLog,
  what: string,
  changes: LinkChanges<T>,
  link: (items: T[]) => Promise<unknown>,
  unlink: (items: T[]) => Promise<unknown>,
  { oneByOne = false } = {},
): Promise<void> {
  const calls = (items: T[]) => (items.length === 0 ? [] : oneByOne ? items.map((item) => [item]) : [items]);
  for (const items of calls(changes.add)) {
    await link(items);
    undo.push(`unlink ${what}`, () => unlink(items));
  }
  for (const items of calls(changes.remove)) {
    await unlink(items);
    undo.push(`link ${what} again`, () => link(items));
  }
}

/** Every id of a paged Keycloak listing. */
export async function pagedIds(list: (first: number, max: number) => Promise<{ id?: string }[]>): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let first = 0; ; first += HOLDERS_PAGE) {
    const page = await list(first, HOLDERS_PAGE);
    for (const { id } of page) if (id) ids.add(id);
    if (page.length < HOLDERS_PAGE) return ids;
  }
}

/** Whether the gateway manages (and mirrors) a realm role of this name. */
export function isManaged(name: string | undefined): boolean {
  return Boolean(name?.startsWith(ROLE_PREFIX) || name?.startsWith(PRIVILEGE_PREFIX));
}

function kindOf(roleName: string): RealmRoleKind {
  return roleName.startsWith(PRIVILEGE_PREFIX) ? 'PRIVILEGE' : 'ROLE';
}

/** The read's result, or null when its role or group was deleted in Keycloak meanwhile. */
export async function unlessVanished<T>(read: Promise<T>): Promise<T | null> {
  try {
    return (await read) ?? null;
  } catch (error) {
    if (isKeycloakNotFound(error)) return null;
    throw error;
  }
}
