import type { LinkChanges } from './links.js';
import type { RoleServiceQueries } from './role.service.js';
import type { RoleRecord } from './role.type.js';

/** The mirror's tables of roles and groups, in memory: links as [owner id, target id] pairs. */
export class MirrorTables {
  readonly roles = new Map<string, RoleRecord>();
  readonly rolePrivileges: [string, string][] = [];
  readonly groups = new Map<string, { id: string; name: string; parentId: string | null }>();
  readonly groupRoles: [string, string][] = [];
  readonly userRoles: [string, string][] = [];
  readonly userGroups: [string, string][] = [];
  /** Statements named here throw once, as a refused local commit would. */
  readonly failing = new Set<string>();

  failIf(statement: string): void {
    if (this.failing.delete(statement)) throw new Error(`the mirror refused ${statement}`);
  }
}

/** Targets linked to `owner` in a link table. */
export function linked(table: readonly [string, string][], owner: string): string[] {
  return table.filter(([from]) => from === owner).map(([, to]) => to);
}

/** Adds and removes links, as the queries' changeLinks does (a link already there is fine). */
export function changeLinked(table: [string, string][], owner: string, { add, remove }: LinkChanges<{ id: string }>): void {
  for (const { id } of add) if (!table.some(([from, to]) => from === owner && to === id)) table.push([owner, id]);
  const gone = new Set(remove.map(({ id }) => id));
  removeWhere(table, ([from, to]) => from === owner && gone.has(to));
}

/** Moves every link naming `id`, on either side, to `newId`: the foreign keys cascade on update. */
export function moveLinks(table: [string, string][], id: string, newId: string): void {
  for (const link of table) for (const side of [0, 1]) if (link[side] === id) link[side] = newId;
}

export function removeWhere<T>(rows: T[], drop: (row: T) => boolean): void {
  for (let i = rows.length - 1; i >= 0; i--) if (drop(rows[i]!)) rows.splice(i, 1);
}

/** The roles queries the role rules use, on MirrorTables. */
export class FakeRolesQueries implements RoleServiceQueries {
  constructor(readonly tables: MirrorTables = new MirrorTables()) {}

  within(): FakeRolesQueries {
    return this;
  }

  async list(kind: RoleRecord['kind']): Promise<RoleRecord[]> {
    return [...this.tables.roles.values()].filter((role) => role.kind === kind).sort((a, b) => a.name.localeCompare(b.name));
  }

  async findByIds(ids: readonly string[]): Promise<RoleRecord[]> {
    return ids.flatMap((id) => {
      const role = this.tables.roles.get(id);
      return role ? [{ ...role }] : [];
    });
  }

  async isNameTaken(name: string): Promise<boolean> {
    return [...this.tables.roles.values()].some((role) => role.name === name);
  }

  async countHolders(roleId: string): Promise<{ users: number; groups: number }> {
    const { userRoles, groupRoles } = this.tables;
    return {
      users: userRoles.filter(([, role]) => role === roleId).length,
      groups: groupRoles.filter(([, role]) => role === roleId).length,
    };
  }

  privilegesOf(roleId: string): Promise<RoleRecord[]> {
    return this.findByIds(linked(this.tables.rolePrivileges, roleId));
  }

  async upsert(role: RoleRecord): Promise<void> {
    this.tables.failIf('upsert role');
    this.tables.roles.set(role.id, { id: role.id, name: role.name, kind: role.kind, description: role.description });
  }

  async setDescription(roleId: string, description: string | null): Promise<void> {
    this.tables.failIf('set description');
    const role = this.tables.roles.get(roleId);
    if (role) role.description = description;
  }

  async delete(roleId: string): Promise<void> {
    this.tables.failIf('delete role');
    this.tables.roles.delete(roleId);
    for (const table of [this.tables.rolePrivileges, this.tables.groupRoles, this.tables.userRoles]) {
      removeWhere(table, (link) => link.includes(roleId));
    }
  }

  async changeId(roleId: string, newId: string): Promise<void> {
    const role = this.tables.roles.get(roleId);
    if (!role) return;
    this.tables.roles.delete(roleId);
    this.tables.roles.set(newId, { ...role, id: newId });
    for (const table of [this.tables.rolePrivileges, this.tables.groupRoles, this.tables.userRoles]) moveLinks(table, roleId, newId);
  }

  async changePrivileges(roleId: string, changes: LinkChanges<{ id: string }>): Promise<void> {
    this.tables.failIf('change privileges');
    changeLinked(this.tables.rolePrivileges, roleId, changes);
  }
}
