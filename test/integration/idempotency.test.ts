import { createHash, randomUUID } from 'node:crypto';
import { parse, print } from 'graphql';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { createMailbox } from '../support/mailbox.js';
import { keycloakUsersByEmail, newEmail } from '../support/sync.js';

const CREATE_USER = /* GraphQL */ `
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) { message user { id email } }
  }
`;

let gateway: TestGateway;
let token: string;
beforeAll(async () => {
  gateway = await startTestGateway();
  token = await adminAccessToken();
});
afterAll(() => gateway?.close());

const input = (email: string) => ({ email, firstName: 'Idem', lastName: 'Potent', password: 'Str0ng-password' });
const createUser = (email: string, key: string) =>
  gateway.graphql(CREATE_USER, { token, variables: { input: input(email) }, headers: { 'idempotency-key': key } });
const creations = (email: string) =>
  sql<{ count: number }>(`select count(*)::int as count from audit_events where action = 'USER_CREATE' and details->>'email' = $1`, [
    email,
  ]);

describe('Idempotency-Key', () => {
  it('a repeated createUser with the same key answers the first result and writes nothing again', async () => {
    const email = newEmail('idem');
    const key = randomUUID();
    const first = await createUser(email, key);
    const again = await createUser(email, key);

    expect(first.errors).toBeUndefined();
    expect(again).toEqual(first);
    expect(await keycloakUsersByEmail(email)).toHaveLength(1);
    expect(await sql('select id from users where email = $1', [email])).toEqual([{ id: first.data!.createUser.user.id }]);
    expect(await creations(email)).toEqual([{ count: 1 }]);
  });

  it('concurrent repeats of one request run it once and all get its answer', async () => {
    const email = newEmail('idem-race');
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 5 }, () => createUser(email, key)));

    const ids = new Set(answers.map((answer) => answer.data?.createUser.user.id));
    expect(answers.map((answer) => answer.errors)).toEqual(Array(5).fill(undefined));
    expect(ids.size).toBe(1);
    expect(await keycloakUsersByEmail(email)).toHaveLength(1);
    expect(await creations(email)).toEqual([{ count: 1 }]);
  });

  it('the same key with a different request answers CONFLICT and writes nothing', async () => {
    const key = randomUUID();
    await createUser(newEmail('idem-a'), key);
    const other = newEmail('idem-b');
    const response = await createUser(other, key);

    expect(response.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', status: 409 } });
    expect(await keycloakUsersByEmail(other)).toEqual([]);
    expect(await sql('select 1 from users where email = $1', [other])).toEqual([]);
  });

  it('a refusal is kept for the key too: repeating it answers the same without running again', async () => {
    const key = randomUUID();
    const weak = await gateway.graphql(CREATE_USER, {
      token,
      variables: { input: { ...input(newEmail('idem-weak')), password: 'weak' } },
      headers: { 'idempotency-key': key },
    });
    expect(weak.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await sql('select status from idempotency_keys where key = $1', [key])).toEqual([{ status: 'DONE' }]);
  });

  it('queries ignore the header, and a malformed key is refused', async () => {
    const query = await gateway.graphql('{ publicHello }', { headers: { 'idempotency-key': randomUUID() } });
    expect(query.errors).toBeUndefined();
    const malformed = await createUser(newEmail('idem-bad'), 'x'.repeat(300));
    expect(malformed.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('Idempotency-Key keeps no secret (M1)', () => {
  /** A new user, signed in through Keycloak, mirrored, with a tenant they own. */
  async function owner() {
    const user = await createKeycloakUser();
    const tokens = await passwordGrant(user.email, user.password);
    const tenant = await gateway.graphql('mutation { createTenant(input: { name: "Keyed" }) { tenant { id } } }', {
      token: tokens.access_token,
    });
    return { ...user, tokens, tenantId: tenant.data!.createTenant.tenant.id as string };
  }
  const rowsOf = (key: string) => sql('select * from idempotency_keys where key = $1', [key]);

  it('M1: login, signup, refreshToken, logout, createInvitation and acceptInvitation refuse an Idempotency-Key, run nothing and store nothing', async () => {
    const caller = await owner();
    const invitee = `keyed-${randomUUID().slice(0, 8)}@example.test`;
    const calls: [document: string, variables: Record<string, unknown>][] = [
      [
        'mutation($i: LoginInput!) { login(input: $i) { tokens { accessToken refreshToken } } }',
        { i: { username: caller.email, password: caller.password } },
      ],
      [
        'mutation($i: SignupInput!) { signup(input: $i) { tokens { accessToken } } }',
        { i: { email: `keyed-${randomUUID().slice(0, 8)}@example.test`, firstName: 'Key', lastName: 'Ed', password: 'Str0ng-password' } },
      ],
      ['mutation($r: String!) { refreshToken(refreshToken: $r) { tokens { refreshToken } } }', { r: caller.tokens.refresh_token }],
      ['mutation($r: String!) { logout(refreshToken: $r) { message } }', { r: caller.tokens.refresh_token }],
      [
        'mutation($i: CreateInvitationInput!) { createInvitation(input: $i) { token } }',
        { i: { tenantId: caller.tenantId, email: invitee } },
      ],
      ['mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { message } }', { i: { token: randomUUID() } }],
      // Through a fragment, and beside an operation that takes keys: still refused.
      [
        'mutation($i: LoginInput!) { ...L } fragment L on Mutation { login(input: $i) { tokens { accessToken } } }',
        { i: { username: caller.email, password: caller.password } },
      ],
    ];
    for (const [document, variables] of calls) {
      const key = randomUUID();
      const response = await gateway.graphql(document, {
        token: caller.tokens.access_token,
        variables,
        headers: { 'idempotency-key': key },
      });
      expect(response.data ?? null, document).toBeNull();
      expect(response.errors?.[0], document).toMatchObject({
        message: expect.stringMatching(/cannot be sent with an Idempotency-Key/),
        extensions: { code: 'BAD_USER_INPUT' },
      });
      expect(await rowsOf(key), document).toEqual([]);
    }
    expect(await sql('select id from invitations where email = $1', [invitee])).toEqual([]);
    expect(await createMailbox(inject('mailboxUrl')).list(invitee)).toEqual([]);
    // logout did not run: the session still refreshes.
    const refreshed = await gateway.graphql('mutation($r: String!) { refreshToken(refreshToken: $r) { tokens { accessToken } } }', {
      variables: { r: caller.tokens.refresh_token },
    });
    expect(refreshed.errors).toBeUndefined();
  });

  it('M1: an anonymous call with an Idempotency-Key answers BAD_USER_INPUT: there is no shared anonymous namespace', async () => {
    const keys = [randomUUID(), randomUUID()];
    const reset = await gateway.graphql('mutation($e: String!) { resetPassword(email: $e) { message } }', {
      variables: { e: `nobody-${randomUUID()}@example.test` },
      headers: { 'idempotency-key': keys[0]! },
    });
    expect(reset.errors?.[0]).toMatchObject({ message: expect.stringMatching(/signed-in caller/), extensions: { code: 'BAD_USER_INPUT' } });
    const caller = await createKeycloakUser();
    const login = await gateway.graphql('mutation($i: LoginInput!) { login(input: $i) { tokens { accessToken } } }', {
      variables: { i: { username: caller.email, password: caller.password } },
      headers: { 'idempotency-key': keys[1]! },
    });
    expect(login.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await sql('select key from idempotency_keys where key = any($1) or caller = $2', [keys, 'anonymous'])).toEqual([]);
  });

  it('M1: no stored answer holds a token, and a stored request cannot be checked against a guessed password', async () => {
    const email = newEmail('idem-secret');
    const password = `Pw-${randomUUID()}-9a`;
    const key = randomUUID();
    const variables = { input: { ...input(email), password } };
    const created = await gateway.graphql(CREATE_USER, { token, variables, headers: { 'idempotency-key': key } });
    expect(created.errors).toBeUndefined();

    const [row] = await sql<{ request_hash: string; response: unknown }>(
      'select request_hash, response from idempotency_keys where key = $1',
      [key],
    );
    expect(JSON.stringify(row)).not.toContain(password);
    // The plain sha256 of the request, which anyone reading the table could recompute for each guess.
    const sorted = { input: Object.fromEntries(Object.entries(variables.input).sort(([a], [b]) => (a < b ? -1 : 1))) };
    const plain = createHash('sha256')
      .update(JSON.stringify(['CreateUser', print(parse(CREATE_USER)), sorted]))
      .digest('hex');
    expect(row!.request_hash).not.toBe(plain);
    // Across the whole table: no JWT (access and refresh tokens start eyJ), no row of anonymous callers.
    expect(await sql(`select key from idempotency_keys where response::text like '%eyJ%' or caller = 'anonymous'`)).toEqual([]);
  });
});
