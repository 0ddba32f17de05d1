import { Entity, Index, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

export const SYNC_STATUSES = ['SYNCED', 'PENDING', 'FAILED'] as const;
export type SyncStatus = (typeof SYNC_STATUSES)[number];

/** Keycloak user attributes: every attribute is a list of strings. */
export type UserAttributes = Record<string, string[]>;

/**
 * The local mirror of a Keycloak user. Keycloak owns credentials and is the source of
 * truth for these fields; the gateway writes Keycloak first and then this row.
 */
@Entity({ tableName: 'users' })
@Index({ name: 'users_created_at_id_idx', properties: ['createdAt', 'id'] })
// `search` (users.queries.ts): ILIKE '%fragment%' on each of the four columns, served by trigrams (Migration20261204230000).
@Index({
  name: 'users_search_trgm_idx',
  expression:
    'create index "users_search_trgm_idx" on "users" using gin ("email" gin_trgm_ops, "username" gin_trgm_ops, "first_name" gin_trgm_ops, "last_name" gin_trgm_ops)',
})
// A person may hold an account in the gateway's realm and in tenant realms (realm tenancy),
// one row each: emails and usernames are unique per realm, as in Keycloak.
@Unique({ name: 'users_email_unique', properties: ['email'], where: 'realm is null' })
@Unique({ name: 'users_username_unique', properties: ['username'], where: 'realm is null' })
@Unique({ name: 'users_realm_email_unique', properties: ['realm', 'email'], where: 'realm is not null' })
@Unique({ name: 'users_realm_username_unique', properties: ['realm', 'username'], where: 'realm is not null' })
export class UserEntity {
  [OptionalProps]?: 'realm' | 'enabled' | 'emailVerified' | 'attributes' | 'syncStatus' | 'createdAt' | 'updatedAt';

  /** The Keycloak user id. */
  @PrimaryKey({ type: 'uuid' })
  id: string;

  /**
   * The tenant realm the account lives in (realm tenancy); null for the gateway's own realm,
   * whose name is configuration (KEYCLOAK_REALM) and so is not stored.
   */
  @Property({ type: 'string', nullable: true })
  realm: string | null = null;

  @Property()
  username: string;

  /** Stored lower-cased: Keycloak compares emails case-insensitively. */
  @Property()
  email: string;

  @Property()
  firstName: string;

  @Property()
  lastName: string;

  @Property()
  enabled: boolean = true;

  @Property()
  emailVerified: boolean = false;

  @Property({ type: 'json' })
  attributes: UserAttributes = {};

  @Property({ type: 'string', length: 16 })
  syncStatus: SyncStatus = 'SYNCED';

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}

/**
 * A user the gateway has seen deleted (through it, or found gone from Keycloak). A token
 * issued before the deletion stays valid until it expires; this record makes sure such a
 * token never brings the user's record back (src/admission.ts).
 */
@Entity({ tableName: 'deleted_users' })
export class DeletedUserEntity {
  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property({ type: 'timestamptz' })
  deletedAt: Date = new Date();
}

/**
 * How many rows `users` holds, kept by triggers (Migration20261204230000) so that the
 * unfiltered `users { totalCount }` and the dashboard read a few rows instead of counting
 * a million. Sixteen slots, summed on read: concurrent transactions that add users update
 * different rows rather than queueing on one.
 */
@Entity({ tableName: 'users_count' })
export class UsersCountEntity {
  @PrimaryKey({ type: 'smallint' })
  slot: number;

  @Property({ type: 'bigint' })
  count: string;
}
