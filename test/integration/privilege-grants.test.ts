import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { holdersCondition, selectPrivilegeReach } from '../../src/modules/roles/roles.queries.js';
import { sql } from '../support/database.js';
import { consoleGroup, consoleRole, createUserThroughGateway, realmRoleIds, withoutDirectorySync } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, renewedToken } from '../support/keycloak.js';

const GRANTS = /* GraphQL */ `
  query Grants($id: ID!) {
    user(id: $id) {
      effectivePrivileges { id name }
      privilegeGrants { privilege { id name } paths { steps { kind id name } } }
    }
  }
`;
const HOLDERS = /* GraphQL */ `
  query Holders($filter: UserFilter) {
    users(first: 100, filter: $filter) { totalCount edges { node { id } } }
  }
`;

type Step = [kind: 'GROUP' | 'ROLE' | 'PRIVILEGE', name: string];

/**
 * privilegeGrants and users(filter: { privilegeId }) against the real Keycloak: every kind
 * of path is built as an administrator builds it (through the gateway's mutations, or in
 * Keycloak's console for what the gateway does not make: a privilege mapped to a user
 * directly, a role composed of a role, a subgroup), and Keycloak's own answer of what each
 * user holds is the reference.
 */
describe('privilege grants: every privilege a user holds, with every path that grants it', () => {
  const tag = randomUUID().slice(0, 8);
  const name = {
    read: `priv_${tag}_read`,
    write: `priv_${tag}_write`,
    reader: `role_grants_${tag}_reader`,
    chain: `role_grants_${tag}_chain`,
    loser: `role_grants_${tag}_loser`,
    team: `grants-${tag}-team`,
    parent: `grants-${tag}-parent`,
    child: `grants-${tag}-child`,
  };
  const ids: Record<string, string> = {};
  const users: Record<string, string> = {};
  let gateway: TestGateway;
  let adminToken: () => Promise<string>;

  async function graphql(query: string, variables: Record<string, unknown>) {
    const response = await gateway.graphql(query, { token: await adminToken(), variables });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    return response.data!;
  }

  beforeAll(async () => {
    gateway = await startTestGateway();
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    adminToken = renewedToken(admin.email, admin.password);

    // Made in Keycloak's console (the gateway neither makes privileges, nor roles composed of
    // roles, nor subgroups), learnt by the mirror through the directory sync.
    ids.read = await consoleRole(name.read);
    ids.write = await consoleRole(name.write);
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

    // Through the gateway: roles with privileges, and a group with a role and a privilege.
    const role = async (roleName: string, privilegeIds: string[]) =>
      (
        await graphql('mutation($input: CreateRoleInput!) { createRole(input: $input) { role { id } } }', {
          input: { roleName, privilegeIds },
        })
      ).createRole.role.id as string;
    ids.reader = await role(name.reader, [ids.read]);
    ids.loser = await role(name.loser, [ids.write]);
    ids.team = (
      await graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
        input: { groupName: name.team, roleIds: [ids.reader], privilegeIds: [ids.write] },
      })
    ).createGroup.group.id;

    ids.chain = await consoleRole(name.chain, [name.reader]);
    ids.parent = await consoleGroup(name.parent, { roles: [name.reader] });
    ids.child = await consoleGroup(name.child, { parentId: ids.parent });
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());

    const through = async (input: { roleIds?: string[]; groupIds?: string[] }) =>
      (await createUserThroughGateway(gateway, await adminToken(), input)).id;
    users.viaRole = await through({ roleIds: [ids.reader] });
    users.viaChain = await through({ roleIds: [ids.chain] });
    users.viaGroup = await through({ groupIds: [ids.team] });
    users.viaParent = await through({ groupIds: [ids.child] });
    users.everyWay = await through({ roleIds: [ids.reader, ids.chain], groupIds: [ids.team, ids.child] });
    users.loser = await through({ roleIds: [ids.loser] });
    users.nothing = await through({});

    // A privilege mapped to a user directly is made in Keycloak's console; the mirror learns
    // the user, with its mappings, when the user first signs in to the gateway.
    const direct = await createKeycloakUser({ realmRoles: [name.read] });
    const me = await gateway.graphql('query { me { id } }', { token: (await passwordGrant(direct.email, direct.password)).access_token });
    expect(me.errors).toBeUndefined();
    users.direct = direct.id;
  });
  afterAll(() => gateway?.close());

  /** A user's grants as [privilege name, paths as [kind, name] steps]; checks each step's id against its name. */
  async function grantsOf(userId: string) {
    const { user } = await graphql(GRANTS, { id: userId });
    const grants = user.privilegeGrants as {
      privilege: { id: string; name: string };
      paths: { steps: { kind: string; id: string; name: string }[] }[];
    }[];
    const idOf: Record<string, string> = {
      [name.read]: ids.read!,
      [name.write]: ids.write!,
      [name.reader]: ids.reader!,
      [name.chain]: ids.chain!,
      [name.loser]: ids.loser!,
      [name.team]: ids.team!,
      [name.parent]: ids.parent!,
      [name.child]: ids.child!,
    };
    for (const step of grants.flatMap((grant) => grant.paths.flatMap((path) => path.steps))) {
      if (step.name in idOf) expect(step.id, step.name).toBe(idOf[step.name]);
    }
    // The same privileges as effectivePrivileges, in the same order.
    expect(grants.map((grant) => grant.privilege)).toEqual(user.effectivePrivileges);
    return Object.fromEntries(
      grants.map((grant) => [grant.privilege.name, grant.paths.map((path) => path.steps.map((s) => [s.kind, s.name]))]),
    );
  }

  /** The privileges Keycloak itself says the user holds (its effective realm roles, priv_* only), sorted. */
  async function privilegesInKeycloak(userId: string): Promise<string[]> {
    const roles = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${userId}/role-mappings/realm/composite`)).body;
    return roles
      .map((role) => role.name)
      .filter((roleName) => roleName.startsWith('priv_'))
      .sort();
  }

  const ROLE_READ: Step[] = [
    ['ROLE', name.reader],
    ['PRIVILEGE', name.read],
  ];

  it.each<[string, () => Record<string, Step[][]>]>([
    ['a privilege mapped to the user directly', () => ({ [name.read]: [[['PRIVILEGE', name.read]]] })],
    ['a role', () => ({ [name.read]: [ROLE_READ] })],
    ['a role composed of a role (a chain)', () => ({ [name.read]: [[['ROLE', name.chain], ...ROLE_READ]] })],
    [
      'a group with a role and a privilege',
      () => ({
        [name.read]: [[['GROUP', name.team], ...ROLE_READ]],
        [name.write]: [
          [
            ['GROUP', name.team],
            ['PRIVILEGE', name.write],
          ],
        ],
      }),
    ],
    [
      'a subgroup whose parent has a role',
      () => ({
        [name.read]: [[['GROUP', name.child], ['GROUP', name.parent], ...ROLE_READ]],
      }),
    ],
  ])('through %s: the exact path, and the privileges Keycloak says the user holds', async (way, expected) => {
    const user =
      users[
        {
          'a privilege mapped to the user directly': 'direct',
          'a role': 'viaRole',
          'a role composed of a role (a chain)': 'viaChain',
          'a group with a role and a privilege': 'viaGroup',
          'a subgroup whose parent has a role': 'viaParent',
        }[way]!
      ]!;
    const grants = await grantsOf(user);
    const ours = Object.fromEntries(Object.entries(grants).filter(([privilege]) => privilege.includes(tag)));
    expect(ours).toEqual(expected());
    expect(Object.keys(grants).sort()).toEqual(await privilegesInKeycloak(user));
  });

  it('lists every path when a privilege reaches the user several ways, shortest first', async () => {
    const grants = await grantsOf(users.everyWay!);
    expect(grants[name.read]).toEqual([
      ROLE_READ,
      [['GROUP', name.team], ...ROLE_READ],
      [['ROLE', name.chain], ...ROLE_READ],
      [['GROUP', name.child], ['GROUP', name.parent], ...ROLE_READ],
    ]);
    expect(grants[name.write]).toEqual([
      [
        ['GROUP', name.team],
        ['PRIVILEGE', name.write],
      ],
    ]);
    expect(Object.keys(grants).sort()).toEqual(await privilegesInKeycloak(users.everyWay!));
    expect(await grantsOf(users.nothing!)).toEqual({});
  });

  it('users(filter: { privilegeId }) answers exactly the holders, by any path, and follows a role that loses the privilege', async () => {
    const holders = async (privilegeId: string) => {
      const { users: page } = await graphql(HOLDERS, { filter: { privilegeId } });
      expect(page.totalCount).toBe(page.edges.length);
      return (page.edges as { node: { id: string } }[]).map((edge) => edge.node.id).sort();
    };
    const sorted = (...keys: string[]) => keys.map((key) => users[key]!).sort();

    expect(await holders(ids.read!)).toEqual(sorted('direct', 'viaRole', 'viaChain', 'viaGroup', 'viaParent', 'everyWay'));
    expect(await holders(ids.write!)).toEqual(sorted('viaGroup', 'everyWay', 'loser'));
    expect(await privilegesInKeycloak(users.loser!)).toContain(name.write);

    const changed = await graphql('mutation($id: ID!, $input: UpdateRoleInput!) { updateRole(id: $id, input: $input) { role { id } } }', {
      id: ids.loser,
      input: { privilegeIdsToRemove: [ids.write] },
    });
    expect(changed.updateRole.role.id).toBe(ids.loser);
    expect(await holders(ids.write!)).toEqual(sorted('viaGroup', 'everyWay'));
    expect(await privilegesInKeycloak(users.loser!)).not.toContain(name.write);
    expect(await grantsOf(users.loser!)).not.toHaveProperty(name.write);

    // With the other criteria: all must match.
    const { users: both } = await graphql(HOLDERS, { filter: { privilegeId: ids.read, groupId: ids.team } });
    expect((both.edges as { node: { id: string } }[]).map((edge) => edge.node.id).sort()).toEqual(sorted('viaGroup', 'everyWay'));
  });

  it('users(filter: { privilegeId }) matches no one for an unknown id or a role’s id, as roleId and groupId do, and refuses a malformed one', async () => {
    expect(await graphql(HOLDERS, { filter: { privilegeId: randomUUID() } })).toEqual({ users: { totalCount: 0, edges: [] } });
    expect(await graphql(HOLDERS, { filter: { privilegeId: ids.reader } })).toEqual({ users: { totalCount: 0, edges: [] } });
    expect(await graphql(HOLDERS, { filter: { roleId: randomUUID() } })).toEqual({ users: { totalCount: 0, edges: [] } });

    const malformed = await gateway.graphql(HOLDERS, { token: await adminToken(), variables: { filter: { privilegeId: 'priv_x' } } });
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { privilegeId: expect.any(String) } });
  });

  it('users(filter: { privilegeId }) pages through common holders as through rare ones, and counts them all', async () => {
    // Enough holders that the gateway walks the users in order and checks each (PrivilegeReach.common),
    // rather than collecting every holder: at least sqrt(50 × users) of them, with the users' count
    // and their groups' members known to the planner (analyze), whose estimate decides.
    const [{ count }] = await sql<{ count: string }>('select count(*) from users');
    const bulk = Math.ceil((50 + Math.sqrt(2500 + 200 * Number(count))) / 2) + 50;
    const marker = `grants-${tag}-bulk`;
    const seeded = await sql<{ id: string }>(
      `with seeded as (
         insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
         select gen_random_uuid(), v.email, v.email, 'Bulk', 'No ' || i, true, true, '{}', 'SYNCED', v.at, v.at
           from generate_series(1, $2::int) i,
                lateral (select $1 || '-' || i || '@example.test' as email,
                                date_trunc('milliseconds', now()) + i * interval '1 millisecond' as at) v
         returning id, created_at
       ), joined as (insert into user_groups (user_id, group_id) select id, $3 from seeded)
       select id from seeded order by created_at, id`,
      [marker, bulk, ids.child],
    );
    try {
      await sql('analyze users, user_groups');
      expect((await selectPrivilegeReach(gateway.app.orm.em.fork(), ids.read!)).common).toBe(true);

      const PAGE = /* GraphQL */ `
        query Page($after: String, $filter: UserFilter) {
          users(first: 100, after: $after, filter: $filter) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } }
        }
      `;
      const found: string[] = [];
      let after: string | null = null;
      for (;;) {
        const { users: page } = await graphql(PAGE, { after, filter: { privilegeId: ids.read, search: marker } });
        expect(page.totalCount).toBe(bulk);
        found.push(...(page.edges as { node: { id: string } }[]).map((edge) => edge.node.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(found).toEqual(seeded.map((row) => row.id));

      // Counted the other way (every holder collected), with the six of the first tests.
      const { users: all } = await graphql(PAGE, { filter: { privilegeId: ids.read } });
      expect(all.totalCount).toBe(bulk + 6);
      const { users: none } = await graphql(PAGE, { filter: { privilegeId: ids.write, search: marker } });
      expect(none).toMatchObject({ totalCount: 0, edges: [] });
    } finally {
      await sql('delete from users where id = any($1)', [seeded.map((row) => row.id)]);
    }
  });
});

describe('privilege grants when composites or groups form a cycle', () => {
  it('every path stops before it would repeat a role or a group, and effective privileges stay those of the walk', async () => {
    const gateway = await startTestGateway();
    try {
      const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
      const token = (await passwordGrant(admin.email, admin.password)).access_token;
      const privilegeId = (await realmRoleIds()).priv_code_review!;
      const tag = randomUUID().slice(0, 8);
      const [a, b, g1, g2, userId] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      // Keycloak's console cannot make a group its own ancestor; the mirror is written directly,
      // while no directory sync runs (it would take the rows Keycloak lacks away).
      const response = await withoutDirectorySync(async () => {
        await sql("insert into realm_roles (id, name, kind) values ($1, $3, 'ROLE'), ($2, $4, 'ROLE')", [
          a,
          b,
          `role_${tag}_a`,
          `role_${tag}_b`,
        ]);
        await sql('insert into role_composites (role_id, child_id) values ($1, $2), ($2, $1)', [a, b]);
        await sql('insert into role_privileges (role_id, privilege_id) values ($1, $2)', [b, privilegeId]);
        await sql('insert into groups (id, name, parent_id) values ($1, $3, null), ($2, $4, $1)', [g1, g2, `g1-${tag}`, `g2-${tag}`]);
        await sql('update groups set parent_id = $2 where id = $1', [g1, g2]);
        await sql('insert into group_roles (group_id, role_id) values ($1, $2)', [g2, a]);
        await sql(
          `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
           values ($1, $2, $2, 'Cy', 'Cle', true, true, '{}', 'SYNCED', now(), now())`,
          [userId, `cycle-${tag}@example.test`],
        );
        await sql('insert into user_roles (user_id, role_id) values ($1, $2)', [userId, a]);
        await sql('insert into user_groups (user_id, group_id) values ($1, $2)', [userId, g1]);
        try {
          return await gateway.graphql(
            `query($id: ID!, $privilegeId: ID!) {
               user(id: $id) { effectivePrivileges { name } privilegeGrants { privilege { name } paths { steps { kind name } } } }
               users(filter: { privilegeId: $privilegeId, search: "${tag}" }) { edges { node { id } } }
             }`,
            { token, variables: { id: userId, privilegeId } },
          );
        } finally {
          await sql('delete from users where id = $1', [userId]);
          await sql('delete from groups where id in ($1, $2)', [g1, g2]);
          await sql('delete from realm_roles where id in ($1, $2)', [a, b]);
        }
      });

      expect(response.errors).toBeUndefined();
      const user = response.data!.user;
      expect(user.effectivePrivileges).toEqual([{ name: 'priv_code_review' }]);
      const [A, B] = [`role_${tag}_a`, `role_${tag}_b`];
      const paths = user.privilegeGrants[0].paths.map((path: { steps: { kind: string; name: string }[] }) =>
        path.steps.map((step) => `${step.kind} ${step.name}`).join(' > '),
      );
      expect(user.privilegeGrants.map((grant: { privilege: { name: string } }) => grant.privilege.name)).toEqual(['priv_code_review']);
      expect(paths).toEqual([
        `ROLE ${A} > ROLE ${B} > PRIVILEGE priv_code_review`,
        `GROUP g1-${tag} > GROUP g2-${tag} > ROLE ${A} > ROLE ${B} > PRIVILEGE priv_code_review`,
      ]);
      expect(response.data!.users.edges).toEqual([{ node: { id: userId } }]);
    } finally {
      await gateway.close();
    }
  });
});

describe('users(filter: { privilegeId }) when more groups reach the privilege than the statements name', () => {
  it('finds the holders through each user’s groups and their ancestors, cycles included, walking or collecting', async () => {
    const gateway = await startTestGateway();
    try {
      const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
      const token = (await passwordGrant(admin.email, admin.password)).access_token;
      const tag = randomUUID().slice(0, 8);
      // A privilege of the catalog, not one of its own: other files read the realm's privileges
      // as a whole at the same time (roles.test.ts), and a privilege only the mirror has would
      // show in their lists. The search below keeps the holders to this test's users.
      const privilegeId = (await realmRoleIds()).priv_code_review!;
      const roleId = randomUUID();
      // 70 groups mapped the role: more than selectPrivilegeReach names (MAX_NAMED_GROUPS).
      const mapped = Array.from({ length: 70 }, () => randomUUID());
      // A subgroup of a subgroup of a mapped group; a cycle of parents through a mapped
      // group, and one through none (Keycloak's console makes neither, so the mirror is
      // written directly, while no directory sync runs).
      const [sub, subSub, cycleIn, cycleMapped, loopA, loopB, unmapped] = Array.from({ length: 7 }, () => randomUUID());
      const users = {
        direct: randomUUID(),
        viaRole: randomUUID(),
        viaGroup: randomUUID(),
        viaSubSub: randomUUID(),
        viaCycle: randomUUID(),
        nothing: randomUUID(),
      };
      const { reach, answered, walked, collected } = await withoutDirectorySync(async () => {
        await sql("insert into realm_roles (id, name, kind) values ($1, $2, 'ROLE')", [roleId, `role_${tag}_many`]);
        await sql('insert into role_privileges (role_id, privilege_id) values ($1, $2)', [roleId, privilegeId]);
        await sql('insert into groups (id, name, parent_id) select id, $2 || n, null from unnest($1::uuid[]) with ordinality m(id, n)', [
          mapped,
          `many-${tag}-`,
        ]);
        await sql(
          `insert into groups (id, name, parent_id) values
             ($1, $8 || 'sub', $9), ($2, $8 || 'subsub', $1), ($3, $8 || 'cycle-in', null), ($4, $8 || 'cycle-mapped', $3),
             ($5, $8 || 'loop-a', null), ($6, $8 || 'loop-b', $5), ($7, $8 || 'unmapped', null)`,
          [sub, subSub, cycleIn, cycleMapped, loopA, loopB, unmapped, `many-${tag}-`, mapped[0]],
        );
        await sql('update groups set parent_id = $2 where id = $1', [cycleIn, cycleMapped]);
        await sql('update groups set parent_id = $2 where id = $1', [loopA, loopB]);
        await sql('insert into group_roles (group_id, role_id) select unnest($1::uuid[]), $2', [[...mapped, cycleMapped], roleId]);
        await sql(
          `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
           select id, $2 || n || '@example.test', $2 || n || '@example.test', 'Many', 'Groups', true, true, '{}', 'SYNCED', now(), now()
             from unnest($1::uuid[]) with ordinality m(id, n)`,
          [Object.values(users), `many-${tag}-`],
        );
        await sql('insert into user_roles (user_id, role_id) values ($1, $3), ($2, $4)', [
          users.direct,
          users.viaRole,
          privilegeId,
          roleId,
        ]);
        await sql('insert into user_groups (user_id, group_id) values ($1, $5), ($2, $6), ($3, $7), ($4, $8), ($4, $9)', [
          users.viaGroup,
          users.viaSubSub,
          users.viaCycle,
          users.nothing,
          mapped[42],
          subSub,
          cycleIn,
          loopA,
          unmapped,
        ]);
        try {
          const em = gateway.app.orm.em.fork();
          const reach = await selectPrivilegeReach(em, privilegeId);
          // Each way of writing the condition, whichever the estimate picks for the page.
          const holders = async (how: 'walk' | 'collect') => {
            const { clause, params } = holdersCondition(reach, how);
            const rows = (await em.execute(`select u.id from users u where ${clause} and u.username like ?`, [
              ...params,
              `many-${tag}-%`,
            ])) as { id: string }[];
            return rows.map((row) => row.id).sort();
          };
          const answered = await gateway.graphql(HOLDERS, { token, variables: { filter: { privilegeId, search: `many-${tag}-` } } });
          return { reach, answered, walked: await holders('walk'), collected: await holders('collect') };
        } finally {
          await sql('delete from users where id = any($1)', [Object.values(users)]);
          await sql('delete from groups where id = any($1)', [[...mapped, sub, subSub, cycleIn, cycleMapped, loopA, loopB, unmapped]]);
          await sql('delete from realm_roles where id = $1', [roleId]);
        }
      });

      expect(reach.groupIds).toBeNull();
      const expected = [users.direct, users.viaRole, users.viaGroup, users.viaSubSub, users.viaCycle].sort();
      expect(walked).toEqual(expected);
      expect(collected).toEqual(expected);
      expect(answered.errors).toBeUndefined();
      const page = answered.data!.users as { totalCount: number; edges: { node: { id: string } }[] };
      expect(page.totalCount).toBe(expected.length);
      expect(page.edges.map((edge) => edge.node.id).sort()).toEqual(expected);
    } finally {
      await gateway.close();
    }
  });
});
