import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';

const DASHBOARD = '{ dashboard { userCount roleCount groupCount tenantCount pendingSyncCount } }';
const AUDIT_EVENTS = /* GraphQL */ `
  query Audit($first: Int, $after: String, $filter: AuditEventFilter) {
    auditEvents(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id at actorId action targetType targetId tenantId status details } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;
const AUDIT_EVENTS_BOTH_WAYS = /* GraphQL */ `
  query AuditBothWays($first: Int, $after: String, $last: Int, $before: String, $filter: AuditEventFilter) {
    auditEvents(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
      edges { cursor node { action } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;
const AUDIT_EVENTS_WITH_TOTAL = AUDIT_EVENTS.replace('pageInfo {', 'totalCount pageInfo {');

describe('dashboard and auditEvents', () => {
  let gateway: TestGateway;
  let token: string;
  let adminId: string;
  let roleUserId: string;

  beforeAll(async () => {
    gateway = await startTestGateway();
    // An administrator of this file's own: Keycloak rejects concurrent logins of one account
    // (keycloak/keycloak#48272), which the shared bootstrap admin would get from parallel test files.
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    token = (await passwordGrant(admin.email, admin.password)).access_token;
    adminId = admin.id;
    [{ id: roleUserId }] = await sql<{ id: string }>(`select id from realm_roles where name = 'role_user'`);
  });
  afterAll(() => gateway?.close());

  /** A signed-in user with these realm roles, mirrored on first sight. */
  async function signIn(realmRoles: string[]) {
    const user = await createKeycloakUser({ realmRoles });
    const userToken = (await passwordGrant(user.email, user.password)).access_token;
    await gateway.graphql('{ me { user { id } } }', { token: userToken });
    return { ...user, token: userToken };
  }

  /** createUser, updateUser, setUserPassword and deleteUser on one new user, through the gateway. */
  async function userLifecycle(): Promise<string> {
    const email = `audited-${randomUUID().slice(0, 8)}@example.test`;
    const created = await gateway.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', {
      token,
      variables: { input: { email, firstName: 'Ann', lastName: 'Audit', password: 'Str0ng-password', roleIds: [roleUserId] } },
    });
    const id = created.data!.createUser.user.id as string;
    for (const [mutation, variables] of [
      [
        'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { message } }',
        { id, input: { email, firstName: 'Ann', lastName: 'Audited' } },
      ],
      ['mutation($id: ID!, $p: String!) { setUserPassword(userId: $id, password: $p) { message } }', { id, p: 'An0ther-password' }],
      ['mutation($id: ID!) { deleteUser(id: $id) { message } }', { id }],
    ] as const) {
      expect((await gateway.graphql(mutation, { token, variables })).errors).toBeUndefined();
    }
    return id;
  }

  describe('dashboard', () => {
    it('counts users, roles (not privileges), groups, tenants and users waiting for sync, from PostgreSQL', async () => {
      // Users whose sync is still due, as sign-up leaves them while Keycloak is down.
      await sql(
        `insert into users (id, username, email, first_name, last_name, attributes, sync_status, created_at, updated_at)
         select gen_random_uuid(), e, e, 'Pending', 'Sync', '{}', s, now(), now()
           from (values ('PENDING'), ('FAILED')) v(s), lateral (select lower(s) || '-' || gen_random_uuid() || '@example.test' as e) m`,
      );
      await gateway.graphql('mutation { createTenant(input: { name: "Counted" }) { message } }', { token });

      const inPostgres = async () =>
        (
          await sql(
            `select (select count(*)::int from users) as "userCount",
                    (select count(*)::int from realm_roles where name like 'role\\_%') as "roleCount",
                    (select count(*)::int from groups) as "groupCount",
                    (select count(*)::int from tenants) as "tenantCount",
                    (select count(*)::int from users where sync_status <> 'SYNCED') as "pendingSyncCount"`,
          )
        )[0];
      // Other test files write to the same database: compare against a moment nothing moved.
      let answer: unknown;
      let expected: unknown;
      for (let attempt = 0; attempt < 50; attempt++) {
        const before = await inPostgres();
        answer = (await gateway.graphql(DASHBOARD, { token })).data?.dashboard;
        expected = await inPostgres();
        if (isDeepStrictEqual(before, expected)) break;
      }
      expect(answer).toEqual(expected);
      expect(answer).toMatchObject({ roleCount: expect.any(Number), tenantCount: expect.any(Number) });
      const counts = answer as Record<string, number>;
      expect(counts.pendingSyncCount).toBeGreaterThanOrEqual(2);
      expect(counts.roleCount).toBeGreaterThanOrEqual(4); // role_admin, role_manager, role_user, role_premium
      expect(counts.tenantCount).toBeGreaterThanOrEqual(1);
    });

    it('is FORBIDDEN without ROLE_ADMIN, even with priv_user_management or role_manager', async () => {
      for (const roles of [['priv_user_management'], ['role_manager']]) {
        const caller = await signIn(roles);
        const response = await gateway.graphql(DASHBOARD, { token: caller.token });
        expect(response.errors?.[0]?.extensions.code, roles.join()).toBe('FORBIDDEN');
      }
    });
  });

  describe('auditEvents', () => {
    it('lists what the user operations wrote, newest first, page by page, with totalCount', async () => {
      const userId = await userLifecycle();

      const first = await gateway.graphql(AUDIT_EVENTS_WITH_TOTAL, { token, variables: { first: 3, filter: { targetId: userId } } });
      expect(first.errors).toBeUndefined();
      expect(first.data!.auditEvents.totalCount).toBe(4);
      expect(first.data!.auditEvents.pageInfo.hasNextPage).toBe(true);
      const second = await gateway.graphql(AUDIT_EVENTS, {
        token,
        variables: { first: 3, after: first.data!.auditEvents.pageInfo.endCursor, filter: { targetId: userId } },
      });
      expect(second.data!.auditEvents.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });

      const nodes = [...first.data!.auditEvents.edges, ...second.data!.auditEvents.edges].map((edge: any) => edge.node);
      expect(nodes.map((node) => node.action)).toEqual(['USER_DELETE', 'USER_SET_PASSWORD', 'USER_UPDATE', 'USER_CREATE']);
      for (const node of nodes) {
        expect(node).toMatchObject({ actorId: adminId, targetType: 'User', targetId: userId, tenantId: null, status: 'SUCCEEDED' });
      }
      expect(nodes[2].details).toMatchObject({ changes: { lastName: { from: 'Audit', to: 'Audited' } } });
      expect(nodes[1].details).toEqual({ email: expect.any(String), temporary: false });
      expect(JSON.stringify(nodes)).not.toContain('An0ther-password');
    });

    it('pages backward with last and before to exactly the events paging forward showed, newest first', async () => {
      const filter = { targetId: await userLifecycle() };
      const page = async (variables: Record<string, unknown>) => {
        const response = await gateway.graphql(AUDIT_EVENTS_BOTH_WAYS, { token, variables: { ...variables, filter } });
        expect(response.errors).toBeUndefined();
        const { edges, pageInfo } = response.data!.auditEvents;
        return {
          actions: edges.map((edge: any) => edge.node.action) as string[],
          cursors: edges.map((edge: any) => edge.cursor),
          pageInfo,
        };
      };
      const newestFirst = ['USER_DELETE', 'USER_SET_PASSWORD', 'USER_UPDATE', 'USER_CREATE'];

      const first = await page({ first: 2 });
      const second = await page({ first: 2, after: first.pageInfo.endCursor });
      expect([first.actions, second.actions]).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2)]);
      expect(second.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });

      const oldest = await page({ last: 2 });
      expect(oldest).toEqual(second);
      const newest = await page({ last: 2, before: oldest.pageInfo.startCursor });
      expect(newest.actions).toEqual(first.actions);
      expect(newest.cursors).toEqual(first.cursors);
      expect(newest.pageInfo).toEqual({ ...first.pageInfo, hasPreviousPage: false, hasNextPage: true });
      expect((await page({ last: 3, before: second.pageInfo.endCursor })).actions).toEqual(newestFirst.slice(0, 3));

      const mixed = await gateway.graphql(AUDIT_EVENTS_BOTH_WAYS, { token, variables: { first: 2, last: 2, filter } });
      expect(mixed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { first: expect.any(String) } });
    });

    it('filters by action, actor, status, tenant and time', async () => {
      const userId = await userLifecycle();
      const startedAt = new Date(Date.now() - 60_000).toISOString();
      const owner = await signIn(['role_user']);
      const tenant = await gateway.graphql('mutation { createTenant(input: { name: "Audited" }) { tenant { id } } }', {
        token: owner.token,
      });
      const tenantId = tenant.data!.createTenant.tenant.id;

      const actions = async (filter: Record<string, unknown>) =>
        ((await gateway.graphql(AUDIT_EVENTS, { token, variables: { filter } })).data!.auditEvents.edges as any[]).map(
          (e) => e.node.action,
        );

      expect(await actions({ targetId: userId, action: 'USER_UPDATE' })).toEqual(['USER_UPDATE']);
      expect(await actions({ targetId: userId, actorId: adminId, status: 'SUCCEEDED', since: startedAt })).toHaveLength(4);
      expect(await actions({ targetId: userId, status: 'FAILED' })).toEqual([]);
      expect(await actions({ targetId: userId, since: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
      expect(await actions({ tenantId })).toEqual(['TENANT_CREATE']);
      expect(await actions({ actorId: owner.id })).toEqual(['TENANT_CREATE']);
    });

    it('counts the total only when asked for it', async () => {
      const statements: string[] = [];
      gateway.app.orm.config.set('onQuery', (statement: string) => {
        statements.push(statement);
        return statement;
      });
      try {
        await gateway.graphql(AUDIT_EVENTS, { token, variables: { first: 1 } });
        expect(statements.filter((s) => s.includes('count(*)'))).toEqual([]);
        await gateway.graphql(AUDIT_EVENTS_WITH_TOTAL, { token, variables: { first: 1 } });
        expect(statements.filter((s) => s.includes('count(*)'))).toHaveLength(1);
      } finally {
        gateway.app.orm.config.set('onQuery', (statement: string) => statement);
      }
    });

    it('answers BAD_USER_INPUT for a malformed id filter or cursor, naming it', async () => {
      for (const [variables, field] of [
        [{ filter: { actorId: 'admin' } }, 'actorId'],
        [{ filter: { tenantId: 'acme' } }, 'tenantId'],
        [{ after: 'not-a-cursor' }, 'after'],
        [{ first: 0 }, 'first'],
      ] as const) {
        const response = await gateway.graphql(AUDIT_EVENTS, { token, variables });
        expect(response.errors?.[0]?.extensions, field).toMatchObject({
          code: 'BAD_USER_INPUT',
          fieldErrors: { [field]: expect.any(String) },
        });
      }
    });

    it('is open to role_manager, FORBIDDEN to a plain user or priv_user_management alone', async () => {
      const manager = await signIn(['role_manager']);
      expect((await gateway.graphql(AUDIT_EVENTS, { token: manager.token, variables: { first: 1 } })).errors).toBeUndefined();
      for (const roles of [['role_user'], ['priv_user_management']]) {
        const caller = await signIn(roles);
        const response = await gateway.graphql(AUDIT_EVENTS, { token: caller.token });
        expect(response.errors?.[0]?.extensions.code, roles.join()).toBe('FORBIDDEN');
      }
    });
  });

  it('users can be filtered by tenant', async () => {
    const owner = await signIn(['role_user']);
    await signIn(['role_user']); // not a member
    const tenant = await gateway.graphql('mutation { createTenant(input: { name: "Members" }) { tenant { id } } }', { token: owner.token });
    const response = await gateway.graphql('query($f: UserFilter) { users(filter: $f) { totalCount edges { node { id } } } }', {
      token,
      variables: { f: { tenantId: tenant.data!.createTenant.tenant.id } },
    });
    expect(response.data!.users).toEqual({ totalCount: 1, edges: [{ node: { id: owner.id } }] });
  });
});
