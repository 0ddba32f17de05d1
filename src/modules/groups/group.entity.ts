import { Entity, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps, PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import { RealmRoleEntity } from '../roles/role.entity.js';
import { UserEntity } from '../users/user.entity.js';

/**
 * The mirror of a Keycloak group. The gateway creates top-level groups; subgroups made in
 * Keycloak's console are mirrored with their parent, because a member of a subgroup holds
 * the roles of every group above it too. Names are unique among siblings, as in Keycloak.
 */
@Entity({ tableName: 'groups' })
@Unique({
  name: 'groups_parent_id_name_unique',
  expression: 'create unique index "groups_parent_id_name_unique" on "groups" ("parent_id", "name") nulls not distinct',
})
export class GroupEntity {
  [OptionalProps]?: 'parent';

  /** The Keycloak group id. */
  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property()
  name: string;

  /** The group this one is a subgroup of; null for a top-level group. */
  @ManyToOne(() => GroupEntity, { nullable: true, deleteRule: 'cascade' })
  parent: Rel<GroupEntity> | null = null;
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
