import { GraphQLError, type ParseOptions, type ValidationRule } from 'graphql';
import { ApolloArmor } from '@escape.tech/graphql-armor';

/**
 * How large a GraphQL document may be, checked before any resolver runs. Sized from the
 * operations our clients send, with room to grow, and far below what hurts:
 *
 * - depth 10: `users → edges → node → roles → privileges → name` is 6 levels, and
 *   `me → tenants → tenant → members → user → roles → privileges → name` will be 8.
 * - cost 20,000, armor's measure (2 per object, 1 per scalar, ×1.5 per level, × a literal
 *   `first`): the biggest listing, `users(first: 100)` with each user's roles and their
 *   privileges, groups and their roles, and effective privileges, costs about 14,000;
 *   the same page listing each group's first 100 users costs about 650,000.
 * - aliases 20: a client may send `login` 15 to 20 times under aliases, and each must
 *   reach its resolver so that the rate limiter counts every attempt.
 * - directives 10: `@include`/`@skip` on a few fields; hundreds only cost validation time.
 * - tokens 2,000: the biggest listing above is 55 tokens and GraphiQL's introspection
 *   about 200, but 20 aliased logins with variables, each selecting its tokens and `me`,
 *   are about 850.
 */
export const QUERY_LIMITS = { depth: 10, cost: 20_000, aliases: 20, directives: 10, tokens: 2_000 } as const;

/**
 * An operation of a type the schema lacks (a subscription: the gateway has none) is refused
 * while validating, like an unknown field. graphql-js 16 would let it through validation
 * and fail it in execution, which answers like a server error.
 */
const knownOperationTypes: ValidationRule = (context) => ({
  OperationDefinition(node) {
    const schema = context.getSchema();
    const roots = { query: schema.getQueryType(), mutation: schema.getMutationType(), subscription: schema.getSubscriptionType() };
    const root = roots[node.operation];
    if (!root) context.reportError(new GraphQLError(`This API has no ${node.operation} operations`, { nodes: node }));
  },
});

/**
 * Over HTTP, a subscription is refused while validating, naming where it is served: Apollo
 * would otherwise execute it as a one-off query and answer with a server error.
 */
export const subscriptionsOverWebSocket: ValidationRule = (context) => ({
  OperationDefinition(node) {
    if (node.operation === 'subscription') {
      context.reportError(
        new GraphQLError('Subscriptions are served over WebSocket (graphql-ws) on this path, not over HTTP', { nodes: node }),
      );
    }
  },
});

/**
 * Apollo Server options enforcing QUERY_LIMITS, and refusing operation types the schema
 * lacks. A refused document answers BAD_USER_INPUT (400) like any invalid document, naming
 * the limit it broke.
 */
export function queryLimits(): { validationRules: ValidationRule[]; parseOptions: ParseOptions } {
  const { validationRules } = new ApolloArmor({
    // Fragments measure as the fields they hold: a client splitting a query into
    // fragments (Apollo Client does) must not pay for it.
    maxDepth: { n: QUERY_LIMITS.depth, flattenFragments: true },
    costLimit: { maxCost: QUERY_LIMITS.cost, flattenFragments: true },
    maxAliases: { n: QUERY_LIMITS.aliases },
    maxDirectives: { n: QUERY_LIMITS.directives },
    // graphql-js counts tokens as it parses and fails like any syntax error; armor's
    // plugin for this throws from a hook that Apollo Server 5 turns into a 500.
    maxTokens: { enabled: false },
    // Apollo already hides suggestions outside development (hideSchemaDetailsFromClientErrors).
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return { validationRules: [...validationRules, knownOperationTypes], parseOptions: { maxTokens: QUERY_LIMITS.tokens } };
}
