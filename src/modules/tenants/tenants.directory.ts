import type { UndoLog } from '../../journal/journal.js';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import { irreversible } from '../users/users.directory.js';

/**
 * Realm tenancy: what tenants call Keycloak for, their own realms. The only code of the
 * tenants feature that reaches Keycloak.
 */
export interface TenantsDirectory {
  /** Provisions the tenant's realm; its deletion is registered as the undo first, so a half-made realm goes too. */
  createRealm(realm: string, undo: UndoLog): Promise<void>;
  /** Deletes the realm and stops trusting its tokens; one already gone counts as deleted. Irreversible. */
  deleteRealm(realm: string, undo: UndoLog): Promise<void>;
  /** A realm this process just recorded: its tokens are trusted at once. */
  remember(realm: string): void;
}

export class KeycloakTenantsDirectory implements TenantsDirectory {
  constructor(private readonly realms: Pick<TenantRealms, 'create' | 'delete' | 'remember'>) {}

  createRealm(realm: string, undo: UndoLog): Promise<void> {
    return this.realms.create(realm, undo);
  }

  async deleteRealm(realm: string, undo: UndoLog): Promise<void> {
    await this.realms.delete(realm);
    irreversible(undo, `the deletion of realm ${realm}`);
  }

  remember(realm: string): void {
    this.realms.remember(realm);
  }
}
