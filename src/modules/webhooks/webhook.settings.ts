import type { WebhooksConfig } from '../../config.js';
import { outboxFeed } from './webhook.events.js';
import type { WebhookSettings } from './webhook.service.js';
import { SecretBox } from './webhook-secrets.js';

/** The webhook settings of a process, from its configuration; `now` is the delivery clock (tests move it). */
export function webhookSettings(config: WebhooksConfig, now: () => Date = () => new Date()): WebhookSettings {
  return { box: new SecretBox(config.secretKey), policy: { allowPrivate: config.allowPrivateAddresses }, feed: outboxFeed, now };
}
