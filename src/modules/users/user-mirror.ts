import { profileClaims } from '../../auth/claims.js';
import type { Principal } from '../../auth/token-verifier.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { UserLinks } from './user-links.js';
import type { UserRecord } from './user.type.js';
import type { UsersDirectories } from './users.realms.js';
import type { MirroredUser, UserServiceQueries } from './users.queries.js';

/**
 * Just-in-time mirroring: a signed-in person's record follows Keycloak's word. A token's
 * newer profile claims are written into the caller's record; a person the mirror has
 * never seen is looked up in Keycloak once and mirrored with their roles and groups. A
 * token alone never creates a record, and a user the gateway saw deleted never comes back.
 */
export class UserMirror {
  constructor(
    private readonly deps: {
      queries: Pick<UserServiceQueries, 'within' | 'findByIds' | 'wasDeleted' | 'recordDeletion' | 'updateClaims' | 'upsertFromKeycloak'>;
      links: UserLinks;
      directories: UsersDirectories;
      /** Runs `work` in one transaction. */
      transactional: <T>(work: (em: EntityManager) => Promise<T>) => Promise<T>;
    },
  ) {}

  private get queries() {
    return this.deps.queries;
  }

  /** Whether the gateway saw the user `id` deleted. */
  wasDeleted(id: string): Promise<boolean> {
    return this.queries.wasDeleted(id);
  }

  /**
   * Writes a token's newer profile claims into the caller's record. Only ever updates: a
   * record is created from Keycloak's word, not a token's (mirrorFromKeycloak). Called
   * when `shouldMirrorClaims` (src/auth/claims.ts) says so; null when the record is gone.
   */
  mirrorClaims(principal: Principal): Promise<UserRecord | null> {
    return this.queries.updateClaims(principal.userId, profileClaims(principal));
  }

  /**
   * A user a valid token names but the mirror lacks (created in Keycloak's console, say),
   * looked up in Keycloak once and mirrored with its roles and groups: null when Keycloak
   * no longer has them (then remembered as deleted) or the gateway saw them deleted.
   */
  async mirrorFromKeycloak(id: string, realm: string | null): Promise<UserRecord | null> {
    const found = await this.deps.directories(realm).find(id);
    if (!found) {
      await this.queries.recordDeletion(id);
      return null;
    }
    return (await this.mirror(found, realm)) ? ((await this.queries.findByIds([id]))[0] ?? null) : null;
  }

  /**
   * Writes one Keycloak user (of the gateway's realm, or of the tenant realm `realm`), its
   * direct roles and privileges and its groups into the mirror; never a user the gateway
   * saw deleted. Answers whether the user is in the mirror now.
   */
  async mirror(user: MirroredUser, realm: string | null = null): Promise<boolean> {
    const { roleIds, groupIds } = await this.deps.directories(realm).links(user.id);
    return this.deps.transactional(async (em) => {
      if (!(await this.queries.within(em).upsertFromKeycloak(user, realm))) return false;
      await this.deps.links.within(em).replace(user.id, roleIds, groupIds);
      return true;
    });
  }
}
