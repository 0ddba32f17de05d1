import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { UndoLog } from '../../journal/journal.js';
import type { LinkChanges } from './links.js';
import type { RoleRef, RoleState } from './role.type.js';
import { isManaged, type RolesDirectory } from './roles.directory.js';

interface FakeRole {
  id: string;
  name: string;
  description: string | null;
  compositeIds: Set<string>;
}

/**
 * Keycloak's realm roles in memory, for unit tests: the same interface, the same undos.
 * `failing` names calls that throw once, as Keycloak refusing or failing would; `calls`
 * lists the writes made, undos included.
 */
export class FakeRolesDirectory implements RolesDirectory {
  readonly roles = new Map<string, FakeRole>();
  readonly userRoles = new Map<string, Set<string>>();
  readonly failing = new Set<string>();
  readonly calls: string[] = [];

  /** A role or privilege already in the realm (as provisioning or the console would have made it). */
  seed(name: string, description: string | null = null, compositeIds: string[] = []): RoleRef {
    const id = randomUUID();
    this.roles.set(id, { id, name, description, compositeIds: new Set(compositeIds) });
    return { id, name };
  }

  async create(role: { name: string; description: string | null }, privileges: readonly RoleRef[], undo: UndoLog): Promise<string> {
    const id = this.createRole(role, privileges);
    undo.push(`delete role ${role.name}`, async () => this.deleteRole(id));
    return id;
  }

  async setDescription({ id, name }: RoleRef, description: string | null, undo: UndoLog): Promise<void> {
    const role = this.write(`set description of ${name}`, id);
    const before = role.description;
    role.description = description;
    undo.push(`restore the description of ${name}`, async () => {
      this.calls.push(`restore description of ${name}`);
      role.description = before;
    });
  }

  async changePrivileges({ id, name }: RoleRef, privileges: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    const role = this.write(`change privileges of ${name}`, id, describe(privileges));
    changeSet(role.compositeIds, privileges, undo, `privileges of ${name}`);
  }

  async delete(
    role: RoleRef & { description: string | null },
    privileges: readonly RoleRef[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void> {
    this.write(`delete role ${role.name}`, role.id);
    this.deleteRole(role.id);
    undo.push(`re-create role ${role.name}`, async () => recreated(this.createRole(role, privileges)));
  }

  async changeUserRoles(userId: string, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    this.fail(`change roles of user ${userId}`);
    const held = this.userRoles.get(userId) ?? new Set<string>();
    this.userRoles.set(userId, held);
    changeSet(held, roles, undo, `roles of user ${userId}`);
  }

  async roleIdsOfUser(userId: string): Promise<string[]> {
    return [...(this.userRoles.get(userId) ?? [])];
  }

  async holderIdsOf(roleName: string): Promise<Set<string>> {
    const role = [...this.roles.values()].find(({ name }) => name === roleName);
    return new Set([...this.userRoles].filter(([, held]) => role && held.has(role.id)).map(([userId]) => userId));
  }

  async list(): Promise<Map<string, RoleState>> {
    const states = [...this.roles.keys()].flatMap((id) => this.stateOf(id) ?? []);
    return new Map(states.map((state) => [state.id, state]));
  }

  async read(id: string): Promise<RoleState | null> {
    return this.stateOf(id);
  }

  private stateOf(id: string): RoleState | null {
    const role = this.roles.get(id);
    if (!role || !isManaged(role.name)) return null;
    const kind = kindOf(role.name);
    const children = [...role.compositeIds].flatMap((childId) => this.roles.get(childId) ?? []);
    const isPrivilegeOfRole = (child: FakeRole) => kind === 'ROLE' && kindOf(child.name) === 'PRIVILEGE';
    return {
      id,
      name: role.name,
      kind,
      description: role.description,
      privilegeIds: children
        .filter(isPrivilegeOfRole)
        .map((child) => child.id)
        .sort(),
      compositeIds: children
        .filter((child) => !isPrivilegeOfRole(child))
        .map((child) => child.id)
        .sort(),
    };
  }

  private createRole({ name, description }: { name: string; description: string | null }, privileges: readonly RoleRef[]): string {
    this.fail(`create role ${name}`);
    if ([...this.roles.values()].some((role) => role.name === name))
      throw new AppError('CONFLICT', `Role with name ${name} already exists`);
    const id = randomUUID();
    this.roles.set(id, { id, name, description, compositeIds: new Set(privileges.map((privilege) => privilege.id)) });
    this.calls.push(`create role ${name}`);
    return id;
  }

  private deleteRole(id: string): void {
    const role = this.roles.get(id);
    this.roles.delete(id);
    for (const other of this.roles.values()) other.compositeIds.delete(id);
    for (const held of this.userRoles.values()) held.delete(id);
    this.calls.push(`delete role ${role?.name ?? id}`);
  }

  /** The role a write names, after the failure planned for that write, if any. */
  private write(call: string, id: string, details?: string): FakeRole {
    this.fail(call);
    const role = this.roles.get(id);
    if (!role) throw new AppError('NOT_FOUND', `Could not find role with id ${id}`);
    this.calls.push(details ? `${call}: ${details}` : call);
    return role;
  }

  private fail(call: string): void {
    if (this.failing.delete(call)) throw new Error(`Keycloak failed: ${call}`);
  }
}

/** Adds and removes ids in a set, additions first, each registering its reverse. */
export function changeSet(set: Set<string>, { add, remove }: LinkChanges<{ id: string }>, undo: UndoLog, what: string): void {
  if (add.length > 0) {
    for (const { id } of add) set.add(id);
    undo.push(`unlink ${what}`, async () => {
      for (const { id } of add) set.delete(id);
    });
  }
  if (remove.length > 0) {
    for (const { id } of remove) set.delete(id);
    undo.push(`link ${what} again`, async () => {
      for (const { id } of remove) set.add(id);
    });
  }
}

/** "+added -removed", by name. */
export function describe({ add, remove }: LinkChanges<{ name: string; id: string }>): string {
  return [...add.map(({ name }) => `+${name}`), ...remove.map(({ name }) => `-${name}`)].join(' ');
}

function kindOf(name: string): RoleState['kind'] {
  return name.startsWith('priv_') ? 'PRIVILEGE' : 'ROLE';
}
