import { ApolloServer } from '@apollo/server';
import DataLoader from 'dataloader';
import { extendSchema, getNamedType, isLeafType, parse, type GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow } from 'graphql-shield';
import { beforeAll, describe, expect, it } from 'vitest';
import { minimalOperation } from '../test/support/documents.js';
import type { GatewayContext, Viewer } from './context.js';
import { AppError, createErrorFormatter } from './errors.js';
import { createLogger } from './logger.js';
import type { TenantRole } from './modules/tenants/tenant.entity.js';
import { NODE_TYPES } from './modules/node/node.type.js';
import type { MembershipRecord } from './modules/tenants/tenant.type.js';
import { UserRecordCache } from './modules/users/user-record-cache.js';
import type { UserRecord } from './modules/users/user.type.js';
import { buildExecutableSchema, buildPublicSchema } from './schema.js';
import { admit } from './admission.js';
import { FIELD_PERMISSIONS, fieldRuleOf, importPermission, PERMISSIONS, permissionsFor } from './permissions.js';
import type { Principal } from './auth/token-verifier.js';

// The permission table through Apollo's executeOperation: the real schema with the real
// middleware (argument checks, graphql-shield, field rules), and a context whose caller,
// loaders and rate limiter are small fakes over an in-memory directory. Services are never
// reached by a refused call; an allowed one reaches a fake service that answers NOT_FOUND,
// and loaders the rules do not read find nothing: an allowed call answers without an error or
// with that NOT_FOUND, a refused one with FORBIDDEN, UNAUTHENTICATED or RATE_LIMITED.

const TENANT = '7e000000-0000-4000-8000-000000000001';
const OTHER_TENANT = '7e000000-0000-4000-8000-000000000002';
const INVITATION = '1a000000-0000-4000-8000-000000000001';
const ROLE_USER_ID = '40000000-0000-4000-8000-000000000001';
const ROLE_ADMIN_ID = '40000000-0000-4000-8000-000000000002';
const ADMINS_GROUP_ID = '60000000-0000-4000-8000-000000000001';
const PRIV_USER_MANAGEMENT_ID = '40000000-0000-4000-8000-000000000003';
const TENANT_EVENT = 'ae000000-0000-4000-8000-000000000001';
const SYSTEM_EVENT = 'ae000000-0000-4000-8000-000000000002';
const TENANT_IDENTITY_EVENT = 'be000000-0000-4000-8000-000000000001';
const REALM_IDENTITY_EVENT = 'be000000-0000-4000-8000-000000000002';
const WEBHOOK_ENDPOINT = 'ce000000-0000-4000-8000-000000000001';
const WEBHOOK_DELIVERY = 'ce000000-0000-4000-8000-000000000002';
/** The id of a user and of a tenant both: ids come from Keycloak and from the gateway, and nothing keeps them apart. */
const NAMESAKE = '0c000000-0000-4000-8000-000000000001';

/** Someone in the directory: their token's roles, what the mirror grants, their tenants. */
interface Person {
  id: string;
  /** role_* and priv_* names the token carries. */
  claims: string[];
  /** What the mirror grants: the token's roles unless said otherwise. */
  mirrored?: string[];
  tenants?: Partial<Record<string, TenantRole>>;
  kind?: Principal['kind'];
  enabled?: boolean;
}

let next = 0;
const person = (claims: string[], more: Omit<Person, 'id' | 'claims'> = {}): Person => ({
  id: `00000000-0000-4000-8000-${String(++next).padStart(12, '0')}`,
  claims,
  ...more,
});

const PEOPLE = {
  plain: person(['role_user']),
  admin: person(['role_admin', 'priv_user_management']),
  userManager: person(['role_user', 'priv_user_management']),
  auditor: person(['role_manager']),
  owner: person(['role_user'], { tenants: { [TENANT]: 'OWNER' } }),
  tenantAdmin: person(['role_user'], { tenants: { [TENANT]: 'ADMIN' } }),
  member: person(['role_user'], { tenants: { [TENANT]: 'MEMBER' } }),
  otherTenantAdmin: person(['role_user'], { tenants: { [OTHER_TENANT]: 'ADMIN' } }),
  /** A token that still says role_admin, for an account whose role was taken away since. */
  demotedAdmin: person(['role_admin'], { mirrored: ['role_user'] }),
  disabled: person(['role_admin'], { enabled: false }),
  client: person([], { kind: 'client' }),
  /** Users the user managers act on: one within their reach, one holding more than they do. */
  colleague: person(['role_user']),
  boss: person(['role_admin']),
  /** A user whose id is also a tenant's, and a member of that tenant. */
  namesake: { ...person(['role_user'], { tenants: { [NAMESAKE]: 'MEMBER' } }), id: NAMESAKE },
};
type Who = keyof typeof PEOPLE | 'anonymous';
const everyone = Object.values(PEOPLE);

/** Effective roles of each role and group, as Keycloak expands composites. */
const ROLE_CLOSURE: Record<string, string[]> = {
  [ROLE_USER_ID]: ['role_user'],
  [ROLE_ADMIN_ID]: ['role_admin', 'priv_user_management'],
  [ADMINS_GROUP_ID]: ['role_admin', 'priv_user_management'],
};

const principalOf = (someone: Person): Principal => ({
  kind: someone.kind ?? 'person',
  clientId: 'iam-frontend',
  userId: someone.id,
  realm: 'iam',
  tenantRealm: null,
  username: someone.id,
  email: `${someone.id}@example.test`,
  emailVerified: true,
  firstName: 'Some',
  lastName: 'One',
  roles: someone.claims.filter((name) => name.startsWith('role_')),
  privileges: someone.claims.filter((name) => name.startsWith('priv_')),
  issuedAt: 0,
  expiresAt: 4_000_000_000,
});

/** The mirror's record of someone: the token's profile, so admission writes nothing. */
const recordOf = (someone: Person): UserRecord => ({
  id: someone.id,
  username: someone.id,
  email: `${someone.id}@example.test`,
  firstName: 'Some',
  lastName: 'One',
  enabled: someone.enabled ?? true,
  emailVerified: true,
  syncStatus: 'SYNCED',
  attributes: {},
  createdAt: new Date(0),
  updatedAt: new Date(0),
});

/** The directory's roles and privileges, and the journal's events, by id. */
const ROLES: Record<string, { id: string; name: string; kind: 'ROLE' | 'PRIVILEGE'; description: null }> = {
  [ROLE_USER_ID]: { id: ROLE_USER_ID, name: 'role_user', kind: 'ROLE', description: null },
  [ROLE_ADMIN_ID]: { id: ROLE_ADMIN_ID, name: 'role_admin', kind: 'ROLE', description: null },
  [PRIV_USER_MANAGEMENT_ID]: { id: PRIV_USER_MANAGEMENT_ID, name: 'priv_user_management', kind: 'PRIVILEGE', description: null },
};
const EVENTS: Record<string, { id: string; tenantId: string | null }> = {
  [TENANT_EVENT]: { id: TENANT_EVENT, tenantId: TENANT },
  [SYSTEM_EVENT]: { id: SYSTEM_EVENT, tenantId: null },
};

const names = (list: string[]) => list.map((name) => ({ name }));
const loader = <V>(find: (key: string) => V) => new DataLoader<string, V>(async (keys) => keys.map(find));

/** Calls the limiter counted, and whether it refuses them. */
class FakeRateLimiter {
  counted: string[] = [];
  refusing = false;
  async consume(operation: string): Promise<void> {
    this.counted.push(operation);
    if (this.refusing) throw new AppError('RATE_LIMITED', 'Too many attempts.', { retryAfterSeconds: 60 });
  }
}

/** Any service method: reached only by an allowed call. */
const services = new Proxy(
  {},
  {
    get: (_services, service) =>
      new Proxy(
        {},
        {
          get: (_methods, method) =>
            method === 'then'
              ? undefined
              : async () => Promise.reject(new AppError('NOT_FOUND', `fake ${String(service)}.${String(method)}`)),
        },
      ),
  },
);

/** A request's context for `who`, over the in-memory directory. */
function contextFor(who: Who, options: { tenantId?: string; limiter?: FakeRateLimiter } = {}): GatewayContext {
  const caller = who === 'anonymous' ? null : PEOPLE[who];
  const byId = (id: string) => everyone.find((someone) => someone.id === id);
  const loaders = {
    userById: loader((id) => {
      const found = byId(id);
      return found ? recordOf(found) : null;
    }),
    effectiveRolesByUserId: loader((id) => {
      const found = byId(id);
      return names(found?.mirrored ?? found?.claims ?? []);
    }),
    effectiveRolesByRoleId: loader((id) => names(ROLE_CLOSURE[id] ?? [])),
    effectiveRolesByGroupId: loader((id) => names(ROLE_CLOSURE[id] ?? [])),
    membershipsByUserId: loader((id): MembershipRecord[] =>
      Object.entries(byId(id)?.tenants ?? {}).map(([tenantId, role]) => ({ tenantId, userId: id, role: role!, joinedAt: new Date(0) })),
    ),
    invitationById: loader((id) => (id === INVITATION ? { id, tenantId: TENANT } : null)),
    roleById: loader((id) => ROLES[id] ?? null),
    groupById: loader((id) => (id === ADMINS_GROUP_ID ? { id, name: 'admins' } : null)),
    tenantById: loader((id) => ([TENANT, OTHER_TENANT, NAMESAKE].includes(id) ? { id, name: 'Tenant', createdAt: new Date(0) } : null)),
    auditEventById: loader((id) => EVENTS[id] ?? null),
    identityEventById: loader((id) =>
      id === TENANT_IDENTITY_EVENT ? { id, tenantId: TENANT } : id === REALM_IDENTITY_EVENT ? { id, tenantId: null } : null,
    ),
    webhookEndpointById: loader((id) => (id === WEBHOOK_ENDPOINT ? { id } : null)),
    webhookDeliveryById: loader((id) => (id === WEBHOOK_DELIVERY ? { id, endpointId: WEBHOOK_ENDPOINT } : null)),
  };
  // Any other loader (roleById, tenantById, ...) finds nothing: only the rules' loaders matter here.
  const otherLoaders = new Map<string | symbol, DataLoader<string, null>>();
  const anyLoader = new Proxy(loaders, {
    get: (known, name) =>
      name in known
        ? known[name as keyof typeof known]
        : (otherLoaders.get(name) ??
          otherLoaders
            .set(
              name,
              loader(() => null),
            )
            .get(name)),
  });
  // Keycloak's own answer, as the escalation rule asks it of user managers' writes: here the same as the mirror's.
  const realmRoles = (list: string[] | undefined) =>
    list ? Promise.resolve(new Set(list.map((name) => `realm:${name}`))) : Promise.reject(new Error('Keycloak answered HTTP 404'));
  const effectiveRoles = {
    ofUser: (id: string) => realmRoles(byId(id)?.mirrored ?? byId(id)?.claims),
    ofGroup: (id: string) => realmRoles(ROLE_CLOSURE[id]),
    ofRole: (id: string) => realmRoles(ROLE_CLOSURE[id]),
    whyRolesDoNotTell: async () => null,
  };
  const principal = caller && principalOf(caller);
  let admission: ReturnType<GatewayContext['caller']> | undefined;
  const context = {
    requestId: 'test',
    principal,
    caller: () => (admission ??= principal ? admit(principal, context) : Promise.reject(new AppError('UNAUTHENTICATED', 'no token'))),
    ownAccount: null,
    newAccountId: null,
    requestedTenantId: options.tenantId ?? null,
    clientIp: '198.51.100.1',
    rateLimiter: options.limiter ?? new FakeRateLimiter(),
    userRecords: new UserRecordCache(),
    log: createLogger({ level: 'silent' }),
    services,
    loaders: anyLoader,
    effectiveRoles,
  } as unknown as GatewayContext;
  return context;
}

/** One call in the table: who calls, with which arguments (merged into the minimal ones), under which tenant. */
interface Call {
  who: Who;
  args?: Record<string, unknown>;
  tenantId?: string;
  /** The rate limiter refuses every count. */
  limited?: boolean;
}
type Refusal = 'FORBIDDEN' | 'UNAUTHENTICATED' | 'RATE_LIMITED';
interface Cases {
  allowed: Call[];
  denied: (Call & { code?: Refusal })[];
}

const roles = (...granted: string[]) => ({ input: { roleIds: granted } });
const USER_MANAGERS: Cases = {
  allowed: [{ who: 'admin' }, { who: 'userManager' }],
  denied: [{ who: 'plain' }, { who: 'auditor' }, { who: 'demotedAdmin' }, { who: 'anonymous', code: 'UNAUTHENTICATED' }],
};
const ADMIN_ONLY: Cases = {
  allowed: [{ who: 'admin' }],
  denied: [{ who: 'userManager' }, { who: 'demotedAdmin' }, { who: 'client' }, { who: 'disabled', code: 'UNAUTHENTICATED' }],
};
const SIGNED_IN: Cases = {
  allowed: [{ who: 'plain' }, { who: 'member', tenantId: TENANT }],
  denied: [
    { who: 'anonymous', code: 'UNAUTHENTICATED' },
    { who: 'disabled', code: 'UNAUTHENTICATED' },
    { who: 'client' },
    // X-Tenant-ID naming a tenant the caller is not a member of.
    { who: 'plain', tenantId: TENANT },
  ],
};
const PUBLIC_LIMITED: Cases = {
  allowed: [{ who: 'anonymous' }, { who: 'plain' }],
  denied: [{ who: 'anonymous', limited: true, code: 'RATE_LIMITED' }],
};
/** Acting on `target`: the user managers only on users holding nothing more than they do. */
const onUser = (idArg: string, extra: Record<string, unknown> = {}): Cases => ({
  allowed: [
    { who: 'admin', args: { [idArg]: PEOPLE.boss.id, ...extra } },
    { who: 'userManager', args: { [idArg]: PEOPLE.colleague.id, ...extra } },
  ],
  denied: [
    { who: 'userManager', args: { [idArg]: PEOPLE.boss.id, ...extra } },
    // An id the mirror does not know answers as an administrator's would.
    { who: 'userManager', args: { [idArg]: '00000000-0000-4000-8000-0000000000ff', ...extra } },
    { who: 'plain', args: { [idArg]: PEOPLE.colleague.id, ...extra } },
    { who: 'anonymous', args: { [idArg]: PEOPLE.colleague.id, ...extra }, code: 'UNAUTHENTICATED' },
  ],
});
const createsUser: Cases = {
  allowed: [
    { who: 'admin', args: roles(ROLE_ADMIN_ID) },
    { who: 'userManager', args: roles(ROLE_USER_ID) },
  ],
  denied: [
    // Granting what the caller does not hold (the escalation rule), by role or through a group.
    { who: 'userManager', args: roles(ROLE_ADMIN_ID) },
    { who: 'userManager', args: { input: { groupIds: [ADMINS_GROUP_ID] } } },
    { who: 'plain' },
    { who: 'anonymous', code: 'UNAUTHENTICATED' },
  ],
};

/** Every root field: callers it lets through, callers it refuses. */
const TABLE: Record<'Query' | 'Mutation', Record<string, Cases>> = {
  Query: {
    // Who sees which object is below (`node(id:)`): here, who may ask at all.
    node: SIGNED_IN,
    publicHello: { allowed: [{ who: 'anonymous' }, { who: 'disabled' }], denied: [] },
    me: SIGNED_IN,
    user: USER_MANAGERS,
    // Paging backward reads the same list under the same rule.
    users: {
      allowed: [...USER_MANAGERS.allowed, { who: 'userManager', args: { last: 10 } }],
      denied: [...USER_MANAGERS.denied, { who: 'plain', args: { last: 10 } }],
    },
    roles: USER_MANAGERS,
    role: USER_MANAGERS,
    privileges: USER_MANAGERS,
    groups: USER_MANAGERS,
    group: USER_MANAGERS,
    tenant: {
      allowed: [
        { who: 'admin', args: { id: TENANT } },
        { who: 'member', args: { id: TENANT } },
        { who: 'owner', args: { id: TENANT } },
      ],
      denied: [
        { who: 'plain', args: { id: TENANT } },
        { who: 'otherTenantAdmin', args: { id: TENANT } },
        { who: 'userManager', args: { id: TENANT } },
        { who: 'anonymous', args: { id: TENANT }, code: 'UNAUTHENTICATED' },
      ],
    },
    tenants: SIGNED_IN,
    invitations: {
      allowed: [
        { who: 'admin', args: { tenantId: TENANT } },
        { who: 'tenantAdmin', args: { tenantId: TENANT } },
        { who: 'owner', args: { tenantId: TENANT } },
      ],
      denied: [
        { who: 'member', args: { tenantId: TENANT } },
        { who: 'otherTenantAdmin', args: { tenantId: TENANT } },
        { who: 'plain', args: { tenantId: TENANT } },
      ],
    },
    dashboard: {
      allowed: [{ who: 'admin' }],
      denied: [{ who: 'auditor' }, { who: 'userManager' }, { who: 'anonymous', code: 'UNAUTHENTICATED' }],
    },
    auditEvents: {
      allowed: [
        { who: 'admin' },
        { who: 'auditor' },
        { who: 'tenantAdmin', args: { filter: { tenantId: TENANT } } },
        { who: 'tenantAdmin', args: { last: 10, filter: { tenantId: TENANT } } },
      ],
      denied: [
        { who: 'tenantAdmin' },
        // Paging backward does not lift the tenant filter.
        { who: 'tenantAdmin', args: { last: 10 } },
        { who: 'member', args: { filter: { tenantId: TENANT } } },
        { who: 'otherTenantAdmin', args: { filter: { tenantId: TENANT } } },
        { who: 'userManager' },
      ],
    },
    // Sessions carry addresses: a user manager reads only those of users within its reach.
    userSessions: onUser('userId'),
    webhookEndpoints: {
      ...ADMIN_ONLY,
      denied: [...ADMIN_ONLY.denied, { who: 'auditor' }, { who: 'owner' }, { who: 'anonymous', code: 'UNAUTHENTICATED' }],
    },
    events: {
      allowed: [
        { who: 'admin' },
        { who: 'tenantAdmin', args: { filter: { tenantId: TENANT } } },
        { who: 'owner', args: { filter: { tenantId: TENANT } } },
      ],
      denied: [
        // A tenant's admins name their tenant: without it, they would read every tenant's events.
        { who: 'tenantAdmin' },
        { who: 'member', args: { filter: { tenantId: TENANT } } },
        { who: 'otherTenantAdmin', args: { filter: { tenantId: TENANT } } },
        // The audit trail's readers and user managers are not the events' readers.
        { who: 'auditor' },
        { who: 'userManager' },
        { who: 'anonymous', code: 'UNAUTHENTICATED' },
      ],
    },
  },
  Mutation: {
    login: PUBLIC_LIMITED,
    refreshToken: { allowed: [{ who: 'anonymous' }, { who: 'anonymous', limited: true }], denied: [] },
    logout: SIGNED_IN,
    createUser: createsUser,
    updateUser: {
      allowed: [
        ...onUser('id').allowed,
        { who: 'userManager', args: { id: PEOPLE.colleague.id, input: { roleIdsToAdd: [ROLE_USER_ID] } } },
      ],
      denied: [
        ...onUser('id').denied,
        // Never one's own roles, even those one holds.
        { who: 'userManager', args: { id: PEOPLE.userManager.id, input: { roleIdsToAdd: [ROLE_USER_ID] } } },
        { who: 'userManager', args: { id: PEOPLE.colleague.id, input: { roleIdsToAdd: [ROLE_ADMIN_ID] } } },
      ],
    },
    deleteUser: onUser('id'),
    setUserPassword: onUser('userId'),
    removeUserCredential: onUser('userId'),
    requireUserActions: {
      allowed: onUser('userId').allowed,
      denied: [...onUser('userId').denied, { who: 'admin', args: { userId: PEOPLE.colleague.id }, limited: true, code: 'RATE_LIMITED' }],
    },
    createTenant: {
      allowed: [{ who: 'plain' }],
      denied: [{ who: 'anonymous', code: 'UNAUTHENTICATED' }, { who: 'client' }, { who: 'plain', limited: true, code: 'RATE_LIMITED' }],
    },
    signup: PUBLIC_LIMITED,
    resetPassword: PUBLIC_LIMITED,
    registerUser: {
      allowed: createsUser.allowed,
      denied: [...createsUser.denied, { who: 'userManager', args: roles(ROLE_USER_ID), limited: true, code: 'RATE_LIMITED' }],
    },
    // Each imported user is weighed by importPermission (below).
    importUsers: {
      allowed: [{ who: 'admin' }, { who: 'userManager' }],
      denied: [
        { who: 'plain' },
        { who: 'anonymous', code: 'UNAUTHENTICATED' },
        { who: 'userManager', limited: true, code: 'RATE_LIMITED' },
      ],
    },
    sendPasswordSetupEmail: {
      allowed: onUser('userId').allowed,
      denied: [...onUser('userId').denied, { who: 'admin', args: { userId: PEOPLE.colleague.id }, limited: true, code: 'RATE_LIMITED' }],
    },
    createInvitation: {
      allowed: [
        { who: 'admin', args: { input: { tenantId: TENANT, role: 'OWNER' } } },
        { who: 'owner', args: { input: { tenantId: TENANT, role: 'OWNER' } } },
        { who: 'tenantAdmin', args: { input: { tenantId: TENANT, role: 'MEMBER' } } },
      ],
      denied: [
        // Only an OWNER invites an OWNER.
        { who: 'tenantAdmin', args: { input: { tenantId: TENANT, role: 'OWNER' } } },
        { who: 'member', args: { input: { tenantId: TENANT, role: 'MEMBER' } } },
        { who: 'otherTenantAdmin', args: { input: { tenantId: TENANT, role: 'MEMBER' } } },
        { who: 'owner', args: { input: { tenantId: TENANT, role: 'MEMBER' } }, limited: true, code: 'RATE_LIMITED' },
      ],
    },
    revokeInvitation: {
      allowed: [
        { who: 'admin', args: { id: INVITATION } },
        { who: 'tenantAdmin', args: { id: INVITATION } },
      ],
      denied: [
        { who: 'member', args: { id: INVITATION } },
        { who: 'otherTenantAdmin', args: { id: INVITATION } },
        // An invitation that does not exist answers as one of another tenant would.
        { who: 'tenantAdmin', args: { id: '1a000000-0000-4000-8000-0000000000ff' } },
      ],
    },
    acceptInvitation: PUBLIC_LIMITED,
    updateMyProfile: {
      allowed: SIGNED_IN.allowed,
      denied: [...SIGNED_IN.denied, { who: 'plain', limited: true, code: 'RATE_LIMITED' }],
    },
    deleteMyAccount: SIGNED_IN,
    createRole: ADMIN_ONLY,
    updateRole: ADMIN_ONLY,
    deleteRole: ADMIN_ONLY,
    createGroup: ADMIN_ONLY,
    updateGroupUsers: ADMIN_ONLY,
    updateGroupRolesPrivileges: ADMIN_ONLY,
    deleteGroup: ADMIN_ONLY,
    endUserSessions: onUser('userId'),
    signOutEverywhere: SIGNED_IN,
    createWebhookEndpoint: ADMIN_ONLY,
    updateWebhookEndpoint: ADMIN_ONLY,
    deleteWebhookEndpoint: ADMIN_ONLY,
    rotateWebhookSecret: ADMIN_ONLY,
    redeliverWebhook: ADMIN_ONLY,
  },
};

function merged(base: unknown, extra: unknown): unknown {
  if (
    typeof base !== 'object' ||
    base === null ||
    Array.isArray(base) ||
    typeof extra !== 'object' ||
    extra === null ||
    Array.isArray(extra)
  ) {
    return extra === undefined ? base : extra;
  }
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(extra)) result[key] = merged(result[key], value);
  return result;
}

let publicSchema: GraphQLSchema;
let apollo: ApolloServer<GatewayContext>;

beforeAll(async () => {
  publicSchema = await buildPublicSchema();
  apollo = new ApolloServer<GatewayContext>({
    schema: await buildExecutableSchema(),
    formatError: createErrorFormatter({ exposeStack: false, logUnexpected: () => {} }),
  });
  await apollo.start();
  return () => apollo.stop();
});

/** The smallest call of `field` (test/support/documents.ts), passing also the optional arguments named. */
function operationWith(rootType: 'Query' | 'Mutation', field: string, named: string[]) {
  const { variables } = minimalOperation(publicSchema, rootType, field);
  const definition = (rootType === 'Query' ? publicSchema.getQueryType() : publicSchema.getMutationType())!.getFields()[field]!;
  const passed = definition.args.filter((arg) => arg.name in variables || named.includes(arg.name));
  const declarations = passed.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = passed.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  const selection = isLeafType(getNamedType(definition.type)) ? '' : ' { __typename }';
  return {
    document: `${rootType.toLowerCase()}${declarations && `(${declarations})`} { ${field}${args && `(${args})`}${selection} }`,
    variables,
  };
}

/** The error codes `field` answered with, and what the rate limiter counted. */
async function call(rootType: 'Query' | 'Mutation', field: string, { who, args, tenantId, limited }: Call) {
  const operation = operationWith(rootType, field, Object.keys(args ?? {}));
  const limiter = new FakeRateLimiter();
  limiter.refusing = !!limited;
  const response = await apollo.executeOperation(
    { query: operation.document, variables: merged(operation.variables, args) as Record<string, unknown> },
    { contextValue: contextFor(who, { tenantId, limiter }) },
  );
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  const codes = (response.body.singleResult.errors ?? []).map((error) => error.extensions?.code);
  return { codes, counted: limiter.counted };
}

const describeCall = ({ who, args, tenantId, limited }: Call) =>
  [who, args && JSON.stringify(args), tenantId && 'with X-Tenant-ID', limited && 'over its rate limit'].filter(Boolean).join(' ');

describe("importUsers' permission per user", () => {
  const weigh = (who: Who, write: Parameters<ReturnType<typeof importPermission>>[0]) => importPermission(contextFor(who))(write);
  const nothing = { roleIds: [], groupIds: [], emailVerified: false };

  it('lets an administrator write any user', async () => {
    expect(await weigh('admin', { ...nothing, roleIds: [ROLE_ADMIN_ID], emailVerified: true })).toBe(true);
    expect(await weigh('admin', { ...nothing, targetId: PEOPLE.boss.id })).toBe(true);
  });

  it('holds a user manager to the escalation rule, user by user', async () => {
    expect(await weigh('userManager', { ...nothing, roleIds: [ROLE_USER_ID] })).toBe(true);
    expect(await weigh('userManager', { ...nothing, targetId: PEOPLE.colleague.id })).toBe(true);
    for (const refused of [
      { ...nothing, roleIds: [ROLE_ADMIN_ID] },
      { ...nothing, groupIds: [ADMINS_GROUP_ID] },
      { ...nothing, emailVerified: true },
      { ...nothing, targetId: PEOPLE.boss.id },
    ]) {
      expect(await weigh('userManager', refused), JSON.stringify(refused)).toMatchObject({ code: 'FORBIDDEN' });
    }
  });
});

describe('the permission table', () => {
  it('has allowed and refused callers here for every rule it holds, and no case for a field it lacks', () => {
    for (const rootType of ['Query', 'Mutation'] as const) {
      expect(Object.keys(TABLE[rootType]).sort(), rootType).toEqual(Object.keys(PERMISSIONS[rootType]).sort());
      for (const [field, cases] of Object.entries(TABLE[rootType])) {
        expect(cases.allowed.length, `${rootType}.${field} allowed callers`).toBeGreaterThan(0);
        // Only `allow` has nobody to refuse.
        if (PERMISSIONS[rootType][field as never] !== allow)
          expect(cases.denied.length, `${rootType}.${field} refused callers`).toBeGreaterThan(0);
      }
    }
  });

  for (const rootType of ['Query', 'Mutation'] as const) {
    describe(rootType, () => {
      for (const [field, { allowed, denied }] of Object.entries(TABLE[rootType])) {
        for (const caller of allowed) {
          it(`${field} lets ${describeCall(caller)} through`, async () => {
            const { codes } = await call(rootType, field, caller);
            // No error, or the fake service's NOT_FOUND: the call got past every rule.
            expect(codes.filter((code) => code !== 'NOT_FOUND')).toEqual([]);
          });
        }
        for (const { code = 'FORBIDDEN', ...caller } of denied) {
          it(`${field} answers ${code} to ${describeCall(caller)}`, async () => {
            const { codes, counted } = await call(rootType, field, caller);
            expect(codes).toEqual([code]);
            // A call the table refuses is not counted against anyone.
            if (code !== 'RATE_LIMITED') expect(counted).toEqual([]);
          });
        }
      }
    });
  }

  it('refuses a root field that has no rule: UNAUTHENTICATED to no one, FORBIDDEN even to an administrator', async () => {
    const withNewField = extendSchema(publicSchema, parse('extend type Query { unruled: String }'));
    const server = new ApolloServer<GatewayContext>({
      schema: applyMiddleware(withNewField, permissionsFor(withNewField)),
      formatError: createErrorFormatter({ exposeStack: false, logUnexpected: () => {} }),
    });
    await server.start();
    try {
      const codesFor = async (who: Who) => {
        const response = await server.executeOperation({ query: '{ unruled }' }, { contextValue: contextFor(who) });
        return response.body.kind === 'single' ? response.body.singleResult.errors?.map((error) => error.extensions?.code) : undefined;
      };
      expect(await codesFor('admin')).toEqual(['FORBIDDEN']);
      expect(await codesFor('anonymous')).toEqual(['UNAUTHENTICATED']);
    } finally {
      await server.stop();
    }
  });
});

/** What `node(id:)` answers `who`: the type it found, or null; and any error codes. */
async function refetch(id: string, who: Who) {
  const response = await apollo.executeOperation(
    { query: 'query($id: ID!) { node(id: $id) { __typename id } }', variables: { id } },
    { contextValue: contextFor(who) },
  );
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  const { data, errors } = response.body.singleResult;
  const node = (data as { node: { __typename: string; id: string } | null } | undefined)?.node;
  return { type: node ? node.__typename : node, id: node?.id, codes: errors?.map((error) => error.extensions?.code) };
}

describe('node(id:): each type under the rule of the query that lists it', () => {
  /** Every type, an object of it, who sees it and who gets null. */
  const NODE_CASES: { type: string; about: string; id: string; shown: Who[]; hidden: Who[] }[] = [
    {
      type: 'User',
      about: 'user, user',
      id: PEOPLE.colleague.id,
      shown: ['admin', 'userManager'],
      hidden: ['plain', 'auditor', 'demotedAdmin', 'member'],
    },
    // As `user(id:)`: a user's own record is read through `me`, not refetched by id.
    { type: 'User', about: 'the caller themself', id: PEOPLE.plain.id, shown: ['admin'], hidden: ['plain'] },
    { type: 'Role', about: 'role', id: ROLE_USER_ID, shown: ['admin', 'userManager'], hidden: ['plain', 'auditor', 'owner'] },
    { type: 'Privilege', about: 'privileges', id: PRIV_USER_MANAGEMENT_ID, shown: ['admin', 'userManager'], hidden: ['plain', 'auditor'] },
    { type: 'Group', about: 'group', id: ADMINS_GROUP_ID, shown: ['admin', 'userManager'], hidden: ['plain', 'member', 'demotedAdmin'] },
    {
      type: 'Tenant',
      about: 'tenant',
      id: TENANT,
      shown: ['admin', 'owner', 'tenantAdmin', 'member'],
      hidden: ['plain', 'otherTenantAdmin', 'userManager', 'auditor'],
    },
    {
      type: 'Invitation',
      about: 'invitations',
      id: INVITATION,
      shown: ['admin', 'owner', 'tenantAdmin'],
      hidden: ['member', 'otherTenantAdmin', 'userManager', 'plain'],
    },
    {
      type: 'AuditEvent',
      about: "auditEvents, for a tenant's event",
      id: TENANT_EVENT,
      shown: ['admin', 'auditor', 'owner', 'tenantAdmin'],
      hidden: ['member', 'otherTenantAdmin', 'userManager', 'plain'],
    },
    {
      type: 'AuditEvent',
      about: 'auditEvents, for an event of no tenant',
      id: SYSTEM_EVENT,
      shown: ['admin', 'auditor'],
      hidden: ['owner', 'tenantAdmin', 'userManager'],
    },
    {
      type: 'IdentityEvent',
      about: "events, for a tenant's event",
      id: TENANT_IDENTITY_EVENT,
      shown: ['admin', 'owner', 'tenantAdmin'],
      hidden: ['member', 'otherTenantAdmin', 'userManager', 'auditor', 'plain'],
    },
    {
      type: 'IdentityEvent',
      about: 'events, for an event of no tenant',
      id: REALM_IDENTITY_EVENT,
      shown: ['admin'],
      hidden: ['owner', 'tenantAdmin', 'auditor', 'userManager'],
    },
    {
      type: 'WebhookEndpoint',
      about: 'webhookEndpoints',
      id: WEBHOOK_ENDPOINT,
      shown: ['admin'],
      hidden: ['auditor', 'userManager', 'owner', 'plain'],
    },
    {
      type: 'WebhookDelivery',
      about: "webhookEndpoints, for an endpoint's delivery",
      id: WEBHOOK_DELIVERY,
      shown: ['admin'],
      hidden: ['auditor', 'userManager', 'owner', 'plain'],
    },
  ];

  it('looks up, and has a case here for, every type that implements Node', () => {
    const implementations = publicSchema.getPossibleTypes(publicSchema.getType('Node') as never).map((type) => type.name);
    // A type missing from NODE_TYPES would never be found (nothing shown): the list must still be whole.
    expect([...NODE_TYPES].sort()).toEqual([...implementations].sort());
    expect([...new Set(NODE_CASES.map(({ type }) => type))].sort()).toEqual([...implementations].sort());
  });

  for (const { type, about, id, shown, hidden } of NODE_CASES) {
    for (const who of shown) {
      it(`shows a ${type} to ${who}, as ${about} would`, async () => {
        expect(await refetch(id, who)).toEqual({ type, id, codes: undefined });
      });
    }
    for (const who of hidden) {
      it(`answers null for a ${type} to ${who}, exactly as for an id that names nothing`, async () => {
        const unknown = await refetch('00000000-0000-4000-8000-0000000000fe', who);
        expect(unknown).toEqual({ type: null, id: undefined, codes: undefined });
        expect(await refetch(id, who)).toEqual(unknown);
      });
    }
  }

  it('answers UNAUTHENTICATED to an anonymous caller, whatever the id names', async () => {
    for (const id of [TENANT, PEOPLE.colleague.id, '00000000-0000-4000-8000-0000000000fe']) {
      expect(await refetch(id, 'anonymous')).toEqual({ type: null, id: undefined, codes: ['UNAUTHENTICATED'] });
    }
  });

  it('answers BAD_USER_INPUT to an id that is not one (upper case, overlong, empty), before any rule', async () => {
    for (const id of [TENANT.toUpperCase(), `${TENANT}${'0'.repeat(5000)}`, '', "' or 1=1 --"]) {
      for (const who of ['admin', 'anonymous'] as const) expect((await refetch(id, who)).codes).toEqual(['BAD_USER_INPUT']);
    }
  });

  it('answers, of a user and a tenant sharing one id, the first in lookup order the caller may see: a hidden one never hides the other', async () => {
    expect(await refetch(NAMESAKE, 'admin')).toMatchObject({ type: 'User', codes: undefined });
    expect(await refetch(NAMESAKE, 'userManager')).toMatchObject({ type: 'User', codes: undefined });
    // Not a user manager: the user is hidden, and the tenant it belongs to is found as through `tenant(id:)`.
    expect(await refetch(NAMESAKE, 'namesake')).toMatchObject({ type: 'Tenant', codes: undefined });
    expect(await refetch(NAMESAKE, 'plain')).toMatchObject({ type: null, codes: undefined });
  });
});

/** A viewer-aware field rule's answer for `who`: 'shown' or the refusal's code. */
async function decision(
  type: string,
  field: string,
  parent: unknown,
  who: Who,
  options: { tenantId?: string; ownAccount?: Viewer; newAccountId?: string } = {},
) {
  const rule = fieldRuleOf(type, field);
  if (!('decide' in rule)) return 'shown';
  const context = Object.assign(contextFor(who, options), {
    ownAccount: options.ownAccount ?? null,
    newAccountId: options.newAccountId ?? null,
  });
  try {
    const answer = await rule.decide(parent, context);
    return answer === true ? 'shown' : (answer as AppError).code;
  } catch (error) {
    return (error as AppError).code;
  }
}

describe('the field rules below the root', () => {
  const someone = recordOf(PEOPLE.colleague);
  const tenant = { id: TENANT };
  const membership: MembershipRecord = { tenantId: TENANT, userId: PEOPLE.member.id, role: 'MEMBER', joinedAt: new Date(0) };

  /** Every field rule, with a viewer it shows the field to and one it refuses. */
  const FIELD_CASES: { type: string; field: string; parent: unknown; shown: Who[]; refused: Who[]; tenantId?: string }[] = [
    { type: 'Me', field: 'currentTenant', parent: {}, tenantId: TENANT, shown: ['member', 'owner'], refused: ['admin', 'plain'] },
    { type: 'Me', field: 'sessions', parent: { id: PEOPLE.plain.id }, shown: ['plain'], refused: ['admin', 'userManager'] },
    {
      type: 'User',
      field: 'roles',
      parent: someone,
      shown: ['colleague', 'admin', 'userManager'],
      refused: ['plain', 'auditor', 'demotedAdmin'],
    },
    { type: 'User', field: 'attributes', parent: someone, shown: ['colleague', 'userManager'], refused: ['member', 'anonymous'] },
    // Not the user themself: credentials are for the user's managers.
    {
      type: 'User',
      field: 'credentials',
      parent: someone,
      shown: ['admin', 'userManager'],
      refused: ['colleague', 'plain', 'auditor', 'demotedAdmin'],
    },
    // As effectivePrivileges: the user's gateway-wide record.
    { type: 'User', field: 'privilegeGrants', parent: someone, shown: ['colleague', 'admin', 'userManager'], refused: ['plain', 'member'] },
    { type: 'Group', field: 'users', parent: { id: ADMINS_GROUP_ID }, shown: ['admin', 'userManager'], refused: ['plain', 'member'] },
    { type: 'Tenant', field: 'members', parent: tenant, shown: ['member', 'admin'], refused: ['plain', 'otherTenantAdmin', 'userManager'] },
    {
      type: 'Tenant',
      field: 'invitations',
      parent: tenant,
      shown: ['tenantAdmin', 'owner', 'admin'],
      refused: ['member', 'otherTenantAdmin'],
    },
    {
      type: 'TenantMembership',
      field: 'role',
      parent: membership,
      shown: ['member', 'userManager', 'admin'],
      refused: ['plain', 'otherTenantAdmin'],
    },
    { type: 'Invitation', field: 'email', parent: { tenantId: TENANT }, shown: ['tenantAdmin', 'admin'], refused: ['member', 'plain'] },
    { type: 'InvitationPayload', field: 'invitation', parent: { invitation: { tenantId: TENANT } }, shown: ['owner'], refused: ['member'] },
    { type: 'TenantPayload', field: 'tenant', parent: { tenant }, shown: ['member'], refused: ['plain'] },
    { type: 'SignupPayload', field: 'tenant', parent: { tenant }, shown: ['owner'], refused: ['anonymous'] },
  ];

  it('has a case here for every rule of FIELD_PERMISSIONS', () => {
    const ruled = Object.entries(FIELD_PERMISSIONS).flatMap(([type, fields]) =>
      Object.entries(fields).flatMap(([field, rule]) => (rule === allow ? [] : [`${type}.${field === '*' ? 'any' : field}`])),
    );
    const covered = FIELD_CASES.map(
      ({ type, field }) => `${type}.${type in FIELD_PERMISSIONS && !(field in FIELD_PERMISSIONS[type]!) ? 'any' : field}`,
    );
    expect(ruled.filter((rule) => !covered.includes(rule))).toEqual([]);
  });

  for (const { type, field, parent, shown, refused, tenantId } of FIELD_CASES) {
    for (const who of shown) {
      it(`${type}.${field} shows to ${who}`, async () => {
        expect(await decision(type, field, parent, who, { tenantId })).toBe('shown');
      });
    }
    for (const who of refused) {
      it(`${type}.${field} answers FORBIDDEN to ${who}`, async () => {
        expect(await decision(type, field, parent, who, { tenantId })).toBe('FORBIDDEN');
      });
    }
  }

  it('User fields show to the account this request proved (login, signup), and to the acceptor of the invitation that created it', async () => {
    expect(await decision('User', 'roles', someone, 'anonymous', { ownAccount: principalOf(PEOPLE.colleague) })).toBe('shown');
    expect(await decision('User', 'roles', someone, 'anonymous', { newAccountId: someone.id })).toBe('shown');
    expect(await decision('User', 'roles', someone, 'anonymous', { ownAccount: principalOf(PEOPLE.plain) })).toBe('FORBIDDEN');
  });

  it('User.credentials of a user holding more than a user manager answers FORBIDDEN to that user manager (the escalation rule), but shows to an administrator', async () => {
    const boss = recordOf(PEOPLE.boss);
    expect(await decision('User', 'credentials', boss, 'userManager')).toBe('FORBIDDEN');
    expect(await decision('User', 'credentials', boss, 'admin')).toBe('shown');
    // A user manager's own credentials are within its reach.
    expect(await decision('User', 'credentials', recordOf(PEOPLE.userManager), 'userManager')).toBe('shown');
  });

  it('User.credentials shows to an account this request proved only when it is an administrator', async () => {
    expect(await decision('User', 'credentials', someone, 'anonymous', { ownAccount: principalOf(PEOPLE.admin) })).toBe('shown');
    expect(await decision('User', 'credentials', someone, 'anonymous', { ownAccount: principalOf(PEOPLE.userManager) })).toBe('FORBIDDEN');
    expect(await decision('User', 'credentials', someone, 'anonymous', { newAccountId: someone.id })).toBe('FORBIDDEN');
  });

  it('AcceptInvitationPayload.tenant shows to whoever held the invitation', async () => {
    expect(await decision('AcceptInvitationPayload', 'tenant', { tenant }, 'anonymous')).toBe('shown');
  });
});
