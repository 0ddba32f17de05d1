import type { Options } from '@mikro-orm/postgresql';
import { AuditEventEntity } from './journal/audit-event.entity.js';
import { IdempotencyKeyEntity } from './http/idempotency/idempotency.entity.js';
import { UserSyncEntity } from './modules/users/user-sync.entity.js';
import { GroupEntity, GroupRoleEntity, UserGroupEntity } from './modules/groups/group.entity.js';
import { RealmRoleEntity, RoleCompositeEntity, RolePrivilegeEntity, UserRoleEntity } from './modules/roles/role.entity.js';
import { InvitationEntity } from './modules/invitations/invitation.entity.js';
import { MembershipEntity, TenantEntity } from './modules/tenants/tenant.entity.js';
import { DeletedUserEntity, UserEntity, UsersCountEntity } from './modules/users/user.entity.js';
import { SessionsEndEntity } from './modules/sessions/sessions-end.entity.js';
import { openOrm, ormOptions, type Orm } from './db/orm.js';

/** Every stored shape of the gateway, each feature's entities: the one list the ORM maps. */
export const ENTITIES = [
  UserEntity,
  DeletedUserEntity,
  UsersCountEntity,
  RealmRoleEntity,
  RolePrivilegeEntity,
  RoleCompositeEntity,
  UserRoleEntity,
  GroupEntity,
  GroupRoleEntity,
  UserGroupEntity,
  AuditEventEntity,
  TenantEntity,
  MembershipEntity,
  InvitationEntity,
  UserSyncEntity,
  IdempotencyKeyEntity,
  SessionsEndEntity,
];

/** The gateway's database through MikroORM, with every entity. */
export function openDatabase(databaseUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  return openOrm(databaseUrl, ENTITIES, overrides);
}

/** MikroORM's options for the gateway's database, with every entity. */
export function databaseOptions(databaseUrl: string, overrides: Partial<Options> = {}): Options {
  return ormOptions(databaseUrl, ENTITIES, overrides);
}
