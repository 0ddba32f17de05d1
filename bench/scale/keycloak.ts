import type { Progress } from '../../src/stack/progress.js';
import type { KeycloakAdminRest } from '../keycloak.js';
import { groupName, KEYCLOAK_GROUPS, privilegesOfRole, SCALE_PRIVILEGES, SCALE_ROLES } from './mirror.js';
import { emailOf, firstNameOf, lastNameOf, unit } from './names.js';

/** Keycloak's side of the scale profile: its own realm, 10,000 users, seeded once and reused. */
export const KEYCLOAK_USERS = 10_000;
const IMPORT_BATCH = 1_000;

/** Who the scale runs sign in as: role_admin in Keycloak and in every scale mirror. */
export const SCALE_ADMIN = { email: 'scale-admin@scale.test', password: 'Scale-password-1', firstName: 'Scale', lastName: 'Admin' };

/**
 * The realm's directory and users, drawn like the mirror's (names.ts, mirror.ts): the same
 * roles and privileges, the first 100 groups, 10,000 people with the same names, roles
 * and group memberships as the mirror's first 10,000. Answers the admin's Keycloak id.
 */
export async function seedKeycloak(admin: KeycloakAdminRest, progress: Progress): Promise<{ adminId: string; work: string[] }> {
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
  if (present < KEYCLOAK_USERS) {
    await progress.step(`Import ${KEYCLOAK_USERS} users into Keycloak's scale realm (partial import, ${IMPORT_BATCH} per request)`, () =>
      importUsers(admin),
    );
    work.push(`${KEYCLOAK_USERS - present} users imported into Keycloak`);
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

async function importUsers(admin: KeycloakAdminRest): Promise<void> {
  const assignable = (await admin.ok<{ name: string }[]>('GET', '/roles?max=1000')).body
    .map((role) => role.name)
    .filter((name) => name.startsWith('role_') && name !== 'role_admin')
    .sort();
  const base = Date.UTC(2020, 0, 1);
  for (let start = 1; start <= KEYCLOAK_USERS; start += IMPORT_BATCH) {
    const users = [];
    for (let index = start; index < start + IMPORT_BATCH && index <= KEYCLOAK_USERS; index++) {
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
