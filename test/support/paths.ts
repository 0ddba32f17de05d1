import {
  getNamedType,
  isInterfaceType,
  isLeafType,
  isNonNullType,
  isObjectType,
  parse,
  specifiedRules,
  validate,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { QUERY_LIMITS, queryLimits } from '../../src/auth/armor.js';

// Paths through the schema's type graph, as GraphQL documents the gateway accepts: for
// tests that ask every way there is to reach some data, rather than the ways someone
// thought of. A new field is walked as soon as it is in the schema.

/** An object type, or an interface (Node) whose objects a path reaches through inline fragments. */
export type Walked = GraphQLObjectType | GraphQLInterfaceType;

/**
 * The object types from which one of `targets` can be reached, `targets` included, and the
 * interfaces one of whose types is among them (a field of an interface type leads wherever
 * any of its types does).
 */
export function typesReaching(schema: GraphQLSchema, targets: readonly string[]): Set<string> {
  const walked = Object.values(schema.getTypeMap()).filter(
    (type): type is Walked => (isObjectType(type) || isInterfaceType(type)) && !type.name.startsWith('__'),
  );
  const reaching = new Set(targets);
  const reaches = (type: Walked) =>
    Object.values(type.getFields()).some((field) => reaching.has(getNamedType(field.type).name)) ||
    (isInterfaceType(type) && schema.getPossibleTypes(type).some((possible) => reaching.has(possible.name)));
  for (let grown = true; grown; ) {
    grown = false;
    for (const type of walked) {
      if (!reaching.has(type.name) && reaches(type)) {
        reaching.add(type.name);
        grown = true;
      }
    }
  }
  return reaching;
}

/** The fields of `type` that lead on to a type in `reaching`. */
function fieldsLeadingTo(type: GraphQLObjectType, reaching: Set<string>): GraphQLField<unknown, unknown>[] {
  return Object.values(type.getFields()).filter((field) => reaching.has(getNamedType(field.type).name));
}

/**
 * A path below a root field: the field names from the root field's type down to an
 * object, whose probes (see `probesOf`) the document selects. [] is the root field's own
 * object. Below an interface, a step `... on Type` is an inline fragment on one of its types.
 */
export type Path = readonly string[];

const FRAGMENT = '... on ';
/** The steps of `path` that are fields, as an answer's path names them (fragments are not in it). */
export const fieldsOf = (path: Path): string[] => path.filter((step) => !step.startsWith(FRAGMENT));

/** What a path selects at its end: the identifying scalars of the object (id, name, email, role), else __typename. */
export function probesOf(type: Walked): string[] {
  const probes = ['id', 'name', 'email', 'role'].filter((name) => {
    const field = type.getFields()[name];
    return field && isLeafType(getNamedType(field.type));
  });
  return probes.length > 0 ? probes : ['__typename'];
}

/**
 * Every path from an object of type `from`, reached at depth `depth` (the root field is
 * depth 1), through fields that lead to `reaching`, as deep as the depth limit allows with
 * the probes at the end. In depth-first order: each path after its prefixes.
 */
export function pathsFrom(schema: GraphQLSchema, from: Walked, reaching: Set<string>, depth = 1): Path[] {
  const paths: Path[] = [[]];
  // Every type of an interface, each in a fragment of its own, whether or not it leads on: a fragment adds no depth.
  if (isInterfaceType(from)) {
    for (const type of schema.getPossibleTypes(from)) {
      for (const rest of pathsFrom(schema, type, reaching, depth)) paths.push([`${FRAGMENT}${type.name}`, ...rest]);
    }
    return paths;
  }
  // The probes of a child sit one level below it: a child at depth + 1 needs depth + 2 ≤ the limit.
  if (depth + 2 > QUERY_LIMITS.depth) return paths;
  for (const field of fieldsLeadingTo(from, reaching)) {
    const required = field.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);
    if (required.length > 0) throw new Error(`${from.name}.${field.name} has required arguments: teach test/support/paths.ts to give them`);
    const type = getNamedType(field.type) as Walked;
    for (const rest of pathsFrom(schema, type, reaching, depth + 1)) paths.push([field.name, ...rest]);
  }
  return paths;
}

interface Tree {
  probes: string[];
  children: Map<string, Tree>;
}

/** The selection set `{ ... }` that asks for every one of `paths` below an object of type `from`. */
export function selectionOf(schema: GraphQLSchema, from: Walked, paths: readonly Path[]): string {
  const root: Tree = { probes: [], children: new Map() };
  for (const path of paths) {
    let node = root;
    let type = from;
    for (const name of path) {
      type = name.startsWith(FRAGMENT)
        ? (schema.getType(name.slice(FRAGMENT.length)) as GraphQLObjectType)
        : (getNamedType(type.getFields()[name]!.type) as Walked);
      if (!node.children.has(name)) node.children.set(name, { probes: [], children: new Map() });
      node = node.children.get(name)!;
    }
    node.probes = probesOf(type);
  }
  const print = (node: Tree): string =>
    `{ ${[...node.probes, ...[...node.children].map(([name, child]) => `${name} ${print(child)}`)].join(' ')} }`;
  return print(root);
}

const { validationRules, parseOptions } = queryLimits();

/**
 * Why the gateway would refuse the document before running it; [] when it would run it.
 * `limitsOnly`: the query limits alone, for documents valid by construction: cheaper, for cutting.
 */
export function refusals(schema: GraphQLSchema, document: string, limitsOnly = false): string[] {
  try {
    const rules = limitsOnly ? validationRules : [...specifiedRules, ...validationRules];
    return validate(schema, parse(document, parseOptions), rules).map((error) => error.message);
  } catch (syntaxError) {
    return [(syntaxError as Error).message];
  }
}

const cuts = new Map<string, { document: string; paths: readonly Path[] }[]>();

/**
 * `paths` cut into as few documents as the gateway's query limits (depth, cost, tokens)
 * allow, each `document(selection)` for the selection of its share of the paths. A path
 * that no document can hold alone is an error: the walk must stay within the limits.
 */
export function documentsFor(
  schema: GraphQLSchema,
  from: Walked,
  paths: readonly Path[],
  document: (selection: string) => string,
): { document: string; paths: readonly Path[] }[] {
  // Cutting costs a few dozen validations: a walk asking the same paths again (other arguments, other headers) reuses the cut.
  const key = `${document('')}\n${paths.map((path) => path.join('.')).join('\n')}`;
  const known = cuts.get(key);
  if (known) return known;
  const documents: { document: string; paths: readonly Path[] }[] = [];
  cuts.set(key, documents);
  // Each validation costs milliseconds: the search starts from the previous document's share, which the next is usually close to.
  let guess = 1;
  for (let start = 0; start < paths.length; ) {
    const fits = (count: number) =>
      refusals(schema, document(selectionOf(schema, from, paths.slice(start, start + count))), true).length === 0;
    if (!fits(1)) {
      throw new Error(
        `${paths[start]!.join('.')} alone is refused: ${refusals(schema, document(selectionOf(schema, from, [paths[start]!]))).join('; ')}`,
      );
    }
    // The longest run of paths that fits (more paths never fit better): gallop from the guess, then bisect.
    const left = paths.length - start;
    let fitting = 1;
    let refused = Math.min(guess, left);
    if (fits(refused)) {
      fitting = refused;
      for (let step = Math.max(1, Math.floor(fitting / 8)); ; step *= 2) {
        if (fitting + step > left) {
          refused = left + 1;
          break;
        }
        if (!fits(fitting + step)) {
          refused = fitting + step;
          break;
        }
        fitting += step;
      }
    }
    while (refused - fitting > 1) {
      const middle = Math.floor((fitting + refused) / 2);
      if (fits(middle)) fitting = middle;
      else refused = middle;
    }
    const share = paths.slice(start, start + fitting);
    documents.push({ document: document(selectionOf(schema, from, share)), paths: share });
    start += fitting;
    guess = fitting;
  }
  return documents;
}
