/**
 * The privileges and roles of every realm the gateway manages: the catalog.
 * Privileges are `priv_*` realm roles; roles are `role_*` realm roles, composites of
 * privileges. A deployment declares its own in IAM_CATALOG_FILE (src/keycloak/catalog-file.ts);
 * without one, DEFAULT_CATALOG. Provisioning creates and updates what the catalog declares;
 * no GraphQL operation ever creates, changes or deletes a privilege.
 */
export const ROLE_PREFIX = 'role_';
export const PRIVILEGE_PREFIX = 'priv_';
/** Which of the two a managed realm role is, by its prefix. */
export type RealmRoleKind = 'ROLE' | 'PRIVILEGE';

/**
 * The names a role or privilege may have. They end up in tokens and in permission rules:
 * plain and unambiguous. Keycloak keeps names and descriptions in 255-character columns.
 */
export const ROLE_NAME = /^role_[a-z0-9_]+$/;
export const PRIVILEGE_NAME = /^priv_[a-z0-9_]+$/;
export const MAX_NAME_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 255;

/** The role every administrator holds: the permission table lets it do anything, and it holds every privilege. */
export const ADMIN_ROLE = 'role_admin';
/** The privilege the permission table lets manage users, within the no-escalation rule. */
export const USER_MANAGEMENT_PRIVILEGE = 'priv_user_management';
/** The role the permission table lets read the audit trail. */
export const MANAGER_ROLE = 'role_manager';

/**
 * What the gateway's own rules (src/permissions.ts) grant to: every catalog declares these,
 * whatever else it holds.
 */
export const REQUIRED_CATALOG_ENTRIES: readonly { name: string; kind: RealmRoleKind; why: string }[] = [
  { name: USER_MANAGEMENT_PRIVILEGE, kind: 'PRIVILEGE', why: 'the permission table lets it manage users' },
  { name: ADMIN_ROLE, kind: 'ROLE', why: 'the permission table lets it do anything, and the bootstrap administrator gets it' },
  { name: MANAGER_ROLE, kind: 'ROLE', why: 'the permission table lets it read the audit trail' },
];

export interface CatalogEntry {
  name: string;
  /** Unset: provisioning leaves the description as Keycloak has it. */
  description?: string;
}

export interface RoleEntry extends CatalogEntry {
  /** Privilege names this role is a composite of (for role_admin, every privilege). */
  privileges: readonly string[];
}

export interface Catalog {
  privileges: readonly CatalogEntry[];
  roles: readonly RoleEntry[];
}

const DEFAULT_PRIVILEGES: readonly CatalogEntry[] = [
  { name: USER_MANAGEMENT_PRIVILEGE, description: 'Manage users, their roles and groups' },
  { name: 'priv_view_reports', description: 'View reports' },
  { name: 'priv_code_review', description: 'Review code' },
];

/** The catalog without IAM_CATALOG_FILE; catalog.example.yaml spells it out. */
export const DEFAULT_CATALOG: Catalog = {
  privileges: DEFAULT_PRIVILEGES,
  roles: [
    { name: ADMIN_ROLE, description: 'Administrator: every privilege', privileges: DEFAULT_PRIVILEGES.map((p) => p.name) },
    { name: MANAGER_ROLE, description: 'Manager', privileges: [] },
    { name: 'role_user', description: 'Regular user', privileges: [] },
    { name: 'role_premium', description: 'Premium user', privileges: [] },
  ],
};

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
