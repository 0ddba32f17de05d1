import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import { KeycloakUsersDirectory, type UsersDirectory } from './users.directory.js';

/** The users directory of the realm an account lives in: null names the gateway's own realm. */
export type UsersDirectories = (realm: string | null | undefined) => UsersDirectory;

/**
 * Realm routing: the gateway's own realm through its admin client, and in realm tenancy
 * each tenant realm through the gateway's admin client there. Without tenant realms
 * (TENANCY_MODE=shared) an account of a tenant realm cannot be reached.
 */
export function keycloakUsersDirectories(home: KeycloakAdminClient, tenantRealms?: Pick<TenantRealms, 'adminFor'>): UsersDirectories {
  const homeDirectory = new KeycloakUsersDirectory(home);
  return (realm) => {
    if (!realm) return homeDirectory;
    if (!tenantRealms) throw new Error('this account lives in a tenant realm: TENANCY_MODE=realm is needed to reach it');
    return new KeycloakUsersDirectory(tenantRealms.adminFor(realm).client);
  };
}
