import { JSONObjectResolver } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfoType } from '../users/user.type.js';
import { AUDIT_STATUSES, type AuditStatus } from '../../journal/audit-event.entity.js';

export const AuditStatusEnum = Object.fromEntries(AUDIT_STATUSES.map((status) => [status, status])) as {
  [S in AuditStatus]: S;
};
registerEnumType(AuditStatusEnum, {
  name: 'AuditStatus',
  valuesConfig: {
    PENDING: { description: 'Intent recorded; Keycloak not yet confirmed.' },
    COMPENSATED: { description: 'Keycloak succeeded, the local write did not, and the Keycloak change was undone.' },
  },
});

/** An audit event as read from the journal: plain data, no ORM entity. */
export interface AuditEventRecord {
  id: string;
  at: Date;
  actorId: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  tenantId: string | null;
  status: AuditStatus;
  details: Record<string, unknown> | null;
  error: string | null;
}

@ObjectType('AuditEvent')
export class AuditEventType implements AuditEventRecord {
  @Field(() => ID)
  id: string;

  @Field(() => Date)
  at: Date;

  @Field(() => ID, { nullable: true, description: 'User id of the caller, or null for the system (sync jobs, sign-up).' })
  actorId: string | null;

  @Field(() => String, { description: 'For example USER_CREATE, ROLE_DELETE, INVITATION_ACCEPT.' })
  action: string;

  @Field(() => String)
  targetType: string;

  @Field(() => String, { nullable: true })
  targetId: string | null;

  @Field(() => ID, { nullable: true })
  tenantId: string | null;

  @Field(() => AuditStatusEnum)
  status: AuditStatus;

  @Field(() => JSONObjectResolver, { nullable: true, description: 'Non-secret details: never passwords or tokens.' })
  details: Record<string, unknown> | null;

  @Field(() => String, { nullable: true, description: 'Why the write failed or is still pending.' })
  error: string | null;
}

@ObjectType('AuditEventEdge')
export class AuditEventEdgeType {
  @Field(() => String)
  cursor: string;

  @Field(() => AuditEventType)
  node: AuditEventRecord;
}

@ObjectType('AuditEventConnection')
export class AuditEventConnectionType {
  @Field(() => [AuditEventEdgeType])
  edges: AuditEventEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;
}

@InputType('AuditEventFilter')
export class AuditEventFilterInput {
  @Field(() => String, { nullable: true })
  action?: string | null;

  @Field(() => ID, { nullable: true })
  actorId?: string | null;

  @Field(() => String, { nullable: true })
  targetId?: string | null;

  @Field(() => ID, { nullable: true })
  tenantId?: string | null;

  @Field(() => AuditStatusEnum, { nullable: true })
  status?: AuditStatus | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this instant.' })
  since?: Date | null;
}
