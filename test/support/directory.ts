import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { DIRECTORY_SYNC_LOCK } from '../../src/jobs/directory-sync.js';
import { sql } from './database.js';
import type { TestGateway } from './gateway.js';
import { keycloakAdmin } from './keycloak.js';

/**
 * Helpers for the role and group tests: arranging users through the gateway, and reading
 * back what Keycloak and PostgreSQL hold.
 */

export const unique = (prefix: string) => `${prefix}${randomUUID().slice(0, 8)}`;

export const sortedNames = (records: readonly { name: string }[]) => records.map((record) => record.name).sort();

/** Realm role and privilege ids by name, as the mirror knows them. */
export async function realmRoleIds(): Promise<Record<string, string>> {
  const rows = await sql<{ id: string; name: string }>('select id, name from realm_roles');
  return Object.fromEntries(rows.map((row) => [row.name, row.id]));
}

/** A user created through the gateway (so Keycloak and the mirror both have it). */
export async function createUserThroughGateway(
  gateway: TestGateway,
  token: string,
  input: { roleIds?: string[]; groupIds?: string[] } = {},
): Promise<{ id: string; email: string }> {
  const response = await gateway.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id email } } }', {
    token,
    variables: {
      input: { email: `${unique('member-')}@example.test`, firstName: 'Grace', lastName: 'Hopper', password: 'Str0ng-password', ...input },
    },
  });
  if (response.errors) throw new Error(`createUser failed: ${JSON.stringify(response.errors)}`);
  return response.data!.createUser.user;
}

/** The journal entries of one action on the role or group named `name`. */
export function auditOf(action: string, name: string) {
  return sql<{ status: string; target_id: string | null; details: Record<string, unknown>; error: string | null }>(
    `select status, target_id, details, error from audit_events where action = $1 and details->>'name' = $2 order by at`,
    [action, name],
  );
}

/** The realm role Keycloak has under `name`, or undefined. */
export async function keycloakRole(name: string) {
  const found = await keycloakAdmin<{ id: string; name: string; description?: string; composite: boolean }>(
    'GET',
    `/roles/${encodeURIComponent(name)}`,
  );
  return found.status === 404 ? undefined : found.body;
}

/**
 * A realm role made directly in Keycloak, as an administrator does in its console,
 * composed of the realm roles named (mirrored or not). Answers its id.
 */
export async function consoleRole(name: string, composedOf: string[] = [], realm?: string): Promise<string> {
  const created = await keycloakAdmin('POST', '/roles', { name }, realm);
  if (created.status !== 201) throw new Error(`creating role ${name} failed: ${created.status}`);
  const { id } = (await keycloakAdmin<{ id: string }>('GET', `/roles/${encodeURIComponent(name)}`, undefined, realm)).body;
  if (composedOf.length > 0) {
    const children = await Promise.all(
      composedOf.map(async (child) => (await keycloakAdmin('GET', `/roles/${encodeURIComponent(child)}`, undefined, realm)).body),
    );
    const linked = await keycloakAdmin('POST', `/roles-by-id/${id}/composites`, children, realm);
    if (linked.status !== 204) throw new Error(`composing role ${name} failed: ${linked.status}`);
  }
  return id;
}

/**
 * A group made directly in Keycloak, as an administrator does in its console: a subgroup
 * of `parentId` when given, with the realm roles named mapped to it. Answers its id.
 */
export async function consoleGroup(name: string, { parentId, roles = [] }: { parentId?: string; roles?: string[] } = {}): Promise<string> {
  const created = await keycloakAdmin('POST', parentId ? `/groups/${parentId}/children` : '/groups', { name });
  if (created.status !== 201 || !created.location) throw new Error(`creating group ${name} failed: ${created.status}`);
  const id = created.location.split('/').at(-1)!;
  if (roles.length > 0) {
    const mapped = await Promise.all(roles.map(async (role) => (await keycloakAdmin('GET', `/roles/${encodeURIComponent(role)}`)).body));
    await keycloakAdmin('POST', `/groups/${id}/role-mappings/realm`, mapped);
  }
  return id;
}

/** The gateway's realm roles (role_*) and privileges (priv_*) in an access token's `realm_access`, sorted. */
export function tokenRealmRoles(accessToken: string): string[] {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as {
    realm_access?: { roles?: string[] };
  };
  return (claims.realm_access?.roles ?? []).filter((name) => /^(role|priv)_/.test(name)).sort();
}

/** Names of the realm roles a Keycloak role is a composite of. */
export async function keycloakComposites(roleId: string): Promise<string[]> {
  return sortedNames((await keycloakAdmin<{ name: string }[]>('GET', `/roles-by-id/${roleId}/composites`)).body);
}

/** The top-level group Keycloak has under `name`, or undefined. */
export async function keycloakGroup(name: string) {
  const found = await keycloakAdmin<{ id: string; name: string }[]>('GET', `/groups?search=${encodeURIComponent(name)}&exact=true`);
  return found.body.find((group) => group.name === name);
}

/** Names of the realm roles and privileges mapped to a Keycloak group. */
export async function keycloakGroupRoles(groupId: string): Promise<string[]> {
  return sortedNames((await keycloakAdmin<{ name: string }[]>('GET', `/groups/${groupId}/role-mappings/realm`)).body);
}

/** Ids of a Keycloak group's direct members. */
export async function keycloakGroupMembers(groupId: string): Promise<string[]> {
  return (await keycloakAdmin<{ id: string }[]>('GET', `/groups/${groupId}/members`)).body.map((user) => user.id).sort();
}

/**
 * Runs `run` while no directory sync can write to the mirror: for tests that make Keycloak
 * and the mirror differ on purpose (a role only Keycloak has, a group deleted behind the
 * mirror's back), which a sync started by another test file would otherwise repair half-way
 * through. `run` must not sync the directory itself: it would wait for this lock.
 */
export async function withoutDirectorySync<T>(run: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('config').databaseUrl });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [DIRECTORY_SYNC_LOCK]);
    return await run();
  } finally {
    // Ending the session releases its advisory locks.
    await client.end();
  }
}
