import 'reflect-metadata';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { AuditEventEntity } from '../modules/audit/audit-event.entity.js';
import { IdempotencyKeyEntity } from '../modules/idempotency/idempotency.entity.js';
import { JobLeaseEntity } from '../jobs/job-lease.entity.js';
import { UserSyncEntity } from '../modules/users/user-sync.entity.js';
import { GroupEntity, GroupRoleEntity, UserGroupEntity } from '../modules/groups/group.entity.js';
import { RealmRoleEntity, RoleCompositeEntity, RolePrivilegeEntity, UserRoleEntity } from '../modules/roles/role.entity.js';
import { InvitationEntity } from '../modules/invitations/invitation.entity.js';
import { MembershipEntity, TenantEntity } from '../modules/tenants/tenant.entity.js';
import { DeletedUserEntity, UserEntity } from '../modules/users/user.entity.js';
import { MIGRATIONS } from './migrations/index.js';

export const ENTITIES = [
  UserEntity,
  DeletedUserEntity,
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
  JobLeaseEntity,
  IdempotencyKeyEntity,
];

/**
 * MikroORM's options for the gateway's database. Migrations are listed in code rather
 * than discovered by a file glob, so the same list runs from compiled JavaScript and
 * under vitest.
 */
export function ormOptions(databaseUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities: ENTITIES,
    // Legacy decorators (as type-graphql uses) with types read from emitted metadata.
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS,
      path: 'src/db/migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    pool: { min: 0, max: 10 },
    ...overrides,
  });
}

export type Orm = MikroORM;

export function openOrm(databaseUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, overrides));
}

/** Applies every pending migration; safe to call at every start. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((migration) => migration.name);
}
