import { pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError, forbidden } from '../../errors.js';
import { FakeJournal } from '../../journal/journal.fake.js';
import type { GroupRecord } from '../groups/group.type.js';
import type { RoleRecord } from '../roles/role.type.js';
import { FakeTenantsQueries } from '../tenants/tenants.queries.fake.js';
import { ImportConflict, type ImportUserInput, type ImportUsersInput } from './user-import.input.js';
import { UserImportService, type ImportedWrite, type ImportGuard } from './user-import.service.js';
import { ImportStatus } from './user-import.type.js';
import { UserService } from './user.service.js';
import { FakeUsersDirectory } from './users.directory.fake.js';
import { FakeUsersQueries } from './users.queries.fake.js';

const role = (name: string, kind: RoleRecord['kind'] = 'ROLE'): RoleRecord => ({ id: randomUUID(), name, kind, description: null });
const group = (name: string): GroupRecord => ({ id: randomUUID(), name });
const editor = role('role_editor');
const viewer = role('role_viewer');
const review = role('priv_code_review', 'PRIVILEGE');
const sales = group('sales');

const salt = randomBytes(16);
const pbkdf2Hash = (password: string) => ({
  algorithm: 'pbkdf2-sha256',
  hash: pbkdf2Sync(password, salt, 27500, 32, 'sha256').toString('base64'),
  salt: salt.toString('base64'),
  iterations: 27500,
});

let directory: FakeUsersDirectory;
let queries: FakeUsersQueries;
let journal: FakeJournal;
let importer: UserImportService;
let asked: ImportedWrite[];
const allowAll: ImportGuard = async (write) => {
  asked.push(write);
  return true;
};

beforeEach(() => {
  directory = new FakeUsersDirectory();
  queries = new FakeUsersQueries();
  journal = new FakeJournal();
  asked = [];
  for (const r of [editor, viewer, review]) queries.links.roles.set(r.id, r);
  queries.links.groups.set(sales.id, sales);
  const known =
    <T extends { id: string }>(rows: T[]) =>
    async (ids: readonly string[]) =>
      rows.filter((row) => ids.includes(row.id));
  const lookUp =
    <T extends { id: string }>(rows: T[]) =>
    async (ids: readonly string[]) => {
      const found = await known(rows)(ids);
      if (found.length !== new Set(ids).size) throw new AppError('NOT_FOUND', 'unknown id');
      return found;
    };
  const users = new UserService({
    queries,
    links: queries.links,
    tenants: new FakeTenantsQueries(),
    directories: () => directory,
    journal,
    roles: { require: (_kind, ids) => lookUp([editor, viewer, review])(ids) },
    groups: { require: (ids) => lookUp([sales])(ids) },
  });
  importer = new UserImportService({
    users,
    queries,
    links: queries.links,
    roles: { findByIds: known([editor, viewer, review]) },
    groups: { findByIds: known([sales]) },
    concurrency: 3,
  });
});

let counter = 0;
function person(overrides: Partial<ImportUserInput> = {}): ImportUserInput {
  counter += 1;
  return { email: `person-${counter}@example.test`, firstName: 'Ada', lastName: 'Lovelace', ...overrides } as ImportUserInput;
}

const run = (users: ImportUserInput[], options: Partial<ImportUsersInput> = {}, guard: ImportGuard = allowAll) =>
  importer.import({ users, ...options } as ImportUsersInput, 'admin', guard);

describe('importUsers planning', () => {
  it('answers one result per input, in input order, however the writes interleave', async () => {
    const given = Array.from({ length: 20 }, () => person());
    const { results } = await run(given);
    expect(results.map((result) => result.index)).toEqual(given.map((_user, index) => index));
    expect(results.map((result) => result.email)).toEqual(given.map((user) => user.email));
    expect(results.every((result) => result.status === ImportStatus.CREATED)).toBe(true);
    expect(directory.users.size).toBe(20);
  });

  it('fails only the bad items, with field errors, before any write, and writes the others', async () => {
    const bad = [
      person({ email: 'not-an-email' }),
      person({ roleIds: [randomUUID()] }),
      person({ roleIds: [review.id] }),
      person({ password: 'weak' }),
      person({ passwordHash: { ...pbkdf2Hash('Secret-1'), algorithm: 'md5' } }),
      person({ passwordHash: { ...pbkdf2Hash('Secret-1'), hash: 'not base64!' } }),
      person({ passwordHash: { ...pbkdf2Hash('Secret-1'), iterations: 0 } }),
      person({ passwordHash: { ...pbkdf2Hash('Secret-1'), salt: null } }),
      person({ password: 'Str0ng-password', passwordHash: pbkdf2Hash('Str0ng-password') }),
      person({ groupIds: [randomUUID()] }),
    ];
    const good = person({ roleIds: [editor.id], groupIds: [sales.id], passwordHash: pbkdf2Hash('Secret-1') });
    const { results } = await run([...bad, good]);

    expect(results.map((result) => [result.status, result.error?.code, Object.keys(result.error?.fieldErrors ?? {})])).toEqual([
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['email']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['roleIds']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['roleIds']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['password']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['passwordHash.algorithm']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['passwordHash.hash']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['passwordHash.iterations']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['passwordHash.salt']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['passwordHash']],
      [ImportStatus.FAILED, 'BAD_USER_INPUT', ['groupIds']],
      [ImportStatus.CREATED, undefined, []],
    ]);
    expect([...directory.users.values()].map((user) => user.email)).toEqual([good.email]);
    const created = [...directory.users.values()][0]!;
    expect(created.roleIds).toEqual(new Set([editor.id]));
    expect(created.groupIds).toEqual(new Set([sales.id]));
    expect(JSON.parse(created.hashedCredential!.credentialData)).toEqual({
      hashIterations: 27500,
      algorithm: 'pbkdf2-sha256',
      additionalParameters: {},
    });
    // Neither the hash nor the salt is in the journal.
    const journaled = JSON.stringify(journal.entries);
    expect(journaled).not.toContain(good.passwordHash!.hash);
    expect(journaled).not.toContain(good.passwordHash!.salt);
  });

  it('fails every copy of an email given twice, and nothing else', async () => {
    const twice = person();
    const other = person();
    const { results } = await run([twice, other, { ...twice, email: ` ${twice.email.toUpperCase()} ` }]);
    expect(results.map((result) => result.status)).toEqual([ImportStatus.FAILED, ImportStatus.CREATED, ImportStatus.FAILED]);
    expect(results[0]!.error?.fieldErrors).toEqual({ email: 'appears more than once in this import (items 0, 2)' });
  });

  it('checks argon2 parameters', async () => {
    const argon2 = { algorithm: 'argon2', hash: randomBytes(32).toString('base64'), salt: salt.toString('base64'), iterations: 3 };
    const { results } = await run([
      person({ passwordHash: { ...argon2, parameters: { memory: 7168, parallelism: 1 } } }),
      person({ passwordHash: { ...argon2, parameters: { parallelism: 1 } } }),
      person({ passwordHash: { ...argon2, parameters: { memory: 7168, parallelism: 1, colour: 'blue' } } }),
    ]);
    expect(results.map((result) => result.status)).toEqual([ImportStatus.CREATED, ImportStatus.FAILED, ImportStatus.FAILED]);
    const stored = [...directory.users.values()][0]!.hashedCredential!;
    expect(JSON.parse(stored.credentialData).additionalParameters).toEqual({
      type: ['id'],
      version: ['1.3'],
      hashLength: ['32'],
      memory: ['7168'],
      parallelism: ['1'],
    });
  });

  it('refuses more than 1,000 users before looking at any', async () => {
    await expect(run(Array.from({ length: 1001 }, () => person()))).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(directory.users.size).toBe(0);
  });

  it('answers with dryRun exactly what the real run then does, writing nothing', async () => {
    const existing = person();
    await run([existing]);
    const batch = [person(), existing, person({ email: 'bad' }), person({ roleIds: [editor.id] })];
    const before = directory.users.size;
    const dry = await run(batch, { dryRun: true, onConflict: ImportConflict.FAIL });
    expect(directory.users.size).toBe(before);
    expect(journal.entries).toHaveLength(1);
    const real = await run(batch, { onConflict: ImportConflict.FAIL });
    const shape = (outcome: typeof real) => outcome.results.map(({ index, email, status, error }) => ({ index, email, status, error }));
    expect(shape(dry)).toEqual(shape(real));
    expect(dry.dryRun).toBe(true);
  });

  it('SKIP leaves an existing user alone; repeating an import creates nothing twice', async () => {
    const batch = [person(), person()];
    await run(batch);
    const again = await run(batch);
    expect(again.results.map((result) => result.status)).toEqual([ImportStatus.SKIPPED, ImportStatus.SKIPPED]);
    expect(directory.users.size).toBe(2);
    expect(journal.entries).toHaveLength(2);
  });

  it('UPDATE changes what differs and adds roles, then writes nothing when repeated', async () => {
    const original = person({ entityCode: 'E-1' });
    await run([original]);
    const changed = { ...original, lastName: 'Byron', countryCode: 'gb', roleIds: [viewer.id] };
    const first = await run([changed], { onConflict: ImportConflict.UPDATE });
    expect(first.results[0]).toMatchObject({ status: ImportStatus.UPDATED, user: { lastName: 'Byron' } });
    const stored = [...directory.users.values()][0]!;
    expect(stored).toMatchObject({ lastName: 'Byron', attributes: { entity_code: ['E-1'], country_code: ['GB'] } });
    expect(stored.roleIds).toEqual(new Set([viewer.id]));
    const writes = journal.entries.length;
    const second = await run([changed], { onConflict: ImportConflict.UPDATE });
    expect(second.results[0]!.status).toBe(ImportStatus.SKIPPED);
    expect(journal.entries).toHaveLength(writes);
  });

  it('UPDATE disables when told, but never re-enables nor un-verifies through a left-out flag', async () => {
    const original = person({ emailVerified: true });
    await run([original]);
    const disabled = await run([{ ...original, enabled: false }], { onConflict: ImportConflict.UPDATE });
    expect(disabled.results[0]).toMatchObject({ status: ImportStatus.UPDATED, user: { enabled: false, emailVerified: true } });
    const { emailVerified: _left, ...withoutFlags } = original;
    const again = await run([withoutFlags], { onConflict: ImportConflict.UPDATE });
    expect(again.results[0]!.status).toBe(ImportStatus.SKIPPED);
    expect([...directory.users.values()][0]).toMatchObject({ enabled: false, emailVerified: true });
  });

  it('FAIL answers CONFLICT for an existing email', async () => {
    const existing = person();
    await run([existing]);
    const { results } = await run([existing], { onConflict: ImportConflict.FAIL });
    expect(results[0]).toMatchObject({
      status: ImportStatus.FAILED,
      error: { code: 'CONFLICT', fieldErrors: { email: expect.any(String) } },
    });
  });

  it('fails an item the guard refuses as FORBIDDEN, asking once per distinct write, and writes the others', async () => {
    const refuseEditor: ImportGuard = async (write) => {
      asked.push(write);
      return write.roleIds.includes(editor.id) ? forbidden() : true;
    };
    const { results } = await run(
      [person({ roleIds: [editor.id] }), person({ roleIds: [viewer.id] }), person({ roleIds: [editor.id] })],
      {},
      refuseEditor,
    );
    expect(results.map((result) => [result.status, result.error?.code])).toEqual([
      [ImportStatus.FAILED, 'FORBIDDEN'],
      [ImportStatus.CREATED, undefined],
      [ImportStatus.FAILED, 'FORBIDDEN'],
    ]);
    expect(asked).toHaveLength(2);
  });

  it('one failing write leaves no half-created user and stops no other', async () => {
    directory.failNext('sendActionsEmail');
    const { results } = await run([person(), person({ password: 'Str0ng-password' })], { sendPasswordSetupEmail: true });
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([ImportStatus.CREATED, ImportStatus.FAILED]);
    // The user whose email failed was undone in Keycloak and never mirrored.
    expect(directory.users.size).toBe(1);
    expect(queries.users.size).toBe(1);
  });

  it('asks Keycloak to email a link only to new enabled users with neither password nor hash', async () => {
    const { results } = await run([
      person(),
      person({ password: 'Str0ng-password' }),
      person({ passwordHash: pbkdf2Hash('Secret-1') }),
      person({ enabled: false }),
    ]);
    const emailed = directory.emails.map((email) => email.id);
    expect(emailed).toEqual([results[0]!.user!.id]);
    expect((await run([person()], { sendPasswordSetupEmail: false })).results[0]!.status).toBe(ImportStatus.CREATED);
    expect(directory.emails).toHaveLength(1);
  });
});
