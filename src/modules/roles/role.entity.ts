import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import type { RealmRoleKind } from '../../keycloak/realm-catalog.js';
import { UserEntity } from '../users/user.entity.js';

export type { RealmRoleKind };

/**
 * The mirror of a Keycloak realm role the gateway manages: a role (role_*) or a
 * privilege (priv_*). Other realm roles (offline_access, default-roles-*) are not mirrored.
 */
@Entity({ tableName: 'realm_roles' })
export class RealmRoleEntity {
  [OptionalProps]?: 'description';

  /** The Keycloak role id. */
  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property({ unique: true })
  name: string;

  @Property({ type: 'string', length: 16 })
  kind: RealmRoleKind;

  @Property({ type: 'text', nullable: true })
  description: string | null = null;
}

/** A privilege a role is a composite of: what `Role.privileges` shows and `updateRole` edits. */
@Entity({ tableName: 'role_privileges' })
@Index({ properties: ['privilege'] })
export class RolePrivilegeEntity {
  [PrimaryKeyProp]?: ['role', 'privilege'];

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  role: Rel<RealmRoleEntity>;

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  privilege: Rel<RealmRoleEntity>;
}

/**
 * Every other composite link Keycloak holds between mirrored roles: a role composed of
 * roles, a privilege composed of anything (both only made in Keycloak's console). The
 * gateway's API neither shows nor edits them; they count for effective roles
 * (src/modules/roles/roles.queries.ts), as they do in Keycloak's tokens. The directory sync
 * writes them, with any realm role the mirror leaves out followed through to the mirrored
 * roles it is composed of.
 */
@Entity({ tableName: 'role_composites' })
@Index({ properties: ['child'] })
export class RoleCompositeEntity {
  [PrimaryKeyProp]?: ['role', 'child'];

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  role: Rel<RealmRoleEntity>;

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  child: Rel<RealmRoleEntity>;
}

/** A role or privilege assigned to a user directly. */
@Entity({ tableName: 'user_roles' })
@Index({ properties: ['role'] })
export class UserRoleEntity {
  [PrimaryKeyProp]?: ['user', 'role'];

  @ManyToOne(() => UserEntity, { primary: true, deleteRule: 'cascade' })
  user: Rel<UserEntity>;

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  role: Rel<RealmRoleEntity>;
}
