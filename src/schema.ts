import 'reflect-metadata';
import { isObjectType, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type ResolverData } from 'type-graphql';
import { applyMiddleware, type IMiddleware, type IMiddlewareFunction } from 'graphql-middleware';
import { permissionsFor } from './permissions.js';
import type { GatewayContext } from './context.js';
import { DateTimeScalar } from './scalars.js';
import { checkArguments } from './validation.js';
import { AuditEventResolver } from './modules/audit/audit.resolver.js';
import { IdentityEventsSubscriptionResolver } from './modules/events/identity-events.subscription.js';
import { AuthResolver } from './modules/auth/auth.resolver.js';
import { CredentialResolver, UserCredentialsResolver } from './modules/credentials/credential.resolver.js';
import { DashboardResolver } from './modules/dashboard/dashboard.resolver.js';
import { EventsResolver } from './modules/events/events.resolver.js';
import { MeResolver } from './modules/me/me.resolver.js';
import { MeSessionsResolver, SessionResolver } from './modules/sessions/session.resolver.js';
import { NodeResolver } from './modules/node/node.resolver.js';
import { SystemResolver } from './modules/system/system.resolver.js';
import { UserConnectionResolver, UserResolver } from './modules/users/user.resolver.js';
import { UserImportResolver } from './modules/users/user-import.resolver.js';
import { PrivilegeResolver, RoleResolver } from './modules/roles/role.resolver.js';
import { GroupResolver } from './modules/groups/group.resolver.js';
import { OnboardingResolver } from './modules/onboarding/onboarding.resolver.js';
import { InvitationResolver, TenantInvitationsResolver } from './modules/invitations/invitation.resolver.js';
import { WebhookDeliveryResolver, WebhookEndpointResolver } from './modules/webhooks/webhook.resolver.js';
import { MeTenantsResolver, TenantMembershipResolver, TenantResolver, UserTenantsResolver } from './modules/tenants/tenant.resolver.js';

const RESOLVERS = [
  NodeResolver,
  SystemResolver,
  MeResolver,
  UserResolver,
  UserConnectionResolver,
  UserImportResolver,
  RoleResolver,
  PrivilegeResolver,
  GroupResolver,
  TenantResolver,
  TenantMembershipResolver,
  UserTenantsResolver,
  MeTenantsResolver,
  OnboardingResolver,
  InvitationResolver,
  TenantInvitationsResolver,
  AuthResolver,
  DashboardResolver,
  AuditEventResolver,
  UserCredentialsResolver,
  CredentialResolver,
  SessionResolver,
  MeSessionsResolver,
  EventsResolver,
  WebhookEndpointResolver,
  WebhookDeliveryResolver,
  IdentityEventsSubscriptionResolver,
] as const;

/**
 * type-graphql requires a PubSub once a schema has subscriptions, even when every one of them
 * brings its own `subscribe`, as identityEvents does (its events come from the outbox, through
 * the process's LiveEvents): this one says so should anything ever use it.
 */
const NO_PUBSUB = {
  publish: () => {
    throw new Error('subscriptions read the identity events stream (src/events/live-events.ts), not a PubSub');
  },
  subscribe: () => {
    throw new Error('subscriptions read the identity events stream (src/events/live-events.ts), not a PubSub');
  },
};

/** The public schema, as type-graphql builds it from the decorated classes. */
export async function buildPublicSchema(): Promise<GraphQLSchema> {
  const instances = new Map<unknown, object>(RESOLVERS.map((Resolver) => [Resolver, new Resolver()]));
  const schema = await buildSchema({
    resolvers: RESOLVERS,
    // The contract names its date scalar DateTime (type-graphql's default is DateTimeISO).
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    pubSub: NO_PUBSUB,
    // Input rules live in the services, which report every field at once.
    validate: false,
    // Resolvers are stateless: one instance each for the process.
    container: { get: (someClass: unknown, _data: ResolverData) => instances.get(someClass) },
  });
  // type-graphql builds the root types itself and takes no description for them.
  for (const [type, description] of [
    [schema.getQueryType(), ROOT_DESCRIPTIONS.Query],
    [schema.getMutationType(), ROOT_DESCRIPTIONS.Mutation],
    [schema.getSubscriptionType(), ROOT_DESCRIPTIONS.Subscription],
  ] as const) {
    if (type) type.description = description;
  }
  return schema;
}

const ROOT_DESCRIPTIONS = {
  Query: 'Reads. Each field says who may call it; a caller without the right gets FORBIDDEN (UNAUTHENTICATED without a valid token).',
  Mutation:
    'Writes. Each reaches Keycloak first and then the local record, journalled in the audit trail; each field says who may call it.',
  Subscription:
    "Live streams over graphql-ws on the GraphQL path. The access token goes in connection_init's payload as {authorization: 'Bearer ...'}; the connection closes when it expires or its user loses access.",
};

/** The schema with the permission table applied: what the server executes. */
export async function buildExecutableSchema(): Promise<GraphQLSchema> {
  const schema = await buildPublicSchema();
  // The first middleware runs first: arguments are checked before any permission rule reads them.
  return applyMiddleware(schema, argumentChecks(schema), permissionsFor(schema), { Mutation: forgetReadsAfterWrite });
}

/**
 * Every field that takes arguments, at any depth, checks them first (the bounds of
 * src/validation.ts); fields without arguments are not wrapped, so they cost nothing.
 */
function argumentChecks(schema: GraphQLSchema): IMiddleware {
  const middleware: Record<string, Record<string, IMiddlewareFunction>> = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.args.length === 0) continue;
      (middleware[type.name] ??= {})[field.name] = (resolve, parent, args, context, info) => {
        checkArguments(field.args, args);
        return resolve(parent, args, context, info);
      };
    }
  }
  return middleware;
}

/**
 * Mutations that open or close a session and write nothing to the mirror themselves: what
 * admitting the signed-in user writes (a first sight mirrored, newer claims) already leaves
 * the process's cache of callers' records as it should (src/admission.ts), and `logout` only
 * ends a session at Keycloak. Emptying that cache after each of them cost every caller of the
 * process a read at their next request, and the next sign-in of the same user two statements
 * and a round trip (`npm run bench`, workload 7).
 */
const SESSION_MUTATIONS = new Set(['login', 'refreshToken', 'logout']);

/**
 * A mutation's payload must show the state it produced: whatever the request's loaders
 * cached before the write (permission checks read roles, memberships) is dropped after it.
 * The process's cache of callers' records is emptied too, so the caller's next `me` shows
 * the write without waiting for PostgreSQL's change announcement.
 */
const forgetReadsAfterWrite: IMiddlewareFunction<unknown, GatewayContext> = async (resolve, parent, args, context, info) => {
  try {
    return await resolve(parent, args, context, info);
  } finally {
    for (const loader of Object.values(context.loaders)) loader.clearAll();
    if (!SESSION_MUTATIONS.has(info.fieldName)) context.userRecords.forgetAll();
  }
};

/** The committed schema.graphql is exactly this text. */
export function schemaText(schema: GraphQLSchema): string {
  return `${printSchema(schema)}\n`;
}
