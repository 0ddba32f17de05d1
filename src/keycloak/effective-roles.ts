import type { KeycloakAdmin } from './admin-client.js';

/**
 * Keycloak's own answer to what a user holds, or what granting a group or a role gives:
 * every realm and client role reached through direct mappings, groups and each group's
 * ancestors, and composites at any depth. A role is named `realm:<name>` or
 * `client:<clientId>:<name>`, so that sets from different subjects compare as they are.
 */
export interface EffectiveRoles {
  ofUser(userId: string): Promise<ReadonlySet<string>>;
  ofGroup(groupId: string): Promise<ReadonlySet<string>>;
  ofRole(roleId: string): Promise<ReadonlySet<string>>;
}

/** What the realm's `realm-management` client must let the service account see, or client roles go missing from the answers. */
const NEEDED_TO_SEE_EVERY_ROLE = ['view-realm', 'view-clients'];

const DEFAULT_TIMEOUT_MS = 10_000;

interface EffectiveRole {
  name: string;
  clientRole: boolean;
  /** The client's clientId (the uuid is `clientId`, in this representation). */
  client?: string;
}

/**
 * EffectiveRoles from the realm `admin` acts in, one call a subject. It asks the endpoint
 * Keycloak's admin console shows "effective roles" from (`ui-ext/effective-roles-all`): the
 * only one that answers realm and client roles together, fully expanded, in one call. The
 * documented API needs a call per client for client roles (`role-mappings/clients/{client}/composite`),
 * or a walk of direct mappings, parent groups and composites. It is not part of Keycloak's
 * documented API: should a Keycloak upgrade move it, every call answers 404, and the rule
 * asking refuses (it fails closed; test/integration/privilege-escalation.test.ts notices).
 *
 * Keycloak leaves out, without a word, the roles its caller may not view: the client roles
 * of clients the service account cannot view (and everything below them). So the service
 * account's token must show it can view every role (`view-realm`, `view-clients`), or every
 * answer is an error rather than a partial set.
 */
export function keycloakEffectiveRoles(admin: KeycloakAdmin, timeoutMs = DEFAULT_TIMEOUT_MS): EffectiveRoles {
  const { baseUrl, realmName } = admin.client;
  const read = async (kind: 'users' | 'groups' | 'roles', id: string): Promise<ReadonlySet<string>> => {
    const token = await admin.getAccessToken();
    const missing = NEEDED_TO_SEE_EVERY_ROLE.filter((role) => !realmManagementRoles(token).includes(role));
    if (missing.length > 0) throw new Error(`the service account cannot view every role (it lacks realm-management ${missing.join(', ')})`);
    const url = `${baseUrl}/admin/realms/${encodeURIComponent(realmName)}/ui-ext/effective-roles-all/${kind}/${encodeURIComponent(id)}`;
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`Keycloak answered HTTP ${response.status} for the effective roles of ${kind}/${id}`);
    const roles = (await response.json()) as EffectiveRole[];
    if (!Array.isArray(roles)) throw new Error(`Keycloak's effective roles of ${kind}/${id} are not a list`);
    return new Set(roles.map(roleKey));
  };
  return {
    ofUser: (userId) => read('users', userId),
    ofGroup: (groupId) => read('groups', groupId),
    ofRole: (roleId) => read('roles', roleId),
  };
}

function roleKey(role: EffectiveRole): string {
  if (typeof role?.name !== 'string' || (role.clientRole && typeof role.client !== 'string')) {
    throw new Error(`Keycloak answered an effective role without a name or client: ${JSON.stringify(role)}`);
  }
  return role.clientRole ? `client:${role.client}:${role.name}` : `realm:${role.name}`;
}

/** The realm-management roles an access token carries (its payload, already verified by Keycloak, which issued it to us). */
function realmManagementRoles(token: string): string[] {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      resource_access?: Record<string, { roles?: unknown }>;
    };
    const roles = payload.resource_access?.['realm-management']?.roles;
    return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : [];
  } catch {
    return [];
  }
}
