import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';

// Operations generated from the schema with adversarial values, for test/integration/fuzz.test.ts.
// Everything is drawn from fast-check with a seed, so one seed and one index give one operation.

export type Caller = 'anonymous' | 'user' | 'admin';
/** X-Tenant-ID: absent, a tenant of the caller, another's tenant, an unknown id, not an id. */
export type TenantHeader = 'none' | 'own' | 'foreign' | 'unknown' | 'malformed';
/** Things known only while running: ids of fixtures and of what earlier operations made, secrets they returned. */
export type PoolName = 'user' | 'role' | 'privilege' | 'group' | 'tenant' | 'invitation' | 'invitationToken' | 'refreshToken' | 'cursor';

/** A value taken from a pool when the operation is sent. */
export class PoolRef {
  constructor(
    readonly pool: PoolName,
    readonly index: number,
  ) {}
}

export interface GeneratedArgument {
  name: string;
  type: GraphQLInputType;
  /** JSON-like, with PoolRefs inside. */
  value: unknown;
  /** Written into the document as a literal rather than sent as a variable. */
  inline: boolean;
}

export interface GeneratedOperation {
  kind: 'query' | 'mutation';
  field: string;
  caller: Caller;
  tenant: TenantHeader;
  idempotencyKey: boolean;
  args: GeneratedArgument[];
  /** The selection set below the field, nested arguments inline (PoolRefs inside). */
  selection: Selection[];
}

export type Selection = { name: string; args: GeneratedArgument[]; selection: Selection[] };

const MALFORMED_IDS = [
  '',
  ' ',
  'x',
  'nope',
  "x' or 1=1--",
  '00000000-0000-0000-0000-00000000000g',
  '{{id}}',
  '\u0000',
  'role_admin',
  '1',
  '-1',
  '..',
  '%',
];
const POISON = [
  '',
  ' ',
  '\t',
  '\u0000',
  'a\u0000b',
  '\r\n',
  'x\r\nBcc: injected@example.test',
  '\u0007\u001b[31mred',
  '\u007f',
  '\u0085',
  '\ud800',
  '\udc00x',
  'x\ud83d',
  '\u202eevil',
  '\ufeff',
  '😀👩‍👩‍👧',
  "' or 1=1--",
  '"; drop table users; --',
  '%',
  '_',
  '\\',
  '*)(uid=*',
  '<script>alert(1)</script>',
  '${jndi:ldap://example.test/x}',
  '../../etc/passwd',
  'http://evil.example/login',
  'null',
  '__proto__',
  'constructor',
  'NaN',
  '{"a":1}',
];
const LENGTHS = [200, 254, 255, 256, 1000, 1001, 1024, 1025, 16_384, 16_385, 100_000, 400_000];

/** Strings meant to hurt: control characters, broken unicode, metacharacters, lengths at and past every bound. */
const poison: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POISON) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...LENGTHS), fc.constantFrom('a', '€', '\u0000', '😀', 'é')).map(([n, c]) => c.repeat(n)),
  },
);

const word = fc.constantFrom('Fuzz', 'Ada', 'Zoë', 'O’Brien', 'Ωmega', 'x');
const email = fc.uuid().map((id) => `fuzz-${id.slice(0, 13)}@example.test`);
const password = fc.uuid().map((id) => `Fz-${id.slice(0, 12)}-9A`);

function forgedCursor(): fc.Arbitrary<string> {
  const at = fc.constantFrom('2026-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '+099999-01-01T00:00:00.000Z', 'not a date', '');
  const id = fc.oneof(fc.uuid(), fc.constantFrom(...MALFORMED_IDS));
  return fc.oneof(
    // The gateway's form (list, date, id), another list's included, and the earlier one without a list.
    fc.tuple(fc.constantFrom('users', 'auditEvents', ''), at, id).map((parts) => Buffer.from(JSON.stringify(parts)).toString('base64url')),
    fc.tuple(at, id).map((pair) => Buffer.from(JSON.stringify(pair)).toString('base64url')),
    fc.constantFrom('bm90LWEtY3Vyc29y', 'W10', 'bnVsbA', '!!!', Buffer.from('[1,2,3]').toString('base64url')),
  );
}

/** Which pool an id argument draws from, by its name and its field's. */
function poolOf(argument: string, field: string): PoolName {
  const name = argument.toLowerCase();
  const within = field.toLowerCase();
  if (name.includes('privilege')) return 'privilege';
  if (name.includes('role')) return 'role';
  if (name.includes('group')) return 'group';
  if (name.includes('tenant')) return 'tenant';
  if (name.includes('user') || name.includes('actor')) return 'user';
  if (within.includes('invitation')) return 'invitation';
  if (within.includes('role')) return 'role';
  if (within.includes('group')) return 'group';
  if (within.includes('tenant')) return 'tenant';
  return 'user';
}

const ref = (pool: PoolName) => fc.nat(1000).map((index) => new PoolRef(pool, index));

function stringFor(argument: string, field: string, isId: boolean): fc.Arbitrary<unknown> {
  if (isId) {
    return fc.oneof(
      { weight: 5, arbitrary: ref(poolOf(argument, field)) },
      { weight: 2, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: fc.uuid().map((id) => id.toUpperCase()) },
      { weight: 2, arbitrary: fc.constantFrom(...MALFORMED_IDS) },
      { weight: 1, arbitrary: poison },
    );
  }
  const name = argument.toLowerCase();
  const plain = name.includes('email') || name === 'username' ? email : name.includes('password') ? password : word;
  if (name === 'token') return fc.oneof(ref('invitationToken'), fc.base64String({ minLength: 44, maxLength: 44 }), poison);
  if (name === 'refreshtoken') return fc.oneof(ref('refreshToken'), fc.constant('eyJhbGciOiJIUzUxMiJ9.e30.x'), poison);
  if (name === 'after') return fc.oneof(ref('cursor'), forgedCursor(), poison);
  return fc.oneof({ weight: 3, arbitrary: plain }, { weight: 3, arbitrary: poison });
}

function scalarFor(typeName: string, argument: string, field: string): fc.Arbitrary<unknown> {
  switch (typeName) {
    case 'ID':
      return stringFor(argument, field, true);
    case 'String':
      return stringFor(argument, field, false);
    case 'Int':
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 1, -1, 2, 50, 100, 200, 201, 1000, 2 ** 31 - 1, -(2 ** 31)) },
        { weight: 1, arbitrary: fc.integer() },
        // Not Int: coercion refuses them.
        { weight: 1, arbitrary: fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 1e21, 1.5, Number.MAX_SAFE_INTEGER) },
      );
    case 'Float':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'Boolean':
      return fc.boolean();
    case 'DateTime':
      return fc.oneof(
        fc
          .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
          .map((date) => date.toISOString()),
        fc.constantFrom(
          '0000-01-01T00:00:00Z',
          '0001-01-01T00:00:00Z',
          '9999-12-31T23:59:59Z',
          '+275760-09-13T00:00:00.000Z',
          '-000001-01-01T00:00:00Z',
          '2026-13-45T99:99:99Z',
          '2026-01-01',
          'yesterday',
          '',
          1e15,
        ),
      );
    default:
      return fc.oneof(fc.constant({}), fc.constant(null), poison);
  }
}

/** Values of the wrong kind altogether. */
const wrongKind = fc.constantFrom<unknown>(null, 0, -1, true, 'text', [], {}, [[[]]], { a: { b: { c: 1 } } });

/** An object nested `depth` levels, for an input that expects something flat. */
const deep = fc.constantFrom(50, 500).map((depth) => {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let level = 0; level < depth; level += 1) value = { nested: value };
  return value;
});

function valueFor(type: GraphQLInputType, argument: string, field: string, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return valueFor(type.ofType, argument, field, depth);
  if (isListType(type)) {
    const item = valueFor(type.ofType, argument, field, depth + 1);
    return fc.oneof(
      { weight: 6, arbitrary: fc.array(item, { maxLength: 3 }) },
      // Long lists of short items: 20,000 long strings would make a body of gigabytes.
      {
        weight: 1,
        arbitrary: fc.tuple(shortItem, fc.constantFrom(101, 1000, 20_000)).map(([value, length]) => Array<unknown>(length).fill(value)),
      },
      { weight: 1, arbitrary: item },
    );
  }
  if (isEnumType(type)) {
    return fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...type.getValues().map((value) => value.name)) },
      { weight: 1, arbitrary: fc.constantFrom('NOPE', 'owner', '', 'OWNER ', 1) },
    );
  }
  if (isInputObjectType(type)) {
    if (depth > 3) return fc.constant({});
    const fields = Object.values(type.getFields());
    const model = Object.fromEntries(
      fields.map((input) => [input.name, withWrongKind(valueFor(input.type, input.name, field, depth + 1))]),
    );
    const required = fields.filter((input) => isNonNullType(input.type) && input.defaultValue === undefined).map((input) => input.name);
    return fc.oneof(
      { weight: 8, arbitrary: fc.record(model, { requiredKeys: required }) },
      { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.record(model, { requiredKeys: required }).map((value) => ({ ...value, unknownField: 1 })) },
      { weight: 1, arbitrary: deep },
    );
  }
  return scalarFor(type.name, argument, field);
}

const shortItem = fc.oneof(fc.uuid(), fc.constantFrom<unknown>('x', '', '\u0000', 1, null));

const withWrongKind = (arbitrary: fc.Arbitrary<unknown>) => fc.oneof({ weight: 12, arbitrary }, { weight: 1, arbitrary: wrongKind });

function argumentsFor(field: GraphQLField<unknown, unknown>, inlineOnly = false): fc.Arbitrary<GeneratedArgument[]> {
  const one = (argument: GraphQLArgument) =>
    fc
      .record({
        present: isNonNullType(argument.type)
          ? fc.oneof({ weight: 20, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
          : fc.boolean(),
        value: withWrongKind(valueFor(argument.type, argument.name, field.name)),
        inline: inlineOnly
          ? fc.constant(true)
          : fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      })
      .map(({ present, value, inline }) => (present ? { name: argument.name, type: argument.type, value, inline } : undefined));
  return fc.tuple(...field.args.map(one)).map((args) => args.filter((arg): arg is GeneratedArgument => arg !== undefined));
}

/** Fields to select below a field of `type`: __typename and id always (they feed the pools), a random share of the rest. */
function selectionFor(type: GraphQLOutputType, depth: number): fc.Arbitrary<Selection[]> {
  const named = getNamedType(type);
  if (isLeafType(named)) return fc.constant([]);
  if (!isObjectType(named)) return fc.constant([{ name: '__typename', args: [], selection: [] }]);
  const object = named as GraphQLObjectType;
  const fields = Object.values(object.getFields());
  const always = fields.filter((f) => f.name === 'id').map((f) => ({ name: f.name, args: [], selection: [] }));
  const leaves = fields.filter((f) => f.name !== 'id' && isLeafType(getNamedType(f.type)) && f.args.length === 0);
  const objects = depth < 2 ? fields.filter((f) => !isLeafType(getNamedType(f.type))) : [];
  const leafPicks = fc.subarray(leaves.map((f) => ({ name: f.name, args: [], selection: [] as Selection[] })));
  const objectPicks = fc
    .subarray(objects, { maxLength: Math.min(2, objects.length) })
    .chain((picked) =>
      picked.length === 0
        ? fc.constant([] as Selection[])
        : fc.tuple(
            ...picked.map((f) =>
              fc
                .tuple(argumentsFor(f, true), selectionFor(f.type, depth + 1))
                .map(([args, selection]) => ({ name: f.name, args, selection })),
            ),
          ),
    );
  return fc
    .tuple(leafPicks, objectPicks)
    .map(([picked, nested]) => [{ name: '__typename', args: [], selection: [] }, ...always, ...picked, ...nested]);
}

/** Operations that end the caller's own account or sessions: sent anonymously only. */
const SELF_ENDING = new Set(['deleteMyAccount', 'signOutEverywhere']);

/** Every operation: any root field, any caller, any tenant header, adversarial arguments. */
export function operations(schema: GraphQLSchema): fc.Arbitrary<GeneratedOperation> {
  const roots = [
    ...Object.values(schema.getQueryType()!.getFields()).map((field) => ['query', field] as const),
    ...Object.values(schema.getMutationType()!.getFields()).map((field) => ['mutation', field] as const),
  ];
  const byField = roots.map(([kind, field]) =>
    fc
      .record({
        caller: fc.constantFrom<Caller>('anonymous', 'user', 'admin'),
        tenant: fc.constantFrom<TenantHeader>('none', 'none', 'none', 'own', 'foreign', 'unknown', 'malformed'),
        idempotencyKey:
          kind === 'mutation'
            ? fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })
            : fc.constant(false),
        args: argumentsFor(field),
        selection: selectionFor(field.type, 0),
      })
      .map(
        (parts): GeneratedOperation => ({
          kind,
          field: field.name,
          ...parts,
          // Signed in, they would delete a fixture the rest of the run needs, or end its sessions; they take no argument to fuzz.
          caller: SELF_ENDING.has(field.name) ? 'anonymous' : parts.caller,
        }),
      ),
  );
  return fc.oneof(...byField);
}

/** The document and variables of an operation whose PoolRefs `resolve` replaced. */
export function render(
  operation: GeneratedOperation,
  resolve: (value: unknown) => unknown,
): { document: string; variables: Record<string, unknown> } {
  const variables: Record<string, unknown> = {};
  const declarations: string[] = [];
  const argumentList = (args: GeneratedArgument[], prefix: string) =>
    args.map((arg, index) => {
      const value = resolve(arg.value);
      if (arg.inline) return `${arg.name}: ${literal(value, arg.type)}`;
      declarations.push(`$${prefix}${index}: ${String(arg.type)}`);
      variables[`${prefix}${index}`] = value;
      return `${arg.name}: $${prefix}${index}`;
    });
  const call = (name: string, args: string[]) => `${name}${args.length ? `(${args.join(', ')})` : ''}`;
  const selection = (fields: Selection[], path: string): string =>
    fields.length === 0
      ? ''
      : ` { ${fields.map((f, i) => `${call(f.name, argumentList(f.args, `${path}_${i}_`))}${selection(f.selection, `${path}_${i}`)}`).join(' ')} }`;
  const root = call(operation.field, argumentList(operation.args, 'v'));
  const below = selection(operation.selection, 's');
  const head = `${operation.kind} Fuzz${declarations.length ? `(${declarations.join(', ')})` : ''}`;
  return { document: `${head} { f: ${root}${below} }`, variables };
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** A GraphQL literal for a JSON-like value, written as `type` expects it (enum values bare). */
function literal(value: unknown, type: GraphQLInputType | undefined): string {
  const named = type && getNamedType(type);
  const inner = type && isNonNullType(type) ? type.ofType : type;
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return named && isEnumType(named) && NAME.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '0';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value))
    return `[${value.map((item) => literal(item, inner && isListType(inner) ? inner.ofType : undefined)).join(', ')}]`;
  const fields = named && isInputObjectType(named) ? named.getFields() : {};
  return `{ ${Object.entries(value as Record<string, unknown>)
    .filter(([key]) => NAME.test(key))
    .map(([key, item]) => `${key}: ${literal(item, fields[key]?.type)}`)
    .join(', ')} }`;
}
