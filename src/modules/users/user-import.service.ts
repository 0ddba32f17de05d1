import pLimit from 'p-limit';
import { AppError, type FieldErrors } from '../../errors.js';
import { type InputCheck, someOf } from '../../validation.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { RoleRecord } from '../roles/role.type.js';
import { checkPasswordHash, hashedCredential } from './password-hash.js';
import { ImportConflict, MAX_IMPORTED_USERS, type ImportUserInput, type ImportUsersInput } from './user-import.input.js';
import { ImportStatus, type ImportFailure, type ImportItemResult, type ImportOutcome } from './user-import.type.js';
import { checkProfile, type UpdateUserInput } from './user.input.js';
import { userAttributes, type NewAccount, type UserService } from './user.service.js';
import type { UserRecord } from './user.type.js';
import type { UserLinks } from './user-links.js';
import type { UserServiceQueries } from './users.queries.js';

/** What one item of an import would write, as the escalation rule asks it (src/permissions.ts). */
export interface ImportedWrite {
  /** The existing user an UPDATE changes; absent for a new user. */
  targetId?: string;
  /** The roles and groups the write grants. */
  roleIds: string[];
  groupIds: string[];
  emailVerified: boolean;
}

/** The caller's permission for one item: true, or the error that refuses it (FORBIDDEN). */
export type ImportGuard = (write: ImportedWrite) => Promise<true | Error>;

export interface UserImportDependencies {
  users: Pick<UserService, 'createAccount' | 'update'>;
  queries: Pick<UserServiceQueries, 'findByEmailsInRealm'>;
  links: Pick<UserLinks, 'roleIdsOf' | 'groupIdsOf'>;
  roles: { findByIds(ids: readonly string[]): Promise<RoleRecord[]> };
  groups: { findByIds(ids: readonly string[]): Promise<GroupRecord[]> };
  /** Users written at once; the others wait. */
  concurrency?: number;
}

/**
 * Users written at a time. Each write is a handful of Keycloak calls one after the other
 * (the user, its roles, its groups, an email), so a few in flight keep Keycloak busy without
 * crowding out other requests, and the PostgreSQL pool keeps connections for them.
 */
const DEFAULT_CONCURRENCY = 8;

/** One item once the whole batch was looked at: what a real run does with it. */
type Plan =
  | { status: ImportStatus.FAILED; error: ImportFailure }
  | { status: ImportStatus.SKIPPED; user: UserRecord }
  | { status: ImportStatus.CREATED; account: NewAccount; setupEmail: boolean }
  | { status: ImportStatus.UPDATED; user: UserRecord; changes: UpdateUserInput };

/**
 * importUsers: the whole batch is checked and planned first (input rules, duplicates,
 * unknown roles and groups, conflicts by email, the caller's permission per item), so
 * that a dry run answers exactly what a real run does when nothing changed in between.
 * A real run then writes each planned user through UserService (createAccount, update):
 * one journal write per user, its own undo, so a failure leaves no half-created user and
 * stops no other.
 *
 * Why not Keycloak's partialImport for the new users: it writes a whole batch in one
 * Keycloak transaction, so one refused user (a policy Keycloak enforces and the gateway
 * does not know of, an email taken meanwhile) fails them all and every user would be
 * written again one by one; it bypasses the per-user journal entry and undo; and its
 * answer does not carry what the mirror needs to stay consistent per user. Bounded
 * concurrency over the one write path keeps every guarantee, at the cost measured by
 * `npm run bench` (the import workload).
 */
export class UserImportService {
  constructor(private readonly deps: UserImportDependencies) {}

  async import(input: ImportUsersInput, actorId: string | null, guard: ImportGuard): Promise<ImportOutcome> {
    if (input.users.length > MAX_IMPORTED_USERS) {
      throw new AppError('BAD_USER_INPUT', `An import takes at most ${MAX_IMPORTED_USERS} users; split it`, {
        fieldErrors: { users: `must list at most ${MAX_IMPORTED_USERS} items` },
      });
    }
    const dryRun = input.dryRun ?? false;
    const plans = await this.plan(input, guard);
    const results = await mapBounded(plans, this.deps.concurrency ?? DEFAULT_CONCURRENCY, async (plan, index) =>
      this.outcome(index, input.users[index]!, plan, dryRun, actorId),
    );
    return { dryRun, results };
  }

  /** Every item's plan, before any write. */
  private async plan(input: ImportUsersInput, guard: ImportGuard): Promise<Plan[]> {
    const items = input.users;
    const emails = items.map((item) => normalEmail(item.email));
    const checks = items.map((item) => checkItem(item));

    // The same address twice: neither is written, as nothing says which one was meant.
    const positions = new Map<string, number[]>();
    emails.forEach((email, index) => {
      positions.set(email, [...(positions.get(email) ?? []), index]);
    });
    emails.forEach((email, index) => {
      const all = positions.get(email)!;
      if (all.length > 1) checks[index]!.fail('email', `appears more than once in this import (items ${someOf(all.map(String))})`);
    });

    const roleIds = [...new Set(items.flatMap((item) => item.roleIds ?? []))];
    const groupIds = [...new Set(items.flatMap((item) => item.groupIds ?? []))];
    const [roles, groups] = await Promise.all([this.deps.roles.findByIds(roleIds), this.deps.groups.findByIds(groupIds)]);
    const roleById = new Map(roles.map((role) => [role.id, role]));
    const groupById = new Map(groups.map((group) => [group.id, group]));
    items.forEach((item, index) => {
      const unknownRoles = unique(item.roleIds ?? []).filter((id) => !roleById.has(id));
      const privileges = unique(item.roleIds ?? []).filter((id) => roleById.get(id)?.kind === 'PRIVILEGE');
      const unknownGroups = unique(item.groupIds ?? []).filter((id) => !groupById.has(id));
      if (unknownRoles.length > 0) checks[index]!.fail('roleIds', `no role with id ${someOf(unknownRoles)}`);
      else if (privileges.length > 0) checks[index]!.fail('roleIds', 'only role_* roles can be given here');
      if (unknownGroups.length > 0) checks[index]!.fail('groupIds', `no group with id ${someOf(unknownGroups)}`);
    });

    const invalid = checks.map((check) => check.problems());
    // An import makes accounts of the gateway's own realm (null), where emails are unique.
    const existing = await this.deps.queries.findByEmailsInRealm(unique(emails.filter((_email, index) => !invalid[index])), null);
    const existingByEmail = new Map<string, UserRecord>();
    for (const user of existing) {
      existingByEmail.set(user.username, user);
      existingByEmail.set(user.email, user);
    }

    // One question to the escalation rule per distinct write (most imports give many users the same roles).
    const verdicts = new Map<string, Promise<true | Error>>();
    const allowed = (write: ImportedWrite) => {
      const key = JSON.stringify([write.targetId ?? null, [...write.roleIds].sort(), [...write.groupIds].sort(), write.emailVerified]);
      if (!verdicts.has(key)) verdicts.set(key, guard(write));
      return verdicts.get(key)!;
    };

    return Promise.all(
      items.map(async (item, index): Promise<Plan> => {
        const fieldErrors = invalid[index];
        if (fieldErrors) return failed(new AppError('BAD_USER_INPUT', invalidMessage(fieldErrors), { fieldErrors }));
        const itemRoles = unique(item.roleIds ?? []).map((id) => roleById.get(id)!);
        const itemGroups = unique(item.groupIds ?? []).map((id) => groupById.get(id)!);
        const current = existingByEmail.get(emails[index]!);
        if (!current) {
          const verdict = await allowed({
            roleIds: idsOf(itemRoles),
            groupIds: idsOf(itemGroups),
            emailVerified: item.emailVerified ?? false,
          });
          if (verdict !== true) return failed(verdict);
          return { status: ImportStatus.CREATED, ...newAccount(item, itemRoles, itemGroups, input.sendPasswordSetupEmail ?? true) };
        }
        const onConflict = input.onConflict ?? ImportConflict.SKIP;
        if (onConflict === ImportConflict.SKIP) return { status: ImportStatus.SKIPPED, user: current };
        if (onConflict === ImportConflict.FAIL) {
          return failed(
            new AppError('CONFLICT', `A user with the email ${current.email} already exists`, {
              fieldErrors: { email: 'a user with this email already exists' },
            }),
          );
        }
        const changes = await this.changesOf(current, item, itemRoles, itemGroups);
        if (!changes) return { status: ImportStatus.SKIPPED, user: current };
        const verdict = await allowed({
          targetId: current.id,
          roleIds: changes.roleIdsToAdd ?? [],
          groupIds: changes.groupIdsToAdd ?? [],
          emailVerified: changes.emailVerified === true,
        });
        if (verdict !== true) return failed(verdict);
        return { status: ImportStatus.UPDATED, user: current, changes };
      }),
    );
  }

  /**
   * What UPDATE changes of an existing user: each name or code whose value differs, the flags
   * as below, and the roles and groups it does not hold directly yet (an import adds, never
   * takes away); undefined when nothing differs, so that a repeated import writes nothing.
   */
  private async changesOf(
    current: UserRecord,
    item: ImportUserInput,
    roles: readonly RoleRecord[],
    groups: readonly GroupRecord[],
  ): Promise<UpdateUserInput | undefined> {
    const [heldRoles, heldGroups] = await Promise.all([this.deps.links.roleIdsOf(current.id), this.deps.links.groupIdsOf(current.id)]);
    const given = userAttributes(item);
    const changes: UpdateUserInput = {};
    const firstName = item.firstName.trim();
    const lastName = item.lastName.trim();
    if (firstName !== current.firstName) changes.firstName = firstName;
    if (lastName !== current.lastName) changes.lastName = lastName;
    // The flags' defaults (enabled, not verified) cannot be told from a statement: an import
    // disables and states an address verified when it says so, but never re-enables an account
    // someone disabled nor un-verifies an address just because an item left the flag out.
    if (item.enabled === false && current.enabled) changes.enabled = false;
    if (item.emailVerified === true && !current.emailVerified) changes.emailVerified = true;
    // A code left out keeps its value, as in updateUser.
    if (given.entity_code && given.entity_code[0] !== current.attributes.entity_code?.[0]) changes.entityCode = given.entity_code[0];
    if (given.country_code && given.country_code[0] !== current.attributes.country_code?.[0]) changes.countryCode = given.country_code[0];
    const rolesToAdd = idsOf(roles).filter((id) => !heldRoles.includes(id));
    const groupsToAdd = idsOf(groups).filter((id) => !heldGroups.includes(id));
    if (rolesToAdd.length > 0) changes.roleIdsToAdd = rolesToAdd;
    if (groupsToAdd.length > 0) changes.groupIdsToAdd = groupsToAdd;
    return Object.keys(changes).length > 0 ? changes : undefined;
  }

  /** One item's result: the plan itself with dryRun, else the plan carried out. */
  private async outcome(
    index: number,
    item: ImportUserInput,
    plan: Plan,
    dryRun: boolean,
    actorId: string | null,
  ): Promise<ImportItemResult> {
    const email = normalEmail(item.email);
    const result = (status: ImportStatus, rest: Partial<ImportItemResult> = {}): ImportItemResult => ({ index, email, status, ...rest });
    switch (plan.status) {
      case ImportStatus.FAILED:
        return result(plan.status, { error: plan.error });
      case ImportStatus.SKIPPED:
        return result(plan.status, { user: plan.user });
      case ImportStatus.CREATED:
        if (dryRun) return result(plan.status);
        try {
          const user = await this.deps.users.createAccount(plan.account, {
            action: 'USER_CREATE',
            actorId,
            details: { imported: true, credential: plan.account.hashedCredential ? 'hash' : plan.account.password ? 'password' : 'none' },
            ...(plan.setupEmail && { emailActions: ['UPDATE_PASSWORD'] }),
          });
          return result(plan.status, { user });
        } catch (error) {
          return result(ImportStatus.FAILED, { error: failureOf(error) });
        }
      case ImportStatus.UPDATED:
        if (dryRun) return result(plan.status, { user: plan.user });
        try {
          return result(plan.status, { user: await this.deps.users.update(plan.user.id, plan.changes, actorId) });
        } catch (error) {
          return result(ImportStatus.FAILED, { error: failureOf(error) });
        }
    }
  }
}

/** The item's own rules: profile, password policy, hash format, one credential at most. */
function checkItem(item: ImportUserInput): InputCheck {
  const check = checkProfile(item);
  if (item.password != null) check.password('password', item.password);
  if (item.password != null && item.passwordHash != null) check.fail('passwordHash', 'give a password or a hash, not both');
  else if (item.passwordHash != null) checkPasswordHash(check, 'passwordHash', item.passwordHash);
  return check;
}

/** A new user's account, and whether Keycloak emails it a link to set a password. */
function newAccount(
  item: ImportUserInput,
  roles: RoleRecord[],
  groups: GroupRecord[],
  sendPasswordSetupEmail: boolean,
): { account: NewAccount; setupEmail: boolean } {
  const enabled = item.enabled ?? true;
  const account: NewAccount = {
    email: item.email,
    firstName: item.firstName,
    lastName: item.lastName,
    enabled,
    emailVerified: item.emailVerified ?? false,
    attributes: userAttributes(item),
    roles,
    groups,
    ...(item.password != null && { password: item.password }),
    ...(item.passwordHash != null && { hashedCredential: hashedCredential(item.passwordHash) }),
  };
  // Keycloak emails no action link to a disabled user: such a user gets the link when enabled.
  const setupEmail = sendPasswordSetupEmail && enabled && item.password == null && item.passwordHash == null;
  return { account, setupEmail };
}

function failed(error: Error): Plan {
  return { status: ImportStatus.FAILED, error: failureOf(error) };
}

/** An item's failure as the answer shows it: a coded error as it is; anything else said without its details. */
function failureOf(error: unknown): ImportFailure {
  if (error instanceof AppError) {
    return { code: error.code, message: error.message, ...(error.details.fieldErrors && { fieldErrors: error.details.fieldErrors }) };
  }
  return { code: 'INTERNAL_SERVER_ERROR', message: 'This user could not be written; nothing was changed for it.' };
}

function invalidMessage(fieldErrors: FieldErrors): string {
  return `Invalid input: ${Object.entries(fieldErrors)
    .map(([field, problem]) => `${field} ${problem}`)
    .join('; ')}`;
}

const normalEmail = (email: string) => email.trim().toLowerCase();
const unique = <T>(values: readonly T[]) => [...new Set(values)];
const idsOf = (records: readonly { id: string }[]) => records.map((record) => record.id);

/** `work` over every item, at most `limit` at once; results in input order. */
function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const bounded = pLimit(limit);
  return Promise.all(items.map((item, index) => bounded(() => work(item, index))));
}
