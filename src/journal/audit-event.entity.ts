import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

export const AUDIT_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED', 'COMPENSATED'] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];

/**
 * One write the gateway attempted: recorded as PENDING before Keycloak is called, and
 * settled once the outcome is known. Never holds passwords, tokens or secrets.
 */
@Entity({ tableName: 'audit_events' })
@Index({ name: 'audit_events_at_id_idx', properties: ['at', 'id'] })
@Index({ name: 'audit_events_status_at_idx', properties: ['status', 'at'] })
export class AuditEventEntity {
  [OptionalProps]?: 'at' | 'updatedAt' | 'status' | 'details' | 'error';

  @PrimaryKey({ type: 'uuid' })
  id: string;

  @Property({ type: 'timestamptz' })
  at: Date = new Date();

  @Property({ type: 'uuid', nullable: true })
  actorId: string | null;

  @Property({ length: 64 })
  action: string;

  @Property({ length: 32 })
  targetType: string;

  @Property({ type: 'string', nullable: true })
  targetId: string | null;

  @Property({ type: 'uuid', nullable: true })
  tenantId: string | null;

  @Property({ type: 'string', length: 16 })
  status: AuditStatus = 'PENDING';

  @Property({ type: 'json', nullable: true })
  details: Record<string, unknown> | null = null;

  /** Why the write failed or stayed pending, in words safe to show an administrator. */
  @Property({ type: 'text', nullable: true })
  error: string | null = null;

  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
