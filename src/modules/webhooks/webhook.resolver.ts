import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { IdentityEventType } from '../events/events.type.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import {
  CreateWebhookEndpointInput,
  UpdateWebhookEndpointInput,
  WebhookDeliveryConnectionType,
  WebhookDeliveryType,
  type WebhookDeliveryRecord,
  WebhookDeliveryPayloadType,
  WebhookEndpointPayloadType,
  WebhookEndpointType,
  type WebhookEndpointRecord,
} from './webhook.type.js';

const DEFAULT_DELIVERIES_PAGE = 20;

@Resolver(() => WebhookEndpointType)
export class WebhookEndpointResolver {
  @Query(() => [WebhookEndpointType], { description: 'Webhook endpoints that receive identity events (ROLE_ADMIN).' })
  webhookEndpoints(@Ctx() { services }: GatewayContext) {
    return services.webhooks.list();
  }

  @FieldResolver(() => WebhookDeliveryConnectionType, { description: 'Deliveries, newest first.' })
  deliveries(
    @Root() endpoint: WebhookEndpointRecord,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_DELIVERIES_PAGE, description: 'Page size, 1 to 200.' })
    first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'The endCursor of the previous page: the page after it.' })
    after: string | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.webhooks.deliveries(endpoint.id, { first: first ?? DEFAULT_DELIVERIES_PAGE, after });
  }

  @Mutation(() => WebhookEndpointPayloadType, { description: 'ROLE_ADMIN. The answer carries the signing secret, once.' })
  async createWebhookEndpoint(
    @Arg('input', () => CreateWebhookEndpointInput, { description: 'The endpoint.' }) input: CreateWebhookEndpointInput,
    @Ctx() context: GatewayContext,
  ) {
    const { endpoint, secret } = await context.services.webhooks.create(input, principalOf(context).userId);
    return { ...message('Webhook endpoint created: keep its secret, it is not shown again'), endpoint, secret };
  }

  @Mutation(() => WebhookEndpointPayloadType, {
    description: 'ROLE_ADMIN. Changes an endpoint; turning it on again resumes its deliveries, in order.',
  })
  async updateWebhookEndpoint(
    @Arg('id', () => ID, { description: 'The endpoint to change.' }) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput, { description: 'What changes.' }) input: UpdateWebhookEndpointInput,
    @Ctx() context: GatewayContext,
  ) {
    const endpoint = await context.services.webhooks.update(id, input, principalOf(context).userId);
    return { ...message('Webhook endpoint updated'), endpoint, secret: null };
  }

  @Mutation(() => MessagePayloadType, {
    description:
      'ROLE_ADMIN. Deletes an endpoint and its delivery log. CONFLICT while one of its deliveries is being attempted: try again once it ends.',
  })
  async deleteWebhookEndpoint(@Arg('id', () => ID, { description: 'The endpoint to delete.' }) id: string, @Ctx() context: GatewayContext) {
    await context.services.webhooks.delete(id, principalOf(context).userId);
    return message('Webhook endpoint deleted');
  }

  @Mutation(() => WebhookEndpointPayloadType, {
    description: 'A new signing secret, returned once; deliveries are signed with both the new and the previous secret for 24 hours.',
  })
  async rotateWebhookSecret(
    @Arg('id', () => ID, { description: 'The endpoint whose secret is replaced.' }) id: string,
    @Ctx() context: GatewayContext,
  ) {
    const { endpoint, secret } = await context.services.webhooks.rotate(id, principalOf(context).userId);
    return {
      ...message('New signing secret: deliveries carry signatures by it and by the previous one for 24 hours'),
      endpoint,
      secret,
    };
  }

  @Mutation(() => WebhookDeliveryPayloadType, {
    description: 'Deliver one event to its endpoint again, now. CONFLICT while that delivery is being attempted: try again once it ends.',
  })
  async redeliverWebhook(
    @Arg('deliveryId', () => ID, { description: 'The delivery to make again.' }) deliveryId: string,
    @Ctx() context: GatewayContext,
  ) {
    const delivery = await context.services.webhooks.redeliver(deliveryId, principalOf(context).userId);
    return { ...message('Delivery queued: it is made again now, after any delivery its endpoint is still waiting to make'), delivery };
  }
}

@Resolver(() => WebhookDeliveryType)
export class WebhookDeliveryResolver {
  @FieldResolver(() => IdentityEventType, { description: 'The event delivered.' })
  event(@Root() delivery: WebhookDeliveryRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.identityEventById.load(delivery.eventId);
  }
}
