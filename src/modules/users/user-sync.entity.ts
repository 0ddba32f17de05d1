import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import { UserEntity } from './user.entity.js';

/**
 * A user kept locally while Keycloak was unreachable, waiting for the sync job to push it
 * (a registration while Keycloak was away). The user's row says PENDING or FAILED; its user_roles and user_groups rows
 * are the roles and groups to map in Keycloak. The row goes once the user is SYNCED; its
 * key follows the user's id when that becomes the Keycloak id (ON UPDATE CASCADE).
 */
@Entity({ tableName: 'user_sync' })
@Index({ properties: ['nextAt'] })
export class UserSyncEntity {
  [PrimaryKeyProp]?: 'user';
  [OptionalProps]?: 'attempts' | 'leaseUntil' | 'lastError' | 'createdAt';

  @ManyToOne(() => UserEntity, { primary: true, deleteRule: 'cascade' })
  user: Rel<UserEntity>;

  /** The journal action the push is recorded under (USER_REGISTER). */
  @Property({ length: 64 })
  action: string;

  @Property({ type: 'uuid', nullable: true })
  actorId: string | null;

  @Property({ type: 'integer' })
  attempts: number = 0;

  /** Not tried again before this time: exponential backoff per user. */
  @Property({ type: 'timestamptz' })
  nextAt: Date;

  /** A job process holds this row until then; a crashed holder's lease simply expires. */
  @Property({ type: 'timestamptz', nullable: true })
  leaseUntil: Date | null = null;

  /** Why the last attempt failed, in words an administrator can act on. */
  @Property({ type: 'text', nullable: true })
  lastError: string | null = null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();
}
