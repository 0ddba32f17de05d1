import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type UserSessionRepresentation from '@keycloak/keycloak-admin-client/lib/defs/userSessionRepresentation.js';
import { endSessions } from '../../journal/journal.js';
import { isKeycloakNotFound } from '../../keycloak/keycloak-errors.js';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import type { SessionRecord } from './session.type.js';

/** The suffix of an offline session's id: Keycloak keeps it under the id of the online session it came from. */
export const OFFLINE_SUFFIX = ':offline';

/** A user's sessions in Keycloak: the only code that calls Keycloak for the feature. */
export interface SessionsDirectory {
  /** Every session of the user, online and offline; none for a user Keycloak does not have. */
  list(userId: string): Promise<SessionRecord[]>;
  /**
   * Ends every session of the user, offline ones included (endSessions, src/journal/journal.ts).
   * Answers the user's not-before time Keycloak set as it ended them (seconds, Keycloak's
   * clock), or null when Keycloak did not say.
   */
  endAll(userId: string): Promise<number | null>;
  /** Whether the session `sessionId` of the user is live now: online, or offline for `clientId`. */
  isLive(userId: string, sessionId: string, clientId: string): Promise<boolean>;
}

/** The sessions directory of the realm an account lives in: null names the gateway's own realm. */
export type SessionsDirectories = (realm: string | null | undefined) => SessionsDirectory;

/**
 * Realm routing, as for users (src/modules/users/users.realms.ts): the gateway's own realm
 * through its admin client, each tenant realm (realm tenancy) through the gateway's admin client there.
 */
export function keycloakSessionsDirectories(home: KeycloakAdminClient, tenantRealms?: Pick<TenantRealms, 'adminFor'>): SessionsDirectories {
  const homeDirectory = new KeycloakSessionsDirectory(home);
  return (realm) => {
    if (!realm) return homeDirectory;
    if (!tenantRealms) throw new Error('this account lives in a tenant realm: TENANCY_MODE=realm is needed to reach it');
    return new KeycloakSessionsDirectory(tenantRealms.adminFor(realm).client);
  };
}

/**
 * Keycloak's admin sessions API. Online sessions come in one call; offline ones are kept per
 * client, so they are asked of each client the user has granted something to (consents
 * list the clients holding an offline token too), the client's uuid looked up by its id.
 */
export class KeycloakSessionsDirectory implements SessionsDirectory {
  constructor(private readonly keycloak: KeycloakAdminClient) {}

  async list(userId: string): Promise<SessionRecord[]> {
    return whenAbsent([], async () => {
      const online = (await this.keycloak.users.listSessions({ id: userId })).map((session) => toRecord(session, false));
      const offline: SessionRecord[] = [];
      for (const clientId of await this.offlineClients(userId)) {
        for (const session of await this.offlineSessions(userId, clientId)) offline.push(toRecord(session, true));
      }
      return [...online, ...offline].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id));
    });
  }

  async endAll(userId: string): Promise<number | null> {
    await endSessions(this.keycloak, userId);
    const user = await this.keycloak.users.findOne({ id: userId });
    return typeof user?.notBefore === 'number' && user.notBefore > 0 ? user.notBefore : null;
  }

  async isLive(userId: string, sessionId: string, clientId: string): Promise<boolean> {
    return whenAbsent(false, async () => {
      if ((await this.keycloak.users.listSessions({ id: userId })).some((session) => session.id === sessionId)) return true;
      return (await this.offlineSessions(userId, clientId)).some((session) => session.id === sessionId);
    });
  }

  /** Client ids of the clients the user granted something to: those that may hold an offline token. */
  private async offlineClients(userId: string): Promise<string[]> {
    const consents = await this.keycloak.users.listConsents({ id: userId });
    return [...new Set(consents.flatMap((consent) => (consent.clientId ? [consent.clientId] : [])))];
  }

  private async offlineSessions(userId: string, clientId: string): Promise<UserSessionRepresentation[]> {
    const [client] = await this.keycloak.clients.find({ clientId, search: false, first: 0, max: 1 });
    if (!client?.id) return [];
    return this.keycloak.users.listOfflineSessions({ id: userId, clientId: client.id });
  }
}

function toRecord(session: UserSessionRepresentation, offline: boolean): SessionRecord {
  return {
    id: `${session.id ?? ''}${offline ? OFFLINE_SUFFIX : ''}`,
    ipAddress: session.ipAddress || null,
    // Keycloak answers both in milliseconds.
    startedAt: new Date(session.start ?? 0),
    lastAccessAt: new Date(session.lastAccess ?? session.start ?? 0),
    clients: Object.values(session.clients ?? {}).sort(),
    offline,
  };
}

/** `read`'s answer; `absent` for a user Keycloak does not have, who has no sessions. */
async function whenAbsent<T>(absent: T, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isKeycloakNotFound(error)) return absent;
    throw error;
  }
}
