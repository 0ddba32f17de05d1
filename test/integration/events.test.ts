import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusingWritesIn } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { newEmail, registerWhileUnreachable } from '../support/sync.js';

// The reconciler mirrors every user of its realm: this file has a realm and a database of its
// own. The gateway reaches Keycloak through a proxy the sync test cuts.
let backends: IsolatedBackends;
let proxy: KeycloakProxy;
let gateway: TestGateway;
let adminToken: string;
let adminId: string;
let roleUser: string;
beforeAll(async () => {
  backends = await isolatedBackends('events');
  proxy = await startKeycloakProxy(backends.config.keycloak.url);
  gateway = await startTestGateway(() => ({ ...backends.config, keycloak: { ...backends.config.keycloak, url: proxy.url } }));
  const admin = backends.config.bootstrapAdmin!;
  adminToken = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
  adminId = (await gateway.graphql('{ me { user { id } } }', { token: adminToken })).data!.me.user.id;
  [{ id: roleUser }] = await backends.sql<{ id: string }>("select id from realm_roles where name = 'role_user'");
});
afterAll(async () => {
  await gateway?.close();
  await proxy?.close();
  await backends?.close();
});

const EVENTS = /* GraphQL */ `
  query Events($first: Int, $after: String, $filter: EventFilter) {
    events(first: $first, after: $after, filter: $filter) {
      edges { cursor node { id type origin actorId subjectType subjectId tenantId occurredAt before after } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

interface EventNode {
  id: string;
  type: string;
  origin: string;
  actorId: string | null;
  subjectType: string;
  subjectId: string;
  tenantId: string | null;
  occurredAt: string;
  before: Record<string, any> | null;
  after: Record<string, any> | null;
}

const BACKWARD = /* GraphQL */ `
  query Newest($first: Int, $last: Int, $before: String, $filter: EventFilter) {
    events(first: $first, last: $last, before: $before, filter: $filter) {
      edges { cursor node { id type origin actorId subjectType subjectId tenantId occurredAt before after } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

const backwardPage = (variables: Record<string, unknown>) => gateway.graphql(BACKWARD, { token: adminToken, variables });

async function eventsPage(variables: Record<string, unknown>, token = adminToken) {
  const response = await gateway.graphql(EVENTS, { token, variables });
  return response;
}

/** Every event the filter matches, page by page, as a consumer polling from the start reads them. */
async function allEvents(filter: Record<string, unknown>, token = adminToken): Promise<EventNode[]> {
  const nodes: EventNode[] = [];
  let after: string | null = null;
  for (;;) {
    const response = await eventsPage({ first: 2, after, filter }, token);
    expect(response.errors).toBeUndefined();
    const { edges, pageInfo } = response.data!.events;
    nodes.push(...edges.map((edge: { node: EventNode }) => edge.node));
    if (!pageInfo.hasNextPage) return nodes;
    after = pageInfo.endCursor;
  }
}

const typesOf = (events: EventNode[]) => events.map((event) => event.type);

const reconcile = async () => {
  const run = await gateway.app.jobs.reconcile();
  expect(run, 'the reconciler lease was free').not.toBeNull();
  return run!;
};

async function createUser(password = `Pw-${randomUUID()}-9a`) {
  const email = newEmail('events');
  const response = await gateway.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id email } } }', {
    token: adminToken,
    variables: { input: { email, firstName: 'Grace', lastName: 'Hopper', password } },
  });
  expect(response.errors).toBeUndefined();
  return { ...(response.data!.createUser.user as { id: string; email: string }), password };
}

async function updateUser(id: string, input: Record<string, unknown>) {
  const response = await gateway.graphql(
    'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }',
    {
      token: adminToken,
      variables: { id, input },
    },
  );
  expect(response.errors).toBeUndefined();
}

describe('identity events of changes made through the gateway', () => {
  it('a user created, updated, given a role and deleted: events in that order, origin GATEWAY, with the actor and the states', async () => {
    const user = await createUser();
    await updateUser(user.id, { firstName: 'Ada' });
    await updateUser(user.id, { roleIdsToAdd: [roleUser] });
    const deleted = await gateway.graphql('mutation($id: ID!) { deleteUser(id: $id) { message } }', {
      token: adminToken,
      variables: { id: user.id },
    });
    expect(deleted.errors).toBeUndefined();

    const events = await allEvents({ subjectId: user.id });
    expect(typesOf(events)).toEqual(['USER_CREATED', 'USER_UPDATED', 'USER_ROLES_CHANGED', 'USER_DELETED']);
    for (const event of events) {
      expect(event).toMatchObject({ origin: 'GATEWAY', actorId: adminId, subjectType: 'User', subjectId: user.id, tenantId: null });
    }
    const [created, updated, roles, gone] = events as [EventNode, EventNode, EventNode, EventNode];
    expect(created.before).toBeNull();
    expect(created.after).toMatchObject({ id: user.id, email: user.email, firstName: 'Grace', lastName: 'Hopper', enabled: true });
    expect([updated.before!.firstName, updated.after!.firstName]).toEqual(['Grace', 'Ada']);
    expect(roles.before).toEqual({ roles: [] });
    expect(roles.after).toEqual({ roles: [{ id: roleUser, name: 'role_user' }] });
    expect(gone.before).toMatchObject({ id: user.id, firstName: 'Ada' });
    expect(gone.after).toBeNull();
    // Never a secret: the password given at creation is nowhere in the events.
    expect(JSON.stringify(events)).not.toContain(user.password);
    const times = events.map((event) => Date.parse(event.occurredAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('a role and a group created, a member added, both deleted: GATEWAY events, and reconciliation reports none of them again', async () => {
    const role = await gateway.graphql('mutation($input: CreateRoleInput!) { createRole(input: $input) { role { id name } } }', {
      token: adminToken,
      variables: { input: { roleName: `events_${randomUUID().slice(0, 6).replace(/-/g, '')}`, description: 'for the events test' } },
    });
    expect(role.errors).toBeUndefined();
    const { id: roleId, name: roleName } = role.data!.createRole.role;
    const group = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: adminToken,
      variables: { input: { groupName: `events-${randomUUID().slice(0, 6)}`, roleIds: [roleId] } },
    });
    expect(group.errors).toBeUndefined();
    const groupId: string = group.data!.createGroup.group.id;
    const user = await createUser();
    const added = await gateway.graphql(
      'mutation($id: ID!, $input: UpdateGroupUsersInput!) { updateGroupUsers(id: $id, input: $input) { message } }',
      {
        token: adminToken,
        variables: { id: groupId, input: { userIdsToAdd: [user.id] } },
      },
    );
    expect(added.errors).toBeUndefined();
    await reconcile();
    await reconcile();

    const roleEvents = await allEvents({ subjectId: roleId });
    expect(roleEvents.map(({ type, origin, actorId }) => ({ type, origin, actorId }))).toEqual([
      { type: 'ROLE_CREATED', origin: 'GATEWAY', actorId: adminId },
    ]);
    expect(roleEvents[0]!.after).toMatchObject({ id: roleId, name: roleName, kind: 'ROLE', description: 'for the events test' });
    const groupEvents = await allEvents({ subjectId: groupId });
    expect(groupEvents.map(({ type, origin }) => ({ type, origin }))).toEqual([
      { type: 'GROUP_CREATED', origin: 'GATEWAY' },
      { type: 'GROUP_MEMBERS_CHANGED', origin: 'GATEWAY' },
    ]);
    expect(groupEvents[0]!.after).toMatchObject({ id: groupId, roleIds: [roleId] });
    expect([groupEvents[1]!.before, groupEvents[1]!.after]).toEqual([
      { memberCount: 0 },
      { memberCount: 1, addedMemberIds: [user.id], removedMemberIds: [] },
    ]);
    const userEvents = await allEvents({ subjectId: user.id, types: ['USER_GROUPS_CHANGED'] });
    expect(userEvents.map((event) => event.after)).toEqual([{ groups: [{ id: groupId, name: expect.any(String) }] }]);

    for (const [mutation, id] of [
      ['deleteGroup', groupId],
      ['deleteRole', roleId],
    ] as const) {
      const deleted = await gateway.graphql(`mutation($id: ID!) { ${mutation}(id: $id) { message } }`, {
        token: adminToken,
        variables: { id },
      });
      expect(deleted.errors).toBeUndefined();
    }
    expect(typesOf(await allEvents({ subjectId: groupId }))).toEqual(['GROUP_CREATED', 'GROUP_MEMBERS_CHANGED', 'GROUP_DELETED']);
    expect(typesOf(await allEvents({ subjectId: roleId }))).toEqual(['ROLE_CREATED', 'ROLE_DELETED']);
    // Leaving the deleted group changed the user's groups too.
    expect(typesOf(await allEvents({ subjectId: user.id, types: ['USER_GROUPS_CHANGED'] }))).toEqual([
      'USER_GROUPS_CHANGED',
      'USER_GROUPS_CHANGED',
    ]);
  });

  it("ending a user's sessions: USER_SESSIONS_ENDED, origin GATEWAY, with the actor", async () => {
    const user = await createUser();
    const ended = await gateway.graphql('mutation($userId: ID!) { endUserSessions(userId: $userId) { message } }', {
      token: adminToken,
      variables: { userId: user.id },
    });
    expect(ended.errors).toBeUndefined();
    const events = await allEvents({ subjectId: user.id, types: ['USER_SESSIONS_ENDED'] });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ origin: 'GATEWAY', actorId: adminId, subjectType: 'User', before: null, after: { id: user.id } });
  });

  it('a failing local write leaves neither the mirror change nor its event', async () => {
    const email = newEmail('atomic');
    const response = await refusingWritesIn(backends.sql, 'insert', 'users', 'email', email, () =>
      gateway.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', {
        token: adminToken,
        variables: { input: { email, firstName: 'No', lastName: 'Trace', password: 'Str0ng-password' } },
      }),
    );
    expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
    await gateway.app.outbox.relayNow();
    expect(await backends.sql('select id from users where email = $1', [email])).toEqual([]);
    expect(await backends.sql(`select id from identity_events where after->>'email' = $1 or before->>'email' = $1`, [email])).toEqual([]);
  });

  it('a consumer polls from its last cursor: it gets what committed since, and nothing twice', async () => {
    const first = await createUser();
    const page = await eventsPage({ filter: { types: ['USER_CREATED'] }, first: 200 });
    expect(page.errors).toBeUndefined();
    let cursor: string = page.data!.events.edges.at(-1).cursor;
    let hasNext = page.data!.events.pageInfo.hasNextPage;
    while (hasNext) {
      const next = await eventsPage({ filter: { types: ['USER_CREATED'] }, first: 200, after: cursor });
      cursor = next.data!.events.pageInfo.endCursor ?? cursor;
      hasNext = next.data!.events.pageInfo.hasNextPage;
    }

    // Nothing new yet: an empty page, and the consumer keeps its cursor.
    const idle = await eventsPage({ filter: { types: ['USER_CREATED'] }, after: cursor });
    expect(idle.data!.events).toMatchObject({ edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: true, endCursor: null } });

    const second = await createUser();
    const resumed = await eventsPage({ filter: { types: ['USER_CREATED'] }, after: cursor });
    expect(resumed.data!.events.edges.map((edge: { node: EventNode }) => edge.node.subjectId)).toEqual([second.id]);
    expect(resumed.data!.events.edges.map((edge: { node: EventNode }) => edge.node.subjectId)).not.toContain(first.id);
  });

  it('a screen reads the newest events first, backward (last, before), each page in commit order; both ways at once is refused', async () => {
    const user = await createUser();
    await updateUser(user.id, { firstName: 'One' });
    await updateUser(user.id, { firstName: 'Two' });
    const filter = { subjectId: user.id };
    const forward = await allEvents(filter);
    expect(typesOf(forward)).toEqual(['USER_CREATED', 'USER_UPDATED', 'USER_UPDATED']);
    const ids = (response: Awaited<ReturnType<typeof backwardPage>>) =>
      response.data!.events.edges.map((edge: { node: EventNode }) => edge.node.id);

    const newest = await backwardPage({ last: 2, filter });
    expect(ids(newest)).toEqual([forward[1]!.id, forward[2]!.id]);
    expect(newest.data!.events.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
    const older = await backwardPage({ last: 2, before: newest.data!.events.pageInfo.startCursor, filter });
    expect(ids(older)).toEqual([forward[0]!.id]);
    expect(older.data!.events.pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: true });
    // The newest page's cursor is a consumer's cursor too: forward from it, what commits next.
    await updateUser(user.id, { firstName: 'Three' });
    const next = await eventsPage({ after: newest.data!.events.pageInfo.endCursor, filter });
    expect(typesOf(next.data!.events.edges.map((edge: { node: EventNode }) => edge.node))).toEqual(['USER_UPDATED']);

    const both = await backwardPage({ first: 2, last: 2 });
    expect(both.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: { first: 'not with last or before' } } });
    const none = await backwardPage({ last: 0 });
    expect(none.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: { last: 'must be between 1 and 200' } } });
    const forged = await backwardPage({ last: 1, before: 'not-a-cursor' });
    expect(forged.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: { before: 'invalid cursor' } } });
  });

  it('refuses a cursor of another list, and filters by origin and type', async () => {
    const audit = await gateway.graphql('{ auditEvents(first: 1) { edges { cursor } } }', { token: adminToken });
    const refused = await eventsPage({ after: audit.data!.auditEvents.edges[0].cursor });
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fieldErrors: { after: 'invalid cursor' } } });
    const tooMany = await eventsPage({ first: 201 });
    expect(tooMany.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');

    const user = await createUser();
    expect(typesOf(await allEvents({ subjectId: user.id, origin: 'KEYCLOAK' }))).toEqual([]);
    expect(typesOf(await allEvents({ subjectId: user.id, origin: 'GATEWAY', types: ['USER_CREATED', 'USER_DELETED'] }))).toEqual([
      'USER_CREATED',
    ]);
  });

  it('node(id:) refetches an event under the rule of events', async () => {
    const user = await createUser();
    const [created] = await allEvents({ subjectId: user.id });
    const response = await gateway.graphql('query($id: ID!) { node(id: $id) { __typename ... on IdentityEvent { type subjectId } } }', {
      token: adminToken,
      variables: { id: created!.id },
    });
    expect(response.data!.node).toEqual({ __typename: 'IdentityEvent', type: 'USER_CREATED', subjectId: user.id });
  });
});

describe('identity events of changes made elsewhere', () => {
  const admin = <T = unknown>(method: string, path: string, body?: unknown) => keycloakAdmin<T>(method, path, body, backends.realm);

  it('a user changed directly in Keycloak: USER_UPDATED with origin KEYCLOAK after reconciliation; a gateway change is not reported twice', async () => {
    const user = await createUser();
    await updateUser(user.id, { lastName: 'Through-the-gateway' });
    // Reconciliation sees the gateway's own writes, once they are settled too: nothing to report.
    await reconcile();
    await reconcile();
    expect(typesOf(await allEvents({ subjectId: user.id }))).toEqual(['USER_CREATED', 'USER_UPDATED']);

    const current = (await admin<Record<string, unknown>>('GET', `/users/${user.id}`)).body;
    await admin('PUT', `/users/${user.id}`, { ...current, firstName: 'Console' });
    await reconcile();
    await reconcile();

    const events = await allEvents({ subjectId: user.id });
    expect(typesOf(events)).toEqual(['USER_CREATED', 'USER_UPDATED', 'USER_UPDATED']);
    expect(events[2]).toMatchObject({ origin: 'KEYCLOAK', actorId: null });
    expect([events[2]!.before!.firstName, events[2]!.after!.firstName]).toEqual(['Grace', 'Console']);
  });

  it('a user created in Keycloak with a role, then deleted there: KEYCLOAK events after reconciliation', async () => {
    const email = newEmail('console');
    const created = await admin('POST', '/users', { username: email, email, firstName: 'Test', lastName: 'Console', enabled: true });
    const id = created.location!.split('/').at(-1)!;
    const role = (await admin('GET', '/roles/role_user')).body;
    await admin('POST', `/users/${id}/role-mappings/realm`, [role]);
    await reconcile();
    await admin('DELETE', `/users/${id}`);
    await reconcile();

    const events = await allEvents({ subjectId: id });
    expect(typesOf(events)).toEqual(['USER_CREATED', 'USER_ROLES_CHANGED', 'USER_DELETED']);
    expect(events.every((event) => event.origin === 'KEYCLOAK' && event.actorId === null)).toBe(true);
    expect(events[0]!.after).toMatchObject({ id, email });
  });

  it("the sync job's events have origin SYNC", async () => {
    const email = newEmail('offline');
    const pending = await registerWhileUnreachable(gateway, adminToken, proxy, {
      email,
      firstName: 'Offline',
      lastName: 'Registrant',
      roleIds: [roleUser],
    });
    const run = await gateway.app.jobs.syncPendingUsers();
    expect(run.synced).toBe(1);
    const [{ id: keycloakId }] = await backends.sql<{ id: string }>('select id from users where email = $1', [email]);
    expect(keycloakId).not.toBe(pending.id);

    // Kept locally by the gateway's mutation, then given Keycloak's id by the sync job.
    const local = await allEvents({ subjectId: pending.id });
    expect(local.map(({ type, origin, actorId }) => ({ type, origin, actorId }))).toEqual([
      { type: 'USER_CREATED', origin: 'GATEWAY', actorId: adminId },
      { type: 'USER_ROLES_CHANGED', origin: 'GATEWAY', actorId: adminId },
      { type: 'USER_DELETED', origin: 'SYNC', actorId: adminId },
    ]);
    const synced = await allEvents({ subjectId: keycloakId });
    expect(synced.map(({ type, origin }) => ({ type, origin }))).toEqual([
      { type: 'USER_CREATED', origin: 'SYNC' },
      { type: 'USER_ROLES_CHANGED', origin: 'SYNC' },
    ]);
    expect(synced[0]!.after).toMatchObject({ id: keycloakId, email });
  });
});

describe('who reads identity events', () => {
  const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
  const INVITE = 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token invitation { id } } }';
  const ACCEPT = 'mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { user { id } } }';

  async function signedIn() {
    const user = await createKeycloakUser({ realm: backends.realm });
    const token = (await passwordGrant(user.email, user.password, backends.realm)).access_token;
    expect((await gateway.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
    return { ...user, token };
  }

  async function tenantOf(owner: { token: string }) {
    const created = await gateway.graphql(CREATE_TENANT, { token: owner.token, variables: { name: `Events ${randomUUID().slice(0, 6)}` } });
    expect(created.errors).toBeUndefined();
    return created.data!.createTenant.tenant.id as string;
  }

  async function join(owner: { token: string }, tenantId: string, member: { email: string; token: string }, role: string) {
    const invited = await gateway.graphql(INVITE, { token: owner.token, variables: { input: { tenantId, email: member.email, role } } });
    expect(invited.errors).toBeUndefined();
    const accepted = await gateway.graphql(ACCEPT, {
      token: member.token,
      variables: { input: { token: invited.data!.createInvitation.token } },
    });
    expect(accepted.errors).toBeUndefined();
    return invited.data!.createInvitation as { token: string; invitation: { id: string } };
  }

  // Two tenants: the first with an OWNER, an ADMIN and a MEMBER who joined by invitation.
  type SignedIn = Awaited<ReturnType<typeof signedIn>>;
  let owner: SignedIn;
  let tenantAdmin: SignedIn;
  let member: SignedIn;
  let otherOwner: SignedIn;
  let tenantId: string;
  let otherTenantId: string;
  let adminInvitation: { token: string; invitation: { id: string } };
  beforeAll(async () => {
    [owner, tenantAdmin, member, otherOwner] = [await signedIn(), await signedIn(), await signedIn(), await signedIn()];
    tenantId = await tenantOf(owner);
    otherTenantId = await tenantOf(otherOwner);
    adminInvitation = await join(owner, tenantId, tenantAdmin, 'ADMIN');
    await join(owner, tenantId, member, 'MEMBER');
  });

  it("a tenant's ADMIN sees its tenant's events, in order, with no invitation token or hash", async () => {
    const seen = await allEvents({ tenantId }, tenantAdmin.token);
    expect(seen.every((event) => event.tenantId === tenantId)).toBe(true);
    expect(typesOf(seen)).toEqual([
      'TENANT_CREATED',
      'MEMBERSHIP_CREATED',
      'INVITATION_CREATED',
      'INVITATION_ACCEPTED',
      'MEMBERSHIP_CREATED',
      'INVITATION_CREATED',
      'INVITATION_ACCEPTED',
      'MEMBERSHIP_CREATED',
    ]);
    expect(seen.filter((event) => event.type === 'MEMBERSHIP_CREATED').map((event) => [event.subjectId, event.after!.role])).toEqual([
      [owner.id, 'OWNER'],
      [tenantAdmin.id, 'ADMIN'],
      [member.id, 'MEMBER'],
    ]);
    // The invitation's token and its stored hash are in no event.
    const [{ token_hash: hash }] = await backends.sql<{ token_hash: string }>('select token_hash from invitations where id = $1', [
      adminInvitation.invitation.id,
    ]);
    expect(JSON.stringify(seen)).not.toContain(hash);
    expect(JSON.stringify(seen)).not.toContain(adminInvitation.token);
    for (const event of seen.filter((event) => event.subjectType === 'Invitation')) {
      expect(Object.keys({ ...event.before, ...event.after }).sort()).toEqual(
        ['acceptedAt', 'createdAt', 'email', 'expiresAt', 'id', 'invitedBy', 'role', 'status', 'tenantId'].sort(),
      );
    }
  });

  it("a tenant's ADMIN is refused another tenant's events and every tenant's at once; a MEMBER is refused", async () => {
    for (const [token, filter] of [
      [tenantAdmin.token, { tenantId: otherTenantId }],
      [tenantAdmin.token, {}],
      [member.token, { tenantId }],
      [otherOwner.token, { tenantId }],
    ] as const) {
      const refused = await eventsPage({ filter }, token);
      expect(refused.errors?.[0]?.extensions.code, JSON.stringify(filter)).toBe('FORBIDDEN');
      expect(refused.data).toBeNull();
    }
    // The other tenant's owner sees its own tenant's events, none of the first tenant's.
    const others = await allEvents({ tenantId: otherTenantId }, otherOwner.token);
    expect(typesOf(others)).toEqual(['TENANT_CREATED', 'MEMBERSHIP_CREATED']);
  });
});
