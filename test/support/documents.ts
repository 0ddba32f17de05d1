import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

// GraphQL documents shaped like what clients and attackers send.

/** The biggest listing a client sends: a full page of users with everything they hold. */
export const BIGGEST_LISTING = /* GraphQL */ `
  query BiggestListing {
    users(first: 100) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        cursor
        node {
          id email firstName lastName enabled
          roles { id name privileges { id name } }
          groups { id name roles { id name } }
          effectivePrivileges { id name }
        }
      }
    }
  }
`;

/** A valid query `levels` deep, walking users → edges → node → groups → users ... */
export function deepQuery(levels: number): string {
  const steps = [
    ['users', 'totalCount'],
    ['edges', 'cursor'],
    ['node', 'id'],
    ['groups', 'id'],
  ] as const;
  const step = (level: number) => steps[(level - 1) % steps.length]!;
  let selection: string = step(levels - 1)[1];
  for (let level = levels - 1; level >= 1; level--) selection = `${step(level)[0]} { ${selection} }`;
  return `{ ${selection} }`;
}

/** `publicHello` under `count` aliases, each with `directive` when given. */
export function aliasedQuery(count: number, directive = ''): string {
  return `{ ${Array.from({ length: count }, (_, i) => `a${i}: publicHello ${directive}`).join(' ')} }`;
}

/**
 * The smallest valid call of a root field: variables with dummy values for its required
 * arguments, and `__typename` as the selection of an object.
 */
export function minimalOperation(
  schema: GraphQLSchema,
  rootType: 'Query' | 'Mutation',
  fieldName: string,
): { document: string; variables: Record<string, unknown> } {
  const root = rootType === 'Query' ? schema.getQueryType() : schema.getMutationType();
  const field = root!.getFields()[fieldName]!;
  const required = field.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);
  const declarations = required.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = required.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  return {
    document: `${rootType.toLowerCase()}${declarations && `(${declarations})`} { ${fieldName}${args && `(${args})`}${selection} }`,
    variables: Object.fromEntries(required.map((arg) => [arg.name, dummyValue(arg.type)])),
  };
}

const DUMMY_SCALARS: Record<string, unknown> = {
  ID: '00000000-0000-4000-8000-000000000000',
  String: 'x',
  Int: 1,
  Float: 1,
  Boolean: true,
  DateTime: '2026-01-01T00:00:00.000Z',
  JSONObject: {},
};

/** A value of `type` that passes GraphQL coercion and means nothing. */
export function dummyValue(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return dummyValue(type.ofType);
  if (isListType(type)) return [dummyValue(type.ofType)];
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const required = Object.values(type.getFields()).filter((field) => isNonNullType(field.type) && field.defaultValue === undefined);
    return Object.fromEntries(required.map((field) => [field.name, dummyValue(field.type)]));
  }
  if (!(type.name in DUMMY_SCALARS)) throw new Error(`no dummy value for the scalar ${type.name}: add one`);
  return DUMMY_SCALARS[type.name];
}
