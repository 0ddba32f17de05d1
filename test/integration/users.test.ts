import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, passwordGrant } from '../support/keycloak.js';

const USERS = /* GraphQL */ `
  query Users($first: Int, $after: String, $filter: UserFilter) {
    users(first: $first, after: $after, filter: $filter) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id email firstName entityCode attributes { name values } } }
    }
  }
`;
const ME = 'query { me { user { id } } }';
const USERS_BOTH_WAYS = /* GraphQL */ `
  query UsersBothWays($first: Int, $after: String, $last: Int, $before: String, $filter: UserFilter) {
    users(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { email } }
    }
  }
`;

describe('users', () => {
  let gateway: TestGateway;
  let adminToken: string;
  beforeAll(async () => {
    gateway = await startTestGateway();
    adminToken = await adminAccessToken();
  });
  afterAll(() => gateway?.close());

  async function signInOnce(options: Parameters<typeof createKeycloakUser>[0] = {}) {
    const user = await createKeycloakUser(options);
    const { access_token } = await passwordGrant(user.email, user.password);
    await gateway.graphql(ME, { token: access_token });
    return { user, token: access_token };
  }

  it('lists mirrored users page by page with a cursor, filtered by search text', async () => {
    const marker = `page-${Date.now()}`;
    const created = [];
    for (let i = 0; i < 3; i++) created.push((await signInOnce({ email: `${marker}-${i}@example.test` })).user);

    const first = await gateway.graphql(USERS, { token: adminToken, variables: { first: 2, filter: { search: marker } } });
    expect(first.errors).toBeUndefined();
    expect(first.data!.users.totalCount).toBe(3);
    expect(first.data!.users.pageInfo.hasNextPage).toBe(true);
    const second = await gateway.graphql(USERS, {
      token: adminToken,
      variables: { first: 2, after: first.data!.users.pageInfo.endCursor, filter: { search: marker.toUpperCase() } },
    });
    expect(second.data!.users.pageInfo.hasNextPage).toBe(false);
    const emails = [...first.data!.users.edges, ...second.data!.users.edges].map((edge: any) => edge.node.email);
    expect(emails).toEqual(created.map((user) => user.email));
  });

  it('reads one user by id, and null for an unknown id', async () => {
    const { user } = await signInOnce();
    const found = await gateway.graphql('query($id: ID!) { user(id: $id) { id email } }', {
      token: adminToken,
      variables: { id: user.id },
    });
    expect(found.data!.user).toEqual({ id: user.id, email: user.email });
    const missing = await gateway.graphql('query($id: ID!) { user(id: $id) { id } }', {
      token: adminToken,
      variables: { id: '00000000-0000-4000-8000-000000000000' },
    });
    expect(missing.data!.user).toBeNull();
  });

  it('is allowed with priv_user_management alone, FORBIDDEN for a plain user, UNAUTHENTICATED anonymously', async () => {
    const manager = await signInOnce({ realmRoles: ['priv_user_management'] });
    const allowed = await gateway.graphql(USERS, { token: manager.token, variables: { first: 1 } });
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data!.users.edges).toHaveLength(1);

    const plain = await signInOnce({ realmRoles: ['role_user'] });
    const denied = await gateway.graphql(USERS, { token: plain.token });
    expect(denied.data).toBeNull();
    expect(denied.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', status: 403 });

    const anonymous = await gateway.graphql(USERS);
    expect(anonymous.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('rejects a page size out of range and a forged cursor with BAD_USER_INPUT naming the argument', async () => {
    const tooMany = await gateway.graphql(USERS, { token: adminToken, variables: { first: 5000 } });
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { first: expect.any(String) } });
    const forged = await gateway.graphql(USERS, { token: adminToken, variables: { after: 'bm90LWEtY3Vyc29y' } });
    expect(forged.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { after: expect.any(String) } });
  });

  it('pages backward with last and before to exactly the items paging forward showed, with pageInfo exact both ways', async () => {
    const marker = `back-${Date.now()}`;
    const emails: string[] = [];
    for (let i = 0; i < 5; i++) emails.push((await signInOnce({ email: `${marker}-${i}@example.test` })).user.email);
    const filter = { search: marker };
    const page = async (variables: Record<string, unknown>) => {
      const response = await gateway.graphql(USERS_BOTH_WAYS, { token: adminToken, variables: { ...variables, filter } });
      expect(response.errors).toBeUndefined();
      const { edges, pageInfo } = response.data!.users;
      return { emails: edges.map((edge: any) => edge.node.email) as string[], pageInfo, cursors: edges.map((edge: any) => edge.cursor) };
    };

    const forward = [await page({ first: 2 })];
    while (forward.at(-1)!.pageInfo.hasNextPage) forward.push(await page({ first: 2, after: forward.at(-1)!.pageInfo.endCursor }));
    expect(forward.map((p) => p.emails)).toEqual([emails.slice(0, 2), emails.slice(2, 4), emails.slice(4)]);
    expect(forward.map((p) => [p.pageInfo.hasPreviousPage, p.pageInfo.hasNextPage])).toEqual([
      [false, true],
      [true, true],
      [true, false],
    ]);
    for (const p of forward) expect([p.pageInfo.startCursor, p.pageInfo.endCursor]).toEqual([p.cursors[0], p.cursors.at(-1)]);

    // From the end of the list back to its start: the same items, in the same order within each page.
    const backward = [await page({ last: 2 })];
    while (backward.at(-1)!.pageInfo.hasPreviousPage) backward.push(await page({ last: 2, before: backward.at(-1)!.pageInfo.startCursor }));
    expect(backward.map((p) => p.emails)).toEqual([emails.slice(3, 5), emails.slice(1, 3), emails.slice(0, 1)]);
    expect(backward.map((p) => [p.pageInfo.hasPreviousPage, p.pageInfo.hasNextPage])).toEqual([
      [true, false],
      [true, true],
      [false, true],
    ]);
    expect(backward.reverse().flatMap((p) => p.emails)).toEqual(emails);

    // Forward to the last page, then one page back from its start: the page before it again.
    const back = await page({ last: 2, before: forward[2]!.pageInfo.startCursor });
    expect(back.emails).toEqual(forward[1]!.emails);
    expect(back.cursors).toEqual(forward[1]!.cursors);
    expect(back.pageInfo).toEqual(forward[1]!.pageInfo);
    // before alone pages back by first's default.
    expect((await page({ before: forward[2]!.pageInfo.startCursor })).emails).toEqual(emails.slice(0, 4));
  });

  it('takes an explicit null for any paging argument as left out: first: null is the default page size, also when paging backward', async () => {
    const marker = `nulls-${Date.now()}`;
    const emails: string[] = [];
    for (let i = 0; i < 3; i++) emails.push((await signInOnce({ email: `${marker}-${i}@example.test` })).user.email);
    const page = async (variables: Record<string, unknown>) => {
      const response = await gateway.graphql(USERS_BOTH_WAYS, {
        token: adminToken,
        variables: { ...variables, filter: { search: marker } },
      });
      expect(response.errors, JSON.stringify(variables)).toBeUndefined();
      return response.data!.users.edges.map((edge: any) => edge.node.email);
    };
    expect(await page({ first: null, after: null, last: null, before: null })).toEqual(emails);
    expect(await page({ first: null, last: 2 })).toEqual(emails.slice(1));
    const audit = await gateway.graphql('{ auditEvents(first: null) { edges { cursor } } }', { token: adminToken });
    expect(audit.errors).toBeUndefined();
  });

  it('answers BAD_USER_INPUT when a page is asked forward and backward at once, or last or before is invalid', async () => {
    const [someone] = (await gateway.graphql(USERS_BOTH_WAYS, { token: adminToken, variables: { first: 1 } })).data!.users.edges;
    for (const [variables, fields] of [
      [{ first: 2, last: 2 }, ['first']],
      [{ after: someone.cursor, before: someone.cursor }, ['after']],
      [{ first: 2, after: someone.cursor, last: 2 }, ['after', 'first']],
      [{ last: 0 }, ['last']],
      [{ last: 201 }, ['last']],
      [{ last: 2, before: 'bm90LWEtY3Vyc29y' }, ['before']],
    ] as const) {
      const response = await gateway.graphql(USERS_BOTH_WAYS, { token: adminToken, variables });
      expect(response.data, JSON.stringify(variables)).toBeNull();
      expect(response.errors?.[0]?.extensions, JSON.stringify(variables)).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(Object.keys(response.errors![0]!.extensions!.fieldErrors as object).sort(), JSON.stringify(variables)).toEqual(fields);
    }
    // first written in the query counts as given, as a variable does.
    const literal = await gateway.graphql('query { users(first: 2, last: 2) { edges { cursor } } }', { token: adminToken });
    expect(literal.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { first: expect.any(String) } });
  });
});
