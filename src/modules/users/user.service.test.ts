import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { FakeJournal } from '../../journal/journal.fake.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { TenantsDirectory } from '../tenants/tenants.directory.js';
import type { CreateUserInput, UpdateUserInput } from './user.input.js';
import { EMAIL_UNUSABLE, UserService } from './user.service.js';
import type { UserRecord } from './user.type.js';
import { FakeUsersDirectory } from './users.directory.fake.js';
import { FakeTenantsQueries } from '../tenants/tenants.queries.fake.js';
import { FakeUsersQueries } from './users.queries.fake.js';

const PASSWORD = 'Str0ng-enough-Passw0rd!';
const role = (name: string): RoleRecord => ({ id: randomUUID(), name, kind: 'ROLE', description: null });
const group = (name: string): GroupRecord => ({ id: randomUUID(), name });

let directory: FakeUsersDirectory;
let queries: FakeUsersQueries;
let tenants: FakeTenantsQueries;
let journal: FakeJournal;
let realmsDeleted: string[];
let users: UserService;
const editor = role('role_editor');
const viewer = role('role_viewer');
const sales = group('sales');
const support = group('support');

beforeEach(() => {
  directory = new FakeUsersDirectory();
  queries = new FakeUsersQueries();
  tenants = new FakeTenantsQueries();
  journal = new FakeJournal();
  realmsDeleted = [];
  for (const r of [editor, viewer]) queries.links.roles.set(r.id, r);
  for (const g of [sales, support]) queries.links.groups.set(g.id, g);
  const lookUp =
    <T extends { id: string }>(known: T[]) =>
    async (ids: readonly string[]) => {
      const found = ids.map((id) => known.find((row) => row.id === id));
      if (found.some((row) => !row)) throw new AppError('NOT_FOUND', 'unknown id');
      return found as T[];
    };
  const tenantsDirectory: TenantsDirectory = {
    createRealm: async () => undefined,
    deleteRealm: async (realm, undo) => {
      realmsDeleted.push(realm);
      undo.push(`the deletion of realm ${realm}`, () => Promise.reject(new Error('cannot be undone')));
    },
    remember: () => undefined,
  };
  users = new UserService({
    queries,
    links: queries.links,
    tenants,
    directories: () => directory,
    tenantsDirectory,
    journal,
    roles: { require: (_kind, ids) => lookUp([editor, viewer])(ids) },
    groups: { require: (ids) => lookUp([sales, support])(ids) },
  });
});

function createInput(overrides: Partial<CreateUserInput> = {}): CreateUserInput {
  return { email: 'Ada@Example.COM ', firstName: ' Ada ', lastName: 'Lovelace', password: PASSWORD, ...overrides } as CreateUserInput;
}

function updateInput(user: UserRecord, overrides: Partial<UpdateUserInput> = {}): UpdateUserInput {
  return { email: user.email, firstName: user.firstName, lastName: user.lastName, ...overrides } as UpdateUserInput;
}

function unreachable(): Error {
  return Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
}

describe('createUser', () => {
  it('creates the user in Keycloak with its roles and groups, then mirrors it, the email lower-cased', async () => {
    const user = await users.create(createInput({ roleIds: [editor.id], groupIds: [sales.id], countryCode: 'fr' }), 'admin');

    expect(user).toMatchObject({ email: 'ada@example.com', username: 'ada@example.com', firstName: 'Ada', syncStatus: 'SYNCED' });
    expect(user.attributes).toEqual({ country_code: ['FR'] });
    const inKeycloak = directory.users.get(user.id)!;
    expect(inKeycloak).toMatchObject({ email: 'ada@example.com', password: PASSWORD });
    expect([...inKeycloak.roleIds]).toEqual([editor.id]);
    expect([...inKeycloak.groupIds]).toEqual([sales.id]);
    expect(queries.users.get(user.id)).toEqual(user);
    expect(queries.links.of(user.id)).toEqual({ roleIds: new Set([editor.id]), groupIds: new Set([sales.id]) });
    expect(journal.entries).toEqual([
      expect.objectContaining({
        action: 'USER_CREATE',
        status: 'SUCCEEDED',
        targetId: user.id,
        details: expect.objectContaining({ roles: ['role_editor'] }),
      }),
    ]);
  });

  it('answers CONFLICT for an email the mirror has, whatever its case, before calling Keycloak', async () => {
    await users.create(createInput(), null);
    const before = directory.users.size;

    await expect(users.create(createInput({ email: 'ADA@example.com' }), null)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(directory.users.size).toBe(before);
  });

  it('refuses a weak password naming the field, and calls nothing', async () => {
    await expect(users.create(createInput({ password: 'short' }), null)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(directory.users.size).toBe(0);
    expect(journal.entries).toEqual([]);
  });

  it('deletes the Keycloak user again when the local commit fails (COMPENSATED)', async () => {
    journal.failLocal = true;

    await expect(users.create(createInput(), null)).rejects.toThrow('the local commit failed');
    expect(directory.users.size).toBe(0);
    expect(queries.users.size).toBe(0);
    expect(journal.entries[0]!.status).toBe('COMPENSATED');
  });

  it('undoes the account when its email cannot be sent: nobody is left unable to sign in', async () => {
    directory.failNext('sendActionsEmail');

    await expect(
      users.createAccount(
        {
          email: 'grace@example.com',
          firstName: 'Grace',
          lastName: 'Hopper',
          enabled: true,
          emailVerified: false,
          attributes: {},
          roles: [],
          groups: [],
        },
        { action: 'USER_REGISTER', actorId: 'admin', emailActions: ['UPDATE_PASSWORD'] },
      ),
    ).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(directory.users.size).toBe(0);
    expect(queries.users.size).toBe(0);
  });
});

describe('an account kept while Keycloak is unreachable', () => {
  const registration = () =>
    users.createAccount(
      {
        email: 'kept@example.com',
        firstName: 'Kept',
        lastName: 'Locally',
        enabled: true,
        emailVerified: false,
        attributes: {},
        roles: [viewer],
        groups: [support],
      },
      { action: 'USER_REGISTER', actorId: 'admin', emailActions: ['UPDATE_PASSWORD'], keepWhenUnreachable: true },
    );

  it('is kept PENDING with its links and queued, then pushed under its Keycloak id with the password-setup email', async () => {
    directory.failNext('create', unreachable());
    const kept = await registration();

    expect(kept.syncStatus).toBe('PENDING');
    expect(directory.users.size).toBe(0);
    expect(queries.syncQueue.get(kept.id)).toEqual({ action: 'USER_REGISTER', actorId: 'admin' });

    const id = await users.pushPending(kept.id);

    expect(id).not.toBe(kept.id);
    expect(queries.users.has(kept.id)).toBe(false);
    expect(queries.users.get(id)).toMatchObject({ email: 'kept@example.com', syncStatus: 'SYNCED' });
    expect(queries.syncQueue.size).toBe(0);
    expect([...directory.users.get(id)!.roleIds]).toEqual([viewer.id]);
    expect([...directory.users.get(id)!.groupIds]).toEqual([support.id]);
    expect(directory.emails).toEqual([{ id, actions: ['UPDATE_PASSWORD'], lifespanSeconds: expect.any(Number) }]);
  });

  it('is never kept when it has a password: a password is not stored for later', async () => {
    directory.failNext('create', unreachable());

    await expect(users.create(createInput(), null)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(queries.users.size).toBe(0);
  });

  it('answers NOT_FOUND when pushed after its deletion', async () => {
    await expect(users.pushPending(randomUUID())).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('updateUser', () => {
  let user: UserRecord;
  beforeEach(async () => {
    user = await users.create(createInput({ roleIds: [editor.id], groupIds: [sales.id], entityCode: 'E1' }), null);
    directory.sessionsEnded.length = 0;
  });

  it('sends only real changes, mirrors them, and ends the sessions when a role is taken away', async () => {
    const updated = await users.update(
      user.id,
      updateInput(user, {
        firstName: 'Augusta',
        roleIdsToAdd: [viewer.id],
        roleIdsToRemove: [editor.id],
        groupIdsToAdd: [sales.id],
        groupIdsToRemove: [support.id],
      }),
      'admin',
    );

    expect(updated).toMatchObject({ firstName: 'Augusta' });
    expect([...directory.users.get(user.id)!.roleIds]).toEqual([viewer.id]);
    expect([...directory.users.get(user.id)!.groupIds]).toEqual([sales.id]);
    expect(queries.links.of(user.id)).toEqual({ roleIds: new Set([viewer.id]), groupIds: new Set([sales.id]) });
    expect(directory.sessionsEnded).toEqual([user.id]);
    expect(journal.entries.at(-1)!.details).toMatchObject({
      changes: { firstName: { from: 'Ada', to: 'Augusta' } },
      rolesAdded: ['role_viewer'],
      rolesRemoved: ['role_editor'],
      groupsAdded: [],
      groupsRemoved: [],
    });
  });

  it('keeps the sessions when nothing is taken away', async () => {
    await users.update(user.id, updateInput(user, { lastName: 'King', groupIdsToAdd: [support.id] }), 'admin');

    expect(directory.sessionsEnded).toEqual([]);
  });

  it('changes only the fields given: a first name alone keeps the email, last name, attributes, roles and groups', async () => {
    const updated = await users.update(user.id, { firstName: 'Augusta' }, 'admin');

    expect(updated).toMatchObject({ email: user.email, firstName: 'Augusta', lastName: user.lastName, attributes: user.attributes });
    expect(directory.users.get(user.id)).toMatchObject({ email: user.email, firstName: 'Augusta', lastName: user.lastName });
    expect(queries.links.of(user.id)).toEqual({ roleIds: new Set([editor.id]), groupIds: new Set([sales.id]) });
    expect(journal.entries.at(-1)!.details).toMatchObject({ changes: { firstName: { from: 'Ada', to: 'Augusta' } } });
    expect(Object.keys(journal.entries.at(-1)!.details!.changes as object)).toEqual(['firstName']);
  });

  it('keeps an attribute left out and removes one given empty', async () => {
    const updated = await users.update(user.id, updateInput(user, { countryCode: 'gb', entityCode: '' }), 'admin');

    expect(updated.attributes).toEqual({ country_code: ['GB'] });
    expect(directory.users.get(user.id)!.attributes).toEqual({ country_code: ['GB'] });
  });

  it('puts back the profile and roles when a later step fails, and changes nothing locally', async () => {
    directory.failNext('changeGroups');

    await expect(
      users.update(user.id, updateInput(user, { firstName: 'Changed', roleIdsToAdd: [viewer.id], groupIdsToAdd: [support.id] }), 'admin'),
    ).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(directory.users.get(user.id)).toMatchObject({ firstName: 'Ada' });
    expect([...directory.users.get(user.id)!.roleIds]).toEqual([editor.id]);
    expect(queries.users.get(user.id)).toMatchObject({ firstName: 'Ada' });
  });

  it('answers CONFLICT for an email another account of the realm has, and NOT_FOUND for an unknown user', async () => {
    const other = await users.create(createInput({ email: 'other@example.com' }), null);

    await expect(users.update(user.id, updateInput(user, { email: other.email }), 'admin')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(users.update(randomUUID(), updateInput(user), 'admin')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("refuses the gateway's roles and groups for an account of a tenant realm", async () => {
    queries.users.set(user.id, { ...user, realm: 'tenant-realm' });

    await expect(users.update(user.id, updateInput(user, { roleIdsToAdd: [viewer.id] }), 'admin')).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
  });
});

describe('updateMyProfile', () => {
  it('makes a new email unverified and has Keycloak email the link that verifies it, as part of the write', async () => {
    const user = await users.create(createInput({ emailVerified: true }), null);

    const updated = await users.updateOwnProfile(user, { email: 'ada.new@example.com', firstName: 'Ada', lastName: 'Lovelace' });

    expect(updated).toMatchObject({ email: 'ada.new@example.com', emailVerified: false });
    expect(directory.emails).toEqual([{ id: user.id, actions: ['VERIFY_EMAIL'], lifespanSeconds: expect.any(Number) }]);
  });

  it('undoes the change when the verification email cannot be sent', async () => {
    const user = await users.create(createInput(), null);
    directory.failNext('sendActionsEmail');

    await expect(users.updateOwnProfile(user, { email: 'ada.new@example.com', firstName: 'Ada', lastName: 'Lovelace' })).rejects.toThrow();
    expect(directory.users.get(user.id)).toMatchObject({ email: 'ada@example.com' });
    expect(queries.users.get(user.id)).toMatchObject({ email: 'ada@example.com' });
  });

  it('answers a taken email without naming it, whether the mirror or only Keycloak knows it', async () => {
    const user = await users.create(createInput(), null);
    await users.create(createInput({ email: 'taken@example.com' }), null);
    directory.add({ email: 'keycloak-only@example.com' });

    for (const email of ['taken@example.com', 'keycloak-only@example.com']) {
      const refusal = users.updateOwnProfile(user, { email, firstName: 'Ada', lastName: 'Lovelace' });
      await expect(refusal).rejects.toMatchObject({ code: 'CONFLICT', message: EMAIL_UNUSABLE });
    }
  });

  it('sends no email when the address stays', async () => {
    const user = await users.create(createInput(), null);

    await users.updateOwnProfile(user, { email: user.email, firstName: 'Augusta', lastName: 'Lovelace' });

    expect(directory.emails).toEqual([]);
  });
});

describe('deleteUser', () => {
  it('ends the sessions, deletes in Keycloak, then removes the record and remembers the deletion', async () => {
    const user = await users.create(createInput(), null);

    await users.delete(user.id, 'admin');

    expect(directory.sessionsEnded).toContain(user.id);
    expect(directory.users.has(user.id)).toBe(false);
    expect(queries.users.has(user.id)).toBe(false);
    expect(await queries.wasDeleted(user.id)).toBe(true);
  });

  it("refuses the caller's own account, which deleteMyAccount deletes", async () => {
    const user = await users.create(createInput(), null);

    await expect(users.delete(user.id, user.id)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    await users.deleteOwnAccount(user.id);
    expect(queries.users.has(user.id)).toBe(false);
    expect(journal.entries.at(-1)).toMatchObject({ action: 'ACCOUNT_DELETE', status: 'SUCCEEDED' });
  });

  it('takes the tenants the user was the only member of, with their realms, and leaves shared ones', async () => {
    const user = await users.create(createInput(), null);
    const other = await users.create(createInput({ email: 'other@example.com' }), null);
    const alone = tenants.add('Alone', { [user.id]: 'OWNER' }, 'realm-alone');
    const shared = tenants.add('Shared', { [user.id]: 'MEMBER', [other.id]: 'OWNER' });

    await users.delete(user.id, 'admin');

    expect(tenants.tenants.has(alone)).toBe(false);
    expect(tenants.tenants.has(shared)).toBe(true);
    expect(realmsDeleted).toEqual(['realm-alone']);
    expect(journal.entries.at(-1)!.details).toMatchObject({ realmsDeleted: ['realm-alone'] });
  });

  it("answers CONFLICT for a tenant's last owner while others belong to it, and deletes nothing", async () => {
    const user = await users.create(createInput(), null);
    const other = await users.create(createInput({ email: 'other@example.com' }), null);
    tenants.add('Acme', { [user.id]: 'OWNER', [other.id]: 'MEMBER' });

    await expect(users.delete(user.id, 'admin')).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('Acme') });
    expect(directory.users.has(user.id)).toBe(true);
    expect(queries.users.has(user.id)).toBe(true);
  });

  it('keeps the entry PENDING when the local step fails after Keycloak deleted the user: nothing can bring it back', async () => {
    const user = await users.create(createInput(), null);
    journal.failLocal = true;

    await expect(users.delete(user.id, 'admin')).rejects.toThrow();
    expect(journal.entries.at(-1)!.status).toBe('PENDING');
  });

  it('finishes locally the deletion of a user Keycloak no longer has', async () => {
    const user = await users.create(createInput(), null);
    const alone = tenants.add('Alone', { [user.id]: 'OWNER' });

    await users.forgetDeleted({} as EntityManager, user.id);

    expect(queries.users.has(user.id)).toBe(false);
    expect(await queries.wasDeleted(user.id)).toBe(true);
    expect(tenants.tenants.has(alone)).toBe(false);
  });
});

describe('setUserPassword', () => {
  it('sets the password and ends the sessions; the password reaches neither the journal nor the answer', async () => {
    const user = await users.create(createInput(), null);
    const password = 'An0ther-Str0ng-Passw0rd!';

    const answer = await users.setPassword(user.id, password, true, 'admin');

    expect(directory.users.get(user.id)).toMatchObject({ password, temporaryPassword: true });
    expect(directory.sessionsEnded).toContain(user.id);
    expect(JSON.stringify(answer)).not.toContain(password);
    expect(JSON.stringify(journal.entries)).not.toContain(password);
  });

  it('checks the password policy before calling Keycloak', async () => {
    const user = await users.create(createInput(), null);

    await expect(users.setPassword(user.id, 'weak', false, 'admin')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(directory.users.get(user.id)!.password).toBe(PASSWORD);
  });
});
