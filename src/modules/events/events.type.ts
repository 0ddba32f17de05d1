import { JSONObjectResolver } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { EVENT_ORIGINS, type EventOrigin, type IdentityEventRow } from '../../events/outbox.js';
import { NodeInterface } from '../node/node.type.js';
import { PageInfoType } from '../users/user.type.js';

export const EventOriginEnum = Object.fromEntries(EVENT_ORIGINS.map((origin) => [origin, origin])) as { [O in EventOrigin]: O };
registerEnumType(EventOriginEnum, {
  name: 'EventOrigin',
  description: 'Who made a change an identity event reports.',
  valuesConfig: {
    GATEWAY: { description: 'A mutation of the gateway.' },
    KEYCLOAK: { description: 'A change made in Keycloak outside the gateway (console, another client).' },
    SYNC: { description: 'A background job of the gateway (sync, reconciliation).' },
  },
});

@ObjectType('IdentityEvent', {
  implements: NodeInterface,
  description:
    "One committed change of a user, role, group, tenant, membership or invitation, in commit order. Read through events, by ROLE_ADMIN, or a tenant's OWNER or ADMIN for that tenant's events.",
})
export class IdentityEventType {
  @Field(() => ID, { description: "The event's id." })
  id: string;

  @Field(() => String, {
    description: `USER_CREATED, USER_UPDATED, USER_DELETED, USER_ROLES_CHANGED, USER_GROUPS_CHANGED,
USER_SESSIONS_ENDED, ROLE_CREATED, ROLE_UPDATED, ROLE_DELETED, GROUP_CREATED,
GROUP_UPDATED, GROUP_DELETED, GROUP_MEMBERS_CHANGED, TENANT_CREATED, TENANT_DELETED,
MEMBERSHIP_CREATED, MEMBERSHIP_DELETED, INVITATION_CREATED, INVITATION_ACCEPTED,
INVITATION_REVOKED`,
  })
  type: string;

  @Field(() => Date, { description: 'When the change was made.' })
  occurredAt: Date;

  @Field(() => EventOriginEnum, { description: 'Who made the change: a mutation, Keycloak itself, or a job of the gateway.' })
  origin: EventOrigin;

  @Field(() => ID, { nullable: true, description: 'Null for Keycloak-side changes and jobs.' })
  actorId: string | null;

  @Field(() => String, { description: 'User, Role, Group, Tenant, Membership or Invitation.' })
  subjectType: string;

  @Field(() => ID, { description: "The subject's id; a membership's is its user's, with the tenant in tenantId." })
  subjectId: string;

  @Field(() => ID, { nullable: true, description: 'The tenant the subject belongs to, if any.' })
  tenantId: string | null;

  @Field(() => JSONObjectResolver, {
    nullable: true,
    description: 'The subject before and after the change, never with secrets; null where there is none.',
  })
  before: Record<string, unknown> | null;

  @Field(() => JSONObjectResolver, {
    nullable: true,
    description: 'The subject after the change, never with secrets; null when it was deleted.',
  })
  after: Record<string, unknown> | null;
}

@ObjectType('IdentityEventEdge', { description: 'One identity event in a page, with its cursor.' })
export class IdentityEventEdgeType {
  @Field(() => String, { description: "The event's place in commit order: pass the last one as after to resume." })
  cursor: string;

  @Field(() => IdentityEventType, { description: 'The identity event.' })
  node: IdentityEventRow;
}

@ObjectType('IdentityEventConnection', {
  description: 'A page of identity events, oldest first in commit order (Relay cursor connection).',
})
export class IdentityEventConnectionType {
  @Field(() => [IdentityEventEdgeType], { description: 'The events of this page, each with its cursor.' })
  edges: IdentityEventEdgeType[];

  @Field(() => PageInfoType, { description: 'Cursors, and whether more events follow (hasNextPage) or precede after.' })
  pageInfo: PageInfoType;
}

@InputType('EventFilter', { description: 'Criteria for identity events; all given ones must match.' })
export class EventFilterInput {
  @Field(() => [String], { nullable: true, description: 'Only these types, for example USER_CREATED; none given means every type.' })
  types?: string[] | null;

  @Field(() => ID, { nullable: true, description: 'Only events of this subject.' })
  subjectId?: string | null;

  @Field(() => ID, { nullable: true, description: "Only this tenant's events; a tenant's OWNER or ADMIN must give it." })
  tenantId?: string | null;

  @Field(() => EventOriginEnum, { nullable: true, description: 'Only changes of this origin.' })
  origin?: EventOrigin | null;
}
