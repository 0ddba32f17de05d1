import { JSONObjectResolver } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { PageInfoType } from '../users/user.type.js';
import { AUDIT_STATUSES, type AuditStatus } from '../../journal/audit-event.entity.js';
import { NodeInterface } from '../node/node.type.js';

export const AuditStatusEnum = Object.fromEntries(AUDIT_STATUSES.map((status) => [status, status])) as {
  [S in AuditStatus]: S;
};
registerEnumType(AuditStatusEnum, {
  name: 'AuditStatus',
  description: 'How far a journalled write got.',
  valuesConfig: {
    PENDING: { description: 'Intent recorded; Keycloak not yet confirmed.' },
    SUCCEEDED: { description: 'The write is done.' },
    FAILED: { description: 'The write failed; what it had done in Keycloak was undone.' },
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

@ObjectType('AuditEvent', {
  implements: NodeInterface,
  description:
    "One write as the journal recorded it. Read through auditEvents, by ROLE_ADMIN, ROLE_MANAGER, or a tenant's OWNER or ADMIN for that tenant's events.",
})
export class AuditEventType implements AuditEventRecord {
  @Field(() => ID, { description: "The event's id." })
  id: string;

  @Field(() => Date, { description: 'When the write was asked for.' })
  at: Date;

  @Field(() => ID, { nullable: true, description: 'User id of the caller, or null for the system (sync jobs, sign-up).' })
  actorId: string | null;

  @Field(() => String, { description: 'For example USER_CREATE, ROLE_DELETE, INVITATION_ACCEPT.' })
  action: string;

  @Field(() => String, { description: 'The kind of object written: USER, ROLE, GROUP, TENANT, INVITATION ...' })
  targetType: string;

  @Field(() => String, { nullable: true, description: 'The id of the object written, once known.' })
  targetId: string | null;

  @Field(() => ID, { nullable: true, description: 'The tenant the write concerned, if any.' })
  tenantId: string | null;

  @Field(() => AuditStatusEnum, { description: 'How far the write got.' })
  status: AuditStatus;

  @Field(() => JSONObjectResolver, { nullable: true, description: 'Non-secret details: never passwords or tokens.' })
  details: Record<string, unknown> | null;

  @Field(() => String, { nullable: true, description: 'Why the write failed or is still pending.' })
  error: string | null;
}

@ObjectType('AuditEventEdge', { description: 'One audit event in a page, with its cursor.' })
export class AuditEventEdgeType {
  @Field(() => String, { description: 'Opaque position of this event: pass it as after or before.' })
  cursor: string;

  @Field(() => AuditEventType, { description: 'The audit event.' })
  node: AuditEventRecord;
}

@ObjectType('AuditEventConnection', { description: 'A page of audit events, newest first (Relay cursor connection).' })
export class AuditEventConnectionType {
  @Field(() => [AuditEventEdgeType], { description: 'The events of this page, each with its cursor.' })
  edges: AuditEventEdgeType[];

  @Field(() => PageInfoType, { description: 'Cursors and whether more pages exist either way.' })
  pageInfo: PageInfoType;
}

@InputType('AuditEventFilter', { description: 'Criteria for auditEvents; all given ones must match.' })
export class AuditEventFilterInput {
  @Field(() => String, { nullable: true, description: 'Only this action, for example USER_CREATE.' })
  action?: string | null;

  @Field(() => ID, { nullable: true, description: 'Only writes by this user.' })
  actorId?: string | null;

  @Field(() => String, { nullable: true, description: 'Only writes to this object.' })
  targetId?: string | null;

  @Field(() => ID, { nullable: true, description: "Only writes concerning this tenant; a tenant's OWNER or ADMIN must give it." })
  tenantId?: string | null;

  @Field(() => AuditStatusEnum, { nullable: true, description: 'Only writes in this status.' })
  status?: AuditStatus | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this instant.' })
  since?: Date | null;
}
