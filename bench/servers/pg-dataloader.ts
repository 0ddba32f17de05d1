/**
 * Baseline (a) of workload 2: a hand-written GraphQL server answering the same users page
 * (roles and their privileges, groups and their roles, effective privileges) with
 * DataLoaders over plain `pg` rows, and nothing else: no ORM, no permissions, no tokens.
 * The SQL is the gateway's, statement for statement; parsed and validated documents are
 * cached, as Apollo caches them. It is the floor the gateway's read path is held to.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import DataLoader from 'dataloader';
import { buildSchema, execute, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import pg from 'pg';
import { announce, statementCounter } from './child.js';

const counter = statementCounter();
// As the gateway's connections (src/db/orm.ts): without JIT, which PostgreSQL otherwise spends
// about 200 ms on for the effective roles' recursive CTE, whose size it overestimates.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, options: '-c jit=off' });

async function rows<T>(sql: string, params: unknown[]): Promise<T[]> {
  counter.record();
  return (await pool.query(sql, params)).rows as T[];
}

interface Role {
  id: string;
  name: string;
  kind: string;
  description: string | null;
}
interface Group {
  id: string;
  name: string;
}
interface User {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
  createdAt: Date;
}

const ROLE_COLUMNS = 'r.id, r.name, r.kind, r.description';

function grouped<T>(load: (keys: readonly string[]) => Promise<(T & { key: string })[]>) {
  return new DataLoader<string, T[]>(async (keys) => {
    const byKey = new Map<string, T[]>(keys.map((key) => [key, []]));
    for (const { key, ...row } of await load(keys)) byKey.get(key)?.push(row as T);
    return keys.map((key) => byKey.get(key)!);
  });
}

function createLoaders() {
  return {
    rolesByUserId: grouped<Role>((ids) =>
      rows(
        `select ur.user_id as key, ${ROLE_COLUMNS} from user_roles ur join realm_roles r on r.id = ur.role_id
          where ur.user_id = any($1::uuid[]) and r.kind = 'ROLE' order by r.name`,
        [ids],
      ),
    ),
    privilegesByRoleId: grouped<Role>((ids) =>
      rows(
        `select rp.role_id as key, ${ROLE_COLUMNS} from role_privileges rp join realm_roles r on r.id = rp.privilege_id
          where rp.role_id = any($1::uuid[]) order by r.name`,
        [ids],
      ),
    ),
    groupsByUserId: grouped<Group>((ids) =>
      rows(
        `select ug.user_id as key, g.id, g.name from user_groups ug
           join lateral (select id, name from groups where id = ug.group_id offset 0) g on true
          where ug.user_id = any($1::uuid[]) order by g.name`,
        [ids],
      ),
    ),
    rolesByGroupId: grouped<Role>((ids) =>
      rows(
        `select gr.group_id as key, ${ROLE_COLUMNS} from group_roles gr join realm_roles r on r.id = gr.role_id
          where gr.group_id = any($1::uuid[]) order by r.name`,
        [ids],
      ),
    ),
    // selectEffectiveRoles (src/modules/roles/roles.queries.ts) for users: the roles held directly,
    // those of every group held and of each of its ancestors, then the closure of role_privileges
    // and role_composites, as Keycloak computes a token's roles.
    effectiveRolesByUserId: grouped<Role>((ids) =>
      rows(
        `with recursive
           joined(key, group_id) as (
             select ug.user_id, ug.group_id from user_groups ug where ug.user_id = any($1::uuid[])
             union
             select joined.key, g.parent_id
               from joined
               cross join lateral (select parent_id from groups where id = joined.group_id and parent_id is not null offset 0) g
           ),
           reached(key, role_id) as (
             select ur.user_id, ur.role_id from user_roles ur where ur.user_id = any($1::uuid[])
             union
             select joined.key, gr.role_id
               from joined cross join lateral (select role_id from group_roles where group_id = joined.group_id offset 0) gr
             union
             select reached.key, link.child_id
               from reached join (select role_id, privilege_id as child_id from role_privileges
                                  union all select role_id, child_id from role_composites) link on link.role_id = reached.role_id
           )
         select reached.key, ${ROLE_COLUMNS} from reached join realm_roles r on r.id = reached.role_id order by r.name`,
        [ids],
      ),
    ),
  };
}

type Loaders = ReturnType<typeof createLoaders>;

const schema: GraphQLSchema = buildSchema(/* GraphQL */ `
  type Query { users(first: Int = 50, after: String): UserConnection! }
  type UserConnection { edges: [UserEdge!]! pageInfo: PageInfo! }
  type UserEdge { cursor: String! node: User! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type User {
    id: ID! email: String! firstName: String! lastName: String! enabled: Boolean!
    roles: [Role!]! groups: [Group!]! effectivePrivileges: [Privilege!]!
  }
  type Role { id: ID! name: String! privileges: [Privilege!]! }
  type Privilege { id: ID! name: String! }
  type Group { id: ID! name: String! roles: [Role!]! }
`);

// As the gateway's cursors (src/db/pagination.ts): they name their list, then the place in it.
const cursorOf = (user: User) => Buffer.from(JSON.stringify(['users', user.createdAt.toISOString(), user.id])).toString('base64url');

const rootValue = {
  async users({ first, after }: { first: number; after?: string | null }) {
    const position = after
      ? (JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as [string, string, string]).slice(1)
      : undefined;
    const page = await rows<User>(
      `select u.id, u.email, u.first_name as "firstName", u.last_name as "lastName", u.enabled, u.created_at as "createdAt"
         from users u ${position ? 'where (u.created_at, u.id) > ($2, $3)' : ''} order by u.created_at, u.id limit $1`,
      position ? [first + 1, position[0], position[1]] : [first + 1],
    );
    const nodes = page.slice(0, first);
    // graphql-js's default resolver calls a function it finds: a cursor is made only when asked for, as the gateway's.
    const edges = nodes.map((node) => ({ cursor: () => cursorOf(node), node }));
    const last = nodes.at(-1);
    return { edges, pageInfo: { hasNextPage: page.length > first, endCursor: last ? cursorOf(last) : null } };
  },
};

// Field resolvers for the relations; graphql-js's default resolver answers the rest.
const fields = schema.getTypeMap();
const resolve = (type: string, field: string, resolver: (parent: any, loaders: Loaders) => unknown) => {
  (fields[type] as any).getFields()[field].resolve = (parent: unknown, _args: unknown, loaders: Loaders) => resolver(parent, loaders);
};
resolve('User', 'roles', (user: User, loaders) => loaders.rolesByUserId.load(user.id));
resolve('User', 'groups', (user: User, loaders) => loaders.groupsByUserId.load(user.id));
resolve('User', 'effectivePrivileges', async (user: User, loaders) =>
  (await loaders.effectiveRolesByUserId.load(user.id)).filter((role) => role.kind === 'PRIVILEGE'),
);
resolve('Role', 'privileges', (role: Role, loaders) => loaders.privilegesByRoleId.load(role.id));
// As the gateway's Group.roles: the group's roles; its privileges are another field.
resolve('Group', 'roles', async (group: Group, loaders) =>
  (await loaders.rolesByGroupId.load(group.id)).filter((role) => role.kind === 'ROLE'),
);

const documents = new Map<string, DocumentNode>();
function documentFor(query: string): DocumentNode {
  let document = documents.get(query);
  if (!document) {
    document = parse(query);
    const errors = validate(schema, document);
    if (errors.length > 0) throw new Error(errors.map((error) => error.message).join('; '));
    documents.set(query, document);
  }
  return document;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer((request, response) => {
  readBody(request)
    .then(async (text) => {
      const { query, variables } = JSON.parse(text) as { query: string; variables?: Record<string, unknown> };
      const result = await execute({
        schema,
        document: documentFor(query),
        rootValue,
        variableValues: variables,
        contextValue: createLoaders(),
      });
      response.setHeader('content-type', 'application/json; charset=utf-8');
      response.end(JSON.stringify(result));
    })
    .catch((error: unknown) => {
      response.statusCode = 400;
      response.end(JSON.stringify({ errors: [{ message: String(error) }] }));
    });
});
server.listen(0, '127.0.0.1', () => {
  announce(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, counter.handle);
});
