import { isObjectType, type GraphQLSchema } from 'graphql';
import type { IMiddleware } from 'graphql-middleware';
import { allow, and, chain, or, race, rule, shield, type IRules } from 'graphql-shield';
import type { GatewayContext } from '../context.js';
import { forbidden, unauthenticated } from '../errors.js';
import type { RateLimitedOperation } from './rate-limit.js';
import type { TenantRole } from '../modules/tenants/tenant.entity.js';
import { UUID } from '../validation.js';

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

const ROLE_ADMIN = hasRealmRole('role_admin');
const PRIV_USER_MANAGEMENT = hasRealmRole('priv_user_management');
const USER_MANAGERS = or(ROLE_ADMIN, PRIV_USER_MANAGEMENT);

/**
 * The realm roles and privileges the caller holds, by name, as far as the escalation rule
 * is concerned: those both its token and the mirror grant (src/auth/admission.ts). The one
 * place that says so.
 */
async function heldByCaller(context: GatewayContext): Promise<ReadonlySet<string>> {
  const { principal } = await context.caller();
  return new Set([...principal.roles, ...principal.privileges]);
}

const GRANTED_ROLES = ['roleIds', 'roleIdsToAdd', 'roleIdsToRemove'];
const GRANTED_GROUPS = ['groupIds', 'groupIdsToAdd', 'groupIdsToRemove'];

/**
 * No escalation, as Kubernetes RBAC prevents it (ARCHITECTURE.md): without ROLE_ADMIN, a
 * caller acts on a user only when it holds every effective role and privilege of that
 * user; grants or takes away a role or group only when it holds everything the role or
 * group gives (its effective closure, ancestors' roles included); and never changes its
 * own roles or groups. Effective roles come from selectEffectiveRoles
 * (src/modules/roles/role.loader.ts), as Keycloak computes them for a token.
 *
 * `targetOf` names the user the operation acts on, if any. A target the mirror does not
 * know (or a malformed id) is refused as FORBIDDEN too: what it holds cannot be shown to be
 * within reach (a user just made in Keycloak's console may be an administrator), and the
 * answer does not tell an unknown id from an administrator's. NOT_FOUND is left to callers
 * with ROLE_ADMIN.
 */
function withinReach(targetOf: (args: Record<string, any>) => unknown = () => undefined): ShieldRule {
  return rule({ cache: 'strict' })(async (_parent, args, context: GatewayContext) => {
    const { loaders, principal } = context;
    const input = (args.input ?? {}) as Record<string, unknown>;
    const idsIn = (fields: string[]) =>
      fields.flatMap((field) => (Array.isArray(input[field]) ? input[field] : [])).filter((id): id is string => typeof id === 'string');
    const [roleIds, groupIds] = [idsIn(GRANTED_ROLES), idsIn(GRANTED_GROUPS)];
    const targetId = targetOf(args);
    if (targetId !== undefined && targetId === principal?.userId && roleIds.length + groupIds.length > 0) return forbidden();
    if (targetId !== undefined && (typeof targetId !== 'string' || !UUID.test(targetId) || !(await loaders.userById.load(targetId)))) {
      return forbidden();
    }

    const [held, targetHolds, roles, groups] = await Promise.all([
      heldByCaller(context),
      typeof targetId === 'string' ? loaders.effectiveRolesByUserId.load(targetId) : [],
      loaders.effectiveRolesByRoleId.loadMany(roleIds),
      loaders.effectiveRolesByGroupId.loadMany(groupIds),
    ]);
    const reached = [targetHolds, ...roles, ...groups];
    if (reached.some((found) => found instanceof Error)) return forbidden();
    return (reached as { name: string }[][]).every((found) => found.every((role) => held.has(role.name))) ? true : forbidden();
  });
}

/**
 * ROLE_ADMIN, or PRIV_USER_MANAGEMENT within the escalation rule, for an operation on the
 * user `targetOf` names (if any). In turn, not at once: an administrator's call skips the
 * rule's queries, and the rule only ever sees a signed-in user manager.
 */
function userWriter(targetOf?: (args: Record<string, any>) => unknown): ShieldRule {
  return race(ROLE_ADMIN, chain(PRIV_USER_MANAGEMENT, withinReach(targetOf)));
}
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
    createUser: userWriter(),
    updateUser: userWriter((args) => args.id),
    deleteUser: userWriter((args) => args.id),
    setUserPassword: userWriter((args) => args.userId),
    createTenant: limited(isAuthenticated, 'createTenant'),
    signup: rateLimited('signup'),
    resetPassword: rateLimited('resetPassword'),
    registerUser: limited(userWriter(), 'registerUser'),
    sendPasswordSetupEmail: limited(userWriter((args) => args.userId), 'sendPasswordSetupEmail'),
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
