import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

/**
 * Which gateway process runs a singleton job (the reconciler) until when. Claimed with one
 * atomic upsert, so two processes never run it at once; a crashed holder's lease expires.
 */
@Entity({ tableName: 'job_leases' })
export class JobLeaseEntity {
  [OptionalProps]?: 'lastRunAt';

  @PrimaryKey({ length: 64 })
  name: string;

  @Property({ length: 128 })
  holder: string;

  @Property({ type: 'timestamptz' })
  leaseUntil: Date;

  @Property({ type: 'timestamptz', nullable: true })
  lastRunAt: Date | null = null;
}
