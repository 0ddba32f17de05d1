/**
 * The predefined privileges and roles of every realm the gateway manages.
 * Privileges are `priv_*` realm roles; roles are `role_*` realm roles, composites of
 * privileges. Provisioning creates what is missing here; no GraphQL operation ever
 * creates, changes or deletes a privilege.
 */
export const ROLE_PREFIX = 'role_';
export const PRIVILEGE_PREFIX = 'priv_';
/** Which of the two a managed realm role is, by its prefix. */
export type RealmRoleKind = 'ROLE' | 'PRIVILEGE';

export interface CatalogEntry {
  name: string;
  description: string;
}

export const PRIVILEGES: readonly CatalogEntry[] = [
  { name: 'priv_user_management', description: 'Manage users, their roles and groups' },
  { name: 'priv_view_reports', description: 'View reports' },
  { name: 'priv_code_review', description: 'Review code' },
];

export interface RoleEntry extends CatalogEntry {
  /** Privilege names this role is a composite of. */
  privileges: readonly string[];
}

export const ROLES: readonly RoleEntry[] = [
  { name: 'role_admin', description: 'Administrator: every privilege', privileges: PRIVILEGES.map((p) => p.name) },
  { name: 'role_manager', description: 'Manager', privileges: [] },
  { name: 'role_user', description: 'Regular user', privileges: [] },
  { name: 'role_premium', description: 'Premium user', privileges: [] },
];

/** Realm-management client roles the gateway's service account needs, and no more. */
export const API_SERVICE_ACCOUNT_ROLES: readonly string[] = [
  'view-users',
  'query-users',
  'manage-users',
  'query-groups',
  'view-realm',
  // Creating and changing realm roles (role_*) and composites needs manage-realm.
  'manage-realm',
  'view-events',
  // Client roles are visible only to who may view their client: without it, the no-escalation
  // rule could not see a client role such as realm-management's (src/keycloak/effective-roles.ts).
  'view-clients',
];
