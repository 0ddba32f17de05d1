import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, type Rel } from '@mikro-orm/core';
import { TenantEntity, type TenantRole } from '../tenants/tenant.entity.js';

/** Stored states; EXPIRED is not stored but read off `expiresAt`. */
export type StoredInvitationStatus = 'PENDING' | 'ACCEPTED' | 'REVOKED';

/** An invitation to join a tenant. Only the hash of its secret token is kept. */
@Entity({ tableName: 'invitations' })
@Index({ properties: ['tenant', 'status'] })
export class InvitationEntity {
  [OptionalProps]?: 'status' | 'acceptedAt' | 'invitedBy' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @ManyToOne(() => TenantEntity, { deleteRule: 'cascade' })
  tenant: Rel<TenantEntity>;

  @Property()
  email: string;

  @Property({ type: 'string', length: 16 })
  role: TenantRole;

  /** SHA-256 of the token, hex: enough to find the invitation, useless to anyone who reads it. */
  @Property({ type: 'string', length: 64, unique: true })
  tokenHash: string;

  @Property({ type: 'string', length: 16 })
  status: StoredInvitationStatus = 'PENDING';

  @Property({ type: 'uuid', nullable: true })
  invitedBy: string | null = null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz' })
  expiresAt: Date;

  @Property({ type: 'timestamptz', nullable: true })
  acceptedAt: Date | null = null;
}
