import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { AppError } from '../../errors.js';
import { someOf } from '../../validation.js';
import type { Journal, UndoLog } from '../../journal/journal.js';
import {
  applyLinkChanges,
  linkChanges,
  mirrorLinkChanges,
  namesOf,
  requireAll,
  toMapping,
  undoDeletion,
} from './directory-writes.js';
import { RealmRoleEntity, RolePrivilegeEntity, type RealmRoleKind } from './role.entity.js';
import { ROLE_COLUMNS } from './role.loader.js';
import {
  checkCreateRole,
  checkUpdateRole,
  descriptionOf,
  roleNameOf,
  type CreateRoleInput,
  type UpdateRoleInput,
} from './role.input.js';
import type { RoleRecord } from './role.type.js';

// The permission table and provisioning rely on it: deleting it would lock administrators out.
const ADMIN_ROLE = 'role_admin';

/**
 * Roles (role_*) and privileges (priv_*): read from the mirror; roles written to Keycloak
 * first and then to the mirror, through the journal. Privileges are predefined: nothing
 * here creates, changes or deletes one.
 */
export class RoleService {
  constructor(
    private readonly em: EntityManager,
    private readonly keycloak: KeycloakAdminClient,
    private readonly journal: Journal,
  ) {}

  list(kind: RealmRoleKind): Promise<RoleRecord[]> {
    return selectRows(this.em, `select ${ROLE_COLUMNS} from realm_roles r where r.kind = ? order by r.name`, [kind]);
  }

  findByIds(ids: readonly string[]): Promise<RoleRecord[]> {
    return selectRows(this.em, `select ${ROLE_COLUMNS} from realm_roles r where r.id in (?)`, [ids]);
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
    await this.requireNameFree(role.name);

    const id = await this.journal.write({
      entry: { action: 'ROLE_CREATE', targetType: 'Role', actorId, details: { ...role, privileges: namesOf(privileges) } },
      keycloak: (undo) => this.createInKeycloak(role, privileges, undo),
      targetIdOf: (id) => id,
      local: async (em, id) => {
        // An upsert: the directory sync may have mirrored the new role already.
        await em.upsert(RealmRoleEntity, { id, ...role, kind: 'ROLE' });
        await mirrorLinkChanges(em, RolePrivilegeEntity, ['role', id], 'privilege', { add: privileges, remove: [] });
        return id;
      },
    });
    return (await this.findByIds([id]))[0]!;
  }

  /** The description (when given) and the privileges the role is a composite of. */
  async update(id: string, input: UpdateRoleInput, actorId: string | null): Promise<RoleRecord> {
    checkUpdateRole(input);
    const role = await this.requireRole(id);
    const add = await this.require('PRIVILEGE', input.privilegeIdsToAdd, 'privilegeIdsToAdd');
    const remove = await this.require('PRIVILEGE', input.privilegeIdsToRemove, 'privilegeIdsToRemove');
    const privileges = linkChanges(await this.privilegesOf(id), add, remove);
    const description = descriptionOf(input.description);

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
        if (description !== undefined) {
          // Keycloak sets every field of a role from the body: send the whole role back.
          const before = (await this.keycloak.roles.findOneById({ id }, { catchNotFound: false }))!;
          await this.keycloak.roles.updateById({ id }, { ...before, description: description ?? undefined });
          undo.push(`restore the description of ${role.name}`, () => this.keycloak.roles.updateById({ id }, before));
        }
        await applyLinkChanges(
          undo,
          `privileges of ${role.name}`,
          privileges,
          (items) => this.keycloak.roles.createComposite({ roleId: id }, items.map(toMapping)),
          (items) => this.keycloak.roles.delCompositeRoles({ id }, items.map(toMapping)),
        );
      },
      local: async (em) => {
        if (description !== undefined) await em.nativeUpdate(RealmRoleEntity, { id }, { description });
        await mirrorLinkChanges(em, RolePrivilegeEntity, ['role', id], 'privilege', privileges);
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
    const privileges = await this.privilegesOf(id);

    await this.journal.write({
      entry: { action: 'ROLE_DELETE', targetType: 'Role', targetId: id, actorId, details: { name: role.name, privileges: namesOf(privileges) } },
      keycloak: async (undo) => {
        await this.keycloak.roles.delById({ id });
        undoDeletion(undo, `role ${role.name}`, this.em, RealmRoleEntity, id, () => this.createInKeycloak(role, privileges));
      },
      local: (em) => em.nativeDelete(RealmRoleEntity, { id }),
    });
    return role;
  }

  /** Creates the role in Keycloak as a composite of `privileges`; returns its id. */
  private async createInKeycloak(
    { name, description }: { name: string; description: string | null },
    privileges: RoleRecord[],
    undo?: UndoLog,
  ): Promise<string> {
    await this.keycloak.roles.create({ name, description: description ?? undefined });
    // Deleting the role also drops the composites added below: one undo covers both steps.
    undo?.push(`delete role ${name}`, () => this.keycloak.roles.delByName({ name }));
    const { id } = (await this.keycloak.roles.findOneByName({ name }, { catchNotFound: false }))!;
    if (privileges.length > 0) await this.keycloak.roles.createComposite({ roleId: id! }, privileges.map(toMapping));
    return id!;
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

  private async requireNameFree(name: string): Promise<void> {
    const [taken] = await selectRows(this.em, 'select 1 from realm_roles where name = ?', [name]);
    if (taken) throw new AppError('CONFLICT', `A role named ${name} already exists`);
  }

  private async requireUnassigned(role: RoleRecord): Promise<void> {
    const [{ users, groups }] = await selectRows<{ users: string; groups: string }>(
      this.em,
      `select (select count(*) from user_roles where role_id = ?) as users,
              (select count(*) from group_roles where role_id = ?) as groups`,
      [role.id, role.id],
    );
    const holders = [counted(Number(users), 'user'), counted(Number(groups), 'group')].filter(Boolean);
    if (holders.length > 0) {
      throw new AppError('CONFLICT', `Role ${role.name} is assigned to ${holders.join(' and ')}; remove it from them first`);
    }
  }

  private privilegesOf(id: string): Promise<RoleRecord[]> {
    return selectRows(
      this.em,
      `select ${ROLE_COLUMNS} from role_privileges rp join realm_roles r on r.id = rp.privilege_id where rp.role_id = ?`,
      [id],
    );
  }
}

/** "1 user", "2 groups"; nothing for none. */
function counted(count: number, noun: string): string {
  return count === 0 ? '' : `${count} ${noun}${count === 1 ? '' : 's'}`;
}
