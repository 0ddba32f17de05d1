import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { getNamedType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType } from 'graphql';
import { allow } from 'graphql-shield';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIELD_FILTERS, FIELD_PERMISSIONS, fieldRuleOf } from '../../src/permissions.js';
import { buildPublicSchema } from '../../src/schema.js';
import { sql } from '../support/database.js';
import { dummyValue } from '../support/documents.js';
import { unlimited } from '../support/gateway.js';
import { adminAccessToken, passwordGrant, type TestUser } from '../support/keycloak.js';
import { documentsFor, fieldsOf, pathsFrom, selectionOf, typesReaching, type Path, type Walked } from '../support/paths.js';
import { useTenancy, type TenantOwner } from '../support/tenancy.js';

// Issue 10, item 2: tenant isolation on every path, not only at the root. Every path the
// schema has from a root field to a tenant's data is asked, as a member of tenant A who is
// not a member of tenant B, and no answer may carry anything of B.

/** The types that are a tenant's data: reaching one of them is reaching a tenant. */
const TENANT_TYPES = ['Tenant', 'TenantMembership', 'Invitation'];

const schema = await buildPublicSchema();
const reaching = typesReaching(schema, TENANT_TYPES);
const rootFields = (type: GraphQLObjectType | null | undefined) =>
  type ? Object.values(type.getFields()).filter((field) => reaching.has(getNamedType(field.type).name)) : [];

const INVITE = 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token invitation { id } } }';
const ACCEPT = 'mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { role } }';

describe('tenant isolation on every path (H3, I6)', () => {
  // The rules below the root do not depend on the tenancy mode: shared tenancy keeps the file short.
  const tenancy = useTenancy('shared', (config) => ({ ...config, rateLimits: unlimited(config.rateLimits) }));
  const graphql = <T = Record<string, any>>(query: string, options?: Parameters<typeof tenancy.gateway.graphql>[1]) =>
    tenancy.gateway.graphql<T>(query, options);

  // Tenant A: ownerA (OWNER) and shared (ADMIN). Tenant B: ownerB (OWNER), shared and memberB
  // (MEMBERs), a pending invitation. ownerA and shared are also in one group. ownerA is the
  // non-member of B who walks every path; shared is the co-member through whom B is one hop away.
  let ownerA: TenantOwner;
  let ownerB: TenantOwner;
  let shared: TestUser & { token: string };
  let memberB: TestUser & { token: string };
  /** Accepts an invitation to A for every document of the acceptInvitation walk. */
  let newcomer: TestUser & { token: string };
  let pendingA: { email: string; id: string };
  let pendingB: { email: string; id: string };
  let groupId: string;
  /** What must never reach ownerA: B's id and name, its members' ids and emails, its invitations. */
  let secretsOfB: Record<string, string>;

  async function invite(inviter: { token: string }, tenantId: string, email: string, role = 'MEMBER') {
    const response = await graphql(INVITE, { token: inviter.token, variables: { input: { tenantId, email, role } } });
    expect(response.errors).toBeUndefined();
    return response.data!.createInvitation as { token: string; invitation: { id: string } };
  }

  /** `user` joins the owner's tenant with `role`: invited, and accepted signed in as themself. */
  async function join(user: { email: string; token: string }, owner: TenantOwner, role: string) {
    const { token, invitation } = await invite(owner, owner.tenant.id, user.email, role);
    const accepted = await graphql(ACCEPT, { token: user.token, variables: { input: { token } } });
    expect(accepted.errors).toBeUndefined();
    return invitation.id;
  }

  beforeAll(async () => {
    const suffix = randomUUID().slice(0, 8);
    [ownerA, ownerB, shared, memberB, newcomer] = await Promise.all([
      tenancy.tenantOwner(`Alpha ${suffix}`),
      tenancy.tenantOwner(`Bravo secret ${suffix}`),
      tenancy.signedIn(),
      tenancy.signedIn(),
      tenancy.signedIn(),
    ]);
    await join(shared, ownerA, 'ADMIN');
    const sharedInB = await join(shared, ownerB, 'MEMBER');
    const memberInB = await join(memberB, ownerB, 'MEMBER');
    pendingB = { email: `pending-b-${suffix}@example.test`, id: '' };
    pendingB.id = (await invite(ownerB, ownerB.tenant.id, pendingB.email)).invitation.id;
    // Invited by shared: A's invitations lead to shared, and from there towards B.
    pendingA = { email: `pending-a-${suffix}@example.test`, id: '' };
    pendingA.id = (await invite(shared, ownerA.tenant.id, pendingA.email)).invitation.id;

    const admin = await adminAccessToken();
    const group = await graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      token: admin,
      variables: { input: { groupName: `paths-${suffix}` } },
    });
    groupId = group.data!.createGroup.group.id;
    const members = await graphql(
      'mutation($id: ID!, $input: UpdateGroupUsersInput!) { updateGroupUsers(id: $id, input: $input) { message } }',
      {
        token: admin,
        variables: { id: groupId, input: { userIdsToAdd: [ownerA.id, shared.id], userIdsToRemove: [] } },
      },
    );
    expect(members.errors).toBeUndefined();

    secretsOfB = {
      'B’s id': ownerB.tenant.id,
      'B’s name': ownerB.tenant.name,
      'B’s owner’s id': ownerB.id,
      'B’s owner’s email': ownerB.email,
      'B’s member’s id': memberB.id,
      'B’s member’s email': memberB.email,
      'B’s pending invitation’s id': pendingB.id,
      'B’s pending invitation’s email': pendingB.email,
      'the invitation that made shared a member of B': sharedInB,
      'the invitation that made memberB a member of B': memberInB,
    };
  });

  /** Where in `data` each of B's secrets appears, as `secret at a.b.0.c`; [] when nowhere. */
  function leaksIn(data: unknown, at: (string | number)[] = []): string[] {
    if (typeof data === 'string') {
      return Object.entries(secretsOfB).flatMap(([secret, value]) => (data.includes(value) ? [`${secret} at ${at.join('.')}`] : []));
    }
    if (data && typeof data === 'object') {
      return Object.entries(data).flatMap(([key, value]) => leaksIn(value, [...at, Array.isArray(data) ? Number(key) : key]));
    }
    return [];
  }

  const NESTED_FROM_ME =
    '{ me { tenants { tenant { members { user { email tenants { role tenant { id name members { role user { email } } } } } } } } } }';
  const NESTED_FROM_TENANT =
    'query($t: ID!) { tenant(id: $t) { members { user { email tenants { role tenant { id name members { role user { email } } } } } } } }';

  it('H3: a member of tenant A reads nothing of tenant B through a co-member who belongs to both (me → tenants → tenant → members → user → tenants → tenant → members)', async () => {
    for (const [query, variables] of [
      [NESTED_FROM_ME, {}],
      [NESTED_FROM_TENANT, { t: ownerA.tenant.id }],
    ] as const) {
      const response = await graphql(query, { token: ownerA.token, variables });
      expect(response.errors).toBeUndefined();
      expect(leaksIn(response.data)).toEqual([]);
      // The co-member is there, with the one tenant the two share: the list is filtered, not refused.
      const members = JSON.parse(JSON.stringify(response.data)) as Record<string, any>;
      const tenantA = 'me' in members ? members.me.tenants[0].tenant : members.tenant;
      const coMember = tenantA.members.find((member: { user: { email: string } }) => member.user.email === shared.email);
      expect(coMember.user.tenants).toEqual([
        {
          role: 'ADMIN',
          tenant: {
            id: ownerA.tenant.id,
            name: ownerA.tenant.name,
            members: expect.arrayContaining([
              { role: 'OWNER', user: { email: ownerA.email } },
              { role: 'ADMIN', user: { email: shared.email } },
            ]),
          },
        },
      ]);
    }
    // As the review saw it: B by id is refused, as it always was.
    const direct = await graphql('query($t: ID!) { tenant(id: $t) { id name } }', {
      token: ownerA.token,
      variables: { t: ownerB.tenant.id },
    });
    expect(direct.data).toEqual({ tenant: null });
    expect(direct.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  });

  /** The fields of User beyond id, username, email and names (and tenants, which is filtered): a user's gateway-wide record. */
  const RECORD_FIELDS = Object.values((schema.getType('User') as GraphQLObjectType).getFields())
    .filter((field) => !['id', 'username', 'email', 'firstName', 'lastName', 'tenants'].includes(field.name))
    .map((field) => (isObjectType(getNamedType(field.type)) ? `${field.name} { __typename }` : field.name));

  it('I6: a tenant member sees co-members’ name, email and tenant role, not their roles, groups, privileges, attributes or account state', async () => {
    const visible = await graphql('query($t: ID!) { tenant(id: $t) { members { role user { id username email firstName lastName } } } }', {
      token: ownerA.token,
      variables: { t: ownerA.tenant.id },
    });
    expect(visible.errors).toBeUndefined();
    expect(visible.data!.tenant.members).toContainEqual({
      role: 'ADMIN',
      user: { id: shared.id, username: shared.email, email: shared.email, firstName: shared.firstName, lastName: shared.lastName },
    });

    // Each field of the record on its own, through the tenant's members and through an invitation's inviter.
    expect(RECORD_FIELDS).toEqual(
      expect.arrayContaining([
        'roles { __typename }',
        'groups { __typename }',
        'effectivePrivileges { __typename }',
        'attributes { __typename }',
      ]),
    );
    for (const field of RECORD_FIELDS) {
      const members = await graphql(`query($t: ID!) { tenant(id: $t) { members { user { id ${field} } } } }`, {
        token: ownerA.token,
        variables: { t: ownerA.tenant.id },
      });
      const refused = members.errors?.find((error) => error.path?.includes('user'));
      expect(refused?.extensions.code, `${field} of a co-member`).toBe('FORBIDDEN');
      expect(refused?.path?.at(-1), `${field} of a co-member`).toBe(field.split(' ')[0]);
      const inviter = await graphql(`query($t: ID!) { invitations(tenantId: $t) { email invitedBy { id ${field} } } }`, {
        token: ownerA.token,
        variables: { t: ownerA.tenant.id },
      });
      expect(inviter.errors?.[0]?.extensions.code, `${field} of an inviter`).toBe('FORBIDDEN');
    }
  });

  it('leaves every user their own record, user managers everyone’s, and ROLE_ADMIN any tenant’s members and invitations', async () => {
    const record = `id email ${RECORD_FIELDS.join(' ')} tenants { role tenant { id name } }`;
    // A user's credentials are their managers' to see (the contract's rule), not the user's own record.
    const MANAGERS_ONLY = 'credentials { __typename }';
    const ownRecord = `id email ${RECORD_FIELDS.filter((field) => field !== MANAGERS_ONLY).join(' ')} tenants { role tenant { id name } }`;
    // The user themself, with a token, and as the account login just signed in.
    const own = await graphql(`{ me { user { ${ownRecord} } } }`, { token: shared.token });
    expect(own.errors).toBeUndefined();
    const ownCredentials = await graphql(`{ me { user { ${MANAGERS_ONLY} } } }`, { token: shared.token });
    expect(ownCredentials.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(own.data!.me.user.tenants.map((membership: { tenant: { id: string } }) => membership.tenant.id).sort()).toEqual(
      [ownerA.tenant.id, ownerB.tenant.id].sort(),
    );
    const login = await graphql(`mutation($input: LoginInput!) { login(input: $input) { me { user { ${ownRecord} } } } }`, {
      variables: { input: { username: shared.email, password: shared.password } },
    });
    expect(login.errors).toBeUndefined();
    expect(login.data!.login.me.user.tenants).toHaveLength(2);

    // A user manager reads anyone's record, and every tenant they are in; not those tenants' members.
    const manager = await tenancy.signedIn(undefined, { realmRoles: ['priv_user_management'] });
    const managed = await graphql(`query($id: ID!) { user(id: $id) { ${record} } }`, {
      token: manager.token,
      variables: { id: shared.id },
    });
    expect(managed.errors).toBeUndefined();
    expect(managed.data!.user.tenants).toHaveLength(2);
    const members = await graphql('query($id: ID!) { user(id: $id) { tenants { tenant { members { role } } } } }', {
      token: manager.token,
      variables: { id: shared.id },
    });
    expect(members.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    // ROLE_ADMIN reads B's members and invitations, as `tenant(id: B)` lets it.
    const admin = await graphql('query($t: ID!) { tenant(id: $t) { members { user { email roles { name } } } invitations { email } } }', {
      token: await adminAccessToken(),
      variables: { t: ownerB.tenant.id },
    });
    expect(admin.errors).toBeUndefined();
    expect(admin.data!.tenant.invitations).toContainEqual({ email: pendingB.email });

    // Whoever accepts an invitation that creates an account reads that account's record (new: nothing
    // gateway-wide in it yet), but not with its eyes: holding the invitation proves nothing (H2).
    const accept = async (selection: string) => {
      const email = `accepted-${randomUUID().slice(0, 8)}@example.test`;
      const { token } = await invite(ownerA, ownerA.tenant.id, email);
      const query = `mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { ${selection} } }`;
      return { email, response: await graphql(query, { variables: { input: { token, firstName: 'New', lastName: 'Comer' } } }) };
    };
    const { email, response: accepted } = await accept(
      'user { id email firstName lastName emailVerified groups { name } tenants { role } } tenant { id name }',
    );
    expect(accepted.errors).toBeUndefined();
    expect(accepted.data!.acceptInvitation).toEqual({
      user: { id: expect.any(String), email, firstName: 'New', lastName: 'Comer', emailVerified: false, groups: [], tenants: [] },
      tenant: { id: ownerA.tenant.id, name: ownerA.tenant.name },
    });
    const { response: theirMembers } = await accept('tenant { members { user { email } } }');
    expect(theirMembers.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  });

  it('gives every field that leads to a Tenant, TenantMembership or Invitation a rule of its own', () => {
    const unruled: string[] = [];
    const rootTypes = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name]);
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || rootTypes.has(type.name)) continue;
      const rules = FIELD_PERMISSIONS[type.name] ?? {};
      for (const field of Object.values(type.getFields())) {
        const target = getNamedType(field.type);
        // Into a tenant's data, or, on a tenant's data, on to any other object.
        const guarded = TENANT_TYPES.includes(target.name) || (TENANT_TYPES.includes(type.name) && isObjectType(target));
        // Its own entry (`allow` included: a decision someone wrote down), its type's rule for every field, a filter,
        // or a type that guards each of its objects itself (TenantMembership, Invitation: `'*'`).
        const ruled =
          field.name in rules ||
          fieldRuleOf(type.name, field.name) !== allow ||
          FIELD_FILTERS[type.name]?.[field.name] ||
          (FIELD_PERMISSIONS[target.name]?.['*'] ?? allow) !== allow;
        if (guarded && !ruled) unruled.push(`${type.name}.${field.name}`);
      }
    }
    expect(unruled, 'fields that lead to tenant data without a rule in FIELD_PERMISSIONS or FIELD_FILTERS').toEqual([]);
  });

  interface Call {
    variables: Record<string, unknown>;
    token?: string;
    headers?: Record<string, string>;
    /** Undoes what the call added, once answered: a tenant that grows with every document would make the next answer grow exponentially. */
    after?: () => Promise<unknown>;
  }

  /**
   * One root field, walked: every path below it asked, in as few documents as the gateway's
   * limits allow, each sent with a fresh `call()` (a mutation's arguments are used up). A
   * document with errors is asked again without the refused fields, so that a refusal (and
   * the nulls it spreads up to the nearest nullable field) never hides what the other paths
   * would show on their own. Returns the data of every answer and the refused fields.
   */
  async function walk(
    root: GraphQLField<unknown, unknown>,
    operation: 'query' | 'mutation',
    argumentNames: readonly string[],
    call: () => Promise<Call>,
    options: { firstDocumentOnly?: boolean } = {},
  ): Promise<{ data: unknown[]; refused: string[]; requests: number }> {
    // An object type, or an interface (node) walked through a fragment on each of its types.
    const type = getNamedType(root.type) as Walked;
    const declared = root.args.filter((arg) => argumentNames.includes(arg.name));
    const head = declared.length > 0 ? `(${declared.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ')})` : '';
    const args = declared.length > 0 ? `(${declared.map((arg) => `${arg.name}: $${arg.name}`).join(', ')})` : '';
    const data: unknown[] = [];
    const refused = new Set<string>();
    let requests = 0;
    const document = (selection: string) => `${operation} Walk${head} { ${root.name}${args} ${selection} }`;
    let batches = documentsFor(schema, type, pathsFrom(schema, type, reaching), document).map((cut) => cut.paths);
    if (options.firstDocumentOnly) batches = batches.slice(0, 1);
    // A query's root field answers null, or is refused, whatever is selected below it: its rule and its object
    // depend on the arguments and the caller alone. One probe then stands for every document (node(id:) of
    // what the walker may not see, any root under B's X-Tenant-ID).
    if (operation === 'query' && batches.length > 1) {
      const { variables, token, headers } = await call();
      const probe = await graphql(document('{ __typename }'), { variables, token, headers });
      requests += 1;
      expect(probe.status).toBe(200);
      expect((probe.errors ?? []).filter((error) => !['FORBIDDEN', 'UNAUTHENTICATED'].includes(error.extensions.code))).toEqual([]);
      if (((probe.data as Record<string, unknown> | null)?.[root.name] ?? null) === null) {
        if (probe.errors?.length) refused.add('');
        return { data: [probe.data], refused: [...refused], requests };
      }
    }
    while (batches.length > 0) {
      const again: (readonly Path[])[] = [];
      for (const asked of batches) {
        const text = document(selectionOf(schema, type, asked));
        const { variables, token, headers, after } = await call();
        const response = await graphql(text, { variables, token, headers });
        await after?.();
        requests += 1;
        expect(response.status, text).toBe(200);
        const failures = (response.errors ?? []).filter((error) => !['FORBIDDEN', 'UNAUTHENTICATED'].includes(error.extensions.code));
        expect(failures, `errors other than refusals for ${text}`).toEqual([]);
        data.push(response.data);
        if (!response.errors?.length) continue;
        // The field each error names, as a path below the root field ('' for the root field): list indexes are not part of it.
        for (const error of response.errors)
          refused.add(
            (error.path ?? [])
              .slice(1)
              .filter((key) => typeof key === 'string')
              .join('.'),
          );
        again.push(asked);
      }
      // Asked again: what the refusals may have hidden, without anything refused so far. Fewer
      // paths than a document the gateway accepted make a document it accepts: no new cut.
      const isRefused = (path: Path) =>
        [...refused].some((prefix) => prefix === '' || `${fieldsOf(path).join('.')}.`.startsWith(`${prefix}.`));
      batches = options.firstDocumentOnly
        ? []
        : again.map((asked) => asked.filter((path) => !isRefused(path))).filter((asked) => asked.length > 0);
    }
    return { data, refused: [...refused], requests };
  }

  /**
   * How the walk calls a mutation whose answer leads to tenant data, for real: as ownerA, or
   * anonymously where the operation is public. A mutation missing here is called with
   * meaningless arguments and must be refused at the root to a tenant member; one that is
   * not fails the walk until it is given a real call here.
   */
  const mutationCalls = (): Record<string, { args: string[]; call: () => Promise<Call> }> => {
    const fresh = (what: string) => `${what}-${randomUUID().slice(0, 8)}@example.test`;
    const byOwnerA = (variables: () => Record<string, unknown>) => async () => ({ variables: variables(), token: ownerA.token });
    return {
      login: { args: ['input'], call: async () => ({ variables: { input: { username: ownerA.email, password: ownerA.password } } }) },
      refreshToken: {
        args: ['refreshToken'],
        call: async () => ({ variables: { refreshToken: (await passwordGrant(ownerA.email, ownerA.password)).refresh_token } }),
      },
      signup: {
        args: ['input'],
        call: async () => ({
          variables: {
            input: { email: fresh('walker'), password: `Pw-${randomUUID()}-9a`, firstName: 'Walk', lastName: 'Er', accountName: 'Walk Co' },
          },
        }),
      },
      updateMyProfile: { args: ['input'], call: byOwnerA(() => ({ input: { firstName: ownerA.firstName } })) },
      createTenant: { args: ['input'], call: byOwnerA(() => ({ input: { name: `Walk ${randomUUID().slice(0, 8)}` } })) },
      createInvitation: { args: ['input'], call: byOwnerA(() => ({ input: { tenantId: ownerA.tenant.id, email: fresh('invitee') } })) },
      acceptInvitation: {
        args: ['input'],
        // An account of its own, invited to A, accepting signed in: it then shares A with shared. It
        // leaves A again (there is no operation for that: in SQL), so that A does not grow with every document.
        call: async () => {
          const { token } = await invite(ownerA, ownerA.tenant.id, newcomer.email);
          const leave = () => sql('delete from memberships where user_id = $1 and tenant_id = $2', [newcomer.id, ownerA.tenant.id]);
          return { variables: { input: { token } }, token: newcomer.token, after: leave };
        },
      },
    };
  };

  it('node(id:) answers a member of A null for B, its invitations and members, and for users it may not read: as for an id that names nothing', async () => {
    const aliases = {
      tenantB: ownerB.tenant.id,
      pendingB: pendingB.id,
      ownerB: ownerB.id,
      memberB: memberB.id,
      coMember: shared.id,
      nothing: randomUUID(),
      tenantA: ownerA.tenant.id,
      pendingA: pendingA.id,
    };
    const declarations = Object.keys(aliases).map((alias) => `$${alias}: ID!`);
    const fields = Object.keys(aliases).map(
      (alias) => `${alias}: node(id: $${alias}) { id ... on Tenant { name } ... on Invitation { email } ... on User { email } }`,
    );
    const response = await graphql(`query(${declarations.join(', ')}) { ${fields.join(' ')} }`, {
      token: ownerA.token,
      variables: aliases,
    });
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      tenantB: null,
      pendingB: null,
      ownerB: null,
      memberB: null,
      coMember: null,
      nothing: null,
      tenantA: { id: ownerA.tenant.id, name: ownerA.tenant.name },
      pendingA: { id: pendingA.id, email: pendingA.email },
    });
  });

  it('walks every path from every root field as a member of A, and no answer carries anything of B', async () => {
    const walks: { name: string; run: () => Promise<{ data: unknown[]; refused: string[]; requests: number }> }[] = [];
    const ids = [ownerA.tenant.id, ownerB.tenant.id, shared.id, ownerB.id, memberB.id, groupId, pendingA.id, pendingB.id];
    // node(id:) takes the id of any type: also the audit events of A and B (B's name and emails are in their details), a role and a privilege.
    const eventOf = async (tenantId: string) =>
      (await sql<{ id: string }>('select id from audit_events where tenant_id = $1 order by at desc limit 1', [tenantId]))[0]!.id;
    const roles = await sql<{ id: string }>("select id from realm_roles where name in ('role_user', 'priv_user_management')");
    const nodeIds = [...ids, await eventOf(ownerA.tenant.id), await eventOf(ownerB.tenant.id), ...roles.map((role) => role.id)];
    expect(nodeIds).toHaveLength(ids.length + 4);
    for (const root of rootFields(schema.getQueryType())) {
      const required = root.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);
      const notIds = required.filter((arg) => getNamedType(arg.type).name !== 'ID');
      expect(
        notIds.map((arg) => `${root.name}(${arg.name})`),
        'required arguments the walk cannot give: teach it',
      ).toEqual([]);
      // Every id this file knows for every required id, B's own among them; without X-Tenant-ID, and choosing A, then B.
      for (const id of required.length === 0 ? [undefined] : root.name === 'node' ? nodeIds : ids) {
        for (const tenantId of [undefined, ownerA.tenant.id, ownerB.tenant.id]) {
          const variables = Object.fromEntries(required.map((arg) => [arg.name, id]));
          const headers = tenantId ? { 'x-tenant-id': tenantId } : undefined;
          walks.push({
            name: `${root.name}(${id ?? ''})${tenantId ? ` with X-Tenant-ID ${tenantId}` : ''}`,
            run: () => walk(root, 'query', Object.keys(variables), async () => ({ variables, token: ownerA.token, headers })),
          });
        }
      }
    }
    const calls = mutationCalls();
    for (const root of rootFields(schema.getMutationType())) {
      const real = calls[root.name];
      if (real) {
        walks.push({ name: root.name, run: () => walk(root, 'mutation', real.args, real.call) });
        continue;
      }
      const required = root.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);
      const variables = Object.fromEntries(required.map((arg) => [arg.name, dummyValue(arg.type)]));
      walks.push({
        name: root.name,
        run: async () => {
          const walked = await walk(root, 'mutation', Object.keys(variables), async () => ({ variables, token: ownerA.token }), {
            firstDocumentOnly: true,
          });
          expect(
            walked.refused,
            `${root.name} leads to tenant data and is not refused to a tenant member: give mutationCalls a real call`,
          ).toContain('');
          return walked;
        },
      });
    }

    // A few walks at a time: most of a walk's time is waiting on PostgreSQL, one level of the answer after the other.
    const answers: unknown[] = [];
    const nodeAnswers: unknown[] = [];
    let requests = 0;
    const started = performance.now();
    const queue = [...walks];
    // Access tokens live 5 minutes, and on a busy machine the walk outlasts them: the walkers
    // sign in again on the way, so that an expired token never stands in for a refusal.
    let signedInAt = performance.now();
    const signInAgain = async () => {
      if (performance.now() - signedInAt < 150_000) return;
      signedInAt = performance.now();
      for (const actor of [ownerA, ownerB, shared, memberB, newcomer])
        actor.token = (await passwordGrant(actor.email, actor.password)).access_token;
    };
    const walker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await signInAgain();
        const walked = await next.run();
        answers.push(...walked.data);
        if (next.name.startsWith('node(')) nodeAnswers.push(...walked.data);
        requests += walked.requests;
      }
    };
    await Promise.all(Array.from({ length: 4 }, walker));

    expect(answers.flatMap((data) => leaksIn(data))).toEqual([]);
    // The walk did reach what a member of A may see: A itself, its co-member, the invitation that co-member sent;
    // through node(id:) too, by A's id and by its invitation's, with the fragments on Tenant and Invitation.
    const seen = JSON.stringify(answers);
    for (const visible of [ownerA.tenant.id, ownerA.tenant.name, shared.email, pendingA.email]) expect(seen).toContain(visible);
    const seenThroughNode = JSON.stringify(nodeAnswers);
    for (const visible of [ownerA.tenant.name, shared.email, pendingA.email]) expect(seenThroughNode).toContain(visible);
    console.info(`Tenant paths: ${walks.length} walks, ${requests} requests, ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // A guard against a hang, not a speed bound: the walk takes minutes, and many more on a loaded machine.
  }, 1_800_000);
});
