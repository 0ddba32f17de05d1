import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import { KeycloakUsersDirectory, type UsersDirectory } from './users.directory.js';

/** The users directory of the realm an account lives in: null names the gateway's own realm. */
export type UsersDirectories = (realm: string | null | undefined) => UsersDirectory;

/** The gateway's admin client in the realm an account lives in: null names the gateway's own realm. */
export type RealmAdminClients = (realm: string | null | undefined) => KeycloakAdminClient;

/**
 * Realm routing: the gateway's own realm through its admin client, and in realm tenancy
 * each tenant realm through the gateway's admin client there. Without tenant realms
 * (TENANCY_MODE=shared) an account of a tenant realm cannot be reached.
 */
export function realmAdminClients(home: KeycloakAdminClient, tenantRealms?: Pick<TenantRealms, 'adminFor'>): RealmAdminClients {
  return (realm) => {
    if (!realm) return home;
    if (!tenantRealms) throw new Error('this account lives in a tenant realm: TENANCY_MODE=realm is needed to reach it');
    return tenantRealms.adminFor(realm).client;
  };
}

/** The users directory of each realm, routed by realmAdminClients. */
export function keycloakUsersDirectories(home: KeycloakAdminClient, tenantRealms?: Pick<TenantRealms, 'adminFor'>): UsersDirectories {
  const homeDirectory = new KeycloakUsersDirectory(home);
  const clients = realmAdminClients(home, tenantRealms);
  return (realm) => (realm ? new KeycloakUsersDirectory(clients(realm)) : homeDirectory);
}
