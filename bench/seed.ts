import pg from 'pg';
import type { Config } from '../src/config.js';
import { openDatabase } from '../src/database.js';
import { syncDirectory } from '../src/jobs/directory-sync.js';
import { createKeycloakAdmin } from '../src/keycloak/admin-client.js';
import { DEFAULT_CATALOG } from '../src/keycloak/realm-catalog.js';
import type { Progress } from '../src/stack/progress.js';
import type { KeycloakAdminRest } from './keycloak.js';

/**
 * The bench's data set, the same at every run: 10,000 users spread over 20 roles and 50
 * groups, in Keycloak and in the gateway's mirror. Keycloak gets it through the partial
 * import endpoint (one request per 1,000 users); the mirror gets what Keycloak then holds,
 * read back through the admin API and written in one transaction.
 */
export const SEED_USERS = 10_000;
export const USER_PREFIX = 'bench-user-';
export const EMAIL_DOMAIN = 'bench.test';
const IMPORT_BATCH = 1_000;

const { privileges: PRIVILEGES, roles: ROLES } = DEFAULT_CATALOG;
/** The default catalog's four roles and sixteen of the bench's own: 20 role_* roles. */
export const ROLE_NAMES = [
  ...ROLES.map((role) => role.name),
  ...Array.from({ length: 20 - ROLES.length }, (_, i) => `role_bench_${pad(i + 1, 2)}`),
];
export const GROUP_NAMES = Array.from({ length: 50 }, (_, i) => `bench-group-${pad(i + 1, 2)}`);

/** Who the bench signs in as: role_admin, so that it may list users. */
export const BENCH_ADMIN = { email: `bench-admin@${EMAIL_DOMAIN}`, password: 'Bench-password-1', firstName: 'Bench', lastName: 'Admin' };

export function seedUserEmail(index: number): string {
  return `${USER_PREFIX}${pad(index, 5)}@${EMAIL_DOMAIN}`;
}

/** User `index` (1-based) holds one or two roles and one or two groups, spread evenly. */
export function assignmentOf(index: number): { roles: string[]; groups: string[] } {
  const roles = new Set([ROLE_NAMES[index % ROLE_NAMES.length]!]);
  if (index % 2 === 0) roles.add(ROLE_NAMES[(index * 7 + 3) % ROLE_NAMES.length]!);
  const groups = new Set([GROUP_NAMES[index % GROUP_NAMES.length]!]);
  if (index % 3 !== 0) groups.add(GROUP_NAMES[(index * 11 + 5) % GROUP_NAMES.length]!);
  return { roles: [...roles], groups: [...groups] };
}

export interface SeedSummary {
  keycloakUsers: number;
  mirroredUsers: number;
  userRoles: number;
  userGroups: number;
  /** What this run had to do; empty when everything was already there. */
  work: string[];
}

export interface SeedOptions {
  config: Config;
  /** The realm's admin API as the master admin. */
  admin: KeycloakAdminRest;
  progress: Progress;
}

export async function seed({ config, admin, progress }: SeedOptions): Promise<SeedSummary> {
  const work: string[] = [];
  const directoryChanged = await progress.step('Seed roles and groups in Keycloak', () => seedDirectory(admin));
  if (directoryChanged) work.push('roles and groups created in Keycloak');
  if (await ensureBenchAdmin(admin)) work.push(`${BENCH_ADMIN.email} created`);

  const present = (await admin.ok<number>('GET', `/users/count?username=${USER_PREFIX}`)).body;
  if (present < SEED_USERS) {
    await progress.step(`Import ${SEED_USERS - present} users into Keycloak (partial import, ${IMPORT_BATCH} per request)`, () =>
      importUsers(admin),
    );
    work.push(`${SEED_USERS - present} users imported into Keycloak`);
  }

  // Roles, privileges and groups reach the mirror the way the gateway itself mirrors them.
  const keycloak = createKeycloakAdmin({
    url: config.keycloak.url,
    realm: config.keycloak.realm,
    clientId: config.keycloak.apiClientId,
    clientSecret: config.keycloak.apiClientSecret,
  });
  const orm = await openDatabase(config.databaseUrl);
  try {
    await syncDirectory(keycloak.client, orm.em.fork());
  } finally {
    await orm.close();
  }

  const db = new pg.Client({ connectionString: config.databaseUrl });
  await db.connect();
  try {
    if (!(await mirrorLooksComplete(db))) {
      await progress.step('Mirror Keycloak users, roles and groups into PostgreSQL', () => mirrorUsers(admin, db));
      work.push('mirror rewritten from Keycloak');
    }
    // Fresh planner statistics, as autovacuum would gather after a bulk load: without them the
    // page of users is read by a full scan instead of its index.
    await db.query('analyze users, user_roles, user_groups, realm_roles, groups, group_roles, role_privileges');
    const [counts] = (
      await db.query<{ users: string; user_roles: string; user_groups: string }>(
        `select (select count(*) from users) as users, (select count(*) from user_roles) as user_roles,
                (select count(*) from user_groups) as user_groups`,
      )
    ).rows;
    return {
      keycloakUsers: (await admin.ok<number>('GET', '/users/count')).body,
      mirroredUsers: Number(counts!.users),
      userRoles: Number(counts!.user_roles),
      userGroups: Number(counts!.user_groups),
      work,
    };
  } finally {
    await db.end();
  }
}

/** The 16 extra roles (each a composite of one privilege) and 50 groups (each mapped to a role). */
async function seedDirectory(admin: KeycloakAdminRest): Promise<boolean> {
  const existingRoles = new Set((await admin.ok<{ name: string }[]>('GET', '/roles?max=1000')).body.map((role) => role.name));
  const existingGroups = new Set((await admin.all<{ name: string }>('/groups?briefRepresentation=true')).map((group) => group.name));
  const roles = ROLE_NAMES.filter((name) => !existingRoles.has(name)).map((name) => ({
    name,
    description: 'Bench role',
    composite: true,
    composites: { realm: [PRIVILEGES[ROLE_NAMES.indexOf(name) % PRIVILEGES.length]!.name] },
  }));
  const groups = GROUP_NAMES.filter((name) => !existingGroups.has(name)).map((name) => {
    const index = GROUP_NAMES.indexOf(name);
    const realmRoles = [ROLE_NAMES[index % ROLE_NAMES.length]!];
    // Every fifth group also grants a privilege directly.
    if (index % 5 === 0) realmRoles.push(PRIVILEGES[index % PRIVILEGES.length]!.name);
    return { name, path: `/${name}`, realmRoles };
  });
  if (roles.length > 0) await admin.ok('POST', '/partialImport', { ifResourceExists: 'SKIP', roles: { realm: roles } });
  if (groups.length > 0) await admin.ok('POST', '/partialImport', { ifResourceExists: 'SKIP', groups });
  return roles.length + groups.length > 0;
}

async function ensureBenchAdmin(admin: KeycloakAdminRest): Promise<boolean> {
  const found = (await admin.ok<{ id: string }[]>('GET', `/users?exact=true&email=${encodeURIComponent(BENCH_ADMIN.email)}`)).body;
  if (found.length > 0) return false;
  await admin.ok('POST', '/partialImport', {
    ifResourceExists: 'SKIP',
    users: [
      {
        username: BENCH_ADMIN.email,
        email: BENCH_ADMIN.email,
        firstName: BENCH_ADMIN.firstName,
        lastName: BENCH_ADMIN.lastName,
        enabled: true,
        emailVerified: true,
        credentials: [{ type: 'password', value: BENCH_ADMIN.password, temporary: false }],
        realmRoles: ['role_admin'],
      },
    ],
  });
  return true;
}

async function importUsers(admin: KeycloakAdminRest): Promise<void> {
  // Distinct creation times, one millisecond apart, give the listing a stable order.
  const base = Date.UTC(2026, 0, 1);
  for (let start = 1; start <= SEED_USERS; start += IMPORT_BATCH) {
    const users = [];
    for (let index = start; index < start + IMPORT_BATCH && index <= SEED_USERS; index++) {
      const email = seedUserEmail(index);
      const { roles, groups } = assignmentOf(index);
      users.push({
        username: email,
        email,
        firstName: 'Bench',
        lastName: `User ${pad(index, 5)}`,
        enabled: true,
        emailVerified: true,
        createdTimestamp: base + index,
        realmRoles: roles,
        groups: groups.map((name) => `/${name}`),
      });
    }
    // SKIP: a run interrupted half-way completes the rest without failing on what exists.
    await admin.ok('POST', '/partialImport', { ifResourceExists: 'SKIP', users });
  }
}

/** What the seeding would have produced, counted in the mirror: cheap, and enough to skip a rewrite. */
async function mirrorLooksComplete(db: pg.Client): Promise<boolean> {
  let roles = 0;
  let groups = 0;
  for (let index = 1; index <= SEED_USERS; index++) {
    const assignment = assignmentOf(index);
    roles += assignment.roles.length;
    groups += assignment.groups.length;
  }
  const pattern = `${USER_PREFIX}%@${EMAIL_DOMAIN}`;
  const [row] = (
    await db.query<{ users: string; roles: string; groups: string; admin: string }>(
      `select (select count(*) from users where email like $1) as users,
              (select count(*) from user_roles ur join users u on u.id = ur.user_id where u.email like $1) as roles,
              (select count(*) from user_groups ug join users u on u.id = ug.user_id where u.email like $1) as groups,
              (select count(*) from users where email = $2) as admin`,
      [pattern, BENCH_ADMIN.email],
    )
  ).rows;
  return Number(row!.users) === SEED_USERS && Number(row!.roles) === roles && Number(row!.groups) === groups && row!.admin === '1';
}

export interface KeycloakUser {
  id: string;
  username: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  enabled: boolean;
  emailVerified: boolean;
  createdTimestamp: number;
  attributes?: Record<string, string[]>;
}

/**
 * Makes the mirror hold exactly what Keycloak holds for the realm's users: every user,
 * the managed roles each holds directly, the groups each belongs to. Links come from
 * the role and group side (one paged listing per role and per group), not per user.
 */
export async function mirrorUsers(admin: KeycloakAdminRest, db: pg.Client): Promise<void> {
  const users = await admin.all<KeycloakUser>('/users?briefRepresentation=false');
  const roles = (await db.query<{ id: string; name: string }>('select id, name from realm_roles')).rows;
  const groups = (await db.query<{ id: string }>('select id from groups')).rows;
  const userRoles: [string, string][] = [];
  for (const role of roles) {
    const holders = await admin.all<{ id: string }>(`/roles/${encodeURIComponent(role.name)}/users?briefRepresentation=true`);
    for (const holder of holders) userRoles.push([holder.id, role.id]);
  }
  const userGroups: [string, string][] = [];
  for (const group of groups) {
    const members = await admin.all<{ id: string }>(`/groups/${group.id}/members?briefRepresentation=true`);
    for (const member of members) userGroups.push([member.id, group.id]);
  }
  await writeMirror(db, users, userRoles, userGroups);
}

/**
 * The mirror's users and direct links made exactly these, in one transaction. `quiet` writes
 * them with triggers off (the outbox's events and the kept users count, which it then counts
 * again): a bulk fixture of 100,000 users otherwise spends half an hour making events nobody reads.
 */
export async function writeMirror(
  db: pg.Client,
  users: KeycloakUser[],
  userRoles: [string, string][],
  userGroups: [string, string][],
  quiet = false,
): Promise<void> {
  await db.query('begin');
  try {
    if (quiet) await db.query('set local session_replication_role = replica');
    const column = <T>(pick: (user: KeycloakUser) => T) => users.map(pick);
    await db.query(
      `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
       select id, username, email, first_name, last_name, enabled, email_verified, attributes::jsonb, 'SYNCED', created_at, created_at
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bool[], $8::text[], $9::timestamptz[])
           as t(id, username, email, first_name, last_name, enabled, email_verified, attributes, created_at)
       on conflict (id) do update set username = excluded.username, email = excluded.email, first_name = excluded.first_name,
         last_name = excluded.last_name, enabled = excluded.enabled, email_verified = excluded.email_verified,
         attributes = excluded.attributes, sync_status = 'SYNCED', updated_at = now()`,
      [
        column((user) => user.id),
        column((user) => user.username),
        column((user) => (user.email ?? user.username).toLowerCase()),
        column((user) => user.firstName ?? ''),
        column((user) => user.lastName ?? ''),
        column((user) => user.enabled),
        column((user) => user.emailVerified),
        column((user) => JSON.stringify(user.attributes ?? {})),
        column((user) => new Date(user.createdTimestamp)),
      ],
    );
    await db.query('delete from users where not (id = any($1::uuid[]))', [users.map((user) => user.id)]);
    await db.query('delete from user_roles');
    await db.query('delete from user_groups');
    await db.query('insert into user_roles (user_id, role_id) select * from unnest($1::uuid[], $2::uuid[])', [
      userRoles.map(([user]) => user),
      userRoles.map(([, role]) => role),
    ]);
    await db.query('insert into user_groups (user_id, group_id) select * from unnest($1::uuid[], $2::uuid[])', [
      userGroups.map(([user]) => user),
      userGroups.map(([, group]) => group),
    ]);
    if (quiet) {
      await db.query('delete from users_count');
      await db.query('insert into users_count (slot, count) select 0, count(*) from users');
    }
    await db.query('commit');
  } catch (error) {
    await db.query('rollback');
    throw error;
  }
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
