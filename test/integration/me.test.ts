import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { UserEntity } from '../../src/modules/users/user.entity.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const ME = /* GraphQL */ `
  query Me {
    me {
      id
      roles
      privileges
      user { id username email firstName lastName enabled emailVerified syncStatus createdAt }
    }
  }
`;

describe('me', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway?.close());

  it('answers the caller from a token Keycloak issued, and mirrors them into PostgreSQL on first sight', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_manager'] });
    const { access_token } = await passwordGrant(user.email, user.password);

    const response = await gateway.graphql(ME, { token: access_token });

    expect(response.errors).toBeUndefined();
    expect(response.data!.me).toMatchObject({
      id: user.id,
      roles: ['role_manager'],
      privileges: [],
      user: {
        id: user.id,
        username: user.email,
        email: user.email,
        firstName: user.firstName,
        lastName: user.lastName,
        enabled: true,
        emailVerified: true,
        syncStatus: 'SYNCED',
      },
    });
    const row = await gateway.app.orm.em.fork().findOne(UserEntity, { id: user.id });
    expect(row).toMatchObject({ email: user.email, firstName: user.firstName, lastName: user.lastName, syncStatus: 'SYNCED' });
  });

  it('refreshes the local record when the token carries changed claims', async () => {
    const user = await createKeycloakUser();
    await gateway.graphql(ME, { token: (await passwordGrant(user.email, user.password)).access_token });

    await keycloakAdmin('PUT', `/users/${user.id}`, { firstName: 'Renamed', lastName: 'Person' });
    // Token claims win over the record only from a later second than its last write (`iat` counts seconds):
    // the record as if written two seconds ago, rather than waiting for the clock to pass a second.
    await gateway.app.orm.em
      .fork()
      .getConnection()
      .execute(`update users set updated_at = updated_at - interval '2 seconds' where id = ?`, [user.id]);
    const response = await gateway.graphql(ME, { token: (await passwordGrant(user.email, user.password)).access_token });

    expect(response.data!.me.user).toMatchObject({ firstName: 'Renamed', lastName: 'Person' });
    const row = await gateway.app.orm.em.fork().findOneOrFail(UserEntity, { id: user.id });
    expect([row.firstName, row.lastName]).toEqual(['Renamed', 'Person']);
  });

  it('gives an admin every privilege through the role_admin composite', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const response = await gateway.graphql(ME, { token: (await passwordGrant(user.email, user.password)).access_token });
    expect(response.data!.me.roles).toEqual(['role_admin']);
    expect(response.data!.me.privileges).toEqual(['priv_code_review', 'priv_user_management', 'priv_view_reports']);
  });

  it('answers UNAUTHENTICATED without a token, with a garbage token, and with an ID token', async () => {
    const user = await createKeycloakUser();
    const tokens = await passwordGrant(user.email, user.password);
    for (const token of [undefined, 'not-a-jwt', tokens.id_token, tokens.refresh_token]) {
      const response = await gateway.graphql(ME, { token });
      expect(response.data).toBeNull();
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    }
  });

  it('works through a real Apollo Client, as a frontend would call it', async () => {
    const user = await createKeycloakUser();
    const { access_token } = await passwordGrant(user.email, user.password);
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.from([
        new ApolloLink((operation, forward) => {
          operation.setContext({ headers: { authorization: `Bearer ${access_token}` } });
          return forward(operation);
        }),
        new HttpLink({ uri: gateway.url }),
      ]),
    });
    const { data } = await client.query<{ me: { user: { id: string; email: string } } }>({
      query: gql`
        query MeFromApolloClient {
          me {
            user { id email }
          }
        }
      `,
    });
    expect(data?.me.user).toMatchObject({ id: user.id, email: user.email });
  });

  it('has the caller’s id, so that Apollo Client caches me as one object that two queries fill in', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_manager'] });
    const { access_token } = await passwordGrant(user.email, user.password);
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: new HttpLink({ uri: gateway.url, headers: { authorization: `Bearer ${access_token}` } }),
    });
    const roles = gql`
      query MyRoles {
        me { id roles }
      }
    `;
    const profile = gql`
      query MyProfile {
        me { id user { id email } }
      }
    `;
    await client.query({ query: roles });
    await client.query({ query: profile });

    const cached = client.cache.extract() as Record<string, Record<string, unknown>>;
    expect(cached[`Me:${user.id}`]).toMatchObject({ id: user.id, roles: ['role_manager'], user: { __ref: `User:${user.id}` } });
    // The first query's answer is still whole in the cache: the second filled in, not replaced.
    expect(client.readQuery<{ me: { id: string; roles: string[] } }>({ query: roles })?.me).toEqual({
      __typename: 'Me',
      id: user.id,
      roles: ['role_manager'],
    });
  });
});
