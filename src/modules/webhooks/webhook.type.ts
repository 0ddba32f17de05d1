import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { NodeInterface } from '../node/node.type.js';
import { MutationOutcome } from '../system/message.type.js';
import { PageInfoType } from '../users/user.type.js';

export const DELIVERY_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const DeliveryStatusEnum = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, s])) as { [S in DeliveryStatus]: S };
registerEnumType(DeliveryStatusEnum, {
  name: 'WebhookDeliveryStatus',
  description: 'Where the delivery of one event to one endpoint stands.',
  valuesConfig: {
    PENDING: { description: 'Not delivered yet: waiting for its turn, or for its next attempt.' },
    SUCCEEDED: { description: 'The endpoint answered 2xx.' },
    FAILED: { description: 'Every attempt failed for the whole retry period; the endpoint was disabled.' },
  },
});

/** An endpoint as read from PostgreSQL, without its sealed secrets. */
export interface WebhookEndpointRecord {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
}

export interface WebhookDeliveryRecord {
  id: string;
  endpointId: string;
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  responseStatus: number | null;
  /** Orders the endpoint's delivery log (the event's time). */
  eventAt: Date;
}

@ObjectType('WebhookEndpoint', {
  implements: NodeInterface,
  description: 'A URL that receives identity events, signed as the Standard Webhooks specification says. ROLE_ADMIN.',
})
export class WebhookEndpointType {
  @Field(() => ID, { description: "The endpoint's id." })
  id: string;

  @Field(() => String, { description: 'Where events are POSTed (http or https).' })
  url: string;

  @Field(() => String, { nullable: true, description: 'What the endpoint is for, for people.' })
  description: string | null;

  @Field(() => [String], { description: 'Event types delivered; empty means every type.' })
  eventTypes: string[];

  @Field(() => Boolean, {
    description: 'Whether events are delivered. An endpoint whose deliveries fail for the whole retry period (3 days) is disabled.',
  })
  enabled: boolean;

  @Field(() => Date, { description: 'When the endpoint was created.' })
  createdAt: Date;
}

@ObjectType('WebhookDelivery', {
  implements: NodeInterface,
  description: 'The delivery of one event to one endpoint, with its attempts. Its id is the webhook-id header, the same on every attempt.',
})
export class WebhookDeliveryType {
  @Field(() => ID, { description: "The delivery's id, sent as the webhook-id header: a receiver drops a repeat by it." })
  id: string;

  @Field(() => DeliveryStatusEnum, { description: 'Where the delivery stands.' })
  status: DeliveryStatus;

  @Field(() => Int, { description: 'Attempts made so far.' })
  attempts: number;

  @Field(() => Date, { nullable: true, description: 'When the last attempt was made; null before the first.' })
  lastAttemptAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the next attempt is due; null once delivered or failed.' })
  nextAttemptAt: Date | null;

  @Field(() => Int, { nullable: true, description: "HTTP status of the last attempt's answer, if one came." })
  responseStatus: number | null;
}

@ObjectType('WebhookDeliveryEdge', { description: 'One delivery in a page, with its cursor.' })
export class WebhookDeliveryEdgeType {
  @Field(() => String, { description: 'Opaque position of this delivery: pass it as after.' })
  cursor: string;

  @Field(() => WebhookDeliveryType, { description: 'The delivery.' })
  node: WebhookDeliveryRecord;
}

@ObjectType('WebhookDeliveryConnection', { description: "A page of an endpoint's deliveries, newest first (Relay cursor connection)." })
export class WebhookDeliveryConnectionType {
  @Field(() => [WebhookDeliveryEdgeType], { description: 'The deliveries of this page, each with its cursor.' })
  edges: WebhookDeliveryEdgeType[];

  @Field(() => PageInfoType, { description: 'Cursors and whether more pages exist either way.' })
  pageInfo: PageInfoType;
}

@ObjectType('WebhookEndpointPayload', { description: 'The answer of the webhook endpoint mutations. ROLE_ADMIN.' })
export class WebhookEndpointPayloadType extends MutationOutcome {
  @Field(() => WebhookEndpointType, { description: 'The endpoint as it now is.' })
  endpoint: WebhookEndpointRecord;

  @Field(() => String, {
    nullable: true,
    description: 'The signing secret (whsec_ + base64), only in the answers of create and rotate.',
  })
  secret: string | null;
}

@ObjectType('WebhookDeliveryPayload', { description: 'The answer of redeliverWebhook. ROLE_ADMIN.' })
export class WebhookDeliveryPayloadType extends MutationOutcome {
  @Field(() => WebhookDeliveryType, { description: 'The delivery, queued again.' })
  delivery: WebhookDeliveryRecord;
}

@InputType('CreateWebhookEndpointInput', { description: 'A new webhook endpoint.' })
export class CreateWebhookEndpointInput {
  @Field(() => String, { description: 'Where events are POSTed: an http(s) URL of a public address (in production).' })
  url: string;

  @Field(() => String, { nullable: true, description: 'What the endpoint is for, for people.' })
  description?: string | null;

  @Field(() => [String], { nullable: true, defaultValue: [], description: 'Event types to deliver; empty means every type.' })
  eventTypes?: string[] | null;
}

@InputType('UpdateWebhookEndpointInput', { description: 'Changes to an endpoint; what is left out stays.' })
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true, description: 'A new URL.' })
  url?: string | null;

  @Field(() => String, { nullable: true, description: 'A new description.' })
  description?: string | null;

  @Field(() => [String], { nullable: true, description: 'The event types to deliver; empty means every type.' })
  eventTypes?: string[] | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Turn delivery off, or on again: the deliveries waiting are then attempted at once, in order.',
  })
  enabled?: boolean | null;
}
