import type pg from 'pg';
import { EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES } from './names.js';

/**
 * The gateway's mirror at scale, written straight into PostgreSQL by generate_series:
 * a million users take minutes this way, where the admin API would take hours. Each size
 * lives in a database of its own (iam_gateway_scale_10k, _100k, _1m), seeded once: the
 * database's comment records what it holds, and a later run with the same seed reuses it.
 *
 * Proportions, for N users (the shapes of a company directory, not a uniform spread):
 * - 30 roles (the catalog's four and role_scale_01..26, each a composite of two of the
 *   privileges priv_scale_01..27 and the catalog's): a fixed catalog, whatever the size;
 * - N/100 groups (100 at 10k, 10,000 at 1M), one in five a subgroup of the one before it,
 *   each mapped to a role, one in five to a privilege too: about 150 members per group;
 * - N/50 tenants, everyone a member of one, one in ten of two;
 * - each user holds one role directly (one in three two), is in one group (one in two in
 *   two); one in fifty is disabled; first names skewed (names.ts), emails unique;
 * - 10 audit events per user: 10 million at 1M.
 */
export const SEED_VERSION = 'iam-gateway scale seed v1';
export const EVENTS_PER_USER = 10;

/** What the database's comment says once a seed of `users` completed. */
export function seedMark(users: number): string {
  return `${SEED_VERSION}: ${users} users`;
}

export async function seededMark(db: pg.Client): Promise<string | null> {
  const { rows } = await db.query<{ comment: string | null }>(
    'select shobj_description(oid, $1) as comment from pg_database where datname = current_database()',
    ['pg_database'],
  );
  return rows[0]?.comment ?? null;
}

/** The 26 roles and 27 privileges the scale profile adds to the catalog's, in Keycloak and in the mirror alike. */
export const SCALE_ROLES = Array.from({ length: 26 }, (_, i) => `role_scale_${String(i + 1).padStart(2, '0')}`);
export const SCALE_PRIVILEGES = Array.from({ length: 27 }, (_, i) => `priv_scale_${String(i + 1).padStart(2, '0')}`);
/** The privileges role `index` (0-based, in SCALE_ROLES) is a composite of. */
export function privilegesOfRole(index: number): string[] {
  return [SCALE_PRIVILEGES[index]!, SCALE_PRIVILEGES[index + 1]!];
}
export function groupName(index: number): string {
  return `scale-group-${String(index).padStart(5, '0')}`;
}
/** Groups in Keycloak's realm for its own 10,000 users; the mirror has N/100 of them. */
export const KEYCLOAK_GROUPS = 100;

/** Same as names.ts `unit`, in SQL: a number in [0, 1) from an integer and a salt. */
const unit = (expression: string, salt: number) => `((((${expression}) # ${salt})::bigint * 2654435761) % 4294967296) / 4294967296.0`;

/** Tables whose indexes are rebuilt after the load rather than maintained row by row. */
const LOADED_TABLES = ['users', 'user_roles', 'user_groups', 'tenants', 'memberships', 'audit_events'];

export interface MirrorSeed {
  users: number;
  /** The caller of the scale runs: a Keycloak user, role_admin in the mirror. */
  admin: { id: string; email: string; firstName: string; lastName: string };
  log: (line: string) => void;
}

/**
 * Writes the generated directory, users and audit trail into `db`, which the gateway's
 * migrations have prepared and whose directory sync has run (the catalog's roles are
 * there). Runs as a superuser with session_replication_role = replica: neither the
 * foreign keys nor the NOTIFY triggers fire for each of the millions of rows.
 */
export async function seedMirror(db: pg.Client, { users, admin, log }: MirrorSeed): Promise<void> {
  const groups = Math.max(1, Math.floor(users / 100));
  const tenants = Math.max(1, Math.floor(users / 50));
  const events = users * EVENTS_PER_USER;
  const step = async (what: string, sql: string, params: unknown[] = []) => {
    const started = performance.now();
    const result = await db.query(sql, params);
    log(`${what}: ${result.rowCount ?? 0} rows, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  };

  await db.query(`comment on database ${db.escapeIdentifier(db.database!)} is null`);
  await step(
    'cleared',
    'truncate users, user_roles, user_groups, memberships, tenants, invitations, user_sync, user_sessions_ended, audit_events, deleted_users',
  );
  // The mirror's own groups (Keycloak's keep their Keycloak ids): their role links go with them.
  await step(
    'generated groups cleared',
    `delete from groups where name like 'scale-group-%' and id = md5('scale-group-' || substr(name, 13)::int)::uuid`,
  );
  await db.query("set session_replication_role = 'replica'");
  await db.query("set maintenance_work_mem = '512MB'");
  await db.query('set synchronous_commit = off');

  const indexes = (
    await db.query<{ name: string; definition: string }>(
      `select i.indexname as name, i.indexdef as definition from pg_indexes i
        where i.schemaname = 'public' and i.tablename = any($1)
          and not exists (select 1 from pg_constraint c where c.conname = i.indexname)`,
      [LOADED_TABLES],
    )
  ).rows;
  for (const index of indexes) await db.query(`drop index ${db.escapeIdentifier(index.name)}`);

  // Roles and privileges (those Keycloak has are already mirrored with Keycloak's ids).
  await step(
    'privileges',
    `insert into realm_roles (id, name, kind, description)
     select md5('scale-role-' || name)::uuid, name, 'PRIVILEGE', 'Scale privilege' from unnest($1::text[]) name
     on conflict (name) do nothing`,
    [SCALE_PRIVILEGES],
  );
  await step(
    'roles',
    `insert into realm_roles (id, name, kind, description)
     select md5('scale-role-' || name)::uuid, name, 'ROLE', 'Scale role' from unnest($1::text[]) name
     on conflict (name) do nothing`,
    [SCALE_ROLES],
  );
  await step(
    'role privileges',
    `insert into role_privileges (role_id, privilege_id)
     select r.id, p.id from unnest($1::text[], $2::text[]) as link(role, privilege)
       join realm_roles r on r.name = link.role join realm_roles p on p.name = link.privilege
     on conflict do nothing`,
    [SCALE_ROLES.flatMap((role, i) => privilegesOfRole(i).map(() => role)), SCALE_ROLES.flatMap((_, i) => privilegesOfRole(i))],
  );

  // Groups: the first KEYCLOAK_GROUPS are Keycloak's (mirrored); the rest are the mirror's own.
  await step(
    'groups',
    `insert into groups (id, name, parent_id)
     select md5('scale-group-' || g)::uuid, 'scale-group-' || lpad(g::text, 5, '0'),
            case when g > $2 and g % 5 = 0 then md5('scale-group-' || (g - 1))::uuid end
       from generate_series(1, $1) g
      where not exists (select 1 from groups x where x.name = 'scale-group-' || lpad(g::text, 5, '0'))
      order by g`,
    [groups, KEYCLOAK_GROUPS],
  );
  await step(
    'group roles',
    `insert into group_roles (group_id, role_id)
     select g.id, r.id from groups g
       join realm_roles r on r.name = 'role_scale_' || lpad((1 + (substr(g.name, 13)::int % 26))::text, 2, '0')
      where g.name like 'scale-group-%'
     union
     select g.id, p.id from groups g
       join realm_roles p on p.name = 'priv_scale_' || lpad((1 + (substr(g.name, 13)::int % 27))::text, 2, '0')
      where g.name like 'scale-group-%' and substr(g.name, 13)::int % 5 = 0
     on conflict do nothing`,
  );

  // Users.
  await step(
    'users',
    `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at, realm)
     select md5('scale-user-' || i)::uuid, email, email, first, last, i % 50 <> 0, true, '{}'::jsonb, 'SYNCED', at, at, null
       from (
         select i, first, last, timestamptz '2020-01-01' + i * interval '1 minute' as at,
                lower(first || '.' || last || '.' || i || '@' || ($3::text[])[1 + i % array_length($3::text[], 1)]) as email
           from (
             select i,
                    ($1::text[])[1 + floor(array_length($1::text[], 1) * power(${unit('i', 0x51)}, 1.5))::int] as first,
                    ($2::text[])[1 + floor(array_length($2::text[], 1) * ${unit('i', 0x1a7)})::int] as last
               from generate_series(1, $4::int) i
           ) named
       ) person`,
    [FIRST_NAMES, LAST_NAMES, EMAIL_DOMAINS, users],
  );
  await step(
    'the caller',
    `insert into users (id, username, email, first_name, last_name, enabled, email_verified, attributes, sync_status, created_at, updated_at)
     values ($1, $2, $2, $3, $4, true, true, '{}', 'SYNCED', '2019-12-31', '2019-12-31')`,
    [admin.id, admin.email, admin.firstName, admin.lastName],
  );

  // Role assignments: the 29 roles other than role_admin, spread evenly; one user in three holds a second.
  await step(
    'user roles',
    `with assignable as (
       select id, row_number() over (order by name) - 1 as n, count(*) over () as total
         from realm_roles where kind = 'ROLE' and name <> 'role_admin'
     )
     insert into user_roles (user_id, role_id)
     select distinct md5('scale-user-' || i)::uuid, a.id
       from generate_series(1, $1::int) i
       cross join lateral (values (i * 7), (case when i % 3 = 0 then i * 13 + 5 end)) pick(k)
       join assignable a on a.n = pick.k % a.total`,
    [users],
  );
  await step(
    'user roles of the caller',
    `insert into user_roles (user_id, role_id) select $1, id from realm_roles where name = 'role_admin'`,
    [admin.id],
  );
  await step(
    'user groups',
    `insert into user_groups (user_id, group_id)
     select distinct md5('scale-user-' || i)::uuid, md5('scale-group-' || g)::uuid
       from generate_series(1, $1::int) i
       cross join lateral (values (1 + floor($2 * ${unit('i', 0x3c)})::int),
                                  (case when i % 2 = 0 then 1 + floor($2 * ${unit('i', 0x77)})::int end)) pick(g)
      where g is not null`,
    [users, groups],
  );
  // The first KEYCLOAK_GROUPS groups carry Keycloak's ids in the mirror: their links follow them.
  await step(
    'user groups of Keycloak-made groups',
    `update user_groups ug set group_id = g.id
       from generate_series(1, $1::int) n join groups g on g.name = 'scale-group-' || lpad(n::text, 5, '0')
      where ug.group_id = md5('scale-group-' || n)::uuid and g.id <> md5('scale-group-' || n)::uuid`,
    [Math.min(groups, KEYCLOAK_GROUPS)],
  );

  // Tenants and memberships.
  await step(
    'tenants',
    `insert into tenants (id, name, created_at)
     select md5('scale-tenant-' || t)::uuid, 'Tenant ' || lpad(t::text, 6, '0'), timestamptz '2020-01-01' + t * interval '1 hour'
       from generate_series(1, $1::int) t`,
    [tenants],
  );
  await step(
    'memberships',
    `insert into memberships (tenant_id, user_id, role, joined_at)
     select distinct on (t, i) md5('scale-tenant-' || t)::uuid, md5('scale-user-' || i)::uuid,
            case when i <= $2 then 'OWNER' when i % 20 = 0 then 'ADMIN' else 'MEMBER' end,
            timestamptz '2020-01-01' + i * interval '1 minute'
       from generate_series(1, $1::int) i
       cross join lateral (values (1 + (i - 1) % $2), (case when i % 10 = 0 then 1 + (i * 7) % $2 end)) pick(t)
      where t is not null`,
    [users, tenants],
  );

  // The audit trail: ten writes per user, in time order, ids in the same order as a v7 uuid would be.
  await step(
    'audit events',
    `insert into audit_events (id, at, actor_id, action, target_type, target_id, tenant_id, status, details, error, updated_at)
     select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
            timestamptz '2020-01-01' + n * interval '6 seconds',
            md5('scale-user-' || (1 + (n * 31) % $1))::uuid,
            (array['USER_CREATE', 'USER_UPDATE', 'USER_ASSIGN_ROLE', 'USER_ADD_TO_GROUP', 'USER_SET_PASSWORD'])[1 + n % 5],
            'User', md5('scale-user-' || (1 + (n - 1) / ${EVENTS_PER_USER}))::uuid::text, null,
            case when n % 1000 = 0 then 'FAILED' else 'SUCCEEDED' end, null, null,
            timestamptz '2020-01-01' + n * interval '6 seconds'
       from generate_series(1, $2::bigint) n`,
    [users, events],
  );

  for (const index of indexes) await step(`index ${index.name}`, index.definition);
  await db.query("set session_replication_role = 'origin'");
  // The triggers that keep the users' count did not fire for the rows loaded above.
  if ((await db.query("select to_regclass('users_count') as t")).rows[0].t) {
    await step('users count', 'delete from users_count; insert into users_count (slot, count) select 0, count(*) from users');
  }
  await step(
    'vacuum analyze',
    'vacuum (analyze) users, user_roles, user_groups, groups, group_roles, realm_roles, role_privileges, tenants, memberships, audit_events',
  );
  await db.query(`comment on database ${db.escapeIdentifier(db.database!)} is ${db.escapeLiteral(seedMark(users))}`);
}
