import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import { RealmRoleEntity } from '../roles/role.entity.js';
import { UserEntity } from '../users/user.entity.js';

/** The mirror of a top-level Keycloak group. */
@Entity({ tableName: 'groups' })
export class GroupEntity {
  /** The Keycloak group id. */
  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property({ unique: true })
  name: string;
}

/** A realm role or privilege mapped to a group: its members hold it. */
@Entity({ tableName: 'group_roles' })
@Index({ properties: ['role'] })
export class GroupRoleEntity {
  [PrimaryKeyProp]?: ['group', 'role'];

  @ManyToOne(() => GroupEntity, { primary: true, deleteRule: 'cascade' })
  group: Rel<GroupEntity>;

  @ManyToOne(() => RealmRoleEntity, { primary: true, deleteRule: 'cascade' })
  role: Rel<RealmRoleEntity>;
}

@Entity({ tableName: 'user_groups' })
@Index({ properties: ['group'] })
export class UserGroupEntity {
  [PrimaryKeyProp]?: ['user', 'group'];

  @ManyToOne(() => UserEntity, { primary: true, deleteRule: 'cascade' })
  user: Rel<UserEntity>;

  @ManyToOne(() => GroupEntity, { primary: true, deleteRule: 'cascade' })
  group: Rel<GroupEntity>;
}
