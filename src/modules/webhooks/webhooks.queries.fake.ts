import type { Page } from '../../db/pagination.js';
import type { WebhookStatements } from './webhook.service.js';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from './webhook.type.js';
import type { EndpointChange, NewEndpoint, SealedSecrets } from './webhooks.queries.js';

export interface StoredEndpoint extends WebhookEndpointRecord, SealedSecrets {
  eventPosition: string;
}

/** The service's statements over arrays, for unit tests; `within` is the same store (no transactions). */
export class InMemoryWebhooks implements WebhookStatements {
  readonly endpoints: StoredEndpoint[] = [];
  readonly deliveries: WebhookDeliveryRecord[] = [];
  announcements = 0;

  within(): InMemoryWebhooks {
    return this;
  }

  async findByIds(ids: readonly string[]): Promise<WebhookEndpointRecord[]> {
    return this.endpoints.filter((endpoint) => ids.includes(endpoint.id)).map(publicPart);
  }

  async list(): Promise<WebhookEndpointRecord[]> {
    return this.endpoints.map(publicPart);
  }

  async insert(row: NewEndpoint): Promise<void> {
    this.endpoints.push({
      id: row.id,
      url: row.url,
      description: row.description,
      eventTypes: row.eventTypes,
      enabled: true,
      createdAt: row.now,
      eventPosition: row.eventPosition,
      sealedSecret: row.sealedSecret,
      sealedPreviousSecret: null,
      previousSecretUntil: null,
    });
  }

  async update(id: string, change: EndpointChange): Promise<void> {
    const endpoint = this.endpoints.find((candidate) => candidate.id === id);
    if (endpoint) Object.assign(endpoint, Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)));
  }

  async delete(id: string): Promise<boolean> {
    this.endpoints.splice(
      this.endpoints.findIndex((endpoint) => endpoint.id === id),
      1,
    );
    return true;
  }

  async rotate(id: string, secrets: SealedSecrets): Promise<void> {
    Object.assign(this.endpoints.find((endpoint) => endpoint.id === id)!, secrets);
  }

  async sealedSecrets(id: string): Promise<SealedSecrets | undefined> {
    const endpoint = this.endpoints.find((candidate) => candidate.id === id);
    return endpoint && { ...endpoint };
  }

  async deliveriesOf(): Promise<Page<WebhookDeliveryRecord>> {
    throw new Error('not kept in memory: paging is tested against PostgreSQL');
  }

  async findDeliveriesByIds(ids: readonly string[]): Promise<WebhookDeliveryRecord[]> {
    return this.deliveries.filter((delivery) => ids.includes(delivery.id));
  }

  async requeue(deliveryId: string, now: Date): Promise<boolean> {
    Object.assign(this.deliveries.find((delivery) => delivery.id === deliveryId)!, { status: 'PENDING', nextAttemptAt: now });
    return true;
  }

  async announce(): Promise<void> {
    this.announcements++;
  }
}

function publicPart({ id, url, description, eventTypes, enabled, createdAt }: StoredEndpoint): WebhookEndpointRecord {
  return { id, url, description, eventTypes, enabled, createdAt };
}
