import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../../errors.js';
import type { Page, PageWindow } from '../../db/pagination.js';
import type { Journal } from '../../journal/journal.js';
import { SETUP_LINK_LIFESPAN_SECONDS, VERIFY_LINK_LIFESPAN_SECONDS, type EmailAction } from '../../keycloak/actions-email.js';
import type { GroupService } from '../groups/group.service.js';
import type { GroupRecord } from '../groups/group.type.js';
import { linkChanges, namesOf, noLinkChanges } from '../roles/links.js';
import type { RoleService } from '../roles/role.service.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { TenantsDirectory } from '../tenants/tenants.directory.js';
import type { MemberTenantsQueries } from '../tenants/tenants.queries.js';
import { checkCreateUser, checkSetPassword, checkUpdateUser, type CreateUserInput, type UpdateUserInput } from './user.input.js';
import type { UserAttributes } from './user.entity.js';
import type { HashedCredential } from './password-hash.js';
import type { ProfileChanges, UserProfile, UserRecord } from './user.type.js';
import type { UserLinks } from './user-links.js';
import type { UsersDirectories } from './users.realms.js';
import type { UserListFilter, UserServiceQueries } from './users.queries.js';

export type { UserListFilter } from './users.queries.js';

export type UserPage = Page<UserRecord>;

/** An account to create, already validated, its roles and groups already looked up. */
export interface NewAccount {
  email: string;
  firstName: string;
  lastName: string;
  /** Absent, and no hashed credential: the user sets a password through Keycloak's emailed link (UPDATE_PASSWORD). */
  password?: string;
  /** A password hash from another system (importUsers), kept by Keycloak as it is. */
  hashedCredential?: HashedCredential;
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
  /**
   * Keycloak emails the new user one link performing these actions (setting a password,
   * verifying the address), as part of the write: an account nobody can reach is undone.
   */
  emailActions?: EmailAction[];
  /** Realm tenancy: the account's realm (this service's) is made first, in the same write: a tenant's new realm with its owner. */
  newRealm?: boolean;
  /** A further step once the user exists in Keycloak (sign-up asks for the first tokens meanwhile). */
  afterKeycloak?: (userId: string) => Promise<void>;
  /** A further local write in the same transaction (for example the tenant created at sign-up). */
  afterLocal?: (em: EntityManager, userId: string) => Promise<void>;
  /** The journal entry's target when the account is part of a larger write (a tenant); else the user. */
  target?: { type: string; id: string };
  /**
   * When Keycloak is unreachable, keep the account locally as PENDING (its roles and
   * groups as links) for the sync job to push, instead of failing. Only for accounts
   * without a password: a password is never stored, so it could not be pushed later.
   */
  keepWhenUnreachable?: boolean;
}

/** The answer to a user's own change to an email that is taken, which names no address. */
export const EMAIL_UNUSABLE = 'This email cannot be used';

/** A user's own edit of their profile (updateMyProfile): the fields given, already checked with the others filled in. */
export interface OwnProfile {
  email?: string;
  firstName?: string;
  lastName?: string;
}

/** The profile fields of an update; one given, even with the value it has, makes the update a write. */
const PROFILE_FIELDS = ['email', 'firstName', 'lastName', 'entityCode', 'countryCode', 'enabled', 'emailVerified'] as const;

export interface UserServiceDependencies {
  queries: UserServiceQueries;
  /** The user's direct roles and groups. */
  links: UserLinks;
  /** The tenants a deleted user belonged to. */
  tenants: MemberTenantsQueries;
  /** Realm routing: the Keycloak users of the realm an account lives in. */
  directories: UsersDirectories;
  /** Realm tenancy only: the tenant realms, made with their owner and deleted with their last member. */
  tenantsDirectory?: TenantsDirectory;
  journal: Pick<Journal, 'write'>;
  roles: Pick<RoleService, 'require'>;
  groups: Pick<GroupService, 'require'>;
}

/**
 * Users: the rules and the journal orchestration. Read from the PostgreSQL mirror
 * (users.queries.ts), never from Keycloak; written to Keycloak first (users.directory.ts)
 * and then to the mirror, through the journal.
 */
export class UserService {
  constructor(
    private readonly deps: UserServiceDependencies,
    /** The realm this service creates accounts in: a tenant realm (realm tenancy), or null for the gateway's own. */
    private readonly realm: string | null = null,
  ) {}

  /** The same service, creating accounts in the tenant realm `realm`. */
  inRealm(realm: string): UserService {
    return new UserService(this.deps, realm);
  }

  private get queries(): UserServiceQueries {
    return this.deps.queries;
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
        roles: await this.deps.roles.require('ROLE', input.roleIds ?? [], 'roleIds'),
        groups: await this.deps.groups.require(input.groupIds ?? [], 'groupIds'),
      },
      { action: 'USER_CREATE', actorId },
    );
  }

  /**
   * Creates a validated account: Keycloak first (the realm when new, the user, its roles,
   * its groups, the email, then the caller's further step), then the mirror in one
   * transaction (plus any further local write of the caller's). Every creation of a user
   * goes through here.
   */
  async createAccount(account: NewAccount, creation: AccountCreation): Promise<UserRecord> {
    const email = account.email.trim().toLowerCase();
    await this.requireEmailFree(email, null, this.realm);
    const { roles, groups, password, hashedCredential } = account;
    const profile: UserProfile = {
      username: email,
      email,
      firstName: account.firstName.trim(),
      lastName: account.lastName.trim(),
      enabled: account.enabled,
      emailVerified: account.emailVerified,
      attributes: account.attributes,
    };
    const recordOf = (id: string, syncStatus: UserRecord['syncStatus']): UserRecord => {
      const now = new Date();
      return { id, realm: this.realm, ...profile, syncStatus, createdAt: now, updatedAt: now };
    };
    const directory = this.deps.directories(this.realm);
    return this.deps.journal.write({
      entry: {
        action: creation.action,
        targetType: creation.target?.type ?? 'User',
        targetId: creation.target?.id,
        actorId: creation.actorId,
        tenantId: creation.tenantId,
        details: { email, roles: namesOf(roles), groups: namesOf(groups), ...creation.details },
      },
      keycloak: async (undo) => {
        if (creation.newRealm) await this.requireTenantsDirectory().createRealm(this.realm!, undo);
        const id = await directory.create({ ...profile, password, hashedCredential }, roles, groups, undo);
        if (creation.emailActions?.length) await directory.sendActionsEmail(id, creation.emailActions, SETUP_LINK_LIFESPAN_SECONDS);
        await creation.afterKeycloak?.(id);
        return id;
      },
      targetIdOf: creation.target ? undefined : (id) => id,
      // The record as written, rather than read back: one round trip less per creation.
      local: async (em, id): Promise<UserRecord> => {
        const record = recordOf(id, 'SYNCED');
        await this.queries.within(em).insert(record);
        await this.linkNew(em, id, roles, groups);
        await creation.afterLocal?.(em, id);
        return record;
      },
      ...(creation.keepWhenUnreachable &&
        !password &&
        !hashedCredential && {
          whenUnreachable: async (em: EntityManager) => {
            // A local id until the sync job swaps in the Keycloak one.
            const record = recordOf(randomUUID(), 'PENDING');
            await this.queries.within(em).insertPending(record, { action: creation.action, actorId: creation.actorId });
            await this.linkNew(em, record.id, roles, groups);
            await creation.afterLocal?.(em, record.id);
            return { result: record, targetId: record.id };
          },
        }),
    });
  }

  /** A new account's roles and groups, inside the caller's transaction. */
  private async linkNew(em: EntityManager, id: string, roles: readonly RoleRecord[], groups: readonly GroupRecord[]): Promise<void> {
    const links = this.deps.links.within(em);
    await links.changeRoles(id, { add: [...roles], remove: [] });
    await links.changeGroups(id, { add: [...groups], remove: [] });
  }

  /**
   * Pushes a user kept locally while Keycloak was unreachable, through the same Keycloak
   * steps as createAccount (user, roles, groups, then the password-setup email: a pending
   * account has no password, as none is ever stored). The local row then takes the
   * Keycloak id, its links following, and becomes SYNCED. Answers the Keycloak id.
   */
  async pushPending(localId: string): Promise<string> {
    const pending = await this.queries.pending(localId);
    if (!pending) throw new AppError('NOT_FOUND', `No user waiting for Keycloak with id ${localId}`);
    const { user } = pending;
    const roles = await this.deps.links.rolesOf(localId);
    const groups = await this.deps.links.groupsOf(localId);
    const { username, email, firstName, lastName, enabled, emailVerified, attributes } = user;
    const directory = this.deps.directories(user.realm);
    return this.deps.journal.write({
      entry: {
        action: 'USER_SYNC',
        targetType: 'User',
        targetId: localId,
        actorId: pending.actorId,
        details: { email, registeredAs: pending.action, roles: namesOf(roles), groups: namesOf(groups) },
      },
      keycloak: async (undo) => {
        const id = await directory.create(
          { username, email, firstName, lastName, enabled, emailVerified, attributes },
          roles,
          groups,
          undo,
          // An earlier attempt whose answer was lost made this user: taken up, not refused.
          user.createdAt,
        );
        await directory.sendActionsEmail(id, ['UPDATE_PASSWORD'], SETUP_LINK_LIFESPAN_SECONDS);
        return id;
      },
      targetIdOf: (id) => id,
      local: async (em, id) => {
        if (!(await this.queries.within(em).adoptKeycloakId(localId, id))) {
          throw new AppError('NOT_FOUND', `The user ${email} was deleted before it reached Keycloak`);
        }
        return id;
      },
    });
  }

  /**
   * An administrator's update: Keycloak first (profile, then role mappings, then groups,
   * each step undone if a later one fails), then the mirror. Only real changes are sent,
   * so that every undo puts back exactly what was there.
   */
  update(id: string, input: UpdateUserInput, actorId: string | null): Promise<UserRecord> {
    return this.change(id, input, actorId, false);
  }

  private async change(id: string, input: UpdateUserInput, actorId: string | null, verifyEmail: boolean): Promise<UserRecord> {
    checkUpdateUser(input);
    const current = await this.requireUser(id);
    const rolesToAdd = await this.deps.roles.require('ROLE', input.roleIdsToAdd ?? [], 'roleIdsToAdd');
    const rolesToRemove = await this.deps.roles.require('ROLE', input.roleIdsToRemove ?? [], 'roleIdsToRemove');
    const groupsToAdd = await this.deps.groups.require(input.groupIdsToAdd ?? [], 'groupIdsToAdd');
    const groupsToRemove = await this.deps.groups.require(input.groupIdsToRemove ?? [], 'groupIdsToRemove');
    // Roles and groups are the gateway realm's: a tenant realm's account holds none of them.
    if (current.realm && rolesToAdd.length + rolesToRemove.length + groupsToAdd.length + groupsToRemove.length > 0) {
      throw new AppError(
        'BAD_USER_INPUT',
        `${current.email} is an account of a tenant realm: the gateway's roles and groups do not apply to it`,
      );
    }
    const directory = this.deps.directories(current.realm);
    const email = (input.email ?? current.email).trim().toLowerCase();
    if (email !== current.email) await this.requireEmailFree(email, id, current.realm ?? null);

    const roles = linkChanges(await this.deps.links.roleIdsOf(id), rolesToAdd, rolesToRemove);
    const groups = linkChanges(await this.deps.links.groupIdsOf(id), groupsToAdd, groupsToRemove);
    // An update that names nothing to change is answered without a write or a journal entry.
    if (PROFILE_FIELDS.every((field) => input[field] == null) && noLinkChanges(roles, groups)) return current;
    // What is left out keeps Keycloak's current value (ProfileChanges), not the mirror's.
    const changes: ProfileChanges = {
      username: email,
      email,
      ...(input.firstName != null && { firstName: input.firstName.trim() }),
      ...(input.lastName != null && { lastName: input.lastName.trim() }),
      ...(input.enabled != null && { enabled: input.enabled }),
      // A new address is unproven until its owner follows Keycloak's link, unless an
      // administrator says otherwise: the proof of the old one does not carry over.
      ...((input.emailVerified != null || email !== current.email) && { emailVerified: input.emailVerified ?? false }),
    };
    // Disabling, or removing a role or group: the sessions opened with them end too.
    const takesAway = input.enabled === false || roles.remove.length > 0 || groups.remove.length > 0;

    await this.deps.journal.write({
      entry: {
        action: 'USER_UPDATE',
        targetType: 'User',
        targetId: id,
        actorId,
        details: {
          email: current.email,
          changes: changesOf(current, { ...changes, attributes: updatedAttributes(current.attributes, input) }),
          rolesAdded: namesOf(roles.add),
          rolesRemoved: namesOf(roles.remove),
          groupsAdded: namesOf(groups.add),
          groupsRemoved: namesOf(groups.remove),
        },
      },
      keycloak: async (undo) => {
        const written = await directory.updateProfile(id, changes, (before) => updatedAttributes(before, input), undo);
        if (!written) throw new AppError('NOT_FOUND', `No user with id ${id} in Keycloak`);
        await directory.changeRoles(id, roles, undo);
        await directory.changeGroups(id, groups, undo);
        // The new address is unverified until the person follows the link: part of the write.
        if (verifyEmail) await directory.sendActionsEmail(id, ['VERIFY_EMAIL'], VERIFY_LINK_LIFESPAN_SECONDS);
        if (takesAway) await directory.endSessions(id);
        return written;
      },
      local: async (em, written) => {
        await this.queries.within(em).updateProfile(id, written);
        const links = this.deps.links.within(em);
        await links.changeRoles(id, roles);
        await links.changeGroups(id, groups);
      },
    });
    return (await this.queries.findByIds([id]))[0]!;
  }

  /**
   * A user edits their own profile. A new email is unverified until the person follows the
   * link Keycloak emails to it: the email is part of the write, so a change whose email
   * cannot be sent is undone. A taken email answers EMAIL_UNUSABLE, whether the gateway or
   * only Keycloak knows it, so that the answer names no address.
   */
  async updateOwnProfile(current: UserRecord, profile: OwnProfile): Promise<UserRecord> {
    const emailChanges = profile.email != null && profile.email.trim().toLowerCase() !== current.email;
    const input = {
      ...profile,
      roleIdsToAdd: [],
      roleIdsToRemove: [],
      groupIdsToAdd: [],
      groupIdsToRemove: [],
      ...(emailChanges && { emailVerified: false }),
    };
    try {
      return await this.change(current.id, input, current.id, emailChanges);
    } catch (error) {
      if (emailChanges && error instanceof AppError && error.code === 'CONFLICT') throw new AppError('CONFLICT', EMAIL_UNUSABLE);
      throw error;
    }
  }

  /**
   * An administrator deletes a user: Keycloak first, then the mirror (role, group and tenant
   * links cascade). A user Keycloak no longer has is still removed locally, so retrying a
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

  /** A user deletes their own account. */
  deleteOwnAccount(id: string): Promise<UserRecord> {
    return this.remove(id, id, 'ACCOUNT_DELETE');
  }

  private async remove(id: string, actorId: string | null, action: string): Promise<UserRecord> {
    const user = await this.requireUser(id);
    await this.requireNotLastOwner(user);
    const directory = this.deps.directories(user.realm);
    // Realm tenancy: a tenant that goes with its only member takes its realm along.
    const realms = (await this.deps.tenants.soleMemberTenants(id)).flatMap((tenant) => (tenant.realm ? [tenant.realm] : []));
    await this.deps.journal.write({
      entry: {
        action,
        targetType: 'User',
        targetId: id,
        actorId,
        details: { email: user.email, ...(realms.length > 0 && { realmsDeleted: realms }) },
      },
      keycloak: async (undo) => {
        await directory.delete(id, undo, `the deletion of ${user.email}`);
        for (const realm of realms) {
          await this.requireTenantsDirectory().deleteRealm(realm, undo);
        }
      },
      local: (em) => this.removeLocally(em, id, realms),
    });
    return user;
  }

  /**
   * Finishes locally the deletion of a user Keycloak no longer has (the reconciler's
   * healing): the same local step as a deletion through the gateway.
   */
  async forgetDeleted(em: EntityManager, id: string): Promise<void> {
    await this.removeLocally(em, id, []);
  }

  /**
   * The local step of a deletion, inside the caller's transaction: the tenants nobody else
   * belongs to go with their only member; a tenant whose realm went goes too, even if
   * someone joined it meanwhile (its accounts went with the realm); the deletion is
   * remembered, and the row goes.
   */
  private async removeLocally(em: EntityManager, id: string, realms: readonly string[]): Promise<void> {
    const tenants = this.deps.tenants.within(em);
    await tenants.deleteSoleMemberTenants(id);
    await tenants.deleteByRealms(realms);
    await this.queries.within(em).remove(id);
  }

  /** A tenant with other members must keep an owner: its last one cannot leave by deletion. */
  private async requireNotLastOwner(user: UserRecord): Promise<void> {
    const names = await this.deps.tenants.lastOwnerOf(user.id);
    if (names.length > 0) {
      throw new AppError(
        'CONFLICT',
        `${user.email} is the last owner of ${names.join(', ')}: invite another owner (createInvitation with role OWNER) before deleting the account`,
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
    const directory = this.deps.directories(user.realm);
    await this.deps.journal.write({
      entry: { action: 'USER_SET_PASSWORD', targetType: 'User', targetId: id, actorId, details: { email: user.email, temporary } },
      keycloak: (undo) => directory.setPassword(id, password, temporary, undo, `the new password of ${user.email}`),
      local: async () => undefined,
    });
    return user;
  }

  /** The account with this email in this service's realm, if any. */
  findByEmailInRealm(email: string): Promise<UserRecord[]> {
    return this.queries.findByEmailInRealm(email, this.realm);
  }

  /** Every account with this email, whatever its realm. */
  findByEmail(email: string): Promise<UserRecord[]> {
    return this.queries.findByEmail(email);
  }

  findByIds(ids: readonly string[]): Promise<UserRecord[]> {
    return this.queries.findByIds(ids);
  }

  list(window: PageWindow, filter: UserListFilter = {}): Promise<UserPage> {
    return this.queries.list(window, filter);
  }

  /** The mirrored user an id argument names; NOT_FOUND before any write when there is none. */
  private async requireUser(id: string): Promise<UserRecord> {
    const [user] = await this.queries.findByIds([id]);
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${id}`);
    return user;
  }

  /** Free in the realm: emails are unique per realm, as in Keycloak. */
  private async requireEmailFree(email: string, exceptId: string | null, realm: string | null): Promise<void> {
    if (await this.queries.isEmailTaken(email, realm, exceptId))
      throw new AppError('CONFLICT', `A user with the email ${email} already exists`);
  }

  private requireTenantsDirectory(): TenantsDirectory {
    // An account or tenant of a tenant realm, while the gateway runs with TENANCY_MODE=shared.
    if (!this.deps.tenantsDirectory) throw new Error('this account lives in a tenant realm: TENANCY_MODE=realm is needed to change it');
    return this.deps.tenantsDirectory;
  }
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
