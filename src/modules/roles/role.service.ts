import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import { ADMIN_ROLE } from '../../keycloak/realm-catalog.js';
import { someOf } from '../../validation.js';
import type { RealmRoleKind } from './role.entity.js';
import { checkCreateRole, checkUpdateRole, descriptionOf, roleNameOf, type CreateRoleInput, type UpdateRoleInput } from './role.input.js';
import type { RoleRecord } from './role.type.js';
import { linkChanges, namesOf, noLinkChanges, requireAll } from './links.js';
import type { RolesDirectory } from './roles.directory.js';
import type { RolesQueries } from './roles.queries.js';

/** The statements the role rules use. */
export type RoleServiceQueries = Pick<
  RolesQueries,
  | 'list'
  | 'findByIds'
  | 'isNameTaken'
  | 'countHolders'
  | 'privilegesOf'
  | 'upsert'
  | 'setDescription'
  | 'delete'
  | 'changeId'
  | 'changePrivileges'
> & { within(em: Parameters<RolesQueries['within']>[0]): RoleServiceQueries };

export interface RoleServiceDeps {
  queries: RoleServiceQueries;
  directory: RolesDirectory;
  journal: Pick<Journal, 'write'>;
}

/**
 * Roles (role_*) and privileges (priv_*): read from the mirror; roles written to Keycloak
 * first and then to the mirror, through the journal. Privileges are the catalog's
 * (IAM_CATALOG_FILE): nothing here creates, changes or deletes one.
 */
export class RoleService {
  private readonly queries: RoleServiceQueries;
  private readonly directory: RolesDirectory;
  private readonly journal: RoleServiceDeps['journal'];

  constructor({ queries, directory, journal }: RoleServiceDeps) {
    this.queries = queries;
    this.directory = directory;
    this.journal = journal;
  }

  list(kind: RealmRoleKind): Promise<RoleRecord[]> {
    return this.queries.list(kind);
  }

  findByIds(ids: readonly string[]): Promise<RoleRecord[]> {
    return this.queries.findByIds(ids);
  }

  /**
   * The records behind ids given in an input field, all of the expected kind; answers
   * before any write: NOT_FOUND for an unknown id, BAD_USER_INPUT for the wrong kind
   * (a privilege where a role belongs, or the reverse).
   */
  async require(kind: RealmRoleKind, ids: readonly string[], field: string): Promise<RoleRecord[]> {
    const found = await requireAll(field, kind === 'ROLE' ? 'role' : 'privilege', ids, (unique) => this.findByIds(unique));
    const wrong = found.filter((role) => role.kind !== kind);
    if (wrong.length > 0) {
      const expected = kind === 'ROLE' ? 'only role_* roles can be given here' : 'only priv_* privileges can be given here';
      throw new AppError('BAD_USER_INPUT', `${field}: ${someOf(namesOf(wrong))}: ${expected}`, {
        fieldErrors: { [field]: expected },
      });
    }
    return found;
  }

  async create(input: CreateRoleInput, actorId: string | null): Promise<RoleRecord> {
    checkCreateRole(input);
    const role = { name: roleNameOf(input.roleName), description: descriptionOf(input.description) ?? null };
    const privileges = await this.require('PRIVILEGE', input.privilegeIds ?? [], 'privilegeIds');
    if (await this.queries.isNameTaken(role.name)) throw new AppError('CONFLICT', `A role named ${role.name} already exists`);

    const id = await this.journal.write({
      entry: { action: 'ROLE_CREATE', targetType: 'Role', actorId, details: { ...role, privileges: namesOf(privileges) } },
      keycloak: (undo) => this.directory.create(role, privileges, undo),
      targetIdOf: (id) => id,
      local: async (em, id) => {
        const queries = this.queries.within(em);
        await queries.upsert({ id, ...role, kind: 'ROLE' });
        await queries.changePrivileges(id, { add: privileges, remove: [] });
        return id;
      },
    });
    return (await this.findByIds([id]))[0]!;
  }

  /** The description (when given) and the privileges the role is a composite of. */
  async update(id: string, input: UpdateRoleInput, actorId: string | null): Promise<RoleRecord> {
    checkUpdateRole(input);
    const role = await this.requireRole(id);
    const add = await this.require('PRIVILEGE', input.privilegeIdsToAdd ?? [], 'privilegeIdsToAdd');
    const remove = await this.require('PRIVILEGE', input.privilegeIdsToRemove ?? [], 'privilegeIdsToRemove');
    const privileges = linkChanges(
      (await this.queries.privilegesOf(id)).map((privilege) => privilege.id),
      add,
      remove,
    );
    const description = descriptionOf(input.description);
    // An update that names nothing to change is answered without a write or a journal entry.
    if (description === undefined && noLinkChanges(privileges)) return role;

    await this.journal.write({
      entry: {
        action: 'ROLE_UPDATE',
        targetType: 'Role',
        targetId: id,
        actorId,
        details: {
          name: role.name,
          ...(description !== undefined && { description: { from: role.description, to: description } }),
          privilegesAdded: namesOf(privileges.add),
          privilegesRemoved: namesOf(privileges.remove),
        },
      },
      keycloak: async (undo) => {
        if (description !== undefined) await this.directory.setDescription(role, description, undo);
        await this.directory.changePrivileges(role, privileges, undo);
      },
      local: async (em) => {
        const queries = this.queries.within(em);
        if (description !== undefined) await queries.setDescription(id, description);
        await queries.changePrivileges(id, privileges);
      },
    });
    return (await this.findByIds([id]))[0]!;
  }

  /** Refused while anyone holds the role: deleting it would silently take privileges away. */
  async delete(id: string, actorId: string | null): Promise<RoleRecord> {
    const role = await this.requireRole(id);
    if (role.name === ADMIN_ROLE) {
      throw new AppError('CONFLICT', `Role ${ADMIN_ROLE} cannot be deleted: the gateway's administrators depend on it`);
    }
    await this.requireUnassigned(role);
    const privileges = await this.queries.privilegesOf(id);

    await this.journal.write({
      entry: {
        action: 'ROLE_DELETE',
        targetType: 'Role',
        targetId: id,
        actorId,
        details: { name: role.name, privileges: namesOf(privileges) },
      },
      // The mirror row is still there when the undo runs (the local delete failed): it moves to the new id.
      keycloak: (undo) => this.directory.delete(role, privileges, undo, (newId) => this.queries.changeId(id, newId)),
      local: (em) => this.queries.within(em).delete(id),
    });
    return role;
  }

  /** The role an id argument names; privileges are read-only, so a privilege's id is refused. */
  private async requireRole(id: string): Promise<RoleRecord> {
    const [role] = await this.findByIds([id]);
    if (!role) throw new AppError('NOT_FOUND', `No role with id ${id}`);
    if (role.kind === 'PRIVILEGE') {
      throw new AppError('BAD_USER_INPUT', `${role.name} is a privilege: privileges are predefined and read-only`, {
        fieldErrors: { id: 'must be the id of a role (role_*), not of a privilege' },
      });
    }
    return role;
  }

  private async requireUnassigned(role: RoleRecord): Promise<void> {
    const { users, groups } = await this.queries.countHolders(role.id);
    const holders = [counted(users, 'user'), counted(groups, 'group')].filter(Boolean);
    if (holders.length > 0) {
      throw new AppError('CONFLICT', `Role ${role.name} is assigned to ${holders.join(' and ')}; remove it from them first`);
    }
  }
}

/** "1 user", "2 groups"; nothing for none. */
function counted(count: number, noun: string): string {
  return count === 0 ? '' : `${count} ${noun}${count === 1 ? '' : 's'}`;
}
