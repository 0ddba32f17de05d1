import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { sql } from './database.js';
import type { TestGateway } from './gateway.js';
import { keycloakAdmin } from './keycloak.js';

/** Helpers for the background-sync, reconciler and idempotency tests. */

/** Where to look: the shared test realm and database unless given (see isolated.ts). */
export interface Backends {
  sql: typeof sql;
  realm?: string;
}
const SHARED: Backends = { sql };

export const REGISTER = /* GraphQL */ `
  mutation Register($input: RegisterUserInput!) {
    registerUser(input: $input) { message user { id email syncStatus roles { name } groups { name } } }
  }
`;

export const newEmail = (prefix = 'sync') => `${prefix}-${randomUUID().slice(0, 8)}@example.test`;

export interface KeycloakUserView {
  id: string;
  email: string;
  firstName?: string;
  lastName?: string;
  enabled: boolean;
  requiredActions: string[];
  createdTimestamp: number;
}

/** Every Keycloak user with this email (exact match): exactly one is the goal. */
export async function keycloakUsersByEmail(email: string, { realm }: Backends = SHARED): Promise<KeycloakUserView[]> {
  return (await keycloakAdmin<KeycloakUserView[]>('GET', `/users?email=${encodeURIComponent(email)}&exact=true`, undefined, realm)).body;
}

/** Names of a Keycloak user's direct realm roles and of its groups. */
export async function keycloakLinks(userId: string, { realm }: Backends = SHARED): Promise<{ roles: string[]; groups: string[] }> {
  const roles = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${userId}/role-mappings/realm`, undefined, realm)).body;
  const groups = (await keycloakAdmin<{ name: string }[]>('GET', `/users/${userId}/groups`, undefined, realm)).body;
  return { roles: roles.map((r) => r.name).sort(), groups: groups.map((g) => g.name).sort() };
}

/** A top-level group created directly in Keycloak and mirrored by a directory sync. */
export async function keycloakGroupNamed(name: string, { realm }: Backends = SHARED): Promise<string> {
  const created = await keycloakAdmin('POST', '/groups', { name }, realm);
  if (created.status !== 201 || !created.location) throw new Error(`creating group ${name} failed: ${created.status}`);
  return created.location.split('/').at(-1)!;
}

/** The mirror's row of a user, with its sync queue entry when it has one. */
export async function localUser(email: string, backends: Backends = SHARED) {
  const [row] = await backends.sql<{
    id: string;
    sync_status: string;
    first_name: string;
    enabled: boolean;
    attempts: number | null;
    last_error: string | null;
    next_at: Date | null;
  }>(
    `select u.id, u.sync_status, u.first_name, u.enabled, s.attempts, s.last_error, s.next_at
       from users u left join user_sync s on s.user_id = u.id where u.email = $1`,
    [email],
  );
  return row;
}

/** Role and group names the mirror links to a user. */
export async function localLinks(userId: string, backends: Backends = SHARED): Promise<{ roles: string[]; groups: string[] }> {
  const roles = await backends.sql<{ name: string }>(
    'select r.name from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = $1 order by r.name',
    [userId],
  );
  const groups = await backends.sql<{ name: string }>(
    'select g.name from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = $1 order by g.name',
    [userId],
  );
  return { roles: roles.map((r) => r.name), groups: groups.map((g) => g.name) };
}

/** The realm's admin-API path prefix as the proxy sees it. */
export const adminPath = (path: string, { realm }: Backends = SHARED) =>
  `/admin/realms/${encodeURIComponent(realm ?? inject('config').keycloak.realm)}${path}`;

/** Registers a user while the gateway's Keycloak is cut off; answers the registered user and the message. */
export async function registerWhileUnreachable(
  gateway: TestGateway,
  token: string,
  proxy: { mode: string },
  input: Record<string, unknown>,
) {
  proxy.mode = 'reset';
  try {
    const response = await gateway.graphql(REGISTER, { token, variables: { input } });
    if (response.errors) throw new Error(`registerUser failed: ${JSON.stringify(response.errors)}`);
    const { user, message } = response.data!.registerUser;
    return { ...user, message } as {
      id: string;
      email: string;
      syncStatus: string;
      roles: { name: string }[];
      groups: { name: string }[];
      message: string;
    };
  } finally {
    proxy.mode = 'pass';
  }
}
