import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, PrimaryKeyProp, type Rel } from '@mikro-orm/core';
import { UserEntity } from '../users/user.entity.js';

export const TENANT_ROLES = ['OWNER', 'ADMIN', 'MEMBER'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];

/** A customer account: the gateway owns tenants entirely (Keycloak knows nothing of them in shared mode). */
@Entity({ tableName: 'tenants' })
export class TenantEntity {
  [OptionalProps]?: 'createdAt' | 'realm';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property()
  name: string;

  /** Realm tenancy: the tenant's own Keycloak realm (named by its id); null in shared mode. */
  @Property({ type: 'string', nullable: true, unique: true })
  realm: string | null = null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();
}

@Entity({ tableName: 'memberships' })
@Index({ properties: ['user'] })
export class MembershipEntity {
  [PrimaryKeyProp]?: ['tenant', 'user'];
  [OptionalProps]?: 'joinedAt';

  @ManyToOne(() => TenantEntity, { primary: true, deleteRule: 'cascade' })
  tenant: Rel<TenantEntity>;

  @ManyToOne(() => UserEntity, { primary: true, deleteRule: 'cascade' })
  user: Rel<UserEntity>;

  @Property({ type: 'string', length: 16 })
  role: TenantRole;

  @Property({ type: 'timestamptz' })
  joinedAt: Date = new Date();
}
