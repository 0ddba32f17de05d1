import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

const USERS = /* GraphQL */ `
  query Users($first: Int, $filter: UserFilter) {
    users(first: $first, filter: $filter) {
      edges {
        node {
          id roles { privileges { id name } } groups { roles { id name } } effectivePrivileges { id name }
          privilegeGrants { privilege { id name } paths { steps { kind id name } } }
        }
      }
    }
  }
`;

/**
 * Statements are counted with MikroORM's `onQuery` hook, set on this gateway's own ORM:
 * every statement the gateway sends passes through it, whatever builds it (plain-row SQL
 * or the ORM), and no other test's gateway shares that ORM. Keycloak calls are counted
 * by a proxy the gateway is pointed at.
 */
describe('reading a page of users with roles, groups and privileges', () => {
  const marker = `reader-${randomUUID().slice(0, 8)}`;
  let proxy: KeycloakProxy;
  let gateway: TestGateway;
  let token: string;
  let adminId: string;
  const statements: string[] = [];

  beforeAll(async () => {
    proxy = await startKeycloakProxy(inject('config').keycloak.url);
    gateway = await startTestGateway((config) => ({ ...config, keycloak: { ...config.keycloak, url: proxy.url } }));
    // An administrator of this file's own: Keycloak rejects concurrent logins of one account
    // (keycloak/keycloak#48272), which the shared bootstrap admin would get from parallel test files.
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    token = (await passwordGrant(admin.email, admin.password)).access_token;
    adminId = admin.id;

    const roles = Object.fromEntries(
      (await sql<{ id: string; name: string }>('select id, name from realm_roles')).map((role) => [role.name, role]),
    );
    const groupIds: string[] = [];
    for (const name of [`${marker}-a`, `${marker}-b`]) {
      const id = (await keycloakAdmin('POST', '/groups', { name })).location!.split('/').at(-1)!;
      await keycloakAdmin('POST', `/groups/${id}/role-mappings/realm`, [roles.role_premium, roles.priv_code_review]);
      groupIds.push(id);
    }
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

    // The read path never calls Keycloak, so mirror-only users are enough, and far faster.
    // created_at keeps millisecond precision, as the gateway's own writes do, for the cursors.
    await sql(
      `with seeded as (
         insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
         select gen_random_uuid(), v.email, v.email, 'Reader', 'No ' || i, true, true, '{}', 'SYNCED', v.at, v.at
           from generate_series(1, 120) i,
                lateral (select $1 || '-' || i || '@example.test' as email,
                                date_trunc('milliseconds', now()) + i * interval '1 millisecond' as at) v
         returning id
       ), assigned as (
         insert into user_roles (user_id, role_id)
         select s.id, r.id from seeded s cross join realm_roles r where r.name in ('role_admin', 'role_user')
       )
       insert into user_groups (user_id, group_id) select s.id, g from seeded s cross join unnest($2::uuid[]) g`,
      [marker, groupIds],
    );

    // The caller's own admission (their record and effective roles, src/admission.ts)
    // is no part of the page: its statements, made whenever this process has not the caller
    // cached, are left out. They are the only ones that name the administrator alone.
    // The outbox relay (src/events/outbox.ts) numbers identity events in the background,
    // whenever any test file commits a change: its statements are no part of the page either.
    gateway.app.orm.config.set('onQuery', (statement: string, params: readonly unknown[]) => {
      const values = params.flat();
      if (/identity_events|pg_notify|advisory_xact_lock/.test(statement)) return statement;
      if (!(values.length > 0 && values.every((value) => value === adminId))) statements.push(statement);
      return statement;
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
  });

  async function readPage(first: number) {
    statements.length = 0;
    proxy.requests.length = 0;
    const response = await gateway.graphql(USERS, { token, variables: { first, filter: { search: marker } } });
    expect(response.errors).toBeUndefined();
    return { edges: response.data!.users.edges as { node: any }[], statements: [...statements], keycloakCalls: [...proxy.requests] };
  }

  it('runs the same few SQL statements for 100 users as for 10, and calls Keycloak not once', async () => {
    // The verifier fetches the realm's keys on its first token (and the gateway looks up the
    // administrator it has not seen yet): proof the proxy sees the gateway's Keycloak traffic.
    expect((await readPage(1)).keycloakCalls[0]).toContain('/protocol/openid-connect/certs');
    const ten = await readPage(10);
    const hundred = await readPage(100);

    expect(ten.edges).toHaveLength(10);
    expect(hundred.edges).toHaveLength(100);
    for (const { node } of hundred.edges) {
      expect(node.roles.flatMap((role: any) => role.privileges)).toHaveLength(3); // role_admin's
      expect(node.groups.map((group: any) => group.roles.map((role: any) => role.name))).toEqual([['role_premium'], ['role_premium']]);
      expect(node.effectivePrivileges).toHaveLength(3);
      // priv_code_review three ways: role_admin's, and each group's own mapping.
      expect(node.privilegeGrants.map((grant: any) => [grant.privilege.name, grant.paths.length])).toEqual([
        ['priv_code_review', 3],
        ['priv_user_management', 1],
        ['priv_view_reports', 1],
      ]);
    }

    // One per kind of entity per level: users, their roles, the roles' privileges, groups,
    // the groups' roles, effective privileges, the paths of privilege grants.
    expect(hundred.statements, hundred.statements.join('\n')).toHaveLength(ten.statements.length);
    expect(hundred.statements.length).toBeGreaterThan(0);
    expect(hundred.statements.length).toBeLessThanOrEqual(7);
    expect([...ten.keycloakCalls, ...hundred.keycloakCalls]).toEqual([]);
  });
});
