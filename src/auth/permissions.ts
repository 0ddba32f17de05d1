import { isObjectType, type GraphQLSchema } from 'graphql';
import type { IMiddleware } from 'graphql-middleware';
import { allow, and, chain, or, rule, shield, type IRules } from 'graphql-shield';
import type { GatewayContext } from '../context.js';
import { forbidden, unauthenticated } from '../errors.js';
import type { RateLimitedOperation } from './rate-limit.js';
import type { TenantRole } from '../modules/tenants/tenant.entity.js';

// Rules answer with the error itself so that the client learns UNAUTHENTICATED or
// FORBIDDEN, never which object exists. `contextual` caches a rule's answer for the request.
type ShieldRule = Parameters<typeof and>[number];

/** The caller's role in a tenant, from memberships loaded once per request. */
async function tenantRoleOf(context: GatewayContext, tenantId: string): Promise<TenantRole | undefined> {
  if (!context.principal) return undefined;
  const memberships = await context.loaders.membershipsByUserId.load(context.principal.userId);
  return memberships.find((membership) => membership.tenantId === tenantId)?.role;
}

/**
 * A verified caller whose account the mirror still has, enabled (src/auth/admission.ts);
 * and when X-Tenant-ID chooses a tenant, one the caller belongs to.
 */
const isAuthenticated = rule('isAuthenticated', { cache: 'contextual' })(async (_parent, _args, context: GatewayContext) => {
  if (!context.principal) return unauthenticated();
  // Returned, not thrown: graphql-shield would turn a thrown error into FORBIDDEN.
  const refusal = await context.caller().then(
    () => undefined,
    (error: Error) => error,
  );
  if (refusal) return refusal;
  if (context.requestedTenantId && !(await tenantRoleOf(context, context.requestedTenantId))) return forbidden();
  return true;
});

/** A member, holding one of `roles`, of the tenant the field's arguments (or parent) name. */
function tenantRole(
  roles: readonly TenantRole[],
  tenantIdOf: (args: Record<string, any>, context: GatewayContext, parent: any) => unknown,
): ShieldRule {
  const check = rule({ cache: 'strict' })(async (parent, args, context: GatewayContext) => {
    const tenantId = await tenantIdOf(args, context, parent);
    const role = typeof tenantId === 'string' ? await tenantRoleOf(context, tenantId) : undefined;
    return role && roles.includes(role) ? true : forbidden();
  });
  return and(isAuthenticated, check);
}

/**
 * ROLE_X / PRIV_X: the realm role role_x / priv_x is among the caller's effective roles,
 * in their token and in the mirror both: one removed through the gateway no longer counts.
 */
function hasRealmRole(name: string): ShieldRule {
  const check = rule(`hasRealmRole:${name}`, { cache: 'contextual' })(async (_parent, _args, context: GatewayContext) => {
    // isAuthenticated, beside this rule, answers why a caller is not admitted.
    const caller = await context.caller().catch(() => undefined);
    return caller?.principal.roles.includes(name) || caller?.principal.privileges.includes(name) ? true : forbidden();
  });
  return and(isAuthenticated, check);
}

const ADMIN_ROLE = 'role_admin';
const ROLE_ADMIN = hasRealmRole(ADMIN_ROLE);
const PRIV_USER_MANAGEMENT = hasRealmRole('priv_user_management');
const USER_MANAGERS = or(ROLE_ADMIN, PRIV_USER_MANAGEMENT);

/**
 * PRIV_USER_MANAGEMENT manages users, not administrators: without ROLE_ADMIN a caller may
 * neither grant or revoke role_admin (directly or through a group that carries it) nor
 * change, delete or set the password of a user who holds it. Otherwise the privilege
 * would be a path to ROLE_ADMIN.
 */
const leavesAdminsAlone = rule('leavesAdminsAlone', { cache: 'strict' })(async (_parent, args, { loaders }: GatewayContext) => {
  const input = (args.input ?? {}) as Record<string, unknown>;
  const ids = (fields: string[]) => fields.flatMap((field) => (Array.isArray(input[field]) ? (input[field] as string[]) : []));
  const roles = await loaders.roleById.loadMany(ids(['roleIds', 'roleIdsToAdd', 'roleIdsToRemove']));
  const groupRoles = await loaders.rolesByGroupId.loadMany(ids(['groupIds', 'groupIdsToAdd', 'groupIdsToRemove']));
  const named = [...roles, ...groupRoles.flat()].filter((role) => role && !(role instanceof Error)) as { name: string }[];
  if (named.some((role) => role.name === ADMIN_ROLE)) return forbidden();
  const targetId = args.id ?? args.userId;
  if (typeof targetId === 'string') {
    const held = await loaders.rolesByUserId.load(targetId);
    if (held.some((role) => role.name === ADMIN_ROLE)) return forbidden();
  }
  return true;
});
const USER_WRITERS = or(ROLE_ADMIN, and(PRIV_USER_MANAGEMENT, leavesAdminsAlone));
// ARCHITECTURE.md also lets a tenant's OWNER or ADMIN read that tenant's events: not granted yet.
const AUDITORS = or(ROLE_ADMIN, hasRealmRole('role_manager'));

/**
 * Within the operation's abuse limits (src/auth/rate-limit.ts). Never cached: every call
 * counts, so 15 aliased calls with the same arguments count 15.
 */
function rateLimited(operation: RateLimitedOperation): ShieldRule {
  return rule(`rateLimited:${operation}`, { cache: 'no_cache' })((_parent, args, { rateLimiter, clientIp, principal }: GatewayContext) =>
    // Returned, not thrown: graphql-shield would turn a thrown error into FORBIDDEN.
    rateLimiter.consume(operation, clientIp, args, principal ?? undefined).then(
      () => true,
      (error: Error) => error,
    ),
  );
}

/**
 * `allowed`, then the abuse limits: `chain` stops at the first refusal, so a call the
 * permission table refuses is not counted against anyone.
 */
function limited(allowed: ShieldRule, operation: RateLimitedOperation): ShieldRule {
  return chain(allowed, rateLimited(operation));
}

const ANY_TENANT_ROLE = ['OWNER', 'ADMIN', 'MEMBER'] as const;
const TENANT_ADMINS = ['OWNER', 'ADMIN'] as const;
const invitationTenant = async ({ id }: Record<string, any>, { loaders }: GatewayContext) =>
  typeof id === 'string' ? (await loaders.invitationById.load(id))?.tenantId : undefined;
const invitedTenant = (args: Record<string, any>) => args.input?.tenantId;

/**
 * Only an OWNER invites an OWNER (L4): an ADMIN who could would make themselves one by
 * accepting with a second account of their own.
 */
const invitesNoOwner = rule('invitesNoOwner', { cache: 'strict' })((_parent, args) => (args.input?.role === 'OWNER' ? forbidden() : true));
const INVITERS = or(ROLE_ADMIN, tenantRole(['OWNER'], invitedTenant), and(tenantRole(TENANT_ADMINS, invitedTenant), invitesNoOwner));

/**
 * Who may call what: every Query and Mutation field, in one table. Anything missing is
 * denied, and a test fails when a root field has no entry here.
 */
export const PERMISSIONS = {
  Query: {
    publicHello: allow,
    me: isAuthenticated,
    user: USER_MANAGERS,
    users: USER_MANAGERS,
    roles: USER_MANAGERS,
    role: USER_MANAGERS,
    privileges: USER_MANAGERS,
    groups: USER_MANAGERS,
    group: USER_MANAGERS,
    tenant: or(ROLE_ADMIN, tenantRole(ANY_TENANT_ROLE, (args) => args.id)),
    tenants: isAuthenticated,
    invitations: or(ROLE_ADMIN, tenantRole(TENANT_ADMINS, (args) => args.tenantId)),
    dashboard: ROLE_ADMIN,
    auditEvents: or(AUDITORS, tenantRole(TENANT_ADMINS, (args) => args.filter?.tenantId)),
  },
  Mutation: {
    login: rateLimited('login'),
    refreshToken: allow,
    logout: isAuthenticated,
    createUser: USER_WRITERS,
    updateUser: USER_WRITERS,
    deleteUser: USER_WRITERS,
    setUserPassword: USER_WRITERS,
    createTenant: limited(isAuthenticated, 'createTenant'),
    signup: rateLimited('signup'),
    resetPassword: rateLimited('resetPassword'),
    registerUser: limited(USER_WRITERS, 'registerUser'),
    sendPasswordSetupEmail: limited(USER_WRITERS, 'sendPasswordSetupEmail'),
    createInvitation: limited(INVITERS, 'createInvitation'),
    revokeInvitation: or(ROLE_ADMIN, tenantRole(TENANT_ADMINS, invitationTenant)),
    acceptInvitation: rateLimited('acceptInvitation'),
    // Email changes only: names may change as often as their owner likes.
    updateMyProfile: limited(isAuthenticated, 'emailChange'),
    deleteMyAccount: isAuthenticated,
    createRole: ROLE_ADMIN,
    updateRole: ROLE_ADMIN,
    deleteRole: ROLE_ADMIN,
    createGroup: ROLE_ADMIN,
    updateGroupUsers: ROLE_ADMIN,
    updateGroupRolesPrivileges: ROLE_ADMIN,
    deleteGroup: ROLE_ADMIN,
  },
} satisfies Record<'Query' | 'Mutation', Record<string, ShieldRule>>;

/** Fields below the root that need more than their root field's rule. */
export const FIELD_PERMISSIONS: Record<string, Record<string, ShieldRule>> = {
  Tenant: { invitations: or(ROLE_ADMIN, tenantRole(TENANT_ADMINS, (_args, _context, tenant) => tenant?.id)) },
};

/**
 * The shield for a schema: root fields follow PERMISSIONS, deny by default; fields of
 * the object types they return are reachable once the root field allowed the call.
 *
 * Only the fields with a rule to check get graphql-shield's middleware: root fields and
 * FIELD_PERMISSIONS. The others would only be wrapped in `allow`, and that wrapper is
 * async: every field below the root (thousands in a page of users) would resolve
 * through a promise of its own. Measured by `npm run bench` (workload 2).
 */
export function permissionsFor(schema: GraphQLSchema): IMiddleware {
  // graphql-shield refuses a rule map for a type the schema lacks (no mutations yet, say).
  const rules: IRules & Record<string, unknown> = Object.fromEntries(
    Object.entries(PERMISSIONS).filter(([, fields]) => Object.keys(fields).length > 0),
  );
  const rootTypes = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  for (const type of Object.values(schema.getTypeMap())) {
    if (isObjectType(type) && !type.name.startsWith('__') && !rootTypes.has(type.name) && !(type.name in rules)) {
      rules[type.name] = FIELD_PERMISSIONS[type.name] ? { '*': allow, ...FIELD_PERMISSIONS[type.name] } : allow;
    }
  }
  const generated = shield(rules, {
    fallbackRule: and(isAuthenticated, rule('deny', { cache: 'strict' })(() => forbidden())),
    // Without this, graphql-shield would replace resolvers' own errors with its fallback.
    allowExternalErrors: true,
    fallbackError: async (thrown) => (thrown instanceof Error ? thrown : forbidden()),
  }).generate(schema) as Record<string, Record<string, unknown>>;
  const checked = (type: string, field: string) => rootTypes.has(type) || field in (FIELD_PERMISSIONS[type] ?? {});
  return Object.fromEntries(
    Object.entries(generated)
      .map(([type, fields]) => [type, Object.fromEntries(Object.entries(fields).filter(([field]) => checked(type, field)))] as const)
      .filter(([, fields]) => Object.keys(fields).length > 0),
  ) as IMiddleware;
}
