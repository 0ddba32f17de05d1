import { singleLoader } from '../../db/loaders.js';
import type { WebhookService } from './webhook.service.js';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from './webhook.type.js';

/** Per-request loaders for endpoints and deliveries, as `node(id:)` refetches them. */
export function createWebhookLoaders(webhooks: WebhookService) {
  return {
    webhookEndpointById: singleLoader<WebhookEndpointRecord>((ids) => webhooks.findByIds(ids)),
    webhookDeliveryById: singleLoader<WebhookDeliveryRecord>((ids) => webhooks.findDeliveriesByIds(ids)),
  };
}
