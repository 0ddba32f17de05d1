import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Progress } from '../../src/stack/progress.js';
import type { KeycloakAdminRest } from '../keycloak.js';
import { groupName, KEYCLOAK_GROUPS, privilegesOfRole, SCALE_PRIVILEGES, SCALE_ROLES } from './mirror.js';
import { emailOf, firstNameOf, lastNameOf, unit } from './names.js';

/** Keycloak's side of the scale profile: its own realm, 10,000 users, seeded once and reused. */
export const KEYCLOAK_USERS = 10_000;
/** The reconciler's comparison at scale (bench/scale/reconcile.ts) adds a realm of 100,000, drawn the same way. */
const IMPORT_BATCH = 1_000;

/** Who the scale runs sign in as: role_admin in Keycloak and in every scale mirror. */
export const SCALE_ADMIN = { email: 'scale-admin@scale.test', password: 'Scale-password-1', firstName: 'Scale', lastName: 'Admin' };

/**
 * The realm's directory and users, drawn like the mirror's (names.ts, mirror.ts): the same
 * roles and privileges, the first 100 groups, 10,000 people with the same names, roles
 * and group memberships as the mirror's first 10,000. Answers the admin's Keycloak id.
 */
export async function seedKeycloak(
  admin: KeycloakAdminRest,
  progress: Progress,
  count: number = KEYCLOAK_USERS,
  /** Keycloak's own database: users past the first request's are written there directly (see bulkUsers). */
  keycloakDatabaseUrl?: string,
): Promise<{ adminId: string; work: string[] }> {
  const work: string[] = [];
  const roleNames = new Set((await admin.ok<{ name: string }[]>('GET', '/roles?max=1000')).body.map((role) => role.name));
  const missingPrivileges = SCALE_PRIVILEGES.filter((name) => !roleNames.has(name));
  if (missingPrivileges.length > 0) {
    await admin.ok('POST', '/partialImport', {
      ifResourceExists: 'SKIP',
      roles: { realm: missingPrivileges.map((name) => ({ name, description: 'Scale privilege' })) },
    });
    work.push(`${missingPrivileges.length} privileges created in Keycloak`);
  }
  const missingRoles = SCALE_ROLES.filter((name) => !roleNames.has(name));
  if (missingRoles.length > 0) {
    await admin.ok('POST', '/partialImport', {
      ifResourceExists: 'SKIP',
      roles: {
        realm: missingRoles.map((name) => ({
          name,
          description: 'Scale role',
          composite: true,
          composites: { realm: privilegesOfRole(SCALE_ROLES.indexOf(name)) },
        })),
      },
    });
    work.push(`${missingRoles.length} roles created in Keycloak`);
  }
  const groupNames = new Set((await admin.all<{ name: string }>('/groups?briefRepresentation=true')).map((group) => group.name));
  const missingGroups = Array.from({ length: KEYCLOAK_GROUPS }, (_, i) => i + 1).filter((g) => !groupNames.has(groupName(g)));
  if (missingGroups.length > 0) {
    await admin.ok('POST', '/partialImport', {
      ifResourceExists: 'SKIP',
      groups: missingGroups.map((g) => ({
        name: groupName(g),
        path: `/${groupName(g)}`,
        realmRoles: [SCALE_ROLES[g % 26]!, ...(g % 5 === 0 ? [SCALE_PRIVILEGES[g % 27]!] : [])],
      })),
    });
    work.push(`${missingGroups.length} groups created in Keycloak`);
  }

  let [found] = (await admin.ok<{ id: string }[]>('GET', `/users?exact=true&email=${encodeURIComponent(SCALE_ADMIN.email)}`)).body;
  if (!found) {
    await admin.ok('POST', '/partialImport', {
      ifResourceExists: 'SKIP',
      users: [
        {
          username: SCALE_ADMIN.email,
          email: SCALE_ADMIN.email,
          firstName: SCALE_ADMIN.firstName,
          lastName: SCALE_ADMIN.lastName,
          enabled: true,
          emailVerified: true,
          credentials: [{ type: 'password', value: SCALE_ADMIN.password, temporary: false }],
          realmRoles: ['role_admin'],
        },
      ],
    });
    [found] = (await admin.ok<{ id: string }[]>('GET', `/users?exact=true&email=${encodeURIComponent(SCALE_ADMIN.email)}`)).body;
    work.push(`${SCALE_ADMIN.email} created`);
  }

  const present = (await admin.ok<number>('GET', '/users/count')).body - 1;
  if (present < count) {
    const started = performance.now();
    await progress.step(
      keycloakDatabaseUrl
        ? `Seed ${count.toLocaleString('en')} users in Keycloak's realm ${admin.target.realm} (the first ${IMPORT_BATCH} by partial import, the rest in its database)`
        : `Import ${count.toLocaleString('en')} users into Keycloak's realm ${admin.target.realm} (partial import, ${IMPORT_BATCH} per request)`,
      () => importUsers(admin, count, keycloakDatabaseUrl, present),
    );
    work.push(
      `${(count - present).toLocaleString('en')} users imported into Keycloak's realm ${admin.target.realm} in ${((performance.now() - started) / 60_000).toFixed(1)} min`,
    );
  }
  return { adminId: found!.id, work };
}

/** Roles the mirror's SQL gives user `i` (mirror.ts, user roles): the 29 roles but role_admin, by name order. */
function rolesOf(index: number, assignable: string[]): string[] {
  const picks = [index * 7, ...(index % 3 === 0 ? [index * 13 + 5] : [])];
  return [...new Set(picks.map((k) => assignable[k % assignable.length]!))];
}

function groupsOf(index: number, groups: number): string[] {
  const picks = [1 + Math.floor(groups * unit(index, 0x3c)), ...(index % 2 === 0 ? [1 + Math.floor(groups * unit(index, 0x77))] : [])];
  return [...new Set(picks)].map((g) => `/${groupName(g)}`);
}

async function importUsers(admin: KeycloakAdminRest, count: number, keycloakDatabaseUrl?: string, present = 0): Promise<void> {
  const assignable = (await admin.ok<{ name: string }[]>('GET', '/roles?max=1000')).body
    .map((role) => role.name)
    .filter((name) => name.startsWith('role_') && name !== 'role_admin')
    .sort();
  const base = Date.UTC(2020, 0, 1);
  // The first request's users, once there, are not imported again: Keycloak's SKIP answers 409 for some of them.
  const first = keycloakDatabaseUrl && present >= IMPORT_BATCH ? IMPORT_BATCH + 1 : 1;
  for (let start = first; start <= count; start += IMPORT_BATCH) {
    if (keycloakDatabaseUrl && start > IMPORT_BATCH) return bulkUsers(keycloakDatabaseUrl, admin.target.realm, start, count, assignable);
    const users = [];
    for (let index = start; index < start + IMPORT_BATCH && index <= count; index++) {
      const email = emailOf(index);
      users.push({
        username: email,
        email,
        firstName: firstNameOf(index),
        lastName: lastNameOf(index),
        enabled: index % 50 !== 0,
        emailVerified: true,
        createdTimestamp: base + index * 60_000,
        realmRoles: rolesOf(index, assignable),
        groups: groupsOf(index, KEYCLOAK_GROUPS),
      });
    }
    // SKIP: a run interrupted half-way completes the rest without failing on what exists.
    await admin.ok('POST', '/partialImport', { ifResourceExists: 'SKIP', users });
  }
}

/**
 * Users `from`..`count` of the realm written straight into Keycloak's own tables, as the partial
 * import writes them (user_entity, user_role_mapping, user_group_membership: the rows the first
 * request's users got). Keycloak's partial import took about a minute per 1,000 users on the
 * shared bench machine: 100,000 would take hours. A bench fixture only, for a realm Keycloak
 * does not otherwise use; its listing and counting of users read these tables directly.
 */
async function bulkUsers(databaseUrl: string, realm: string, from: number, count: number, assignable: string[]): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const [realmRow] = (await db.query<{ id: string }>('select id from realm where name = $1', [realm])).rows;
    if (!realmRow) throw new Error(`no realm ${realm} in Keycloak's database`);
    const roleIds = new Map(
      (
        await db.query<{ id: string; name: string }>('select id, name from keycloak_role where realm_id = $1 and not client_role', [
          realmRow.id,
        ])
      ).rows.map((row) => [row.name, row.id]),
    );
    const groupIds = new Map(
      (await db.query<{ id: string; name: string }>('select id, name from keycloak_group where realm_id = $1', [realmRow.id])).rows.map(
        (row) => [`/${row.name}`, row.id],
      ),
    );
    const base = Date.UTC(2020, 0, 1);
    const BATCH = 10_000;
    for (let start = from; start <= count; start += BATCH) {
      const users: unknown[][] = [[], [], [], [], [], [], []];
      const roles: [string[], string[]] = [[], []];
      const groups: [string[], string[]] = [[], []];
      for (let index = start; index < start + BATCH && index <= count; index++) {
        const id = randomUUID();
        const row = [id, emailOf(index), firstNameOf(index), lastNameOf(index), index % 50 !== 0, base + index * 60_000, Date.now()];
        for (const [column, value] of row.entries()) users[column]!.push(value);
        for (const role of rolesOf(index, assignable)) {
          roles[0].push(roleIds.get(role)!);
          roles[1].push(id);
        }
        for (const group of groupsOf(index, KEYCLOAK_GROUPS)) {
          groups[0].push(groupIds.get(group)!);
          groups[1].push(id);
        }
      }
      await db.query('begin');
      await db.query(
        `insert into user_entity (id, username, email, email_constraint, first_name, last_name, enabled, email_verified, realm_id,
                                  created_timestamp, not_before, last_modified_timestamp)
         select id, email, email, email, first_name, last_name, enabled, true, $8, created, 0, modified
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::bigint[])
             as t(id, email, first_name, last_name, enabled, created, modified)
         on conflict do nothing`,
        [...users, realmRow.id],
      );
      // Only the links of users this statement wrote (one already present keeps its own).
      await db.query(
        `insert into user_role_mapping (role_id, user_id) select r, u from unnest($1::text[], $2::text[]) as t(r, u)
          where exists (select 1 from user_entity where id = u) on conflict do nothing`,
        roles,
      );
      await db.query(
        `insert into user_group_membership (group_id, user_id, membership_type) select g, u, 'UNMANAGED' from unnest($1::text[], $2::text[]) as t(g, u)
          where exists (select 1 from user_entity where id = u) on conflict do nothing`,
        groups,
      );
      await db.query('commit');
    }
  } finally {
    await db.end();
  }
}
