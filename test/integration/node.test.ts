import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { realmRoleIds, unique } from '../support/directory.js';
import { unlimited } from '../support/gateway.js';
import { adminAccessToken, type TestUser } from '../support/keycloak.js';
import { useTenancy, type TenantOwner } from '../support/tenancy.js';

// node(id:) (contract version 2, the Relay Node interface): every type refetched by the id
// its list query gave, under that query's rule; null, and nothing else, when the caller may
// not see it or nothing has the id.

/** Each type's fields, as its list query gives them: what node(id:) must give the same. */
const FIELDS = {
  User: `id username email firstName lastName enabled emailVerified syncStatus createdAt updatedAt attributes { name values }
    roles { id name } groups { id name } effectivePrivileges { id name } entityCode countryCode tenants { role tenant { id name } }`,
  Role: 'id name displayName description composite privileges { id name } userCount',
  Privilege: 'id name displayName description',
  Group: 'id name userCount roles { id name } privileges { id name } users { edges { node { id email } } }',
  Tenant: 'id name createdAt members { role user { id email } } invitations { id email status }',
  Invitation: 'id email role status createdAt expiresAt acceptedAt tenant { id name } invitedBy { id email }',
  AuditEvent: 'id at actorId action targetType targetId tenantId status details error',
} as const;
type NodeType = keyof typeof FIELDS;

const REFETCH = (type: NodeType) => `query($id: ID!) { node(id: $id) { __typename id ... on ${type} { ${FIELDS[type]} } } }`;
/** Every type's fields at once: what a client that does not know the type asks. */
const REFETCH_ANY = `query($id: ID!) { node(id: $id) { __typename id ${Object.entries(FIELDS)
  .map(([type]) => `... on ${type} { __typename }`)
  .join(' ')} } }`;

describe('node(id:)', () => {
  const tenancy = useTenancy('shared', (config) => ({ ...config, rateLimits: unlimited(config.rateLimits) }));
  const graphql = <T = Record<string, any>>(query: string, options?: Parameters<typeof tenancy.gateway.graphql>[1]) =>
    tenancy.gateway.graphql<T>(query, options);

  let admin: string;
  let ownerA: TenantOwner;
  let ownerB: TenantOwner;
  let manager: TestUser & { token: string };
  let auditor: TestUser & { token: string };
  let plain: TestUser & { token: string };
  let ids: Record<NodeType, string> & { tenantB: string; invitationB: string; eventB: string; systemEvent: string };

  async function invite(owner: TenantOwner, email: string): Promise<string> {
    const response = await graphql('mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { invitation { id } } }', {
      token: owner.token,
      variables: { input: { tenantId: owner.tenant.id, email } },
    });
    expect(response.errors).toBeUndefined();
    return response.data!.createInvitation.invitation.id;
  }

  beforeAll(async () => {
    admin = await adminAccessToken();
    [ownerA, ownerB, manager, auditor, plain] = await Promise.all([
      tenancy.tenantOwner(),
      tenancy.tenantOwner(`Bravo secret ${randomUUID().slice(0, 6)}`),
      tenancy.signedIn(undefined, { realmRoles: ['priv_user_management'] }),
      tenancy.signedIn(undefined, { realmRoles: ['role_manager'] }),
      tenancy.signedIn(),
    ]);
    const [invitationA, invitationB] = await Promise.all([
      invite(ownerA, `${unique('invitee-a-')}@example.test`),
      invite(ownerB, `${unique('invitee-b-')}@example.test`),
    ]);
    const group = await graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: admin,
      variables: { input: { groupName: unique('node-') } },
    });
    expect(group.errors).toBeUndefined();
    const groupId = group.data!.createGroup.group.id as string;
    const added = await graphql(
      'mutation($id: ID!, $input: UpdateGroupUsersInput!) { updateGroupUsers(id: $id, input: $input) { message } }',
      {
        token: admin,
        variables: { id: groupId, input: { userIdsToAdd: [ownerA.id], userIdsToRemove: [] } },
      },
    );
    expect(added.errors).toBeUndefined();
    const eventOf = async (where: string, params: unknown[]) =>
      (await sql<{ id: string }>(`select id from audit_events where ${where} order by at desc limit 1`, params))[0]!.id;
    const roles = await realmRoleIds();
    ids = {
      User: ownerA.id,
      Role: roles.role_user!,
      Privilege: roles.priv_user_management!,
      Group: groupId,
      Tenant: ownerA.tenant.id,
      Invitation: invitationA,
      AuditEvent: await eventOf("tenant_id = $1 and action = 'INVITATION_CREATE'", [ownerA.tenant.id]),
      tenantB: ownerB.tenant.id,
      invitationB,
      eventB: await eventOf('tenant_id = $1', [ownerB.tenant.id]),
      systemEvent: await eventOf("target_id = $1 and action = 'GROUP_CREATE'", [groupId]),
    };
  });

  /** node(id:)'s answer to `token`, with the fields of `type`. */
  async function refetch(type: NodeType, id: string, token: string) {
    const response = await graphql(REFETCH(type), { token, variables: { id } });
    expect(response.status).toBe(200);
    return response;
  }

  /** How each type's list query shows the object, and to whom: the permitted caller's view, for node(id:) to match. */
  const LISTED: Record<NodeType, { who: () => string; list: () => Promise<Record<string, unknown> | undefined> }> = {
    User: {
      who: () => manager.token,
      list: async () => {
        const response = await graphql(
          `query($search: String) { users(filter: { search: $search }) { edges { node { ${FIELDS.User} } } } }`,
          {
            token: manager.token,
            variables: { search: ownerA.email },
          },
        );
        return response.data!.users.edges.map((edge: { node: Record<string, unknown> }) => edge.node).find(byId(ids.User));
      },
    },
    Role: { who: () => manager.token, list: () => listed(`{ roles { ${FIELDS.Role} } }`, manager.token, 'roles', ids.Role) },
    Privilege: {
      who: () => manager.token,
      list: () => listed(`{ privileges { ${FIELDS.Privilege} } }`, manager.token, 'privileges', ids.Privilege),
    },
    Group: { who: () => manager.token, list: () => listed(`{ groups { ${FIELDS.Group} } }`, manager.token, 'groups', ids.Group) },
    Tenant: { who: () => ownerA.token, list: () => listed(`{ tenants { ${FIELDS.Tenant} } }`, ownerA.token, 'tenants', ids.Tenant) },
    Invitation: {
      who: () => ownerA.token,
      list: () =>
        listed(`query($t: ID!) { invitations(tenantId: $t) { ${FIELDS.Invitation} } }`, ownerA.token, 'invitations', ids.Invitation, {
          t: ownerA.tenant.id,
        }),
    },
    AuditEvent: {
      who: () => ownerA.token,
      list: async () => {
        const response = await graphql(
          `query($t: ID!) { auditEvents(filter: { tenantId: $t }) { edges { node { ${FIELDS.AuditEvent} } } } }`,
          {
            token: ownerA.token,
            variables: { t: ownerA.tenant.id },
          },
        );
        expect(response.errors).toBeUndefined();
        return response.data!.auditEvents.edges.map((edge: { node: Record<string, unknown> }) => edge.node).find(byId(ids.AuditEvent));
      },
    },
  };
  const byId = (id: string) => (item: { id?: unknown }) => item.id === id;
  async function listed(query: string, token: string, field: string, id: string, variables: Record<string, unknown> = {}) {
    const response = await graphql(query, { token, variables });
    expect(response.errors).toBeUndefined();
    return (response.data![field] as { id: string }[]).find(byId(id));
  }

  it.each(Object.keys(FIELDS) as NodeType[])('refetches a %s by the id its list query gave, with the same fields', async (type) => {
    const { who, list } = LISTED[type];
    const inList = await list();
    expect(inList, `the ${type} in its list`).toBeDefined();
    const response = await refetch(type, ids[type], who());
    expect(response.errors).toBeUndefined();
    expect(response.data!.node).toEqual({ __typename: type, ...inList });
  });

  it('gives ROLE_ADMIN every type, and ROLE_MANAGER the audit trail only', async () => {
    for (const type of Object.keys(FIELDS) as NodeType[]) {
      const response = await graphql(REFETCH_ANY, { token: admin, variables: { id: ids[type] } });
      expect(response.errors, type).toBeUndefined();
      expect(response.data!.node, type).toMatchObject({ __typename: type, id: ids[type] });
    }
    for (const id of [ids.AuditEvent, ids.eventB, ids.systemEvent]) {
      expect((await refetch('AuditEvent', id, auditor.token)).data!.node).toMatchObject({ __typename: 'AuditEvent', id });
    }
  });

  /** Who may not see each object: for each, node(id:) answers exactly what it answers for an unknown id. */
  const HIDDEN: [string, () => string, () => string][] = [
    ['a user, to a plain user', () => ids.User, () => plain.token],
    [
      'a user, to a co-member of their tenant (and to the user themself: `user(id:)` is for user managers)',
      () => ids.User,
      () => ownerA.token,
    ],
    ['a user, to the auditor', () => ids.User, () => auditor.token],
    ['a role, to a tenant owner', () => ids.Role, () => ownerA.token],
    ['a privilege, to a plain user', () => ids.Privilege, () => plain.token],
    ['a group, to one of its members', () => ids.Group, () => ownerA.token],
    ['tenant B, to the owner of tenant A', () => ids.tenantB, () => ownerA.token],
    ['a tenant, to a user manager', () => ids.Tenant, () => manager.token],
    ["tenant B's invitation, to the owner of tenant A", () => ids.invitationB, () => ownerA.token],
    ['an invitation, to a user manager', () => ids.Invitation, () => manager.token],
    ["tenant B's audit event, to the owner of tenant A", () => ids.eventB, () => ownerA.token],
    ['an event of no tenant, to a tenant owner', () => ids.systemEvent, () => ownerA.token],
    ["B's owner, to the owner of tenant A", () => ownerB.id, () => ownerA.token],
  ];

  it.each(HIDDEN)('answers null, as for an id that names nothing, for %s', async (_what, id, token) => {
    const unknown = await graphql(REFETCH_ANY, { token: token(), variables: { id: randomUUID() } });
    expect(unknown).toMatchObject({ status: 200, data: { node: null } });
    expect(unknown.errors).toBeUndefined();
    const hidden = await graphql(REFETCH_ANY, { token: token(), variables: { id: id() } });
    expect(hidden).toEqual(unknown);
  });

  it('answers null to ROLE_ADMIN for an id that names nothing, and for an object deleted since', async () => {
    const gone = await graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: admin,
      variables: { input: { groupName: unique('node-gone-') } },
    });
    const goneId = gone.data!.createGroup.group.id as string;
    const deleted = await graphql('mutation($id: ID!) { deleteGroup(id: $id) { message } }', { token: admin, variables: { id: goneId } });
    expect(deleted.errors).toBeUndefined();
    for (const id of [randomUUID(), goneId]) {
      const response = await graphql(REFETCH_ANY, { token: admin, variables: { id } });
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({ node: null });
    }
  });

  it('answers BAD_USER_INPUT, never a 5xx, to an id that is not one: malformed, upper case, overlong, a number', async () => {
    for (const id of ['not-an-id', ids.Tenant.toUpperCase(), `${ids.Tenant}${'f'.repeat(10_000)}`, "'; drop table tenants; --", '']) {
      const response = await graphql(REFETCH_ANY, { token: admin, variables: { id } });
      expect(response.status, id.slice(0, 40)).toBe(200);
      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
    }
    const inline = await graphql('{ node(id: 12345) { id } }', { token: admin });
    expect(inline.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
  });

  it('answers UNAUTHENTICATED to an anonymous caller, whether the id names something or not', async () => {
    for (const id of [ids.Tenant, ids.User, randomUUID()]) {
      const response = await graphql(REFETCH_ANY, { variables: { id } });
      expect(response.data).toEqual({ node: null });
      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('answers each alias of one document on its own: what the caller may see, and null for the rest', async () => {
    const aliases = { own: ids.Tenant, theirs: ids.tenantB, invitation: ids.Invitation, theirInvitation: ids.invitationB, user: ids.User };
    const query = `query(${Object.keys(aliases)
      .map((alias) => `$${alias}: ID!`)
      .join(', ')}) { ${Object.keys(aliases)
      .map((alias) => `${alias}: node(id: $${alias}) { __typename id }`)
      .join(' ')} }`;
    const response = await graphql(query, { token: ownerA.token, variables: aliases });
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      own: { __typename: 'Tenant', id: ids.Tenant },
      theirs: null,
      invitation: { __typename: 'Invitation', id: ids.Invitation },
      theirInvitation: null,
      user: null,
    });
  });

  it('keeps the field rules below: a tenant member refetching their tenant sees its members but not its invitations', async () => {
    const member = await tenancy.signedIn();
    const token = await (async () => {
      const invitation = await graphql('mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token } }', {
        token: ownerA.token,
        variables: { input: { tenantId: ownerA.tenant.id, email: member.email } },
      });
      return invitation.data!.createInvitation.token as string;
    })();
    const accepted = await graphql('mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { role } }', {
      token: member.token,
      variables: { input: { token } },
    });
    expect(accepted.errors).toBeUndefined();
    const members = await graphql('query($id: ID!) { node(id: $id) { id ... on Tenant { members { user { email } } } } }', {
      token: member.token,
      variables: { id: ids.Tenant },
    });
    expect(members.errors).toBeUndefined();
    expect(members.data!.node.members).toContainEqual({ user: { email: ownerA.email } });
    const invitations = await graphql('query($id: ID!) { node(id: $id) { id ... on Tenant { invitations { email } } } }', {
      token: member.token,
      variables: { id: ids.Tenant },
    });
    expect(invitations.errors?.map((error) => [error.extensions.code, error.path?.join('.')])).toEqual([['FORBIDDEN', 'node.invitations']]);
  });
});
