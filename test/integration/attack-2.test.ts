import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { sql } from '../support/database.js';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { consoleRole, createUserThroughGateway, realmRoleIds } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, renewedToken } from '../support/keycloak.js';
import { watch as watchEvents } from '../support/subscriptions.js';
import { pbkdf2Hash } from '../support/password-hashes.js';
import { useTenancy } from '../support/tenancy.js';

// A second attacker-reviewer's probes of sessions, credentials and privilege grants: each
// test is named after what it tried; those that found a hole were seen failing before the fix.
const ME = '{ me { id user { id } } }';
const USER_SESSIONS = 'query($userId: ID!) { userSessions(userId: $userId) { id } }';
const END = 'mutation($userId: ID!) { endUserSessions(userId: $userId) { message } }';
const REQUIRE = /* GraphQL */ `
  mutation($userId: ID!, $actions: [RequiredAction!]!, $sendEmail: Boolean) {
    requireUserActions(userId: $userId, actions: $actions, sendEmail: $sendEmail) { message }
  }
`;
const UPDATE = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';

let gateway: TestGateway;
let adminToken: () => Promise<string>;
let roleIds: Record<string, string>;

beforeAll(async () => {
  gateway = await startTestGateway();
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
  expect((await gateway.graphql(ME, { token: await adminToken() })).errors).toBeUndefined();
  roleIds = await realmRoleIds();
});
afterAll(() => gateway?.close());

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;

/** A Keycloak user the gateway has seen (their first `me` mirrors them), with a fresh token. */
async function knownUser(realmRoles: string[] = []) {
  return knownUserFrom(await createKeycloakUser({ realmRoles }));
}

async function knownUserFrom(user: Awaited<ReturnType<typeof createKeycloakUser>>) {
  const token = (await passwordGrant(user.email, user.password)).access_token;
  const me = await gateway.graphql(ME, { token });
  expect(me.errors).toBeUndefined();
  return { ...user, token };
}

describe('sessions', () => {
  it("ATTACK2-1: a user manager stripped of priv_user_management reads and ends no one's sessions with the token it still holds", async () => {
    // The privilege through a group, taken away by removing the manager from it.
    const group = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: await adminToken(),
      variables: { input: { groupName: `managers-${randomUUID().slice(0, 8)}`, privilegeIds: [roleIds.priv_user_management] } },
    });
    expect(group.errors).toBeUndefined();
    const groupId = group.data!.createGroup.group.id as string;
    const account = await createKeycloakUser();
    const managed = await gateway.graphql(UPDATE, {
      token: await adminToken(),
      variables: {
        id: (await knownUserFrom(account)).id,
        input: { email: account.email, firstName: account.firstName, lastName: account.lastName, groupIdsToAdd: [groupId] },
      },
    });
    expect(managed.errors).toBeUndefined();
    const manager = { ...account, token: (await passwordGrant(account.email, account.password)).access_token };
    const victim = await knownUser();
    expect(codeOf(await gateway.graphql(USER_SESSIONS, { token: manager.token, variables: { userId: victim.id } }))).toBeUndefined();

    const stripped = await gateway.graphql(UPDATE, {
      token: await adminToken(),
      variables: {
        id: manager.id,
        input: { email: manager.email, firstName: manager.firstName, lastName: manager.lastName, groupIdsToRemove: [groupId] },
      },
    });
    expect(stripped.errors).toBeUndefined();

    for (const query of [USER_SESSIONS, END]) {
      const response = await gateway.graphql(query, { token: manager.token, variables: { userId: victim.id } });
      expect(codeOf(response), query).toBe('FORBIDDEN');
    }
    expect(await sql('select 1 from user_sessions_ended where user_id = $1', [victim.id])).toHaveLength(0);
    expect(codeOf(await gateway.graphql(ME, { token: victim.token })), 'the victim still signed in').toBeUndefined();
  });

  it("ATTACK2-2: a user's old token, after signOutEverywhere, gets nothing through aliases, node(id:) nor Me.sessions", async () => {
    const person = await knownUser();
    const ended = await gateway.graphql('mutation { signOutEverywhere { message } }', { token: person.token });
    expect(ended.errors).toBeUndefined();
    const attempts = [
      '{ a: me { id } b: me { sessions { id } } }',
      `{ node(id: "${person.id}") { id } }`,
      'mutation { signOutEverywhere { message } }',
    ];
    for (const query of attempts) expect(codeOf(await gateway.graphql(query, { token: person.token })), query).toBe('UNAUTHENTICATED');
  });

  it('ATTACK2-3: endUserSessions and userSessions for a deleted user answer NOT_FOUND to an administrator and record no end', async () => {
    const gone = await knownUser();
    const deleted = await gateway.graphql('mutation($id: ID!) { deleteUser(id: $id) { message } }', {
      token: await adminToken(),
      variables: { id: gone.id },
    });
    expect(deleted.errors).toBeUndefined();
    for (const query of [USER_SESSIONS, END]) {
      expect(codeOf(await gateway.graphql(query, { token: await adminToken(), variables: { userId: gone.id } })), query).toBe('NOT_FOUND');
    }
    expect(await sql('select 1 from user_sessions_ended where user_id = $1', [gone.id])).toHaveLength(0);
  });
});

describe('credentials and required actions', () => {
  it("ATTACK2-4: a user deleted in Keycloak's console but still mirrored: sessions, credentials and required actions answer typed errors or nothing, never INTERNAL_SERVER_ERROR", async () => {
    const person = await knownUser();
    expect((await keycloakAdmin('DELETE', `/users/${person.id}`)).status).toBe(204);
    const attempts: [string, Record<string, unknown>][] = [
      [USER_SESSIONS, { userId: person.id }],
      [END, { userId: person.id }],
      ['query($id: ID!) { user(id: $id) { id credentials { id } } }', { id: person.id }],
      [REQUIRE, { userId: person.id, actions: ['UPDATE_PASSWORD'], sendEmail: true }],
      [REQUIRE, { userId: person.id, actions: ['UPDATE_PASSWORD'], sendEmail: false }],
      [
        'mutation($userId: ID!, $credentialId: ID!) { removeUserCredential(userId: $userId, credentialId: $credentialId) { message } }',
        { userId: person.id, credentialId: randomUUID() },
      ],
    ];
    for (const [query, variables] of attempts) {
      const response = await gateway.graphql(query, { token: await adminToken(), variables });
      expect(response.status, query).toBeLessThan(500);
      expect(codeOf(response), `${query} ${JSON.stringify(response.errors)}`).not.toBe('INTERNAL_SERVER_ERROR');
    }
  });

  it('ATTACK2-5: requireUserActions with 101 actions is refused at the edge; 100 copies of one action are required once', async () => {
    const person = await knownUser();
    const tooMany = await gateway.graphql(REQUIRE, {
      token: await adminToken(),
      variables: { userId: person.id, actions: Array.from({ length: 101 }, () => 'UPDATE_PROFILE'), sendEmail: false },
    });
    expect(codeOf(tooMany)).toBe('BAD_USER_INPUT');
    expect((await keycloakAdmin<{ requiredActions: string[] }>('GET', `/users/${person.id}`)).body.requiredActions).toEqual([]);
    const copies = await gateway.graphql(REQUIRE, {
      token: await adminToken(),
      variables: { userId: person.id, actions: Array.from({ length: 100 }, () => 'UPDATE_PROFILE'), sendEmail: false },
    });
    expect(copies.errors).toBeUndefined();
    expect((await keycloakAdmin<{ requiredActions: string[] }>('GET', `/users/${person.id}`)).body.requiredActions).toEqual([
      'UPDATE_PROFILE',
    ]);
  });

  it("ATTACK2-6: a user manager reads no administrator's credentials, sessions nor grants through node(id:), aliases or a users page", async () => {
    const manager = await knownUser(['priv_user_management']);
    const administrator = await knownUser(['role_admin']);
    const viaNode = await gateway.graphql(
      `query($id: ID!) { a: node(id: $id) { ... on User { credentials { id type } } } b: node(id: $id) { ... on User { id } } }`,
      { token: manager.token, variables: { id: administrator.id } },
    );
    expect(codeOf(viaNode)).toBe('FORBIDDEN');
    expect(JSON.stringify(viaNode.data)).not.toContain('password');
    const viaPage = await gateway.graphql(
      'query($roleId: ID!) { users(first: 100, filter: { roleId: $roleId }) { edges { node { id credentials { id type } } } } }',
      { token: manager.token, variables: { roleId: roleIds.role_admin } },
    );
    expect(codeOf(viaPage), JSON.stringify(viaPage.errors)).toBe('FORBIDDEN');
    expect(JSON.stringify(viaPage.data ?? null)).not.toContain('"type"');
  });
});

describe('privilege grants, in a realm of their own', () => {
  // The ladder's 33 console roles would otherwise show in every other file's lists of the shared realm.
  let backends: IsolatedBackends;
  let isolated: TestGateway;
  beforeAll(async () => {
    backends = await isolatedBackends('ladder');
    isolated = await startTestGateway(() => backends.config);
  }, 300_000);
  afterAll(async () => {
    await isolated?.close();
    await backends?.close();
  });

  it('ATTACK2-7: a ladder of composite roles (two a rung, each composed of both of the next) does not make privilegeGrants walk every one of its 2^n paths', async () => {
    const { realm } = backends;
    const tag = randomUUID().slice(0, 8);
    const RUNGS = 16;
    const privilege = `priv_ladder_${tag}`;
    await consoleRole(privilege, [], realm);
    let below = [privilege];
    for (let rung = RUNGS; rung >= 1; rung -= 1) {
      const names = [`role_ladder_${tag}_${rung}_a`, `role_ladder_${tag}_${rung}_b`];
      await Promise.all(names.map((name) => consoleRole(name, below, realm)));
      below = names;
    }
    // The mirror learns the console's roles, then the user holding the top rung (their first request mirrors them).
    await syncDirectory(isolated.app.keycloak.client, isolated.app.orm.em.fork());
    const person = await createKeycloakUser({ realmRoles: below, realm });
    const personToken = (await passwordGrant(person.email, person.password, realm)).access_token;
    expect((await isolated.graphql(ME, { token: personToken })).errors).toBeUndefined();
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'], realm });
    const token = (await passwordGrant(admin.email, admin.password, realm)).access_token;

    const response = await isolated.graphql(
      'query($id: ID!) { user(id: $id) { privilegeGrants { privilege { name } paths { steps { name } } } effectivePrivileges { name } } }',
      { token, variables: { id: person.id } },
    );
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const grants = response.data!.user.privilegeGrants as { privilege: { name: string }; paths: { steps: { name: string }[] }[] }[];
    const ladder = grants.find((grant) => grant.privilege.name === privilege)!;
    expect(ladder, 'the privilege is still shown as held').toBeDefined();
    expect(ladder.paths.length).toBeGreaterThan(0);
    // Unbounded, the walk would answer 65,536 paths (2^16).
    expect(ladder.paths.length, 'a bounded number of paths').toBeLessThanOrEqual(100);
    // The shortest paths come first, whole.
    expect(ladder.paths[0]!.steps.at(-1)!.name).toBe(privilege);
  }, 180_000);
});

describe('identityEvents over graphql-ws', () => {
  /** A subscription of `token`'s caller: what came, how the connection closed. */
  function watch(token: string, variables: Record<string, unknown> = {}) {
    const state = watchEvents(gateway, token, variables);
    return { state, dispose: () => state.client.dispose() };
  }

  it("ATTACK2-8: an administrator's subscription ends (4403) as soon as their sessions are ended, and streams nothing after", async () => {
    const subscriberAccount = await knownUser(['role_admin']);
    const before = gateway.app.liveEvents.subscribers;
    const { state, dispose } = watch(subscriberAccount.token, { filter: { types: ['USER_CREATED'] } });
    try {
      await vi.waitFor(() => expect(gateway.app.liveEvents.subscribers).toBeGreaterThan(before), { timeout: 10_000, interval: 20 });
      const ended = await gateway.graphql(END, { token: await adminToken(), variables: { userId: subscriberAccount.id } });
      expect(ended.errors).toBeUndefined();
      await vi.waitFor(() => expect(state.closed?.code).toBe(4403), { timeout: 10_000, interval: 20 });
      const later = await createKeycloakUser();
      expect(codeOf(await gateway.graphql(ME, { token: (await passwordGrant(later.email, later.password)).access_token }))).toBeUndefined();
      expect(state.events.some((event) => event.subjectId === later.id)).toBe(false);
    } finally {
      await dispose();
    }
  });

  it('ATTACK2-9: a malformed or oversized filter over the socket is refused as BAD_USER_INPUT, never INTERNAL_SERVER_ERROR', async () => {
    const subscriberAccount = await knownUser(['role_admin']);
    const filters = [
      { tenantId: 'not-a-uuid' },
      { subjectId: "'; drop table identity_events; --" },
      { types: Array.from({ length: 101 }, () => 'USER_CREATED') },
      { types: ['x'.repeat(2_000)] },
    ];
    for (const filter of filters) {
      const { state, dispose } = watch(subscriberAccount.token, { filter });
      try {
        await vi.waitFor(() => expect(state.completed || state.closed !== null).toBe(true), { timeout: 10_000, interval: 20 });
        expect(
          state.errors.map((error) => error.extensions?.code),
          JSON.stringify(filter).slice(0, 80),
        ).toEqual(['BAD_USER_INPUT']);
        expect(state.events).toEqual([]);
      } finally {
        await dispose();
      }
    }
  });
});

describe('importUsers', () => {
  const IMPORT = /* GraphQL */ `
    mutation($input: ImportUsersInput!) {
      importUsers(input: $input) { created updated skipped failed results { index status error { code fieldErrors } user { id } } }
    }
  `;
  const email = () => `attack2-${randomUUID().slice(0, 8)}@example.test`;

  it('ATTACK2-10: a user manager cannot state an address verified through an import, for a new user nor by UPDATE of one within reach; nothing is written', async () => {
    const manager = await knownUser(['priv_user_management']);
    // Made by an administrator through the gateway: its address not proven yet.
    const within = await createUserThroughGateway(gateway, await adminToken());
    expect((await keycloakAdmin<{ emailVerified: boolean }>('GET', `/users/${within.id}`)).body.emailVerified).toBe(false);
    const fresh = email();
    const response = await gateway.graphql(IMPORT, {
      token: manager.token,
      variables: {
        input: {
          onConflict: 'UPDATE',
          sendPasswordSetupEmail: false,
          users: [
            { email: fresh, firstName: 'Eve', lastName: 'Verified', emailVerified: true, password: 'Str0ng-password-1x' },
            { email: within.email, firstName: 'Grace', lastName: 'Hopper', emailVerified: true },
          ],
        },
      },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const results = response.data!.importUsers.results as { status: string; error: { code: string } | null }[];
    expect(results.map((result) => [result.status, result.error?.code])).toEqual([
      ['FAILED', 'FORBIDDEN'],
      ['FAILED', 'FORBIDDEN'],
    ]);
    expect(await sql('select 1 from users where email = $1', [fresh])).toHaveLength(0);
    expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${encodeURIComponent(fresh)}&exact=true`)).body).toEqual([]);
    expect((await keycloakAdmin<{ emailVerified: boolean }>('GET', `/users/${within.id}`)).body.emailVerified).toBe(false);
  });

  it('ATTACK2-11: one address twice in an import, in other case and with spaces, creates neither', async () => {
    const address = email();
    const response = await gateway.graphql(IMPORT, {
      token: await adminToken(),
      variables: {
        input: {
          sendPasswordSetupEmail: false,
          users: [
            { email: address, firstName: 'One', lastName: 'Copy', password: 'Str0ng-password-1x' },
            { email: `  ${address.toUpperCase()} `, firstName: 'Other', lastName: 'Copy', password: 'Str0ng-password-2x' },
          ],
        },
      },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const results = response.data!.importUsers.results as { status: string; error: { code: string } | null }[];
    expect(results.map((result) => [result.status, result.error?.code])).toEqual([
      ['FAILED', 'BAD_USER_INPUT'],
      ['FAILED', 'BAD_USER_INPUT'],
    ]);
    expect(await sql('select 1 from users where lower(email) = $1', [address])).toHaveLength(0);
  });

  it("ATTACK2-12: an imported hash and salt reach no table in clear: not the audit trail, the identity events nor the Idempotency-Key's stored answer", async () => {
    const address = email();
    const hashed = pbkdf2Hash('Imported-password-9q');
    const response = await gateway.graphql(IMPORT, {
      token: await adminToken(),
      variables: {
        input: { sendPasswordSetupEmail: false, users: [{ email: address, firstName: 'Hash', lastName: 'Holder', passwordHash: hashed }] },
      },
      headers: { 'idempotency-key': `attack2-${randomUUID()}` },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const userId = (response.data!.importUsers.results as { user: { id: string } }[])[0]!.user.id;
    const stored = await sql<{ text: string }>(
      `select details::text as text from audit_events where target_id = $1
       union all select coalesce(before::text, '') || coalesce(after::text, '') from identity_events where subject_id = $1
       union all select coalesce(response::text, '') from idempotency_keys where response::text like '%' || $1 || '%'`,
      [userId],
    );
    expect(stored.length).toBeGreaterThan(1);
    for (const { text } of stored) {
      for (const secret of [hashed.hash, hashed.salt, 'Imported-password-9q']) expect(text).not.toContain(secret);
    }
  });

  it('ATTACK2-13: an imported argon2 hash cannot make every sign-in attempt of its user cost Keycloak tens of seconds and hundreds of MiB', async () => {
    const { url, realm, apiClientId, apiClientSecret } = inject('config').keycloak;
    const argon2 = (memory: number, iterations: number, parallelism: number) => ({
      algorithm: 'argon2',
      hash: randomBytes(32).toString('base64'),
      salt: randomBytes(16).toString('base64'),
      iterations,
      parameters: { memory, parallelism, type: 'id', version: '1.3' },
    });
    const users = [argon2(262_144, 100, 16), argon2(65_536, 100, 1), argon2(262_144, 1, 1), argon2(65_536, 4, 4)].map((passwordHash) => ({
      email: email(),
      firstName: 'Heavy',
      lastName: 'Hash',
      passwordHash,
    }));
    const response = await gateway.graphql(IMPORT, {
      token: await adminToken(),
      variables: { input: { sendPasswordSetupEmail: false, users } },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const results = response.data!.importUsers.results as {
      status: string;
      error: { code: string; fieldErrors: Record<string, string> } | null;
    }[];
    expect(results.map((result) => result.status)).toEqual(['FAILED', 'FAILED', 'FAILED', 'CREATED']);
    for (const result of results.slice(0, 3)) expect(Object.keys(result.error!.fieldErrors)).toEqual(['passwordHash.parameters']);

    // The heaviest hash still taken: a wrong password's sign-in attempt is answered promptly.
    const started = Date.now();
    const attempt = await fetch(`${url}/realms/${realm}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: apiClientId,
        client_secret: apiClientSecret,
        username: users[3]!.email,
        password: 'Wrong-password-1x',
      }),
    });
    // invalid_grant: the password was checked against the hash, and refused.
    expect(attempt.status).toBe(400);
    expect(((await attempt.json()) as { error: string }).error).toBe('invalid_grant');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("ATTACK2-14: an imported pbkdf2 hash's length does not multiply the iterations Keycloak runs at each sign-in attempt", async () => {
    const pbkdf2 = (hashBytes: number, iterations: number) => ({
      algorithm: 'pbkdf2',
      hash: randomBytes(hashBytes).toString('base64'),
      salt: randomBytes(16).toString('base64'),
      iterations,
    });
    const users = [pbkdf2(512, 2_000_000), pbkdf2(64, 1_000_000), pbkdf2(20, 2_000_000), pbkdf2(64, 500_000)].map((passwordHash) => ({
      email: email(),
      firstName: 'Long',
      lastName: 'Hash',
      passwordHash,
    }));
    const response = await gateway.graphql(IMPORT, {
      token: await adminToken(),
      variables: { input: { dryRun: true, sendPasswordSetupEmail: false, users } },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const results = response.data!.importUsers.results as { status: string; error: { fieldErrors: Record<string, string> } | null }[];
    expect(results.map((result) => result.status)).toEqual(['FAILED', 'FAILED', 'CREATED', 'CREATED']);
    for (const result of results.slice(0, 2)) expect(Object.keys(result.error!.fieldErrors)).toEqual(['passwordHash.iterations']);
  });
});

describe('identity events in realm tenancy', () => {
  const tenancy = useTenancy('realm');

  it("ATTACK2-15: a tenant's OWNER reads in events no account of the tenant's realm beyond what the API shows them: no user's attributes, enabled or emailVerified", async () => {
    const owner = await tenancy.tenantOwner();
    const other = await tenancy.signedIn(owner.realm);
    const response = await tenancy.gateway.graphql(
      'query($t: ID!) { events(first: 200, filter: { tenantId: $t }) { edges { node { type subjectType subjectId after } } } }',
      { token: owner.token, variables: { t: owner.tenant.id } },
    );
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    const events = (response.data!.events.edges as { node: { type: string; subjectType: string; subjectId: string } }[]).map(
      (edge) => edge.node,
    );
    // The tenant's own events are still theirs.
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['TENANT_CREATED', 'MEMBERSHIP_CREATED']));
    expect(events.filter((event) => event.subjectType === 'User')).toEqual([]);
    expect(JSON.stringify(events)).not.toContain(other.email);
    // As the API: the other account is no member, and its record is not the owner's to read.
    const user = await tenancy.gateway.graphql('query($id: ID!) { user(id: $id) { id } }', {
      token: owner.token,
      variables: { id: other.id },
    });
    expect(codeOf(user)).toBe('FORBIDDEN');
  });
});
