import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import type { Page, PageWindow } from '../../db/pagination.js';
import { InputCheck, UUID } from '../../validation.js';
import { checkedAddresses, type AddressPolicy, type Resolver, RefusedAddressError, urlProblem } from './address-policy.js';
import type { EventFeed } from './webhook.events.js';
import { newSigningSecret, type SecretBox } from './webhook-secrets.js';
import type {
  CreateWebhookEndpointInput,
  UpdateWebhookEndpointInput,
  WebhookDeliveryRecord,
  WebhookEndpointRecord,
} from './webhook.type.js';
import type { EndpointChange, WebhooksQueries } from './webhooks.queries.js';

/** How long deliveries are signed with the previous secret too, after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3600_000;
const MAX_URL_LENGTH = 2048;
const MAX_DESCRIPTION_LENGTH = 500;
const MAX_EVENT_TYPES = 50;
const EVENT_TYPE = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface WebhookSettings {
  box: SecretBox;
  policy: AddressPolicy;
  /** Resolves an endpoint's host when it is saved (the system's DNS unless a test gives another). */
  resolve?: Resolver;
  feed: EventFeed;
  /** The delivery clock (tests move it). */
  now: () => Date;
}

/** The statements the service makes (WebhooksQueries; an in-memory fake in unit tests). */
export interface WebhookStatements
  extends Pick<
    WebhooksQueries,
    | 'findByIds'
    | 'list'
    | 'insert'
    | 'update'
    | 'delete'
    | 'rotate'
    | 'sealedSecrets'
    | 'deliveriesOf'
    | 'findDeliveriesByIds'
    | 'requeue'
    | 'announce'
  > {
  within(em: EntityManager): WebhookStatements;
}

export interface WebhookDependencies extends WebhookSettings {
  queries: WebhookStatements;
  journal: Pick<Journal, 'writeLocal'>;
}

/**
 * What an endpoint's URL may show in the audit trail and logs: its origin. A webhook URL
 * often carries a credential of the receiver's in its path or query (a chat service's
 * incoming-webhook URL is one), which is not to be copied anywhere.
 */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** Webhook endpoints and their deliveries, ROLE_ADMIN's to manage (src/permissions.ts). */
export class WebhookService {
  constructor(private readonly deps: WebhookDependencies) {}

  list(): Promise<WebhookEndpointRecord[]> {
    return this.deps.queries.list();
  }

  findByIds(ids: readonly string[]): Promise<WebhookEndpointRecord[]> {
    return this.deps.queries.findByIds(ids);
  }

  findDeliveriesByIds(ids: readonly string[]): Promise<WebhookDeliveryRecord[]> {
    return this.deps.queries.findDeliveriesByIds(ids);
  }

  deliveries(endpointId: string, window: PageWindow): Promise<Page<WebhookDeliveryRecord>> {
    return this.deps.queries.deliveriesOf(endpointId, window);
  }

  async create(input: CreateWebhookEndpointInput, actorId: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const check = new InputCheck();
    const url = await this.checkUrl(check, input.url);
    const description = this.checkDescription(check, input.description);
    const eventTypes = this.checkEventTypes(check, input.eventTypes ?? []);
    check.throwIfAny();
    const id = randomUUID();
    const secret = newSigningSecret();
    const now = this.deps.now();
    await this.deps.journal.writeLocal(
      {
        action: 'WEBHOOK_ENDPOINT_CREATE',
        targetType: 'WebhookEndpoint',
        targetId: id,
        actorId,
        details: { origin: originOf(url!), eventTypes },
      },
      async (em) => {
        await this.deps.queries.within(em).insert({
          id,
          url: url!,
          description: description ?? null,
          eventTypes,
          sealedSecret: this.deps.box.seal(secret, id),
          eventPosition: await this.deps.feed.head(em),
          createdBy: actorId,
          now,
        });
      },
    );
    return { endpoint: await this.existing(id), secret };
  }

  async update(id: string, input: UpdateWebhookEndpointInput, actorId: string): Promise<WebhookEndpointRecord> {
    const before = await this.existing(id);
    const check = new InputCheck();
    const change: EndpointChange = {};
    if (input.url != null) change.url = await this.checkUrl(check, input.url);
    if (input.description !== undefined) change.description = this.checkDescription(check, input.description) ?? null;
    if (input.eventTypes != null) change.eventTypes = this.checkEventTypes(check, input.eventTypes);
    if (input.enabled != null) change.enabled = input.enabled;
    check.throwIfAny();
    if (Object.keys(change).length === 0) return before;
    await this.deps.journal.writeLocal(
      {
        action: 'WEBHOOK_ENDPOINT_UPDATE',
        targetType: 'WebhookEndpoint',
        targetId: id,
        actorId,
        details: {
          ...(change.url !== undefined && { origin: originOf(change.url) }),
          ...(change.eventTypes !== undefined && { eventTypes: change.eventTypes }),
          ...(change.enabled !== undefined && { enabled: change.enabled }),
        },
      },
      async (em) => {
        const queries = this.deps.queries.within(em);
        await queries.update(id, change, this.deps.now());
        if (change.enabled) await queries.announce();
      },
    );
    return this.existing(id);
  }

  async delete(id: string, actorId: string): Promise<WebhookEndpointRecord> {
    const endpoint = await this.existing(id);
    await this.deps.journal.writeLocal(
      {
        action: 'WEBHOOK_ENDPOINT_DELETE',
        targetType: 'WebhookEndpoint',
        targetId: id,
        actorId,
        details: { origin: originOf(endpoint.url) },
      },
      async (em) => {
        if (!(await this.deps.queries.within(em).delete(id))) {
          throw new AppError('CONFLICT', 'A delivery to this endpoint is being attempted right now: delete it once that has ended');
        }
      },
    );
    return endpoint;
  }

  /** A new secret; the previous one still signs (beside it) for ROTATION_OVERLAP_MS. */
  async rotate(id: string, actorId: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    await this.existing(id);
    const secret = newSigningSecret();
    const now = this.deps.now();
    const previousUntil = new Date(now.getTime() + ROTATION_OVERLAP_MS);
    await this.deps.journal.writeLocal(
      {
        action: 'WEBHOOK_SECRET_ROTATE',
        targetType: 'WebhookEndpoint',
        targetId: id,
        actorId,
        details: { previousSecretValidUntil: previousUntil.toISOString() },
      },
      async (em) => {
        const queries = this.deps.queries.within(em);
        const current = await queries.sealedSecrets(id);
        if (!current) throw new AppError('NOT_FOUND', `No webhook endpoint with id ${id}`);
        await queries.rotate(
          id,
          { sealedSecret: this.deps.box.seal(secret, id), sealedPreviousSecret: current.sealedSecret, previousSecretUntil: previousUntil },
          now,
        );
      },
    );
    return { endpoint: await this.existing(id), secret };
  }

  /** The delivery is made again, now: it joins the end of its endpoint's queue, with a fresh retry period. */
  async redeliver(deliveryId: string, actorId: string): Promise<WebhookDeliveryRecord> {
    const [delivery] = UUID.test(deliveryId) ? await this.deps.queries.findDeliveriesByIds([deliveryId]) : [];
    if (!delivery) throw new AppError('NOT_FOUND', `No webhook delivery with id ${deliveryId}`);
    const [endpoint] = await this.deps.queries.findByIds([delivery.endpointId]);
    if (!endpoint?.enabled) {
      throw new AppError('CONFLICT', 'The endpoint is disabled: enable it (updateWebhookEndpoint) and its deliveries are made again');
    }
    await this.deps.journal.writeLocal(
      {
        action: 'WEBHOOK_REDELIVER',
        targetType: 'WebhookDelivery',
        targetId: deliveryId,
        actorId,
        details: { endpointId: delivery.endpointId, eventId: delivery.eventId },
      },
      async (em) => {
        const queries = this.deps.queries.within(em);
        if (!(await queries.requeue(deliveryId, this.deps.now()))) {
          throw new AppError('CONFLICT', 'The delivery is being attempted or redelivered right now: redeliver it once that has ended');
        }
        await queries.announce();
      },
    );
    return (await this.deps.queries.findDeliveriesByIds([deliveryId]))[0]!;
  }

  private async existing(id: string): Promise<WebhookEndpointRecord> {
    const [endpoint] = UUID.test(id) ? await this.deps.queries.findByIds([id]) : [];
    if (!endpoint) throw new AppError('NOT_FOUND', `No webhook endpoint with id ${id}`);
    return endpoint;
  }

  /**
   * An http(s) URL whose host is, and resolves only to, public addresses (unless the policy
   * allows private ones). Checked again at each delivery, on the addresses that delivery connects to.
   */
  private async checkUrl(check: InputCheck, value: string): Promise<string | undefined> {
    const trimmed = value.trim();
    if (trimmed.length > MAX_URL_LENGTH) {
      check.fail('url', `must be at most ${MAX_URL_LENGTH} characters`);
      return undefined;
    }
    const { url, problem } = urlProblem(trimmed);
    if (!url) {
      check.fail('url', problem!);
      return undefined;
    }
    if (!this.deps.policy.allowPrivate) {
      try {
        await checkedAddresses(url, this.deps.policy, this.deps.resolve);
      } catch (error) {
        check.fail(
          'url',
          error instanceof RefusedAddressError
            ? `must be a public address: the host ${error.message}`
            : 'names a host that could not be resolved',
        );
        return undefined;
      }
    }
    return url.href;
  }

  private checkDescription(check: InputCheck, value: string | null | undefined): string | undefined {
    const description = value?.trim() || undefined;
    check.maxLength('description', description, MAX_DESCRIPTION_LENGTH);
    return description;
  }

  private checkEventTypes(check: InputCheck, values: readonly string[]): string[] {
    const types = [...new Set(values.map((value) => value.trim()))];
    if (types.length > MAX_EVENT_TYPES) check.fail('eventTypes', `must list at most ${MAX_EVENT_TYPES} types`);
    const bad = types.find((type) => !EVENT_TYPE.test(type));
    if (bad !== undefined) check.fail('eventTypes', 'must be event type names such as USER_CREATED');
    return types;
  }
}
