import pLimit from 'p-limit';
import type { KeycloakAdmin } from './admin-client.js';
import { tokenSubject } from './admin-events.js';

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
  /**
   * Why roles alone cannot tell what a user may do in this realm, or null when they can:
   * the realm grants administrative power through admin permissions (no role needed), or
   * the service account cannot view every role, so that answers would leave some out.
   */
  whyRolesDoNotTell(): Promise<string | null>;
}

/** What the realm's `realm-management` client must let the service account see, or client roles go missing from the answers. */
const NEEDED_TO_SEE_EVERY_ROLE = ['view-realm', 'view-clients'].map((role) => `client:realm-management:${role}`);

const DEFAULT_TIMEOUT_MS = 10_000;
/** Calls in flight at once for one request: a request naming many roles and groups waits, rather than flooding Keycloak. */
const MAX_CONCURRENT_CALLS = 4;

interface EffectiveRole {
  name: string;
  clientRole: boolean;
  /** The client's clientId (the uuid is `clientId`, in this representation). */
  client?: string;
}

/**
 * EffectiveRoles from the realm `admin` acts in, one call a subject, for one request: each
 * answer is kept for the request (aliases and repeated ids ask once), and at most
 * MAX_CONCURRENT_CALLS are in flight. It asks the endpoint Keycloak's admin console shows
 * "effective roles" from (`ui-ext/effective-roles-all`): the only one that answers realm and
 * client roles together, fully expanded, in one call. The documented API needs a call per
 * client for client roles (`role-mappings/clients/{client}/composite`), or a walk of direct
 * mappings, parent groups and composites. It is not part of Keycloak's documented API:
 * should a Keycloak upgrade move it, every call answers 404, and the rule asking refuses (it
 * fails closed; test/integration/privilege-escalation.test.ts notices).
 *
 * Keycloak leaves out, without a word, the roles its caller may not view: the client roles
 * of clients the service account cannot view. So whyRolesDoNotTell asks Keycloak, live, what
 * the service account itself holds (a role taken from it in the console counts at once, not
 * when its token is renewed), and whether the realm hands out power through admin
 * permissions, which no role shows.
 */
export function keycloakEffectiveRoles(admin: KeycloakAdmin, timeoutMs = DEFAULT_TIMEOUT_MS): EffectiveRoles {
  const { baseUrl, realmName } = admin.client;
  const realmUrl = `${baseUrl}/admin/realms/${encodeURIComponent(realmName)}`;
  const inFlight = pLimit(MAX_CONCURRENT_CALLS);
  const answers = new Map<string, Promise<unknown>>();
  const get = <T>(path: string): Promise<T> => {
    let answer = answers.get(path);
    if (!answer) {
      answer = inFlight(async () => {
        const token = await admin.getAccessToken();
        const response = await fetch(`${realmUrl}${path}`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) throw new Error(`Keycloak answered HTTP ${response.status} for ${path}`);
        return response.json();
      });
      answers.set(path, answer);
    }
    return answer as Promise<T>;
  };
  const read = async (kind: 'users' | 'groups' | 'roles', id: string): Promise<ReadonlySet<string>> => {
    const roles = await get<EffectiveRole[]>(`/ui-ext/effective-roles-all/${kind}/${encodeURIComponent(id)}`);
    if (!Array.isArray(roles)) throw new Error(`Keycloak's effective roles of ${kind}/${id} are not a list`);
    return new Set(roles.map(roleKey));
  };
  return {
    ofUser: (userId) => read('users', userId),
    ofGroup: (groupId) => read('groups', groupId),
    ofRole: (roleId) => read('roles', roleId),
    async whyRolesDoNotTell() {
      const [realm, own] = await Promise.all([
        get<{ adminPermissionsEnabled?: boolean }>(''),
        read('users', tokenSubject(await admin.getAccessToken())),
      ]);
      if (realm.adminPermissionsEnabled) return 'the realm grants administrative power through admin permissions, which no role shows';
      const missing = NEEDED_TO_SEE_EVERY_ROLE.filter((role) => !own.has(role));
      return missing.length > 0 ? `the service account cannot view every role (it lacks ${missing.join(', ')})` : null;
    },
  };
}

function roleKey(role: EffectiveRole): string {
  if (typeof role?.name !== 'string' || (role.clientRole && typeof role.client !== 'string')) {
    throw new Error(`Keycloak answered an effective role without a name or client: ${JSON.stringify(role)}`);
  }
  return role.clientRole ? `client:${role.client}:${role.name}` : `realm:${role.name}`;
}
