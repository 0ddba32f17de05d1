import { isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { IMiddleware, IMiddlewareFunction } from 'graphql-middleware';
import { allow, and, chain, deny, or, race, rule, shield, type IRules } from 'graphql-shield';
import type { GatewayContext, Viewer } from './context.js';
import { AppError, forbidden, unauthenticated } from './errors.js';
import { ADMIN_ROLE, MANAGER_ROLE, USER_MANAGEMENT_PRIVILEGE } from './keycloak/realm-catalog.js';
import type { RateLimitedOperation } from './config.js';
import { nodeTypeOf, type NodeRecord, type NodeTypeName } from './modules/node/node.type.js';
import type { TenantRole } from './modules/tenants/tenant.entity.js';
import type { MembershipRecord } from './modules/tenants/tenant.type.js';
import type { UserRecord } from './modules/users/user.type.js';
import { UUID } from './validation.js';

// Rules answer with the error itself so that the client learns UNAUTHENTICATED or
// FORBIDDEN, never which object exists. `contextual` caches a rule's answer for the request.
type ShieldRule = Parameters<typeof and>[number];

/** `viewer`'s role in a tenant, from memberships loaded once per request and viewer. */
async function roleIn(context: GatewayContext, viewer: Viewer | null, tenantId: string): Promise<TenantRole | undefined> {
  if (!viewer) return undefined;
  const memberships = await context.loaders.membershipsByUserId.load(viewer.userId);
  return memberships.find((membership) => membership.tenantId === tenantId)?.role;
}

/** The caller's role in a tenant. */
const tenantRoleOf = (context: GatewayContext, tenantId: string) => roleIn(context, context.principal, tenantId);

/** ROLE_X / PRIV_X: the realm role role_x / priv_x is among the viewer's effective roles. */
const holds = (viewer: Viewer | null, name: string) => !!viewer && (viewer.roles.includes(name) || viewer.privileges.includes(name));

/**
 * A verified caller whose account the mirror still has, enabled (src/admission.ts);
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
    return holds(caller?.principal ?? null, name) ? true : forbidden();
  });
  return and(isAuthenticated, check);
}

// Every catalog declares these (REQUIRED_CATALOG_ENTRIES in src/keycloak/realm-catalog.ts).
const ROLE_ADMIN = hasRealmRole(ADMIN_ROLE);
const PRIV_USER_MANAGEMENT = hasRealmRole(USER_MANAGEMENT_PRIVILEGE);
const USER_MANAGERS = or(ROLE_ADMIN, PRIV_USER_MANAGEMENT);

/**
 * The realm roles and privileges the caller holds, by name, as far as the escalation rule
 * is concerned: those both its token and the mirror grant (src/admission.ts). The one
 * place that says so.
 */
async function heldByCaller(context: GatewayContext): Promise<ReadonlySet<string>> {
  const { principal } = await context.caller();
  return new Set([...principal.roles, ...principal.privileges]);
}

const GRANTED_ROLES = ['roleIds', 'roleIdsToAdd', 'roleIdsToRemove'];
const GRANTED_GROUPS = ['groupIds', 'groupIdsToAdd', 'groupIdsToRemove'];

/**
 * No escalation, as Kubernetes RBAC prevents it (docs/architecture.md): without ROLE_ADMIN, a
 * caller acts on a user only when it holds every effective role and privilege of that
 * user; grants or takes away a role or group only when it holds everything the role or
 * group gives (its effective closure, ancestors' roles included); and never changes its
 * own roles or groups, nor states that an address is verified. Effective roles come first from
 * selectEffectiveRoles (src/modules/roles/roles.queries.ts), then from Keycloak itself
 * (withinReachInKeycloak, below).
 *
 * `targetOf` names the user the operation acts on, if any. A target the mirror does not
 * know (or a malformed id) is refused as FORBIDDEN too: what it holds cannot be shown to be
 * within reach (a user just made in Keycloak's console may be an administrator), and the
 * answer does not tell an unknown id from an administrator's. NOT_FOUND is left to callers
 * with ROLE_ADMIN.
 */
function withinReach(targetOf: (args: Record<string, any>) => unknown = () => undefined): ShieldRule {
  return rule({ cache: 'strict' })(async (_parent, args, context: GatewayContext) => {
    const input = (args.input ?? {}) as Record<string, unknown>;
    const idsIn = (fields: string[]) =>
      fields.flatMap((field) => (Array.isArray(input[field]) ? input[field] : [])).filter((id): id is string => typeof id === 'string');
    return userWriteWithinReach(context, {
      targetId: targetOf(args),
      roleIds: idsIn(GRANTED_ROLES),
      groupIds: idsIn(GRANTED_GROUPS),
      emailVerified: input.emailVerified === true,
    });
  });
}

/** One write on a user as the escalation rule weighs it. */
interface UserWrite {
  /** The user written, if any (undefined: a new user); anything but a known user's id is refused. */
  targetId?: unknown;
  roleIds: readonly string[];
  groupIds: readonly string[];
  emailVerified: boolean;
}

/** The escalation rule (withinReach) for one write of a signed-in user manager: true, or FORBIDDEN. */
async function userWriteWithinReach(context: GatewayContext, write: UserWrite): Promise<true | Error> {
  const { loaders, principal } = context;
  const { targetId, roleIds, groupIds } = write;
  // Saying that an address is proven is an administrator's statement: a user manager who
  // could make it would hand out trust in addresses nobody followed a link to (its own included).
  if (write.emailVerified) return forbidden();
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
  if (!(reached as { name: string }[][]).every((found) => found.every((role) => held.has(role.name)))) return forbidden();
  return (await withinReachInKeycloak(context, typeof targetId === 'string' ? targetId : undefined, roleIds, groupIds))
    ? true
    : forbidden();
}

/**
 * importUsers' permission per item (src/modules/users/user-import.service.ts): the caller
 * passed `USER_MANAGERS` for the whole call, and each user it writes is then weighed as
 * createUser or updateUser would weigh it, so that one user beyond the caller's reach is
 * FAILED with FORBIDDEN while the others are written. ROLE_ADMIN reaches every user.
 */
export function importPermission(context: GatewayContext): (write: UserWrite) => Promise<true | Error> {
  return async (write) => {
    const { principal } = await context.caller();
    return holds(principal, ADMIN_ROLE) ? true : userWriteWithinReach(context, write);
  };
}

/**
 * The escalation rule again, as Keycloak has it now: everything the target user holds, and
 * everything each role and group granted or taken away gives, is held by the caller too;
 * realm and client roles alike, through groups, their ancestors and composites.
 *
 * The mirror alone cannot answer it. It models only the realm roles the gateway manages
 * (role_*, priv_*: src/jobs/directory-sync.ts), so a client role such as realm-management's
 * manage-users, or a console role composed of role_admin, is invisible to it; and it learns
 * the console's changes only at the next reconcile, so an administrator appointed in the
 * console looks like anyone until then. Asked after the mirror's check (which refuses most
 * attempts for free) and only for a caller without ROLE_ADMIN. Roles every user holds by
 * default need no exception: the caller holds them too. Roles are the whole story only when
 * the realm grants no power through Keycloak's admin permissions (a console operator can let
 * a user manage users with no role at all) and the service account can view every role: when
 * either fails, user managers' writes on others are refused. Any doubt refuses: an unknown
 * target, group or role, or Keycloak failing to answer, is FORBIDDEN, never an error.
 */
async function withinReachInKeycloak(
  context: GatewayContext,
  targetId: string | undefined,
  roleIds: readonly string[],
  groupIds: readonly string[],
): Promise<boolean> {
  const { effectiveRoles } = context;
  const { principal } = await context.caller();
  // What the caller holds is within its own reach: a new user given nothing, or the caller
  // editing its own profile, needs no question.
  const targets = targetId === undefined || targetId === principal.userId ? [] : [targetId];
  if (targets.length + roleIds.length + groupIds.length === 0) return true;
  try {
    const [whyNot, held, ...reached] = await Promise.all([
      effectiveRoles.whyRolesDoNotTell(),
      effectiveRoles.ofUser(principal.userId),
      ...targets.map((id) => effectiveRoles.ofUser(id)),
      ...[...new Set(roleIds)].map((id) => effectiveRoles.ofRole(id)),
      ...[...new Set(groupIds)].map((id) => effectiveRoles.ofGroup(id)),
    ]);
    if (whyNot) {
      context.log.warn({ reason: whyNot }, "A user manager's write refused: roles alone cannot show it is within reach");
      return false;
    }
    return reached.every((roles) => [...roles].every((role) => held.has(role)));
  } catch (error) {
    context.log.warn({ err: error }, 'Keycloak did not say what the user, roles or groups hold: refused');
    return false;
  }
}

/**
 * The escalation rule for one existing user, for a caller holding PRIV_USER_MANAGEMENT
 * without ROLE_ADMIN: the caller holds every effective role and privilege of the user, in
 * the mirror first, then in Keycloak (withinReachInKeycloak). For the fields below the root
 * that show what only a user's manager may see (User.credentials); any doubt refuses.
 */
async function userWithinReach(context: GatewayContext, targetId: string): Promise<boolean> {
  try {
    const [held, targetHolds] = await Promise.all([heldByCaller(context), context.loaders.effectiveRolesByUserId.load(targetId)]);
    if (!targetHolds.every((role) => held.has(role.name))) return false;
  } catch {
    return false;
  }
  return withinReachInKeycloak(context, targetId, [], []);
}

/**
 * ROLE_ADMIN, or PRIV_USER_MANAGEMENT within the escalation rule, for an operation on the
 * user `targetOf` names (if any). In turn, not at once: an administrator's call skips the
 * rule's queries, and the rule only ever sees a signed-in user manager.
 */
function userWriter(targetOf?: (args: Record<string, any>) => unknown): ShieldRule {
  return race(ROLE_ADMIN, chain(PRIV_USER_MANAGEMENT, withinReach(targetOf)));
}
// A tenant's OWNER or ADMIN reading that tenant's events is planned (docs/architecture.md), not granted yet.
const AUDITORS = or(ROLE_ADMIN, hasRealmRole(MANAGER_ROLE));

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

const EVENT_READERS = or(
  ROLE_ADMIN,
  tenantRole(TENANT_ADMINS, (args) => args.filter?.tenantId),
);

/**
 * Who may call what: every Query, Mutation and Subscription field, in one table. Anything missing is
 * denied, and a test fails when a root field has no entry here.
 */
export const PERMISSIONS = {
  Query: {
    // Signed in; then each object under the rule of the query that lists it (NODE_RULES), null when refused.
    node: isAuthenticated,
    publicHello: allow,
    me: isAuthenticated,
    user: USER_MANAGERS,
    users: USER_MANAGERS,
    roles: USER_MANAGERS,
    role: USER_MANAGERS,
    privileges: USER_MANAGERS,
    groups: USER_MANAGERS,
    group: USER_MANAGERS,
    tenant: or(
      ROLE_ADMIN,
      tenantRole(ANY_TENANT_ROLE, (args) => args.id),
    ),
    tenants: isAuthenticated,
    invitations: or(
      ROLE_ADMIN,
      tenantRole(TENANT_ADMINS, (args) => args.tenantId),
    ),
    dashboard: ROLE_ADMIN,
    auditEvents: or(
      AUDITORS,
      tenantRole(TENANT_ADMINS, (args) => args.filter?.tenantId),
    ),
    // Under the escalation rule, as a write would be: an administrator's sessions (their
    // addresses) are not a user manager's to read.
    userSessions: userWriter((args) => args.userId),
    // A tenant's OWNER or ADMIN names their tenant in the filter, and sees its events only.
    events: EVENT_READERS,
    webhookEndpoints: ROLE_ADMIN,
  },
  Mutation: {
    login: rateLimited('login'),
    refreshToken: allow,
    logout: isAuthenticated,
    createUser: userWriter(),
    updateUser: userWriter((args) => args.id),
    deleteUser: userWriter((args) => args.id),
    setUserPassword: userWriter((args) => args.userId),
    removeUserCredential: userWriter((args) => args.userId),
    // Counted only when it emails (src/auth/rate-limit.ts).
    requireUserActions: limited(
      userWriter((args) => args.userId),
      'requireUserActions',
    ),
    createTenant: limited(isAuthenticated, 'createTenant'),
    signup: rateLimited('signup'),
    resetPassword: rateLimited('resetPassword'),
    registerUser: limited(userWriter(), 'registerUser'),
    // Each user is then weighed by the escalation rule on its own (importPermission).
    importUsers: limited(USER_MANAGERS, 'importUsers'),
    sendPasswordSetupEmail: limited(
      userWriter((args) => args.userId),
      'sendPasswordSetupEmail',
    ),
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
    endUserSessions: userWriter((args) => args.userId),
    signOutEverywhere: isAuthenticated,
    createWebhookEndpoint: ROLE_ADMIN,
    updateWebhookEndpoint: ROLE_ADMIN,
    deleteWebhookEndpoint: ROLE_ADMIN,
    rotateWebhookSecret: ROLE_ADMIN,
    redeliverWebhook: ROLE_ADMIN,
  },
  // Asked when a subscription starts and again for each event it delivers (src/modules/events/identity-events.subscription.ts).
  Subscription: {
    identityEvents: EVENT_READERS,
  },
} satisfies Record<'Query' | 'Mutation' | 'Subscription', Record<string, ShieldRule>>;

/**
 * `node(id:)`: each type it refetches is shown under the rule of the root field that lists
 * or reads that type, asked with the arguments that field would need to show this object.
 * The rules are the table's own, not copies: a change to `tenant`'s rule is a change to a
 * tenant's refetch.
 */
export const NODE_RULES: Record<NodeTypeName, { field: keyof typeof PERMISSIONS.Query; args: (record: any) => Record<string, unknown> }> = {
  User: { field: 'user', args: ({ id }) => ({ id }) },
  Role: { field: 'role', args: ({ id }) => ({ id }) },
  Privilege: { field: 'privileges', args: () => ({}) },
  Group: { field: 'group', args: ({ id }) => ({ id }) },
  Tenant: { field: 'tenant', args: ({ id }) => ({ id }) },
  Invitation: { field: 'invitations', args: ({ tenantId }: { tenantId: string }) => ({ tenantId }) },
  // An event of no tenant is the auditors' alone, as in the list: a tenant's admins must name their tenant.
  AuditEvent: { field: 'auditEvents', args: ({ tenantId }: { tenantId: string | null }) => ({ filter: { tenantId } }) },
  IdentityEvent: { field: 'events', args: ({ tenantId }: { tenantId: string | null }) => ({ filter: { tenantId } }) },
  WebhookEndpoint: { field: 'webhookEndpoints', args: () => ({}) },
  WebhookDelivery: { field: 'webhookEndpoints', args: () => ({}) },
};

/**
 * How the rules are asked outside graphql-shield's own middleware. Its answers are cached in
 * the request under the rule's name and this hash, never the same key as the middleware's
 * own (a hash of another shape): a rule asked for `node` is asked afresh.
 */
const NODE_RULE_OPTIONS: Parameters<ShieldRule['resolve']>[4] = {
  debug: false,
  allowExternalErrors: true,
  fallbackRule: deny,
  hashFunction: ({ args }) => `node:${JSON.stringify(args)}`,
};

/** Whether the caller may see `node`: its type's rule said yes. A refusal is `false`; anything else the rule raised is thrown. */
async function maySee(node: NodeRecord, context: GatewayContext, info: GraphQLResolveInfo): Promise<boolean> {
  const { field, args } = NODE_RULES[nodeTypeOf(node)];
  const shieldContext = context as GatewayContext & { _shield?: { cache: Record<string, unknown> } };
  shieldContext._shield ??= { cache: {} };
  const answer = await PERMISSIONS.Query[field].resolve(undefined as never, args(node), shieldContext as never, info, NODE_RULE_OPTIONS);
  if (answer === true) return true;
  if (answer === false || (answer instanceof AppError && (answer.code === 'FORBIDDEN' || answer.code === 'UNAUTHENTICATED'))) return false;
  throw answer instanceof Error ? answer : new Error(`Unexpected rule answer for node: ${String(answer)}`);
}

/**
 * Query.node's answer: of the objects the id names (src/modules/node/node.lookup.ts, in the
 * order of NODE_TYPES), the first the caller may see; null when there is none. A refused
 * object reads exactly as one that does not exist, and one the caller may not see never
 * hides one it may: an object of another type sharing its id is still found.
 */
const firstVisibleNode: FieldMiddleware = async (resolve, parent, args, context, info) => {
  const found = (await resolve(parent, args, context, info)) as NodeRecord[];
  for (const node of found) if (await maySee(node, context, info)) return node;
  return null;
};

// ---------------------------------------------------------------------------------------
// Fields below the root. A root field's rule says who may ask; these say what the answer
// shows as it nests (`me → tenants → tenant → members → user → tenants → ...`), so that no
// path reveals more of a tenant than `tenant(id:)` would. They read with the viewers: the
// caller, and the account of the caller's this request proved (GatewayContext.ownAccount:
// the answers of login, refreshToken and signup are read by the account they signed in).

// The token's caller as admitted (src/admission.ts), once settled: the fields of a page then decide without waiting.
const admitted = new WeakMap<GatewayContext, Viewer | null>();

/**
 * Who reads the fields below the root: the caller as admitted (roles narrowed to those the
 * mirror grants too; a caller admission refuses reads as no one), and the account of the
 * caller's this request proved. Synchronous once the admission is known.
 */
function viewersOf(context: GatewayContext): Viewer[] | Promise<Viewer[]> {
  const withOwn = (caller: Viewer | null) =>
    context.ownAccount ? (caller ? [caller, context.ownAccount] : [context.ownAccount]) : caller ? [caller] : [];
  if (!context.principal) return withOwn(null);
  if (admitted.has(context)) return withOwn(admitted.get(context)!);
  return context.caller().then(
    (caller) => {
      admitted.set(context, caller.principal);
      return withOwn(caller.principal);
    },
    () => {
      admitted.set(context, null);
      return withOwn(null);
    },
  );
}

/** `decide(viewers)`, at once when the viewers are known. */
function withViewers<T>(context: GatewayContext, decide: (viewers: Viewer[]) => T | Promise<T>): T | Promise<T> {
  const viewers = viewersOf(context);
  return viewers instanceof Promise ? viewers.then(decide) : decide(viewers);
}

/** ROLE_ADMIN or PRIV_USER_MANAGEMENT: who may read any user's record, as `user` and `users` do. */
const managesUsers = (viewer: Viewer) => holds(viewer, ADMIN_ROLE) || holds(viewer, USER_MANAGEMENT_PRIVILEGE);
const isAdmin = (viewer: Viewer) => holds(viewer, ADMIN_ROLE);

type Decision = true | Error;

/**
 * A rule on a field below the root: `true` shows the field, an error refuses it. These
 * are checked by a middleware of their own rather than graphql-shield's: its wrapper
 * takes three promises a field, and a page of 100 users has hundreds of guarded fields.
 * Measured in process on `npm run bench` workload 2's query (400 guarded fields a page),
 * on a busy 2-core machine: graphql-shield's wrapper added 0.2–0.9 ms of CPU a page
 * (up to 9%), this one 0–0.3 ms, within the noise.
 */
export interface FieldRule {
  decide(parent: any, context: GatewayContext): Decision | Promise<Decision>;
}

const verdict = (allowed: boolean): Decision => allowed || forbidden();

/** A rule decided from the viewers and the parent alone: cheaper to decide again than to look up. */
function viewerRule<Parent>(allows: (viewer: Viewer, parent: Parent) => boolean): FieldRule {
  return {
    decide: (parent: Parent, context: GatewayContext) =>
      withViewers(context, (viewers) => verdict(viewers.some((viewer) => allows(viewer, parent)))),
  };
}

/**
 * A member of the tenant `tenantIdOf` names, holding one of `roles`, or a viewer `bypass`
 * lets through (ROLE_ADMIN unless said otherwise). No tenant named: the field answers null,
 * there is nothing to show. The viewers' memberships are loaded once per request (and
 * again after a write), however many fields ask.
 */
function tenantRule<Parent>(
  tenantIdOf: (parent: Parent, context: GatewayContext) => string | null | undefined,
  roles: readonly TenantRole[],
  bypass: (viewer: Viewer) => boolean = isAdmin,
): FieldRule {
  return {
    decide(parent: Parent, context: GatewayContext) {
      const tenantId = tenantIdOf(parent, context);
      if (tenantId == null) return true;
      return withViewers(context, (viewers) =>
        viewers.some(bypass)
          ? true
          : Promise.all(viewers.map((viewer) => roleIn(context, viewer, tenantId))).then((held) =>
              verdict(held.some((role) => role !== undefined && roles.includes(role))),
            ),
      );
    },
  };
}

/**
 * A user's gateway-wide record beyond id, username, email and names: roles, groups,
 * privileges, attributes, account state. The user themself and user managers see it, and
 * whoever accepted an invitation that created it, in that answer (GatewayContext.newAccountId);
 * a co-member, an inviter or an invitee does not (I6). Refused with FORBIDDEN, also where the
 * field is nullable (entityCode, countryCode): a bare null would read as "no value" and a
 * frontend would show it as a fact, while FORBIDDEN says the value is hidden.
 */
const selfOrUserManager: FieldRule = {
  decide: (user: UserRecord, context: GatewayContext) =>
    user.id === context.newAccountId ||
    withViewers(context, (viewers) => verdict(viewers.some((viewer) => viewer.userId === user.id || managesUsers(viewer)))),
};

/**
 * A user's credentials: ROLE_ADMIN, or PRIV_USER_MANAGEMENT for a user within the escalation
 * rule, as for a write on that user (userWriter): a user manager sees no administrator's
 * second factors, and the user themself does not list them here either. The user-manager
 * path is the token's caller's only; an account proven during the request (ownAccount)
 * counts as an administrator or not at all.
 */
const credentialsReader: FieldRule = {
  decide: (user: UserRecord, context: GatewayContext) =>
    withViewers(context, async (viewers) => {
      if (viewers.some(isAdmin)) return true;
      const caller = viewers.find((viewer) => viewer.userId === context.principal?.userId);
      if (!caller || !holds(caller, USER_MANAGEMENT_PRIVILEGE)) return forbidden();
      return verdict(await userWithinReach(context, user.id));
    }),
};

/**
 * Fields below the root that need more than their root field's rule. `'*'` is the rule of
 * every field of the type not named, a field added later included; `allow` leaves a field
 * unchecked (and unwrapped). Every field that leads to a Tenant, TenantMembership or
 * Invitation has a rule here (or, for a list that shows each viewer part of its items, a
 * filter in FIELD_FILTERS): test/integration/tenant-paths.test.ts fails for one that has none.
 */
export const FIELD_PERMISSIONS: Record<string, Record<string, FieldRule | typeof allow>> = {
  Me: {
    // `me.tenants` are the viewer's own memberships: TenantMembership's rule lets them through.
    currentTenant: tenantRule(
      (_me, context) => context.requestedTenantId,
      ANY_TENANT_ROLE,
      () => false,
    ),
    // Only ever the viewer's own: `me` is built for the caller (or the account login signed in).
    sessions: viewerRule<{ id: string }>((viewer, me) => viewer.userId === me.id),
  },
  User: {
    '*': selfOrUserManager,
    // What a tenant's members see of each other, and invitations of their inviter.
    id: allow,
    username: allow,
    email: allow,
    firstName: allow,
    lastName: allow,
    // Filtered, not refused: FIELD_FILTERS.
    tenants: allow,
    credentials: credentialsReader,
  },
  Group: {
    // A group's roster is directory data, as `users` is: a member of the group does not list it.
    users: viewerRule(managesUsers),
  },
  Tenant: {
    members: tenantRule<{ id: string }>((tenant) => tenant.id, ANY_TENANT_ROLE),
    invitations: tenantRule<{ id: string }>((tenant) => tenant.id, TENANT_ADMINS),
  },
  TenantMembership: {
    // Seen by the tenant's members, and by user managers through `User.tenants`.
    '*': tenantRule<MembershipRecord>((membership) => membership.tenantId, ANY_TENANT_ROLE, managesUsers),
  },
  Invitation: {
    '*': tenantRule<{ tenantId: string }>((invitation) => invitation.tenantId, TENANT_ADMINS),
  },
  InvitationPayload: {
    invitation: tenantRule<{ invitation: { tenantId: string } }>((payload) => payload.invitation.tenantId, TENANT_ADMINS),
  },
  TenantPayload: {
    tenant: tenantRule<{ tenant: { id: string } }>((payload) => payload.tenant.id, ANY_TENANT_ROLE),
  },
  SignupPayload: {
    tenant: tenantRule<{ tenant: { id: string } | null }>((payload) => payload.tenant?.id, ANY_TENANT_ROLE),
  },
  AcceptInvitationPayload: {
    // The tenant the invitation named, for whoever held its token, signed in or not; its
    // members and invitations keep their own rules.
    tenant: allow,
  },
};

/** A list below the root that shows each viewer part of its items, rather than failing whole. */
type ItemFilter = (items: any[], parent: any, context: GatewayContext) => Promise<any[]>;

/**
 * `User.tenants`: every membership for the user themself and user managers; for anyone
 * else only the tenants they share with the user, so that a co-member is no path into
 * the user's other tenants (H3).
 */
const sharedTenantsOnly: ItemFilter = async (memberships: MembershipRecord[], user: UserRecord, context) => {
  const viewers = await viewersOf(context);
  if (viewers.some((viewer) => viewer.userId === user.id || managesUsers(viewer))) return memberships;
  const theirs = await Promise.all(viewers.map((viewer) => context.loaders.membershipsByUserId.load(viewer.userId)));
  const shared = new Set(theirs.flat().map((membership) => membership.tenantId));
  return memberships.filter((membership) => shared.has(membership.tenantId));
};

export const FIELD_FILTERS: Partial<Record<string, Partial<Record<string, ItemFilter>>>> = {
  User: { tenants: sharedTenantsOnly },
};

/** The rule FIELD_PERMISSIONS gives a field below the root: its own, its type's `'*'`, or `allow`. */
export function fieldRuleOf(type: string, field: string): FieldRule | typeof allow {
  return FIELD_PERMISSIONS[type]?.[field] ?? FIELD_PERMISSIONS[type]?.['*'] ?? allow;
}

type FieldMiddleware = (
  resolve: (parent: unknown, args: unknown, context: GatewayContext, info: GraphQLResolveInfo) => any,
  parent: any,
  args: unknown,
  context: GatewayContext,
  info: GraphQLResolveInfo,
) => unknown;

/** Runs the field only when its rule shows it; synchronously when the rule decides at once. */
function guardedBy(rule: FieldRule): FieldMiddleware {
  return (resolve, parent, args, context, info) => {
    const decision = rule.decide(parent, context);
    if (decision === true) return resolve(parent, args, context, info);
    if (!(decision instanceof Promise)) throw decision;
    return decision.then((known) => {
      if (known !== true) throw known;
      return resolve(parent, args, context, info);
    });
  };
}

/** `inner` run inside `outer`: the root field's rule first, then what it shows. */
function within(outer: IMiddlewareFunction | FieldMiddleware, inner: FieldMiddleware): FieldMiddleware {
  // graphql-shield's middleware for a rule without fragments is a plain function.
  if (typeof outer !== 'function') throw new Error('A root field whose rule has fragments cannot be wrapped');
  return (resolve, parent, args, context, info) =>
    (outer as FieldMiddleware)((...call) => inner(resolve, ...call), parent, args, context, info);
}

/** Keeps what the filter lets the viewer see of a list. */
function filteredBy(filter: ItemFilter): FieldMiddleware {
  return async (resolve, parent, args, context, info) => filter(await resolve(parent, args, context, info), parent, context);
}

/**
 * The permission middleware for a schema: root fields follow PERMISSIONS through
 * graphql-shield, deny by default; fields below the root follow FIELD_PERMISSIONS and
 * FIELD_FILTERS.
 *
 * Only the fields with something to check are wrapped. The others would only be wrapped
 * in `allow`, and that wrapper is async: every field below the root (thousands in a page
 * of users) would resolve through a promise of its own. Measured by `npm run bench` (workload 2).
 */
export function permissionsFor(schema: GraphQLSchema): IMiddleware {
  const rootTypes = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
    type ? [type.name] : [],
  );
  // graphql-shield refuses a rule map for a type the schema lacks (no mutations yet, say).
  const rules: IRules & Record<string, unknown> = Object.fromEntries(
    Object.entries(PERMISSIONS).filter(([, fields]) => Object.keys(fields).length > 0),
  );
  const generated = shield(rules, {
    fallbackRule: and(
      isAuthenticated,
      rule('deny', { cache: 'strict' })(() => forbidden()),
    ),
    // Without this, graphql-shield would replace resolvers' own errors with its fallback.
    allowExternalErrors: true,
    fallbackError: async (thrown) => (thrown instanceof Error ? thrown : forbidden()),
  }).generate(schema) as Record<string, Record<string, IMiddlewareFunction>>;
  const middleware: Record<string, Record<string, IMiddlewareFunction | FieldMiddleware>> = Object.fromEntries(
    rootTypes.map((type) => [type, { ...generated[type]! }]),
  );
  const query = schema.getQueryType()?.name;
  if (query && middleware[query]?.node) middleware[query].node = within(middleware[query].node, firstVisibleNode);
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || rootTypes.includes(type.name)) continue;
    for (const field of Object.keys(type.getFields())) {
      const check = fieldRuleOf(type.name, field);
      const filter = FIELD_FILTERS[type.name]?.[field];
      // One middleware a field: a filtered field shows what its filter keeps, and needs no rule.
      if (filter && check !== allow) throw new Error(`${type.name}.${field} has both a rule and a filter: give it one`);
      const guard = filter ? filteredBy(filter) : check !== allow ? guardedBy(check as FieldRule) : undefined;
      if (guard) (middleware[type.name] ??= {})[field] = guard;
    }
  }
  return middleware as IMiddleware;
}
