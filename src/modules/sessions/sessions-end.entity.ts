import { Entity, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import { UserEntity } from '../users/user.entity.js';

/**
 * The last time every session of a user was ended (endUserSessions, signOutEverywhere):
 * which of the user's access tokens the gateway refuses from then on (sessions-end.ts).
 * The two bounds are whole seconds, as a token's `iat` counts them. A change announces the user on
 * `users_changed`, so that every process drops its cached caller (src/db/migrations/Migration20261204225500.ts).
 */
@Entity({ tableName: 'user_sessions_ended' })
export class SessionsEndEntity {
  [PrimaryKeyProp]?: 'user';

  @ManyToOne(() => UserEntity, { primary: true, deleteRule: 'cascade', updateRule: 'cascade' })
  user: Rel<UserEntity>;

  /** A token issued in an earlier second is refused. */
  @Property({ type: 'timestamptz' })
  refusedBefore: Date;

  /** A token issued from refusedBefore to this second, included, is accepted only while its session is live in Keycloak. */
  @Property({ type: 'timestamptz' })
  checkedUntil: Date;

  /** When the gateway ended the sessions, by its own clock. */
  @Property({ type: 'timestamptz' })
  endedAt: Date;
}
