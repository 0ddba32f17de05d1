import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type UserRepresentation from '@keycloak/keycloak-admin-client/lib/defs/userRepresentation.js';
import { endSessions, type UndoLog } from '../../journal/journal.js';
import { sendActionsEmail, type EmailAction } from '../../keycloak/actions-email.js';
import { isKeycloakNotFound } from '../../keycloak/keycloak-errors.js';
import type { LinkChanges } from '../roles/links.js';
import type { HashedCredential } from './password-hash.js';
import { applyLinkChanges, toMapping } from '../roles/roles.directory.js';
import type { UserAttributes } from './user.entity.js';
import type { ProfileChanges, UserProfile } from './user.type.js';
import type { MirroredUser } from './users.queries.js';

/** A user to create in Keycloak. Neither password nor hashed credential: Keycloak asks for one (UPDATE_PASSWORD). */
export interface NewDirectoryUser extends UserProfile {
  password?: string;
  /** A password hash from another system, kept by Keycloak as it is (an import). */
  hashedCredential?: HashedCredential;
}

/** A user as a listing names it. */
export interface ListedUser {
  id: string;
  username: string;
}

/** A role or group as the directory links it: its id, and a name for Keycloak and for undo messages. */
export interface Linked {
  id: string;
  name: string;
}

/**
 * Keycloak's users in one realm: the only code that calls Keycloak for users. Each write
 * step registers its undo on the journal's UndoLog as soon as it succeeded; a step nothing
 * can take back (a deletion, a new password) registers an undo that fails, which keeps the
 * journal entry PENDING for the reconciler rather than calling the write compensated.
 */
export interface UsersDirectory {
  /**
   * Creates the user with its roles and groups; its deletion is the undo of all three.
   * With `adoptCreatedSince`, a user Keycloak already has under this email and created since
   * then is taken as this one (an earlier attempt whose answer was lost), not refused.
   */
  create(
    user: NewDirectoryUser,
    roles: readonly Linked[],
    groups: readonly Linked[],
    undo: UndoLog,
    adoptCreatedSince?: Date,
  ): Promise<string>;
  /** The user as the mirror keeps it (only the attributes the gateway manages), if Keycloak has it. */
  find(id: string): Promise<MirroredUser | undefined>;
  findByEmail(email: string): Promise<MirroredUser | undefined>;
  /** One page of the realm's users. */
  list(first: number, max: number): Promise<MirroredUser[]>;
  /** The user's direct realm roles (and privileges) and groups. */
  links(id: string): Promise<{ roleIds: string[]; groupIds: string[] }>;
  /** One page of the users mapped directly to the realm role `roleName` (Keycloak lists them by username). */
  usersWithRole(roleName: string, first: number, max: number): Promise<ListedUser[]>;
  /** One page of the group's direct members (Keycloak lists them by username). */
  groupMembers(groupId: string, first: number, max: number): Promise<ListedUser[]>;
  /**
   * Changes the profile; the attributes are `attributesOf` Keycloak's current ones, which may
   * hold attributes the mirror lacks. The undo restores Keycloak's copy as it was. Answers
   * the attributes written, or null when Keycloak has no such user (nothing changed).
   */
  /** Writes `changes` over the user's current profile in Keycloak; answers the profile written, or null when Keycloak has no such user. */
  updateProfile(
    id: string,
    changes: ProfileChanges,
    attributesOf: (current: UserAttributes) => UserAttributes,
    undo: UndoLog,
  ): Promise<UserProfile | null>;
  changeRoles(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void>;
  changeGroups(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void>;
  /** Ends the user's sessions, then deletes it; a user Keycloak no longer has counts as deleted. Irreversible. */
  delete(id: string, undo: UndoLog, what: string): Promise<void>;
  /** Sets a password, then ends the user's sessions. Irreversible. */
  setPassword(id: string, password: string, temporary: boolean, undo: UndoLog, what: string): Promise<void>;
  /** Ends every session of the user, offline ones included (see endSessions). */
  endSessions(id: string): Promise<void>;
  /** Has Keycloak email the user one link that performs `actions`. */
  sendActionsEmail(id: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void>;
}

/** The user attributes the gateway manages (declared by provisioning's user profile). */
const MIRRORED_ATTRIBUTES = ['entity_code', 'country_code'];
/** A Keycloak user this much older than the attempt to create it is someone else's. */
const ADOPTION_CLOCK_SKEW_MS = 5_000;

/** UsersDirectory through the gateway's admin client in one realm. */
export class KeycloakUsersDirectory implements UsersDirectory {
  constructor(private readonly keycloak: KeycloakAdminClient) {}

  async create(
    user: NewDirectoryUser,
    roles: readonly Linked[],
    groups: readonly Linked[],
    undo: UndoLog,
    adoptCreatedSince?: Date,
  ): Promise<string> {
    const { password, hashedCredential, ...profile } = user;
    let id: string;
    try {
      ({ id } = await this.keycloak.users.create({
        ...profile,
        ...(password
          ? { credentials: [{ type: 'password', value: password, temporary: false }] }
          : hashedCredential
            ? { credentials: [hashedCredential] }
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
    if (roles.length > 0) await this.keycloak.users.addRealmRoleMappings({ id, roles: roles.map(toMapping) });
    for (const group of groups) await this.keycloak.users.addToGroup({ id, groupId: group.id });
    return id;
  }

  /** The id of the Keycloak user with this email if it was created since `since`. */
  private async adoptable(email: string, since: Date): Promise<string | undefined> {
    const [found] = await this.keycloak.users.find({ email, exact: true, briefRepresentation: true });
    const createdAt = found?.createdTimestamp ?? 0;
    return found?.id && createdAt >= since.getTime() - ADOPTION_CLOCK_SKEW_MS ? found.id : undefined;
  }

  async find(id: string): Promise<MirroredUser | undefined> {
    const found = await this.keycloak.users.findOne({ id });
    return found ? mirrored(found) : undefined;
  }

  async findByEmail(email: string): Promise<MirroredUser | undefined> {
    const [found] = await this.keycloak.users.find({ email, exact: true, briefRepresentation: false });
    return found?.id ? mirrored(found) : undefined;
  }

  async list(first: number, max: number): Promise<MirroredUser[]> {
    const page = await this.keycloak.users.find({ first, max, briefRepresentation: false });
    return page.filter((user) => user.id).map(mirrored);
  }

  async links(id: string): Promise<{ roleIds: string[]; groupIds: string[] }> {
    const roles = await this.keycloak.users.listRealmRoleMappings({ id });
    const groups = await this.keycloak.users.listGroups({ id, briefRepresentation: true });
    return { roleIds: roles.map((role) => role.id!), groupIds: groups.map((group) => group.id!) };
  }

  async usersWithRole(roleName: string, first: number, max: number): Promise<ListedUser[]> {
    return listed(await this.keycloak.roles.findUsersWithRole({ name: roleName, first, max, briefRepresentation: true }));
  }

  async groupMembers(groupId: string, first: number, max: number): Promise<ListedUser[]> {
    return listed(await this.keycloak.groups.listMembers({ id: groupId, first, max, briefRepresentation: true }));
  }

  async updateProfile(
    id: string,
    changes: ProfileChanges,
    attributesOf: (current: UserAttributes) => UserAttributes,
    undo: UndoLog,
  ): Promise<UserProfile | null> {
    const before = await this.keycloak.users.findOne({ id });
    if (!before) return null;
    const profile: UserProfile = {
      username: changes.username,
      email: changes.email,
      firstName: changes.firstName ?? before.firstName ?? '',
      lastName: changes.lastName ?? before.lastName ?? '',
      enabled: changes.enabled ?? before.enabled ?? false,
      emailVerified: changes.emailVerified ?? before.emailVerified ?? false,
      attributes: attributesOf((before.attributes ?? {}) as UserAttributes),
    };
    await this.keycloak.users.update({ id }, profile);
    undo.push(`restore the profile of ${before.email ?? before.username}`, () =>
      this.keycloak.users.update(
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
    return profile;
  }

  changeRoles(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      'realm roles',
      changes,
      (roles) => this.keycloak.users.addRealmRoleMappings({ id, roles: roles.map(toMapping) }),
      (roles) => this.keycloak.users.delRealmRoleMappings({ id, roles: roles.map(toMapping) }),
    );
  }

  changeGroups(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      'group',
      changes,
      ([group]) => this.keycloak.users.addToGroup({ id, groupId: group!.id }),
      ([group]) => this.keycloak.users.delFromGroup({ id, groupId: group!.id }),
      { oneByOne: true },
    );
  }

  async delete(id: string, undo: UndoLog, what: string): Promise<void> {
    // Keycloak drops a deleted user's sessions too; ended first all the same, so that no
    // refresh slips in while the deletion runs.
    await endSessions(this.keycloak, id);
    try {
      await this.keycloak.users.del({ id });
    } catch (error) {
      if (!isKeycloakNotFound(error)) throw error;
    }
    irreversible(undo, what);
  }

  async setPassword(id: string, password: string, temporary: boolean, undo: UndoLog, what: string): Promise<void> {
    await this.keycloak.users.resetPassword({ id, credential: { type: 'password', value: password, temporary } });
    irreversible(undo, what);
    // A reset is how an administrator answers a compromise: whoever held the old password keeps nothing.
    await endSessions(this.keycloak, id);
  }

  endSessions(id: string): Promise<void> {
    return endSessions(this.keycloak, id);
  }

  sendActionsEmail(id: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void> {
    return sendActionsEmail(this.keycloak, id, actions, lifespanSeconds);
  }
}

/**
 * A Keycloak step nothing can take back (a deletion, a new password). Should the local
 * commit fail after it, the failing undo keeps the journal entry PENDING for the
 * reconciler rather than calling the write COMPENSATED.
 */
export function irreversible(undo: UndoLog, what: string): void {
  undo.push(what, () => Promise.reject(new Error(`${what} cannot be undone`)));
}

function mirrored(user: UserRepresentation): MirroredUser {
  const attributes: UserAttributes = {};
  for (const name of MIRRORED_ATTRIBUTES) {
    const value = (user.attributes as UserAttributes | undefined)?.[name];
    if (value?.length) attributes[name] = value;
  }
  return {
    id: user.id!,
    username: user.username!,
    // Every user of a realm with email as username has one; fall back to the username otherwise.
    email: (user.email ?? user.username!).toLowerCase(),
    firstName: user.firstName ?? '',
    lastName: user.lastName ?? '',
    enabled: user.enabled ?? true,
    emailVerified: user.emailVerified ?? false,
    attributes,
    createdAt: new Date(user.createdTimestamp ?? Date.now()),
  };
}

function listed(users: { id?: string; username?: string }[]): ListedUser[] {
  return users.flatMap(({ id, username }) => (id && username ? [{ id, username }] : []));
}
