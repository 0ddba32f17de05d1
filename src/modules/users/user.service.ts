import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../../errors.js';
import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import { selectRows } from '../../db/loaders.js';
import { keysetPage, type Page } from '../../db/pagination.js';
import { endSessions, type Journal, type UndoLog } from '../../journal/journal.js';
import { sendActionsEmail, VERIFY_LINK_LIFESPAN_SECONDS } from '../../keycloak/actions-email.js';
import { isKeycloakNotFound } from '../../keycloak/keycloak-errors.js';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { GroupService } from '../groups/group.service.js';
import { UserGroupEntity } from '../groups/group.entity.js';
import type { RoleService } from '../roles/role.service.js';
import { UserRoleEntity } from '../roles/role.entity.js';
import {
  checkCreateUser,
  checkSetPassword,
  checkUpdateUser,
  type CreateUserInput,
  type UpdateUserInput,
} from './user.input.js';
import type { Principal } from '../../auth/token-verifier.js';
import { UserEntity, type UserAttributes } from './user.entity.js';
import { UserSyncEntity } from '../../jobs/user-sync.entity.js';
import { mirrorOne, recordDeletion } from '../../jobs/reconciler.js';
import type { UserRecord } from './user.type.js';

export interface UserListFilter {
  search?: string | null;
  enabled?: boolean | null;
  roleId?: string | null;
  groupId?: string | null;
  tenantId?: string | null;
}

export type UserPage = Page<UserRecord>;

/** An account to create, already validated, its roles and groups already looked up. */
export interface NewAccount {
  email: string;
  firstName: string;
  lastName: string;
  /** Absent: the user sets a password through Keycloak's emailed link (UPDATE_PASSWORD). */
  password?: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes: UserAttributes;
  roles: RoleRecord[];
  groups: GroupRecord[];
}

export interface AccountCreation {
  action: string;
  actorId: string | null;
  tenantId?: string;
  details?: Record<string, unknown>;
  /** A further Keycloak step once the user exists (for example the password-setup email). */
  afterKeycloak?: (userId: string, undo: UndoLog) => Promise<void>;
  /** A further local write in the same transaction (for example the tenant created at sign-up). */
  afterLocal?: (em: EntityManager, userId: string) => Promise<void>;
  /** A Keycloak step before the user is created (for example the tenant realm it is created in). */
  beforeKeycloak?: (undo: UndoLog) => Promise<void>;
  /** The journal entry's target when the account is part of a larger write (a tenant); else the user. */
  target?: { type: string; id: string };
  /**
   * Seed 001: when Keycloak is unreachable, keep the account locally as PENDING (its roles
   * and groups as links) for the sync job to push, instead of failing. Only for accounts
   * without a password: a password is never stored, so it could not be pushed later.
   */
  keepWhenUnreachable?: boolean;
}

/** What a Keycloak user is created from. */
interface KeycloakNewUser {
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes: UserAttributes;
  password?: string;
}

/** L2: the answer to a user's own change to an email that is taken, which names no address. */
export const EMAIL_UNUSABLE = 'This email cannot be used';

/** A user's own edit of their profile (updateMyProfile): absent fields already filled in. */
export interface OwnProfile {
  email: string;
  firstName: string;
  lastName: string;
}

/** A Keycloak user this much older than the attempt to create it is someone else's. */
const ADOPTION_CLOCK_SKEW_MS = 5_000;

export const USER_COLUMNS = `u.id, u.username, u.email, u.first_name as "firstName", u.last_name as "lastName", u.enabled,
  u.email_verified as "emailVerified", u.sync_status as "syncStatus", u.attributes, u.created_at as "createdAt",
  u.updated_at as "updatedAt", u.realm`;

/**
 * Users: read from the PostgreSQL mirror, never from Keycloak; written to Keycloak first
 * and then to the mirror, through the journal.
 */
export class UserService {
  constructor(
    private readonly em: EntityManager,
    private readonly keycloak: KeycloakAdminClient,
    private readonly journal: Journal,
    private readonly roles: RoleService,
    private readonly groups: GroupService,
    /** The tenant realm `keycloak` is bound to (realm tenancy); null for the gateway's own realm. */
    private readonly realm: string | null = null,
    /** Realm tenancy: the tenant realms, where the accounts of tenant realms are changed and deleted. */
    private readonly tenantRealms?: Pick<TenantRealms, 'adminFor' | 'delete'>,
  ) {}

  /** The admin client of the realm an account lives in (null: the gateway's own). */
  private keycloakFor(realm: string | null | undefined): KeycloakAdminClient {
    if ((realm ?? null) === this.realm) return this.keycloak;
    if (!realm) throw new Error('a tenant realm\'s user service cannot act in the gateway\'s own realm');
    return this.requireTenantRealms().adminFor(realm).client;
  }

  private requireTenantRealms(): Pick<TenantRealms, 'adminFor' | 'delete'> {
    // An account or tenant of a tenant realm, while the gateway runs with TENANCY_MODE=shared.
    if (!this.tenantRealms) throw new Error('this account lives in a tenant realm: TENANCY_MODE=realm is needed to change it');
    return this.tenantRealms;
  }

  async create(input: CreateUserInput, actorId: string | null): Promise<UserRecord> {
    checkCreateUser(input);
    return this.createAccount(
      {
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        password: input.password,
        enabled: input.enabled ?? true,
        emailVerified: input.emailVerified ?? false,
        attributes: userAttributes(input),
        roles: await this.roles.require('ROLE', input.roleIds ?? [], 'roleIds'),
        groups: await this.groups.require(input.groupIds ?? [], 'groupIds'),
      },
      { action: 'USER_CREATE', actorId },
    );
  }

  /**
   * Creates a validated account: Keycloak first (the user, its roles, its groups, then
   * any further step of the caller's), then the mirror in one transaction (plus any
   * further local write of the caller's). Every creation of a user goes through here.
   */
  async createAccount(account: NewAccount, creation: AccountCreation): Promise<UserRecord> {
    const email = account.email.trim().toLowerCase();
    await this.requireEmailFree(email);
    const { roles, groups, attributes, password } = account;
    const user = {
      username: email,
      email,
      firstName: account.firstName.trim(),
      lastName: account.lastName.trim(),
      enabled: account.enabled,
      emailVerified: account.emailVerified,
    };
    return this.journal.write({
      entry: {
        action: creation.action,
        targetType: creation.target?.type ?? 'User',
        targetId: creation.target?.id,
        actorId: creation.actorId,
        tenantId: creation.tenantId,
        details: { email, roles: roles.map((r) => r.name), groups: groups.map((g) => g.name), ...creation.details },
      },
      keycloak: async (undo) => {
        await creation.beforeKeycloak?.(undo);
        return this.createInKeycloak({ ...user, attributes, password }, roles, groups, undo, creation.afterKeycloak);
      },
      targetIdOf: creation.target ? undefined : (id) => id,
      // The record as written, rather than read back: one round trip less per creation.
      local: async (em, id): Promise<UserRecord> => {
        const now = new Date();
        const record = { id, realm: this.realm, ...user, attributes, syncStatus: 'SYNCED' as const, createdAt: now, updatedAt: now };
        await em.insert(UserEntity, record);
        for (const role of roles) await em.insert(UserRoleEntity, { user: id, role: role.id });
        for (const group of groups) await em.insert(UserGroupEntity, { user: id, group: group.id });
        await creation.afterLocal?.(em, id);
        return record;
      },
      ...(creation.keepWhenUnreachable &&
        !password && {
          whenUnreachable: async (em: EntityManager) => {
            // A local id until the sync job swaps in the Keycloak one.
            const localId = randomUUID();
            const now = new Date();
            const record = { id: localId, realm: this.realm, ...user, attributes, syncStatus: 'PENDING' as const, createdAt: now, updatedAt: now };
            await em.insert(UserEntity, record);
            for (const role of roles) await em.insert(UserRoleEntity, { user: localId, role: role.id });
            for (const group of groups) await em.insert(UserGroupEntity, { user: localId, group: group.id });
            await em.insert(UserSyncEntity, { user: localId, action: creation.action, actorId: creation.actorId, attempts: 0, nextAt: now, createdAt: now });
            await creation.afterLocal?.(em, localId);
            return { result: record, targetId: localId };
          },
        }),
    });
  }

  /**
   * Seed 001: pushes a user kept locally while Keycloak was unreachable, through the same
   * Keycloak steps as createAccount (user, roles, groups, then `afterKeycloak`, such as the
   * password-setup email). The local row then takes the Keycloak id, its links following
   * by ON UPDATE CASCADE, and becomes SYNCED. Answers the Keycloak id.
   */
  async pushPending(localId: string, afterKeycloak?: (userId: string, undo: UndoLog) => Promise<void>): Promise<string> {
    const [user] = await selectRows<UserRecord & { action: string; actorId: string | null }>(
      this.em,
      `select ${USER_COLUMNS}, s.action, s.actor_id as "actorId" from users u join user_sync s on s.user_id = u.id
        where u.id = ? and u.sync_status <> 'SYNCED'`,
      [localId],
    );
    if (!user) throw new AppError('NOT_FOUND', `No user waiting for Keycloak with id ${localId}`);
    const roles = await selectRows<RoleRecord>(
      this.em,
      'select r.* from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = ? order by r.name',
      [localId],
    );
    const groups = await selectRows<GroupRecord>(
      this.em,
      'select g.* from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = ? order by g.name',
      [localId],
    );
    const { username, email, firstName, lastName, enabled, emailVerified, attributes } = user;
    return this.journal.write({
      entry: {
        action: 'USER_SYNC',
        targetType: 'User',
        targetId: localId,
        actorId: user.actorId,
        details: { email, registeredAs: user.action, roles: roles.map((r) => r.name), groups: groups.map((g) => g.name) },
      },
      keycloak: (undo) =>
        this.createInKeycloak(
          { username, email, firstName, lastName, enabled, emailVerified, attributes },
          roles,
          groups,
          undo,
          afterKeycloak,
          // Raw rows carry timestamps as text.
          new Date(user.createdAt),
        ),
      targetIdOf: (id) => id,
      local: async (em, id) => {
        const swapped = await em.execute(
          `update users set id = ?, sync_status = 'SYNCED', updated_at = ? where id = ? and sync_status <> 'SYNCED' returning id`,
          [id, new Date(), localId],
        );
        if (swapped.length === 0) {
          // A process whose lease on this user expired may have finished it already.
          const [done] = await em.execute(`select 1 from users where id = ? and sync_status = 'SYNCED'`, [id]);
          if (!done) throw new AppError('NOT_FOUND', `The user ${email} was deleted before it reached Keycloak`);
        }
        await em.execute('delete from user_sync where user_id = ?', [id]);
        // The registration's journal entry follows the user to its Keycloak id.
        await em.execute('update audit_events set target_id = ? where target_id = ?', [id, localId]);
        return id;
      },
    });
  }

  /**
   * The Keycloak side of creating an account: the user, its roles, its groups, then the
   * caller's further step, each undone if a later one fails. With `adoptCreatedSince`, a
   * user Keycloak already has under this email and created since then is taken as this
   * one (an earlier attempt whose answer was lost), not refused as a conflict.
   */
  private async createInKeycloak(
    user: KeycloakNewUser,
    roles: RoleRecord[],
    groups: GroupRecord[],
    undo: UndoLog,
    afterKeycloak?: (userId: string, undo: UndoLog) => Promise<void>,
    adoptCreatedSince?: Date,
  ): Promise<string> {
    const { password, ...profile } = user;
    let id: string;
    try {
      ({ id } = await this.keycloak.users.create({
        ...profile,
        ...(password
          ? { credentials: [{ type: 'password', value: password, temporary: false }] }
          : { requiredActions: ['UPDATE_PASSWORD'] }),
      }));
    } catch (error) {
      const conflict = (error as { response?: { status?: number } }).response?.status === 409;
      const adopted = conflict && adoptCreatedSince ? await this.adoptable(user.email, adoptCreatedSince) : undefined;
      if (!adopted) throw error;
      id = adopted;
    }
    undo.push(`delete user ${user.email}`, () => this.keycloak.users.del({ id }));
    // Keycloak ignores realmRoles in the creation body (keycloak/keycloak#46759).
    if (roles.length > 0) {
      await this.keycloak.users.addRealmRoleMappings({ id, roles: roleRefs(roles) });
    }
    for (const group of groups) await this.keycloak.users.addToGroup({ id, groupId: group.id });
    await afterKeycloak?.(id, undo);
    return id;
  }

  /** The id of the Keycloak user with this email if it was created since `since`. */
  private async adoptable(email: string, since: Date): Promise<string | undefined> {
    const [found] = await this.keycloak.users.find({ email, exact: true, briefRepresentation: true });
    const createdAt = found?.createdTimestamp ?? 0;
    return found?.id && createdAt >= since.getTime() - ADOPTION_CLOCK_SKEW_MS ? found.id : undefined;
  }

  /**
   * Seed 004's update: Keycloak first (profile, then role mappings, then groups, each step
   * undone if a later one fails, then `afterKeycloak`), then the mirror. Only real changes
   * are sent, so that every undo puts back exactly what was there.
   */
  async update(
    id: string,
    input: UpdateUserInput,
    actorId: string | null,
    afterKeycloak?: (keycloak: KeycloakAdminClient, userId: string) => Promise<void>,
  ): Promise<UserRecord> {
    checkUpdateUser(input);
    const current = await this.requireUser(id);
    const rolesToAdd = await this.roles.require('ROLE', input.roleIdsToAdd ?? [], 'roleIdsToAdd');
    const rolesToRemove = await this.roles.require('ROLE', input.roleIdsToRemove ?? [], 'roleIdsToRemove');
    const groupsToAdd = await this.groups.require(input.groupIdsToAdd ?? [], 'groupIdsToAdd');
    const groupsToRemove = await this.groups.require(input.groupIdsToRemove ?? [], 'groupIdsToRemove');
    // Roles and groups are the gateway realm's: a tenant realm's account holds none of them.
    if (current.realm && rolesToAdd.length + rolesToRemove.length + groupsToAdd.length + groupsToRemove.length > 0) {
      throw new AppError('BAD_USER_INPUT', `${current.email} is an account of a tenant realm: the gateway's roles and groups do not apply to it`);
    }
    const keycloak = this.keycloakFor(current.realm);
    const email = input.email.trim().toLowerCase();
    if (email !== current.email) await this.requireEmailFree(email, id, current.realm);

    const held = await this.links(id);
    const roles = { add: rolesToAdd.filter((r) => !held.roleIds.has(r.id)), remove: rolesToRemove.filter((r) => held.roleIds.has(r.id)) };
    const groups = { add: groupsToAdd.filter((g) => !held.groupIds.has(g.id)), remove: groupsToRemove.filter((g) => held.groupIds.has(g.id)) };
    const profile = {
      username: email,
      email,
      firstName: input.firstName.trim(),
      lastName: input.lastName.trim(),
      enabled: input.enabled ?? current.enabled,
      emailVerified: input.emailVerified ?? current.emailVerified,
    };
    const names = (records: { name: string }[]) => records.map((record) => record.name);
    // Disabling, or removing a role or group: the sessions opened with them end too.
    const takesAway = (current.enabled && !profile.enabled) || roles.remove.length > 0 || groups.remove.length > 0;

    await this.journal.write({
      entry: {
        action: 'USER_UPDATE',
        targetType: 'User',
        targetId: id,
        actorId,
        details: {
          email: current.email,
          changes: changesOf(current, { ...profile, attributes: updatedAttributes(current.attributes, input) }),
          rolesAdded: names(roles.add),
          rolesRemoved: names(roles.remove),
          groupsAdded: names(groups.add),
          groupsRemoved: names(groups.remove),
        },
      },
      keycloak: async (undo) => {
        // Keycloak's own copy is the state an undo restores, and may hold attributes the mirror lacks.
        const before = await keycloak.users.findOne({ id });
        if (!before) throw new AppError('NOT_FOUND', `No user with id ${id} in Keycloak`);
        const attributes = updatedAttributes((before.attributes ?? {}) as UserAttributes, input);
        await keycloak.users.update({ id }, { ...profile, attributes });
        undo.push(`restore the profile of ${current.email}`, () =>
          keycloak.users.update(
            { id },
            {
              username: before.username,
              email: before.email,
              firstName: before.firstName,
              lastName: before.lastName,
              enabled: before.enabled,
              emailVerified: before.emailVerified,
              attributes: before.attributes ?? {},
            },
          ),
        );
        if (roles.add.length > 0) {
          await keycloak.users.addRealmRoleMappings({ id, roles: roleRefs(roles.add) });
          undo.push('unmap the added roles', () => keycloak.users.delRealmRoleMappings({ id, roles: roleRefs(roles.add) }));
        }
        if (roles.remove.length > 0) {
          await keycloak.users.delRealmRoleMappings({ id, roles: roleRefs(roles.remove) });
          undo.push('map the removed roles again', () => keycloak.users.addRealmRoleMappings({ id, roles: roleRefs(roles.remove) }));
        }
        for (const group of groups.add) {
          await keycloak.users.addToGroup({ id, groupId: group.id });
          undo.push(`leave group ${group.name}`, () => keycloak.users.delFromGroup({ id, groupId: group.id }));
        }
        for (const group of groups.remove) {
          await keycloak.users.delFromGroup({ id, groupId: group.id });
          undo.push(`join group ${group.name} again`, () => keycloak.users.addToGroup({ id, groupId: group.id }));
        }
        await afterKeycloak?.(keycloak, id);
        if (takesAway) await endSessions(keycloak, id);
        return attributes;
      },
      local: async (em, attributes) => {
        await em.nativeUpdate(UserEntity, { id }, { ...profile, attributes, updatedAt: new Date() });
        for (const role of roles.add) await em.insert(UserRoleEntity, { user: id, role: role.id });
        if (roles.remove.length > 0) await em.nativeDelete(UserRoleEntity, { user: id, role: { $in: roles.remove.map((r) => r.id) } });
        for (const group of groups.add) await em.insert(UserGroupEntity, { user: id, group: group.id });
        if (groups.remove.length > 0) await em.nativeDelete(UserGroupEntity, { user: id, group: { $in: groups.remove.map((g) => g.id) } });
      },
    });
    return (await this.findByIds([id]))[0]!;
  }

  /**
   * A user edits their own profile. A new email is unverified until the person follows the
   * link Keycloak emails to it (H2): the email is part of the write, so a change whose
   * email cannot be sent is undone. A taken email answers EMAIL_UNUSABLE (L2), whether the
   * gateway or only Keycloak knows it, so that the answer names no address.
   */
  async updateOwnProfile(current: UserRecord, profile: OwnProfile): Promise<UserRecord> {
    const emailChanges = profile.email.trim().toLowerCase() !== current.email;
    const input = { ...profile, roleIdsToAdd: [], roleIdsToRemove: [], groupIdsToAdd: [], groupIdsToRemove: [], ...(emailChanges && { emailVerified: false }) };
    const verify = (keycloak: KeycloakAdminClient, userId: string) => sendActionsEmail(keycloak, userId, ['VERIFY_EMAIL'], VERIFY_LINK_LIFESPAN_SECONDS);
    try {
      return await this.update(current.id, input, current.id, emailChanges ? verify : undefined);
    } catch (error) {
      if (emailChanges && error instanceof AppError && error.code === 'CONFLICT') throw new AppError('CONFLICT', EMAIL_UNUSABLE);
      throw error;
    }
  }

  /**
   * Seed 000's deletion: Keycloak first, then the mirror (role, group and tenant links
   * cascade). A user Keycloak no longer has is still removed locally, so retrying a
   * deletion whose local step failed finishes it. Callers delete themselves through
   * deleteMyAccount, never here: an administrator cannot lock themselves out by a slip.
   */
  async delete(id: string, actorId: string | null): Promise<UserRecord> {
    if (id === actorId) {
      throw new AppError('BAD_USER_INPUT', 'To delete your own account, use deleteMyAccount', {
        fieldErrors: { id: 'is your own account: use deleteMyAccount' },
      });
    }
    return this.remove(id, actorId, 'USER_DELETE');
  }

  /** Seed 000: a user deletes their own account. */
  deleteOwnAccount(id: string): Promise<UserRecord> {
    return this.remove(id, id, 'ACCOUNT_DELETE');
  }

  private async remove(id: string, actorId: string | null, action: string): Promise<UserRecord> {
    const user = await this.requireUser(id);
    await this.requireNotLastOwner(user);
    const keycloak = this.keycloakFor(user.realm);
    // Realm tenancy: a tenant that goes with its only member takes its realm along.
    const realms = (await this.soleMemberTenants(id)).flatMap((tenant) => (tenant.realm ? [tenant.realm] : []));
    await this.journal.write({
      entry: { action, targetType: 'User', targetId: id, actorId, details: { email: user.email, ...(realms.length > 0 && { realmsDeleted: realms }) } },
      keycloak: async (undo) => {
        // Keycloak drops a deleted user's sessions too; ended first all the same, so that no
        // refresh slips in while the deletion runs.
        await endSessions(keycloak, id);
        try {
          await keycloak.users.del({ id });
        } catch (error) {
          if (!isKeycloakNotFound(error)) throw error;
        }
        irreversible(undo, `the deletion of ${user.email}`);
        for (const realm of realms) {
          await this.requireTenantRealms().delete(realm);
          irreversible(undo, `the deletion of realm ${realm}`);
        }
      },
      local: async (em) => {
        // Tenants nobody else belongs to go with their only member (em.execute: inside the transaction).
        await em.execute(
          `delete from tenants t where exists (select 1 from memberships m where m.tenant_id = t.id and m.user_id = ?)
             and not exists (select 1 from memberships o where o.tenant_id = t.id and o.user_id <> ?)`,
          [id, id],
        );
        // A tenant whose realm went above goes too, even if someone joined it meanwhile: its accounts went with the realm.
        if (realms.length > 0) await em.execute('delete from tenants where realm in (?)', [realms]);
        await recordDeletion(em, id);
        await em.nativeDelete(UserEntity, { id });
      },
    });
    return user;
  }

  /** The tenants `userId` is the only member of: deleting the user deletes them. */
  private soleMemberTenants(userId: string): Promise<{ id: string; realm: string | null }[]> {
    return selectRows(
      this.em,
      `select t.id, t.realm from tenants t where exists (select 1 from memberships m where m.tenant_id = t.id and m.user_id = ?)
         and not exists (select 1 from memberships o where o.tenant_id = t.id and o.user_id <> ?)`,
      [userId, userId],
    );
  }

  /** A tenant with other members must keep an owner: its last one cannot leave by deletion. */
  private async requireNotLastOwner(user: UserRecord): Promise<void> {
    const tenants = await selectRows<{ name: string }>(
      this.em,
      `select t.name from memberships m join tenants t on t.id = m.tenant_id
        where m.user_id = ? and m.role = 'OWNER'
          and not exists (select 1 from memberships o where o.tenant_id = m.tenant_id and o.user_id <> m.user_id and o.role = 'OWNER')
          and exists (select 1 from memberships x where x.tenant_id = m.tenant_id and x.user_id <> m.user_id)
        order by t.name`,
      [user.id],
    );
    if (tenants.length > 0) {
      const names = tenants.map((tenant) => tenant.name).join(', ');
      throw new AppError(
        'CONFLICT',
        `${user.email} is the last owner of ${names}: invite another owner (createInvitation with role OWNER) before deleting the account`,
      );
    }
  }

  /**
   * An administrator sets a user's password, ending the user's sessions; the password
   * reaches Keycloak only, never the journal or logs.
   */
  async setPassword(id: string, password: string, temporary: boolean, actorId: string | null): Promise<UserRecord> {
    checkSetPassword(password);
    const user = await this.requireUser(id);
    const keycloak = this.keycloakFor(user.realm);
    await this.journal.write({
      entry: { action: 'USER_SET_PASSWORD', targetType: 'User', targetId: id, actorId, details: { email: user.email, temporary } },
      keycloak: async (undo) => {
        await keycloak.users.resetPassword({ id, credential: { type: 'password', value: password, temporary } });
        irreversible(undo, `the new password of ${user.email}`);
        // A reset is how an administrator answers a compromise: whoever held the old password keeps nothing.
        await endSessions(keycloak, id);
      },
      local: async () => undefined,
    });
    return user;
  }

  /** The mirrored user an id argument names; NOT_FOUND before any write when there is none. */
  private async requireUser(id: string): Promise<UserRecord> {
    const [user] = await this.findByIds([id]);
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${id}`);
    return user;
  }

  /** Free in the realm (this service's unless named): emails are unique per realm, as in Keycloak. */
  private async requireEmailFree(email: string, exceptId: string | null = null, realm: string | null | undefined = this.realm): Promise<void> {
    const [taken] = await selectRows(
      this.em,
      'select 1 from users where (email = ? or username = ?) and realm is not distinct from ? and id is distinct from ?',
      [email, email, realm ?? null, exceptId],
    );
    if (taken) throw new AppError('CONFLICT', `A user with the email ${email} already exists`);
  }

  /** The roles and groups the mirror says a user holds directly. */
  private async links(id: string): Promise<{ roleIds: Set<string>; groupIds: Set<string> }> {
    const rows = await selectRows<{ kind: 'role' | 'group'; id: string }>(
      this.em,
      `select 'role' as kind, role_id as id from user_roles where user_id = ?
       union all select 'group', group_id from user_groups where user_id = ?`,
      [id, id],
    );
    const of = (kind: string) => new Set(rows.filter((row) => row.kind === kind).map((row) => row.id));
    return { roleIds: of('role'), groupIds: of('group') };
  }

  /** The account with this email in this service's realm, if any. */
  findByEmailInRealm(email: string): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.email = ? and u.realm is not distinct from ?`, [
      email.trim().toLowerCase(),
      this.realm,
    ]);
  }

  /** Every account with this email, whatever its realm. */
  findByEmail(email: string): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.email = ?`, [email.trim().toLowerCase()]);
  }

  async findByIds(ids: readonly string[]): Promise<UserRecord[]> {
    return selectRows(this.em, `select ${USER_COLUMNS} from users u where u.id in (?)`, [ids]);
  }

  async list(first: number, after: string | null | undefined, filter: UserListFilter = {}): Promise<UserPage> {
    return keysetPage(
      this.em,
      {
        columns: USER_COLUMNS,
        from: 'users u',
        where: filterCondition(filter),
        orderBy: ['u.created_at', 'u.id'],
        direction: 'asc',
        positionOf: (user: UserRecord) => ({ at: user.createdAt, id: user.id }),
      },
      first,
      after,
    );
  }

  /**
   * Just-in-time mirroring (seed 003): writes a token's newer profile claims into the
   * caller's record. Only ever updates: a record is created from Keycloak's word, not a
   * token's (mirrorFromKeycloak). Called when `shouldMirrorClaims` says so.
   */
  async mirrorClaims(principal: Principal): Promise<UserRecord | null> {
    const [row] = await this.em
      .createQueryBuilder(UserEntity)
      .update({ ...claimsOf(principal), updatedAt: new Date() })
      .where({ id: principal.userId })
      .returning('*')
      .execute('all');
    return (row as UserRecord | undefined) ?? null;
  }

  /**
   * A user a valid token names but the mirror lacks (created in Keycloak's console, say),
   * looked up in Keycloak once and mirrored with its roles and groups: null when Keycloak
   * no longer has them (then remembered as deleted) or the gateway saw them deleted.
   */
  async mirrorFromKeycloak(id: string, realm: string | null): Promise<UserRecord | null> {
    const keycloak = this.keycloakFor(realm);
    const found = await keycloak.users.findOne({ id });
    if (!found) {
      await recordDeletion(this.em, id);
      return null;
    }
    return (await mirrorOne(keycloak, this.em, found, realm)) ? ((await this.findByIds([id]))[0] ?? null) : null;
  }

  /** Whether the gateway saw the user `id` deleted. */
  async wasDeleted(id: string): Promise<boolean> {
    return (await selectRows(this.em, 'select 1 from deleted_users where id = ?', [id])).length > 0;
  }
}

function filterCondition(filter: UserListFilter): { clauses: string[]; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const search = filter.search?.trim();
  if (search) {
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    clauses.push('(u.email ilike ? or u.username ilike ? or u.first_name ilike ? or u.last_name ilike ?)');
    params.push(pattern, pattern, pattern, pattern);
  }
  if (typeof filter.enabled === 'boolean') {
    clauses.push('u.enabled = ?');
    params.push(filter.enabled);
  }
  if (filter.roleId) {
    clauses.push('exists (select 1 from user_roles ur where ur.user_id = u.id and ur.role_id = ?)');
    params.push(filter.roleId);
  }
  if (filter.groupId) {
    clauses.push('exists (select 1 from user_groups ug where ug.user_id = u.id and ug.group_id = ?)');
    params.push(filter.groupId);
  }
  if (filter.tenantId) {
    clauses.push('exists (select 1 from memberships m where m.user_id = u.id and m.tenant_id = ?)');
    params.push(filter.tenantId);
  }
  return { clauses, params };
}

/** The Keycloak attributes behind entityCode and countryCode. */
export function userAttributes(input: { entityCode?: string | null; countryCode?: string | null }): UserAttributes {
  const attributes: UserAttributes = {};
  if (input.entityCode?.trim()) attributes.entity_code = [input.entityCode.trim()];
  if (input.countryCode?.trim()) attributes.country_code = [input.countryCode.trim().toUpperCase()];
  return attributes;
}

/** The attributes after an update: a code left out keeps its value, an empty one is removed. */
function updatedAttributes(attributes: UserAttributes, input: UpdateUserInput): UserAttributes {
  const given = userAttributes(input);
  const next = { ...attributes };
  for (const [name, value] of [
    ['entity_code', input.entityCode],
    ['country_code', input.countryCode],
  ] as const) {
    if (value === null || value === undefined) continue;
    if (given[name]) next[name] = given[name];
    else delete next[name];
  }
  return next;
}

/** The audit diff: each field whose value changes, from what to what. */
function changesOf<T extends object>(before: T, after: Partial<T>): Record<string, { from: unknown; to: unknown }> {
  return Object.fromEntries(
    (Object.keys(after) as (keyof T)[])
      .filter((key) => !isDeepStrictEqual(before[key], after[key]))
      .map((key) => [key, { from: before[key], to: after[key] }]),
  );
}

function roleRefs(roles: RoleRecord[]): { id: string; name: string }[] {
  return roles.map(({ id, name }) => ({ id, name }));
}

/**
 * A Keycloak step nothing can take back (a deletion, a new password). Should the local
 * commit fail after it, the failing undo keeps the journal entry PENDING for the
 * reconciler rather than calling the write COMPENSATED.
 */
function irreversible(undo: UndoLog, what: string): void {
  undo.push(what, () => Promise.reject(new Error(`${what} cannot be undone`)));
}

/** The profile claims of a token that the mirror keeps. */
function claimsOf(principal: Principal) {
  return {
    username: principal.username,
    email: principal.email,
    firstName: principal.firstName,
    lastName: principal.lastName,
    emailVerified: principal.emailVerified,
  };
}

/**
 * Whether a token's profile claims are to be written into the local record: they differ
 * from it, and Keycloak issued the token after the record's last write, so they are
 * Keycloak's newer word. A token older than the record (the caller has changed their
 * profile since) must not undo the change. Within one second, which is newer cannot be
 * told (`iat` counts seconds): the record stays, until a later token or the reconciler.
 */
export function shouldMirrorClaims(record: UserRecord, principal: Principal): boolean {
  const claims = claimsOf(principal);
  const differs = (Object.keys(claims) as (keyof typeof claims)[]).some((key) => record[key] !== claims[key]);
  return differs && principal.issuedAt > Math.floor(new Date(record.updatedAt).getTime() / 1000);
}
