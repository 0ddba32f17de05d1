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
});
