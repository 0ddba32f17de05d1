import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { refusingWrites, sql } from '../support/database.js';
import { realmRoleIds, unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, renewedToken } from '../support/keycloak.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { createMailbox } from '../support/mailbox.js';
import { pbkdf2Hash as madeElsewhere } from '../support/password-hashes.js';
import { keycloakLinks, keycloakUsersByEmail, localLinks } from '../support/sync.js';

const IMPORT = /* GraphQL */ `
  mutation Import($input: ImportUsersInput!) {
    importUsers(input: $input) {
      message dryRun created updated skipped failed
      results { index email status error { code message fieldErrors } user { id email firstName lastName entityCode countryCode } }
    }
  }
`;
const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { tokens { accessToken } me { user { email } } } }';

interface Result {
  index: number;
  email: string;
  status: 'CREATED' | 'UPDATED' | 'SKIPPED' | 'FAILED';
  error: { code: string; message: string; fieldErrors: Record<string, string> | null } | null;
  user: { id: string; email: string; firstName: string; lastName: string; entityCode: string | null; countryCode: string | null } | null;
}
interface Payload {
  message: string;
  dryRun: boolean;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  results: Result[];
}

let gateway: TestGateway;
let adminToken: () => Promise<string>;
let roles: Record<string, string>;
/** The gateway's log, down to debug: no password, hash or salt may reach it. */
let captured: CapturedLog;
/** Every password, hash and salt this file sends. */
const secrets = new Set<string>();
beforeAll(async () => {
  captured = captureLog('debug');
  gateway = await startTestGateway(undefined, { log: captured.log });
  // An administrator of this file's own (Keycloak rejects concurrent logins of one account).
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
  roles = await realmRoleIds();
});
afterAll(() => gateway?.close());

const email = (prefix = 'import') => `${prefix}-${randomUUID().slice(0, 8)}@example.test`;
const person = (extra: Record<string, unknown> = {}) => ({ email: email(), firstName: 'Grace', lastName: 'Hopper', ...extra });

/** A pbkdf2 hash made by Node's crypto (test/support/password-hashes.ts), its secrets looked for in the logs. */
function pbkdf2Hash(password: string, digest: 'sha1' | 'sha256' | 'sha512', iterations?: number, keyLength?: number) {
  const hashed = madeElsewhere(password, digest, iterations, keyLength);
  for (const secret of [password, hashed.hash, hashed.salt]) secrets.add(secret);
  return hashed;
}
const pbkdf2Sha256 = (password: string) => pbkdf2Hash(password, 'sha256');

async function importUsers(input: Record<string, unknown>, options: { token?: string; headers?: Record<string, string> } = {}) {
  const response = await gateway.graphql(IMPORT, {
    token: options.token ?? (await adminToken()),
    variables: { input },
    headers: options.headers,
  });
  return response as { errors?: { extensions: { code: string; fieldErrors?: Record<string, string> } }[]; data?: { importUsers: Payload } };
}

async function imported(input: Record<string, unknown>, token?: string): Promise<Payload> {
  const response = await importUsers(input, { token });
  if (response.errors) throw new Error(`importUsers failed: ${JSON.stringify(response.errors)}`);
  return response.data!.importUsers;
}

const statuses = (payload: Payload) => payload.results.map((result) => result.status);

/** What a person compares between two answers: everything but the ids Keycloak gave. */
const comparable = (payload: Payload) => ({
  ...payload,
  message: undefined,
  dryRun: undefined,
  results: payload.results.map(({ user, ...result }) => ({ ...result, user: user && { ...user, id: undefined } })),
});

async function groupNamed(name: string): Promise<string> {
  const response = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
    token: await adminToken(),
    variables: { input: { groupName: name } },
  });
  if ((response as { errors?: unknown }).errors) throw new Error(`createGroup failed: ${JSON.stringify(response)}`);
  return (response.data as { createGroup: { group: { id: string } } }).createGroup.group.id;
}

async function mirroredEmails(emails: string[]): Promise<string[]> {
  return (await sql<{ email: string }>('select email from users where email = any($1) order by email', [emails])).map((row) => row.email);
}

describe('importUsers', () => {
  it('imports a user with a pbkdf2-sha256 hash made elsewhere, who then signs in with the original password; roles and groups applied', async () => {
    const groupName = unique('imported-');
    const groupId = await groupNamed(groupName);
    const password = `Kept-${randomUUID()}`;
    const passwordHash = pbkdf2Sha256(password);
    const hashed = person({
      passwordHash,
      roleIds: [roles.role_manager],
      groupIds: [groupId],
      entityCode: 'E-7',
      countryCode: 'fr',
    });
    const plain = person({ password: 'Str0ng-password' });

    const payload = await imported({ users: [hashed, plain] });

    expect(payload).toMatchObject({ dryRun: false, created: 2, updated: 0, skipped: 0, failed: 0 });
    expect(payload.results[0]).toMatchObject({
      index: 0,
      email: hashed.email,
      status: 'CREATED',
      error: null,
      user: { entityCode: 'E-7', countryCode: 'FR' },
    });
    const id = payload.results[0]!.user!.id;
    const signedIn = await gateway.graphql(LOGIN, { variables: { input: { username: hashed.email, password } } });
    expect(signedIn.errors).toBeUndefined();
    expect((signedIn.data as { login: { me: { user: { email: string } } } }).login.me.user.email).toBe(hashed.email);
    const wrong = await gateway.graphql(LOGIN, { variables: { input: { username: hashed.email, password: `${password}x` } } });
    expect(wrong.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    expect(await keycloakLinks(id)).toEqual({ roles: expect.arrayContaining(['role_manager']), groups: [groupName] });
    expect(await localLinks(id)).toEqual({ roles: ['role_manager'], groups: [groupName] });
    const [keycloakUser] = await keycloakUsersByEmail(hashed.email);
    expect(keycloakUser!.requiredActions).toEqual([]);
    // The journal says who was imported, never the hash or its salt.
    const [entry] = await sql<{ action: string; status: string; details: string }>(
      `select action, status, details::text as details from audit_events where target_id = $1`,
      [id],
    );
    expect(entry).toMatchObject({ action: 'USER_CREATE', status: 'SUCCEEDED' });
    expect(entry!.details).toContain('"imported": true');
    expect(entry!.details).not.toContain(passwordHash.hash);
    expect(entry!.details).not.toContain(passwordHash.salt);
  });

  it("keeps the passwords of Keycloak's other pbkdf2 formats: each user signs in with the original", async () => {
    const password = `Kept-${randomUUID()}`;
    const users = [
      person({ passwordHash: pbkdf2Hash(password, 'sha1', 1000, 20) }),
      person({ passwordHash: pbkdf2Hash(password, 'sha512', 10000, 64) }),
    ];
    expect(statuses(await imported({ users }))).toEqual(['CREATED', 'CREATED']);
    for (const user of users) {
      const signedIn = await gateway.graphql(LOGIN, { variables: { input: { username: user.email, password } } });
      expect(signedIn.errors, user.email).toBeUndefined();
    }
  });

  it('fails the bad items with field errors, creates the others, and leaves nothing half-created in Keycloak', async () => {
    const good = [person(), person({ roleIds: [roles.role_user] })];
    const bad = [
      person({ roleIds: [randomUUID()] }),
      person({ email: 'not-an-email' }),
      person({ passwordHash: { ...pbkdf2Sha256('Whatever-1'), hash: 'not base64 at all' } }),
      person({ passwordHash: { ...pbkdf2Sha256('Whatever-1'), algorithm: 'md5' } }),
    ];
    const payload = await imported({ users: [good[0], ...bad, good[1]], sendPasswordSetupEmail: false });

    expect(statuses(payload)).toEqual(['CREATED', 'FAILED', 'FAILED', 'FAILED', 'FAILED', 'CREATED']);
    expect(payload.results.slice(1, 5).map((result) => [result.error?.code, Object.keys(result.error?.fieldErrors ?? {})])).toEqual([
      ['BAD_USER_INPUT', ['roleIds']],
      ['BAD_USER_INPUT', ['email']],
      ['BAD_USER_INPUT', ['passwordHash.hash']],
      ['BAD_USER_INPUT', ['passwordHash.algorithm']],
    ]);
    for (const item of bad) expect(await keycloakUsersByEmail(item.email.toLowerCase())).toEqual([]);
    expect(await mirroredEmails(bad.map((item) => item.email))).toEqual([]);
    expect(await mirroredEmails(good.map((item) => item.email))).toEqual(good.map((item) => item.email).sort());
  });

  it('undoes in Keycloak a user whose local write fails, and writes the others', async () => {
    const [first, broken, last] = [person(), person({ passwordHash: pbkdf2Sha256(`Undone-${randomUUID()}`) }), person()];
    const payload = await refusingWrites('insert', 'users', 'email', broken.email, () =>
      imported({ users: [first, broken, last], sendPasswordSetupEmail: false }),
    );
    expect(statuses(payload)).toEqual(['CREATED', 'FAILED', 'CREATED']);
    expect(payload.results[1]!.error?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(await keycloakUsersByEmail(broken.email)).toEqual([]);
    expect(
      (await sql<{ status: string }>(`select status from audit_events where details->>'email' = $1`, [broken.email])).map(
        (row) => row.status,
      ),
    ).toEqual(['COMPENSATED']);
  });

  it('SKIP leaves existing users alone, and repeating the call creates nothing twice', async () => {
    const batch = [person(), person({ password: 'Str0ng-password' })];
    const first = await imported({ users: batch, sendPasswordSetupEmail: false });
    const again = await imported({ users: batch, sendPasswordSetupEmail: false });
    expect(statuses(first)).toEqual(['CREATED', 'CREATED']);
    expect(statuses(again)).toEqual(['SKIPPED', 'SKIPPED']);
    expect(again.results.map((result) => result.user?.id)).toEqual(first.results.map((result) => result.user?.id));
    for (const item of batch) expect(await keycloakUsersByEmail(item.email)).toHaveLength(1);
  });

  it('UPDATE changes what differs and adds roles, and a repeat writes nothing; FAIL answers CONFLICT', async () => {
    const original = person({ entityCode: 'E-1' });
    const [created] = (await imported({ users: [original], sendPasswordSetupEmail: false })).results;
    const id = created!.user!.id;
    const changed = { ...original, lastName: 'Brewster', countryCode: 'us', roleIds: [roles.role_user] };

    const updated = await imported({ users: [changed], onConflict: 'UPDATE' });
    expect(updated.results[0]).toMatchObject({
      status: 'UPDATED',
      user: { id, lastName: 'Brewster', entityCode: 'E-1', countryCode: 'US' },
    });
    const keycloakUser = (await keycloakAdmin<{ lastName: string; attributes: Record<string, string[]> }>('GET', `/users/${id}`)).body;
    expect(keycloakUser).toMatchObject({ lastName: 'Brewster', attributes: { entity_code: ['E-1'], country_code: ['US'] } });
    expect((await keycloakLinks(id)).roles).toContain('role_user');
    expect((await localLinks(id)).roles).toEqual(['role_user']);

    const writes = async () => (await sql<{ n: number }>('select count(*)::int as n from audit_events where target_id = $1', [id]))[0]!.n;
    const before = await writes();
    const repeated = await imported({ users: [changed], onConflict: 'UPDATE' });
    expect(statuses(repeated)).toEqual(['SKIPPED']);
    expect(await writes()).toBe(before);

    const refused = await imported({ users: [changed], onConflict: 'FAIL' });
    expect(refused.results[0]).toMatchObject({ status: 'FAILED', error: { code: 'CONFLICT', fieldErrors: { email: expect.any(String) } } });
  });

  it('with dryRun writes nothing and answers exactly what the real run then answers', async () => {
    const existing = person({ firstName: 'Old' });
    await imported({ users: [existing], sendPasswordSetupEmail: false });
    const batch = [
      person({ passwordHash: pbkdf2Sha256('Dry-Run-1') }),
      { ...existing, firstName: 'New' },
      person({ email: 'broken' }),
      person({ roleIds: [roles.role_user] }),
      person({ password: 'weak' }),
    ];
    const fresh = [batch[0]!.email, batch[3]!.email];
    const journaled = async () =>
      (
        await sql<{ n: number }>(`select count(*)::int as n from audit_events where details->>'email' = any($1)`, [
          batch.map((item) => item.email.toLowerCase()),
        ])
      )[0]!.n;
    const journaledBefore = await journaled();

    const dry = await imported({ users: batch, onConflict: 'UPDATE', sendPasswordSetupEmail: false, dryRun: true });

    expect(dry.dryRun).toBe(true);
    expect(statuses(dry)).toEqual(['CREATED', 'UPDATED', 'FAILED', 'CREATED', 'FAILED']);
    for (const address of fresh) expect(await keycloakUsersByEmail(address)).toEqual([]);
    expect(await mirroredEmails(fresh)).toEqual([]);
    const [keycloakExisting] = await keycloakUsersByEmail(existing.email);
    expect(keycloakExisting!.firstName).toBe('Old');
    expect(await journaled()).toBe(journaledBefore);

    const real = await imported({ users: batch, onConflict: 'UPDATE', sendPasswordSetupEmail: false });
    expect(real.dryRun).toBe(false);
    expect(comparable(real).results.map(({ user, ...rest }) => rest)).toEqual(comparable(dry).results.map(({ user, ...rest }) => rest));
    expect([real.created, real.updated, real.skipped, real.failed]).toEqual([dry.created, dry.updated, dry.skipped, dry.failed]);
    for (const address of fresh) expect(await keycloakUsersByEmail(address)).toHaveLength(1);
  });

  it('replays the answer of a call repeated with the same Idempotency-Key', async () => {
    const key = randomUUID();
    const input = { users: [person(), person()], sendPasswordSetupEmail: false };
    const first = await importUsers(input, { headers: { 'idempotency-key': key } });
    const second = await importUsers(input, { headers: { 'idempotency-key': key } });
    expect(first.errors).toBeUndefined();
    expect(second.data).toEqual(first.data);
    expect(statuses(second.data!.importUsers)).toEqual(['CREATED', 'CREATED']);
    for (const item of input.users) expect(await keycloakUsersByEmail(item.email)).toHaveLength(1);
  });

  it('emails a link to set a password to new users with neither password nor hash', async () => {
    const [bare, withPassword] = [person(), person({ password: 'Str0ng-password' })];
    const payload = await imported({ users: [bare, withPassword] });
    expect(statuses(payload)).toEqual(['CREATED', 'CREATED']);
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(bare.email);
    expect(mail.to).toContain(bare.email);
    const [bareUser] = await keycloakUsersByEmail(bare.email);
    const [passwordUser] = await keycloakUsersByEmail(withPassword.email);
    expect(bareUser!.requiredActions).toEqual(['UPDATE_PASSWORD']);
    expect(passwordUser!.requiredActions).toEqual([]);
    expect(await createMailbox(inject('mailboxUrl')).list(withPassword.email)).toEqual([]);
  });

  it('lets a user manager import users with what it holds, and fails the users given more, or an administrator to update', async () => {
    const managers = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: await adminToken(),
      variables: { input: { groupName: unique('import-managers-'), privilegeIds: [roles.priv_user_management] } },
    });
    const managersId = (managers.data as { createGroup: { group: { id: string } } }).createGroup.group.id;
    const manager = person({ password: 'Str0ng-password', roleIds: [roles.role_user], groupIds: [managersId] });
    const administrator = person({ password: 'Str0ng-password', roleIds: [roles.role_admin] });
    await imported({ users: [manager, administrator] });
    const managerToken = await renewedToken(manager.email, 'Str0ng-password')();

    const given = [
      person({ roleIds: [roles.role_user] }),
      person({ roleIds: [roles.role_admin] }),
      { ...administrator, password: undefined, lastName: 'Demoted' },
    ];
    const payload = await imported({ users: given, onConflict: 'UPDATE', sendPasswordSetupEmail: false }, managerToken);

    expect(payload.results.map((result) => [result.status, result.error?.code ?? null])).toEqual([
      ['CREATED', null],
      ['FAILED', 'FORBIDDEN'],
      ['FAILED', 'FORBIDDEN'],
    ]);
    expect(await keycloakUsersByEmail(given[1]!.email)).toEqual([]);
    const [admin] = await keycloakUsersByEmail(administrator.email);
    expect(admin!.lastName).toBe('Hopper');
  });

  it('writes no password, hash or salt to the log, not even for a user whose write failed', async () => {
    const password = `Logged-${randomUUID()}1a`;
    secrets.add(password);
    const [hashed, withPassword] = [person({ passwordHash: pbkdf2Sha256(`Logged-${randomUUID()}`) }), person({ password })];
    const payload = await refusingWrites('insert', 'users', 'email', hashed.email, () =>
      imported({ users: [hashed, withPassword], sendPasswordSetupEmail: false }),
    );
    expect(statuses(payload)).toEqual(['FAILED', 'CREATED']);
    // The failed write was logged (a fault, not a refusal): the log was read.
    expect(captured.lines.some((line) => line.level >= 50 && JSON.stringify(line).includes('local commit failed'))).toBe(true);
    const written = JSON.stringify(captured.lines);
    // This file's every secret, this test's and the earlier tests'.
    for (const secret of secrets) expect(written.includes(secret)).toBe(false);
  });

  it('refuses 1,001 users before anything', async () => {
    const users = Array.from({ length: 1001 }, () => person());
    const response = await importUsers({ users });
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: { users: 'must list at most 1000 items' },
    });
    expect(await mirroredEmails([users[0]!.email, users[1000]!.email])).toEqual([]);
    expect(await keycloakUsersByEmail(users[0]!.email)).toEqual([]);
  });
});
