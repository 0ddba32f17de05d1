import { randomUUID } from 'node:crypto';
import type { UndoLog } from '../../journal/journal.js';
import type { EmailAction } from '../../keycloak/actions-email.js';
import type { LinkChanges } from '../roles/links.js';
import type { HashedCredential } from './password-hash.js';
import type { UserAttributes } from './user.entity.js';
import type { ProfileChanges, UserProfile } from './user.type.js';
import { irreversible, type Linked, type ListedUser, type NewDirectoryUser, type UsersDirectory } from './users.directory.js';
import type { MirroredUser } from './users.queries.js';

/** A user as the fake directory holds it. */
export interface FakeDirectoryUser extends UserProfile {
  id: string;
  createdAt: Date;
  password?: string;
  /** An imported hash, as Keycloak would keep it. */
  hashedCredential?: HashedCredential;
  temporaryPassword?: boolean;
  requiredActions: string[];
  roleIds: Set<string>;
  groupIds: Set<string>;
}

/** What Keycloak answers for an email or username another user of the realm has. */
export function conflictError(): Error {
  return Object.assign(new Error('Request failed with status code 409'), { response: { status: 409 } });
}

/**
 * UsersDirectory in memory, for unit tests: one realm's users, what was emailed, whose
 * sessions ended. `failNext` makes a method's next call throw, to exercise the undo of
 * the steps before it.
 */
export class FakeUsersDirectory implements UsersDirectory {
  readonly users = new Map<string, FakeDirectoryUser>();
  readonly emails: { id: string; actions: EmailAction[]; lifespanSeconds: number }[] = [];
  readonly sessionsEnded: string[] = [];
  /** The names of the roles ever linked, by id: role listings go by name, as in Keycloak. */
  private readonly roleNames = new Map<string, string>();
  private readonly failures = new Map<keyof UsersDirectory, Error>();

  /** The next call of `method` throws `error` (once), before changing anything. */
  failNext(method: keyof UsersDirectory, error: Error = new Error(`${method} failed`)): void {
    this.failures.set(method, error);
  }

  /** A user made outside the gateway (Keycloak's console, say). */
  add(user: Partial<FakeDirectoryUser> & { email: string }): FakeDirectoryUser {
    const stored: FakeDirectoryUser = {
      id: randomUUID(),
      username: user.email,
      firstName: '',
      lastName: '',
      enabled: true,
      emailVerified: false,
      attributes: {},
      createdAt: new Date(),
      requiredActions: [],
      roleIds: new Set(),
      groupIds: new Set(),
      ...user,
    };
    this.users.set(stored.id, stored);
    return stored;
  }

  async create(
    user: NewDirectoryUser,
    roles: readonly Linked[],
    groups: readonly Linked[],
    undo: UndoLog,
    adoptCreatedSince?: Date,
  ): Promise<string> {
    this.maybeFail('create');
    const { password, hashedCredential, ...profile } = user;
    const taken = [...this.users.values()].find((other) => other.email === user.email || other.username === user.username);
    if (taken) {
      if (adoptCreatedSince && taken.createdAt >= adoptCreatedSince) return this.linkAll(taken.id, roles, groups, undo, user.email);
      throw conflictError();
    }
    const id = randomUUID();
    this.users.set(id, {
      ...profile,
      id,
      createdAt: new Date(),
      password,
      hashedCredential,
      requiredActions: password || hashedCredential ? [] : ['UPDATE_PASSWORD'],
      roleIds: new Set(),
      groupIds: new Set(),
    });
    return this.linkAll(id, roles, groups, undo, user.email);
  }

  private linkAll(id: string, roles: readonly Linked[], groups: readonly Linked[], undo: UndoLog, email: string): string {
    undo.push(`delete user ${email}`, async () => void this.users.delete(id));
    const user = this.require(id);
    for (const role of roles) {
      this.roleNames.set(role.id, role.name);
      user.roleIds.add(role.id);
    }
    for (const group of groups) user.groupIds.add(group.id);
    return id;
  }

  async find(id: string): Promise<MirroredUser | undefined> {
    this.maybeFail('find');
    const user = this.users.get(id);
    return user && mirrored(user);
  }

  async findByEmail(email: string): Promise<MirroredUser | undefined> {
    this.maybeFail('findByEmail');
    const user = [...this.users.values()].find((candidate) => candidate.email === email);
    return user && mirrored(user);
  }

  async list(first: number, max: number): Promise<MirroredUser[]> {
    this.maybeFail('list');
    return [...this.users.values()].slice(first, first + max).map(mirrored);
  }

  async links(id: string): Promise<{ roleIds: string[]; groupIds: string[] }> {
    this.maybeFail('links');
    const user = this.require(id);
    return { roleIds: [...user.roleIds], groupIds: [...user.groupIds] };
  }

  async usersWithRole(roleName: string, first: number, max: number): Promise<ListedUser[]> {
    this.maybeFail('usersWithRole');
    const holds = (user: FakeDirectoryUser) => [...user.roleIds].some((id) => this.roleNames.get(id) === roleName);
    return [...this.users.values()]
      .filter(holds)
      .slice(first, first + max)
      .map((user) => ({ id: user.id, username: user.username }));
  }

  async groupMembers(groupId: string, first: number, max: number): Promise<ListedUser[]> {
    this.maybeFail('groupMembers');
    return [...this.users.values()]
      .filter((user) => user.groupIds.has(groupId))
      .slice(first, first + max)
      .map((user) => ({ id: user.id, username: user.username }));
  }

  async updateProfile(
    id: string,
    changes: ProfileChanges,
    attributesOf: (current: UserAttributes) => UserAttributes,
    undo: UndoLog,
  ): Promise<UserProfile | null> {
    this.maybeFail('updateProfile');
    const user = this.users.get(id);
    if (!user) return null;
    const taken = [...this.users.values()].find(
      (other) => other.id !== id && (other.email === changes.email || other.username === changes.username),
    );
    if (taken) throw conflictError();
    const before = { ...user, attributes: { ...user.attributes } };
    const given = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    Object.assign(user, given, { attributes: attributesOf(user.attributes) });
    undo.push(`restore the profile of ${before.email}`, async () => {
      const { username, email, firstName, lastName, enabled, emailVerified } = before;
      Object.assign(this.require(id), { username, email, firstName, lastName, enabled, emailVerified, attributes: before.attributes });
    });
    const { username, email, firstName, lastName, enabled, emailVerified, attributes } = user;
    return { username, email, firstName, lastName, enabled, emailVerified, attributes };
  }

  async changeRoles(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void> {
    this.maybeFail('changeRoles');
    for (const role of changes.add) this.roleNames.set(role.id, role.name);
    this.changeLinks(this.require(id).roleIds, changes, undo, 'realm roles');
  }

  async changeGroups(id: string, changes: LinkChanges<Linked>, undo: UndoLog): Promise<void> {
    this.maybeFail('changeGroups');
    this.changeLinks(this.require(id).groupIds, changes, undo, 'group');
  }

  private changeLinks(held: Set<string>, { add, remove }: LinkChanges<Linked>, undo: UndoLog, what: string): void {
    for (const { id } of add) {
      held.add(id);
      undo.push(`unlink ${what}`, async () => void held.delete(id));
    }
    for (const { id } of remove) {
      held.delete(id);
      undo.push(`link ${what} again`, async () => void held.add(id));
    }
  }

  async delete(id: string, undo: UndoLog, what: string): Promise<void> {
    this.maybeFail('delete');
    this.sessionsEnded.push(id);
    this.users.delete(id);
    irreversible(undo, what);
  }

  async setPassword(id: string, password: string, temporary: boolean, undo: UndoLog, what: string): Promise<void> {
    this.maybeFail('setPassword');
    Object.assign(this.require(id), { password, temporaryPassword: temporary });
    irreversible(undo, what);
    this.sessionsEnded.push(id);
  }

  async endSessions(id: string): Promise<void> {
    this.maybeFail('endSessions');
    this.sessionsEnded.push(id);
  }

  async sendActionsEmail(id: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void> {
    this.maybeFail('sendActionsEmail');
    this.require(id);
    this.emails.push({ id, actions: [...actions], lifespanSeconds });
  }

  private require(id: string): FakeDirectoryUser {
    const user = this.users.get(id);
    if (!user) throw Object.assign(new Error('Request failed with status code 404'), { response: { status: 404 } });
    return user;
  }

  private maybeFail(method: keyof UsersDirectory): void {
    const error = this.failures.get(method);
    if (!error) return;
    this.failures.delete(method);
    throw error;
  }
}

function mirrored({
  id,
  createdAt,
  username,
  email,
  firstName,
  lastName,
  enabled,
  emailVerified,
  attributes,
}: FakeDirectoryUser): MirroredUser {
  return { id, createdAt, username, email, firstName, lastName, enabled, emailVerified, attributes: { ...attributes } };
}
