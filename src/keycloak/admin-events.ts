import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';

/** One of Keycloak's admin events: a change made through its admin API (or console) in one realm. */
export interface AdminEvent {
  id: string;
  /** When Keycloak recorded it, in milliseconds since the epoch (Keycloak's clock). */
  time: number;
  operationType: string;
  resourceType: string;
  /** What changed, relative to the realm: `users/{id}`, `users/{id}/groups/{groupId}`, `roles-by-id/{id}`... */
  resourcePath: string;
  /** The user who acted (a service account for a client): the gateway's own, for its writes. */
  authUserId: string | null;
}

/**
 * The kinds of admin events the mirror follows: users, their role mappings and group
 * memberships, groups, and realm roles. Client and realm settings are not mirrored.
 */
export const MIRRORED_RESOURCE_TYPES = ['USER', 'REALM_ROLE_MAPPING', 'GROUP_MEMBERSHIP', 'GROUP', 'REALM_ROLE'] as const;

/**
 * Reads one realm's admin events, which provisioning turns on (src/keycloak/provisioning.ts):
 * the only code that calls Keycloak about them.
 */
export interface AdminEventsReader {
  readonly realm: string;
  /** One page of the mirrored kinds of events recorded at `fromMs` or later, oldest first. */
  read(fromMs: number, first: number, max: number): Promise<AdminEvent[]>;
  /** The time of the newest event of any kind, or null when the realm has none. */
  newestTime(): Promise<number | null>;
  /** The gateway's service account in this realm: the events it caused are its own writes, already mirrored. */
  gatewayUserId(): Promise<string>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * AdminEventsReader through the gateway's admin client in one realm. Called with fetch, not
 * the admin client's findAdminEvents: that one drops `direction` (oldest first is what an
 * incremental reader needs) and sends `dateFrom` as a day, while Keycloak 26 takes epoch
 * milliseconds too.
 */
export function keycloakAdminEvents(client: KeycloakAdminClient, timeoutMs = DEFAULT_TIMEOUT_MS): AdminEventsReader {
  const realm = client.realmName;
  const get = async <T>(query: URLSearchParams): Promise<T> => {
    const response = await fetch(`${client.baseUrl}/admin/realms/${encodeURIComponent(realm)}/admin-events?${query}`, {
      headers: { authorization: `Bearer ${await client.getAccessToken()}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`Keycloak answered HTTP ${response.status} for the admin events of realm ${realm}`);
    return (await response.json()) as T;
  };
  return {
    realm,
    async read(fromMs, first, max) {
      const query = new URLSearchParams({ dateFrom: String(fromMs), first: String(first), max: String(max), direction: 'asc' });
      for (const type of MIRRORED_RESOURCE_TYPES) query.append('resourceTypes', type);
      return (await get<RawAdminEvent[]>(query)).flatMap(adminEvent);
    },
    async newestTime() {
      const [newest] = await get<RawAdminEvent[]>(new URLSearchParams({ first: '0', max: '1', direction: 'desc' }));
      return typeof newest?.time === 'number' ? newest.time : null;
    },
    async gatewayUserId() {
      return tokenSubject((await client.getAccessToken()) ?? '');
    },
  };
}

interface RawAdminEvent {
  id?: string;
  time?: number;
  operationType?: string;
  resourceType?: string;
  resourcePath?: string;
  authDetails?: { userId?: string };
}

function adminEvent(raw: RawAdminEvent): AdminEvent[] {
  if (typeof raw.id !== 'string' || typeof raw.time !== 'number') return [];
  return [
    {
      id: raw.id,
      time: raw.time,
      operationType: raw.operationType ?? '',
      resourceType: raw.resourceType ?? '',
      resourcePath: raw.resourcePath ?? '',
      authUserId: raw.authDetails?.userId ?? null,
    },
  ];
}

/** The `sub` of a token Keycloak issued to the gateway: its service account's user id. */
export function tokenSubject(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
  if (typeof payload.sub !== 'string') throw new Error("the service account's token names no subject");
  return payload.sub;
}
