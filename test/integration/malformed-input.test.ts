import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { keycloakUsersByEmail } from '../support/sync.js';

// L1 and L7 of the security review: no input makes the gateway fail, and no answer grows
// with the input. Each case is one row of the review's L1 table.

/** A cursor as the gateway writes them, naming its list and a place in it, forged. */
const cursor = (list: 'users' | 'auditEvents', at: string, id: string) => Buffer.from(JSON.stringify([list, at, id])).toString('base64url');
const unknownIds = (count: number) => Array.from({ length: count }, () => randomUUID());

describe('malformed input', () => {
  let gateway: TestGateway;
  let admin: string;
  let owner: { id: string; token: string; tenantId: string };
  let userManager: string;

  beforeAll(async () => {
    gateway = await startTestGateway();
    // Callers of this file's own: Keycloak refuses one account's concurrent logins, which
    // the shared bootstrap admin would get from parallel test files.
    const signIn = async (realmRoles: string[]) => {
      const user = await createKeycloakUser({ realmRoles });
      const token = (await passwordGrant(user.email, user.password)).access_token;
      await gateway.graphql('{ me { user { id } } }', { token });
      return { id: user.id, token };
    };
    [{ token: admin }, { token: userManager }] = await Promise.all([signIn(['role_admin']), signIn(['priv_user_management'])]);
    const plain = await signIn(['role_user']);
    const tenant = await gateway.graphql('mutation { createTenant(input: { name: "Malformed" }) { tenant { id } } }', {
      token: plain.token,
    });
    owner = { ...plain, tenantId: tenant.data!.createTenant.tenant.id };
  });
  afterAll(() => gateway?.close());

  const expectRefused = (response: Awaited<ReturnType<TestGateway['graphql']>>, field: string, problem: RegExp, label = field) => {
    expect(response.errors?.[0], label).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', status: 400, fieldErrors: { [field]: expect.stringMatching(problem) } },
    });
    expect(response.errors![0]!.message.length, label).toBeLessThan(300);
  };

  it('L1: a NUL character in any string argument answers BAD_USER_INPUT naming the field, for anonymous, user and admin callers, and writes nothing', async () => {
    const marker = `nul-${randomUUID().slice(0, 8)}`;
    const nul = (text = marker) => `${text}\u0000x`;
    const email = `${marker}@example.test`;
    const person = { email, firstName: 'Nul', lastName: 'Probe', password: 'Str0ng-password' };
    const cases: [caller: string | undefined, document: string, variables: Record<string, unknown>, field: string][] = [
      [
        undefined,
        'mutation($i: SignupInput!) { signup(input: $i) { message } }',
        { i: { ...person, email: `${marker}\u0000@example.test` } },
        'email',
      ],
      [undefined, 'mutation($i: SignupInput!) { signup(input: $i) { message } }', { i: { ...person, accountName: nul() } }, 'accountName'],
      [undefined, 'mutation($e: String!) { resetPassword(email: $e) { message } }', { e: `${marker}\u0000@example.test` }, 'email'],
      [admin, 'query($f: UserFilter) { users(filter: $f) { totalCount } }', { f: { search: nul() } }, 'search'],
      [admin, 'query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { action: nul() } }, 'action'],
      [admin, 'query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { targetId: nul() } }, 'targetId'],
      [owner.token, 'mutation($i: CreateTenantInput!) { createTenant(input: $i) { message } }', { i: { name: nul() } }, 'name'],
      [
        owner.token,
        'mutation($i: CreateInvitationInput!) { createInvitation(input: $i) { message } }',
        { i: { tenantId: owner.tenantId, email: `${marker}\u0000@example.test` } },
        'email',
      ],
      [admin, 'mutation($i: CreateGroupInput!) { createGroup(input: $i) { message } }', { i: { groupName: nul() } }, 'groupName'],
      [
        admin,
        'mutation($i: CreateRoleInput!) { createRole(input: $i) { message } }',
        { i: { roleName: `role_${marker}`, description: nul() } },
        'description',
      ],
      [
        admin,
        'mutation($i: CreateUserInput!) { createUser(input: $i) { message } }',
        { i: { ...person, entityCode: nul() } },
        'entityCode',
      ],
      [
        owner.token,
        'mutation($i: UpdateProfileInput!) { updateMyProfile(input: $i) { message } }',
        { i: { firstName: nul() } },
        'firstName',
      ],
    ];
    for (const [token, document, variables, field] of cases) {
      const response = await gateway.graphql(document, { token, variables });
      expectRefused(response, field, /control characters/, `${document.slice(0, 40)} ${field}`);
      expect(response.data ?? null).toBeNull();
    }
    // Every write is journalled before it acts: no entry names the marker, so none began.
    expect(await sql(`select id from audit_events where details::text like $1`, [`%${marker}%`])).toEqual([]);
    expect(await keycloakUsersByEmail(email)).toEqual([]);
  });

  it('L1: line breaks in a single-line field, other control characters and lone surrogates answer BAD_USER_INPUT; a description keeps its line breaks', async () => {
    const createGroup = (groupName: string) =>
      gateway.graphql('mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { name } } }', {
        token: admin,
        variables: { i: { groupName } },
      });
    expectRefused(await createGroup('two\r\nlines'), 'groupName', /control characters/);
    expectRefused(await createGroup('bell\u0007'), 'groupName', /control characters/);
    expectRefused(await createGroup('half \ud800 a pair'), 'groupName', /lone surrogates/);
    const described = await gateway.graphql('mutation($i: CreateRoleInput!) { createRole(input: $i) { role { description } } }', {
      token: admin,
      variables: { i: { roleName: `role_lines_${randomUUID().slice(0, 8)}`, description: 'first line\nsecond line' } },
    });
    expect(described.errors).toBeUndefined();
    expect(described.data!.createRole.role.description).toBe('first line\nsecond line');
  });

  it('L1: a cursor whose id is not a UUID, or whose date is outside the years 1 to 9999, answers BAD_USER_INPUT naming after', async () => {
    const forged = (list: 'users' | 'auditEvents') => [
      cursor(list, '2026-01-01T00:00:00.000Z', 'x'),
      cursor(list, '2026-01-01T00:00:00.000Z', "x' or 1=1--"),
      cursor(list, '+099999-01-01T00:00:00.000Z', randomUUID()),
      cursor(list, '0000-01-01T00:00:00.000Z', randomUUID()),
    ];
    for (const after of forged('users')) {
      expectRefused(
        await gateway.graphql('query($a: String) { users(after: $a) { totalCount } }', { token: admin, variables: { a: after } }),
        'after',
        /cursor/,
      );
    }
    for (const after of forged('auditEvents')) {
      expectRefused(
        await gateway.graphql('query($a: String) { auditEvents(after: $a) { totalCount } }', { token: admin, variables: { a: after } }),
        'after',
        /cursor/,
      );
    }
  });

  it('an empty cursor is an invalid cursor, not the start of the list: after: "" and before: "" answer BAD_USER_INPUT', async () => {
    for (const list of ['users', 'auditEvents']) {
      for (const argument of ['after', 'before']) {
        const response = await gateway.graphql(`{ ${list}(${argument}: "") { totalCount } }`, { token: admin });
        expectRefused(response, argument, /^invalid cursor$/, `${list}(${argument}: "")`);
        expect(response.data, `${list}(${argument}: "")`).toBeNull();
      }
    }
  });

  it("a list refuses another list's cursor, and a cursor that names no list, with BAD_USER_INPUT", async () => {
    const endCursor = async (list: string) => {
      const response = await gateway.graphql(`{ ${list}(first: 1) { pageInfo { endCursor } } }`, { token: admin });
      expect(response.errors).toBeUndefined();
      return response.data![list].pageInfo.endCursor as string;
    };
    const [usersCursor, auditCursor] = [await endCursor('users'), await endCursor('auditEvents')];
    // Each list takes its own.
    for (const [list, own] of [
      ['users', usersCursor],
      ['auditEvents', auditCursor],
    ] as const) {
      const response = await gateway.graphql(`query($c: String) { ${list}(after: $c) { totalCount } }`, {
        token: admin,
        variables: { c: own },
      });
      expect(response.errors, list).toBeUndefined();
    }
    const [at, id] = JSON.parse(Buffer.from(usersCursor, 'base64url').toString('utf8')).slice(1) as [string, string];
    for (const [list, other] of [
      ['auditEvents', usersCursor],
      ['users', auditCursor],
      ['users', Buffer.from(JSON.stringify([at, id])).toString('base64url')],
    ] as const) {
      for (const argument of ['after', 'before']) {
        const response = await gateway.graphql(`query($c: String) { ${list}(${argument}: $c) { totalCount } }`, {
          token: admin,
          variables: { c: other },
        });
        expectRefused(response, argument, /^invalid cursor$/, `${list}(${argument}: ${other})`);
      }
    }
  });

  it('L1: auditEvents(filter: { since }) outside the years 1 to 9999 answers BAD_USER_INPUT naming since', async () => {
    const response = await gateway.graphql('query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', {
      token: admin,
      variables: { f: { since: '0000-01-01T00:00:00Z' } },
    });
    expectRefused(response, 'since', /years 1 and 9999/);
  });

  it('L1: user(id:) with a malformed id answers BAD_USER_INPUT for that lookup alone; the lookups batched with it still answer', async () => {
    const response = await gateway.graphql(
      'query($valid: ID!) { a: user(id: $valid) { id } b: user(id: "x\' or 1=1--") { id } c: user(id: "x") { id } }',
      {
        token: userManager,
        variables: { valid: owner.id },
      },
    );
    expect(response.data).toEqual({ a: { id: owner.id }, b: null, c: null });
    expect(response.errors?.map((error) => [error.path, error.extensions.code])).toEqual([
      [['b'], 'BAD_USER_INPUT'],
      [['c'], 'BAD_USER_INPUT'],
    ]);
  });

  it('L1: a malformed tenant or invitation id answers BAD_USER_INPUT in createInvitation, invitations and revokeInvitation', async () => {
    const createInvitation = await gateway.graphql('mutation($i: CreateInvitationInput!) { createInvitation(input: $i) { message } }', {
      token: admin,
      variables: { i: { tenantId: 'nope', email: `nope-${randomUUID().slice(0, 8)}@example.test` } },
    });
    expectRefused(createInvitation, 'tenantId', /UUID/);
    expectRefused(await gateway.graphql('{ invitations(tenantId: "nope") { id } }', { token: admin }), 'tenantId', /UUID/);
    expectRefused(await gateway.graphql('mutation { revokeInvitation(id: "nope") { message } }', { token: admin }), 'id', /UUID/);
  });

  it('L1: an email of 300 characters answers BAD_USER_INPUT (createInvitation, signup) and stores nothing', async () => {
    const long = `${'a'.repeat(280)}-${randomUUID().slice(0, 8)}@example.test`;
    const invitation = await gateway.graphql('mutation($i: CreateInvitationInput!) { createInvitation(input: $i) { message } }', {
      token: owner.token,
      variables: { i: { tenantId: owner.tenantId, email: long } },
    });
    expectRefused(invitation, 'email', /at most 254/);
    const signup = await gateway.graphql('mutation($i: SignupInput!) { signup(input: $i) { message } }', {
      variables: { i: { email: long, firstName: 'Long', lastName: 'Mail', password: 'Str0ng-password' } },
    });
    expectRefused(signup, 'email', /at most 254/);
    expect(await sql('select id from invitations where email = $1', [long])).toEqual([]);
  });

  it('L1: a 200 KB password answers BAD_USER_INPUT without reaching Keycloak (login, signup, setUserPassword)', async () => {
    const huge = `Aa1${'x'.repeat(200 * 1024)}`;
    const login = await gateway.graphql('mutation($i: LoginInput!) { login(input: $i) { tokens { accessToken } } }', {
      variables: { i: { username: `nobody-${randomUUID()}@example.test`, password: huge } },
    });
    expectRefused(login, 'password', /at most 1024/);
    const signup = await gateway.graphql('mutation($i: SignupInput!) { signup(input: $i) { message } }', {
      variables: { i: { email: `huge-${randomUUID().slice(0, 8)}@example.test`, firstName: 'Huge', lastName: 'Password', password: huge } },
    });
    expectRefused(signup, 'password', /at most 1024/);
    const set = await gateway.graphql('mutation($id: ID!, $p: String!) { setUserPassword(userId: $id, password: $p) { message } }', {
      token: admin,
      variables: { id: owner.id, p: huge },
    });
    expectRefused(set, 'password', /at most 1024/);
  });

  it('L1: a refresh token Keycloak cannot read (8 KB) answers UNAUTHENTICATED, not a server error', async () => {
    const response = await gateway.graphql('mutation($r: String!) { refreshToken(refreshToken: $r) { tokens { accessToken } } }', {
      variables: { r: 'a'.repeat(8192) },
    });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('L1: a persisted query whose hash does not match its text answers BAD_USER_INPUT with HTTP 400', async () => {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ publicHello }', extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
    });
    const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
    expect([response.status, body.errors[0]?.extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
  });

  it('L1: a body of 3 MB answers 413 with a coded error the client can read, and the next request is served', async () => {
    const send = (body: string) => fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const large = await send(JSON.stringify({ query: '{ publicHello }', variables: { padding: '\u0000'.repeat(500_000) } }));
    expect(large.status).toBe(413);
    expect(((await large.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect((await send(JSON.stringify({ query: '{ publicHello }' }))).status).toBe(200);
  });

  it('L1: a variable with more invalid values than graphql-js reports one by one answers BAD_USER_INPUT, every error of it', async () => {
    const response = await gateway.graphql('mutation($i: CreateRoleInput!) { createRole(input: $i) { message } }', {
      token: admin,
      variables: { i: { roleName: 'role_nulls', privilegeIds: Array(60).fill(null) } },
    });
    expect(response.status).toBe(400);
    expect(new Set(response.errors?.map((error) => error.extensions.code))).toEqual(new Set(['BAD_USER_INPUT']));
  });

  it('L1: a subscription operation over HTTP answers BAD_USER_INPUT with HTTP 400, naming where subscriptions are served', async () => {
    for (const document of ['subscription { publicHello }', 'subscription { identityEvents { id } }']) {
      const response = await gateway.graphql(document);
      expect(response.status, document).toBe(400);
      expect(
        response.errors?.map((error) => error.extensions.code),
        document,
      ).toContain('BAD_USER_INPUT');
    }
    const valid = await gateway.graphql('subscription { identityEvents { id } }');
    expect(valid.errors).toEqual([
      expect.objectContaining({
        message: 'Subscriptions are served over WebSocket (graphql-ws) on this path, not over HTTP',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
      }),
    ]);
  });

  it('L7: a list of 20,000 ids answers BAD_USER_INPUT in a short message, for an admin and for a user manager', async () => {
    const ids = unknownIds(20_000);
    const created = await gateway.graphql('mutation($i: CreateUserInput!) { createUser(input: $i) { message } }', {
      token: admin,
      variables: {
        i: {
          email: `many-${randomUUID().slice(0, 8)}@example.test`,
          firstName: 'Many',
          lastName: 'Roles',
          password: 'Str0ng-password',
          roleIds: ids,
        },
      },
    });
    expectRefused(created, 'roleIds', /at most 100 items/);
    const updated = await gateway.graphql('mutation($id: ID!, $i: UpdateUserInput!) { updateUser(id: $id, input: $i) { message } }', {
      token: userManager,
      variables: {
        id: owner.id,
        i: { email: `x-${randomUUID().slice(0, 8)}@example.test`, firstName: 'X', lastName: 'Y', groupIdsToAdd: ids },
      },
    });
    expectRefused(updated, 'groupIdsToAdd', /at most 100 items/);
  });

  it('L7: unknown ids are named by the first three and a count', async () => {
    const ids = unknownIds(50);
    const response = await gateway.graphql('mutation($i: CreateUserInput!) { createUser(input: $i) { message } }', {
      token: admin,
      variables: {
        i: {
          email: `unknown-${randomUUID().slice(0, 8)}@example.test`,
          firstName: 'Un',
          lastName: 'Known',
          password: 'Str0ng-password',
          roleIds: ids,
        },
      },
    });
    expect(response.errors?.[0]).toMatchObject({
      message: `roleIds: no role with id ${ids.slice(0, 3).join(', ')} and 47 more`,
      extensions: { code: 'NOT_FOUND' },
    });
  });

  it('L7: a value that cannot be coerced is not quoted back whole: the message stays short', async () => {
    const response = await gateway.graphql('query($first: Int) { users(first: $first) { totalCount } }', {
      token: admin,
      variables: { first: 'x'.repeat(100_000) },
    });
    expect(response.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.message.length).toBeLessThanOrEqual(1000);
  });
});
