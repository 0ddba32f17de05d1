import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { selectRows, statementsOn } from '../../db/loaders.js';
import { keysetPage, type Page, type PageWindow } from '../../db/pagination.js';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from './webhook.type.js';

/**
 * A text[] parameter, sent as a JSON array: the entity manager's `?` expands a JavaScript
 * array into a list of values, which is not one array value.
 */
const TEXT_ARRAY = `array(select jsonb_array_elements_text(?::jsonb))`;

/** The channel the delivery workers listen on besides the outbox's. */
export const DELIVERIES_CHANNEL = 'webhook_deliveries';

const ENDPOINT_COLUMNS = `e.id, e.url, e.description, e.event_types as "eventTypes", e.enabled, e.created_at as "createdAt"`;
const DELIVERY_COLUMNS = `d.id, d.endpoint_id as "endpointId", d.event_id as "eventId", d.status, d.attempts,
  d.last_attempt_at as "lastAttemptAt", d.next_attempt_at as "nextAttemptAt", d.response_status as "responseStatus", d.event_at as "eventAt"`;

export interface NewEndpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  sealedSecret: string;
  /** Where in the event stream its deliveries start: after the newest event committed now. */
  eventPosition: string;
  createdBy: string;
  now: Date;
}

export interface EndpointChange {
  url?: string;
  description?: string | null;
  eventTypes?: string[];
  enabled?: boolean;
}

export interface SealedSecrets {
  sealedSecret: string;
  sealedPreviousSecret: string | null;
  previousSecretUntil: Date | null;
}

/**
 * Every statement the GraphQL side makes on `webhook_endpoints` and `webhook_deliveries`.
 * Bound to an EntityManager: the request's, or with `within(em)` a journal write's transaction.
 * The delivery worker's statements are DeliveryStatements, below.
 */
export class WebhooksQueries {
  constructor(private readonly em: EntityManager) {}

  within(em: EntityManager): WebhooksQueries {
    return new WebhooksQueries(em);
  }

  findByIds(ids: readonly string[]): Promise<WebhookEndpointRecord[]> {
    return selectRows(this.em, `select ${ENDPOINT_COLUMNS} from webhook_endpoints e where e.id in (?)`, [ids]);
  }

  list(): Promise<WebhookEndpointRecord[]> {
    return selectRows(this.em, `select ${ENDPOINT_COLUMNS} from webhook_endpoints e order by e.created_at, e.id`, []);
  }

  async insert(row: NewEndpoint): Promise<void> {
    await statementsOn(this.em).run(
      `insert into webhook_endpoints (id, url, description, event_types, sealed_secret, event_position, created_by, created_at, updated_at)
       values (?, ?, ?, ${TEXT_ARRAY}, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.url,
        row.description,
        JSON.stringify(row.eventTypes),
        row.sealedSecret,
        row.eventPosition,
        row.createdBy,
        row.now,
        row.now,
      ],
    );
  }

  /** Applies the change; turning an endpoint on again makes its waiting deliveries due at once. */
  async update(id: string, change: EndpointChange, now: Date): Promise<void> {
    const columns: [string, unknown][] = [
      ['url', change.url],
      ['description', change.description],
      ['event_types', change.eventTypes],
      ['enabled', change.enabled],
    ];
    const given = columns.filter(([, value]) => value !== undefined);
    const sets = ['updated_at = ?', ...given.map(([column]) => `${column} = ${column === 'event_types' ? TEXT_ARRAY : '?'}`)];
    const params = [now, ...given.map(([column, value]) => (column === 'event_types' ? JSON.stringify(value) : value))];
    if (change.enabled !== undefined) sets.push('consecutive_failures = 0', 'disabled_reason = null');
    const run = statementsOn(this.em).run;
    await run(`update webhook_endpoints set ${sets.join(', ')} where id = ?`, [...params, id]);
    if (change.enabled === true) {
      await run(`update webhook_deliveries set next_attempt_at = ?, first_attempt_at = null where endpoint_id = ? and status = 'PENDING'`, [
        now,
        id,
      ]);
    }
  }

  /** Turns the endpoint off after sustained failure; false when it was off already (another process did it). */
  async disable(id: string, reason: string, now: Date): Promise<boolean> {
    const [row] = await statementsOn(this.em).rows(
      'update webhook_endpoints set enabled = false, disabled_reason = ?, updated_at = ? where id = ? and enabled returning id',
      [reason, now, id],
    );
    return row !== undefined;
  }

  /**
   * Deletes the endpoint and its deliveries; false, deleting nothing, when one of its deliveries
   * is locked (an attempt under way, or a redelivery): the delete would wait for it on a request
   * connection, for as long as the endpoint takes to answer (ATTACK4-2).
   */
  async delete(id: string): Promise<boolean> {
    const { rows, run } = statementsOn(this.em);
    const [row] = await rows<{ busy: boolean }>(
      `with free as (select id from webhook_deliveries where endpoint_id = ? for update skip locked)
       select (select count(*) from webhook_deliveries where endpoint_id = ?) > (select count(*) from free) as busy`,
      [id, id],
    );
    if (row?.busy) return false;
    await run('delete from webhook_endpoints where id = ?', [id]);
    return true;
  }

  async rotate(id: string, secrets: SealedSecrets, now: Date): Promise<void> {
    await statementsOn(this.em).run(
      `update webhook_endpoints set sealed_secret = ?, sealed_previous_secret = ?, previous_secret_until = ?, updated_at = ? where id = ?`,
      [secrets.sealedSecret, secrets.sealedPreviousSecret, secrets.previousSecretUntil, now, id],
    );
  }

  async sealedSecrets(id: string): Promise<SealedSecrets | undefined> {
    const [row] = await statementsOn(this.em).rows<SealedSecrets>(
      `select sealed_secret as "sealedSecret", sealed_previous_secret as "sealedPreviousSecret", previous_secret_until as "previousSecretUntil"
         from webhook_endpoints where id = ?`,
      [id],
    );
    return row;
  }

  deliveriesOf(endpointId: string, window: PageWindow): Promise<Page<WebhookDeliveryRecord>> {
    return keysetPage(
      this.em,
      {
        list: 'webhookDeliveries',
        columns: DELIVERY_COLUMNS,
        from: 'webhook_deliveries d',
        where: { clauses: ['d.endpoint_id = ?'], params: [endpointId] },
        orderBy: ['d.event_at', 'd.id'],
        direction: 'desc',
        positionOf: (delivery) => ({ at: delivery.eventAt, id: delivery.id }),
      },
      window,
    );
  }

  findDeliveriesByIds(ids: readonly string[]): Promise<WebhookDeliveryRecord[]> {
    return selectRows(this.em, `select ${DELIVERY_COLUMNS} from webhook_deliveries d where d.id in (?)`, [ids]);
  }

  /** The enabled endpoints no other process is queueing deliveries for, locked until the transaction ends. */
  lockEndpointsForFanOut(): Promise<{ id: string; eventTypes: string[]; eventPosition: string }[]> {
    return statementsOn(this.em).rows(
      `select id, event_types as "eventTypes", event_position::text as "eventPosition"
         from webhook_endpoints where enabled order by id for update skip locked`,
    );
  }

  /** Queues deliveries of these events (in the order given: their `seq` follows it) and moves the endpoint's position on. */
  async queue(endpointId: string, events: readonly { id: string; position: string; occurredAt: Date }[], position: string, now: Date) {
    const run = statementsOn(this.em).run;
    if (events.length > 0) {
      await run(
        `insert into webhook_deliveries (id, endpoint_id, event_id, event_position, event_at, next_attempt_at, created_at)
         values ${events.map(() => '(gen_random_uuid(), ?, ?, ?, ?, ?, ?)').join(', ')}
         on conflict (endpoint_id, event_id) do nothing`,
        events.flatMap((event) => [endpointId, event.id, event.position, event.occurredAt, now, now]),
      );
    }
    await run('update webhook_endpoints set event_position = ? where id = ?', [position, endpointId]);
  }

  /** Wakes the delivery workers of every process (after a redelivery, or an endpoint turned on). */
  async announce(): Promise<void> {
    await statementsOn(this.em).run(`select pg_notify('${DELIVERIES_CHANNEL}', '')`);
  }

  /**
   * The delivery joins the end of its endpoint's queue, due now, with a new retry period; false
   * when its row is locked (an attempt of it under way, or another redelivery). Skipped, not
   * waited for: an attempt holds the row for as long as the endpoint takes to answer, and a
   * request waiting on it holds one of the request pool's connections meanwhile (ATTACK4-1).
   */
  async requeue(deliveryId: string, now: Date): Promise<boolean> {
    const rows = await statementsOn(this.em).rows(
      `update webhook_deliveries set status = 'PENDING', seq = nextval('webhook_delivery_seq'), next_attempt_at = ?, first_attempt_at = null
        where id = (select id from webhook_deliveries where id = ? for update skip locked) returning id`,
      [now, deliveryId],
    );
    return rows.length > 0;
  }
}

/** An endpoint as the delivery worker reads it: with its sealed secrets. */
export interface EndpointForDelivery extends SealedSecrets {
  id: string;
  url: string;
  eventTypes: string[];
  eventPosition: string;
}

/** A delivery the worker claimed: the row stays locked by its transaction until the attempt is recorded. */
export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  eventId: string;
  attempts: number;
  firstAttemptAt: Date | null;
}

export interface AttemptOutcome {
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  now: Date;
  nextAttemptAt: Date | null;
  responseStatus: number | null;
  error: string | null;
}

/**
 * The head of each enabled endpoint's queue: its pending delivery of lowest `seq`, the only one
 * that may be attempted (one in flight per endpoint, in order). One index probe per endpoint
 * (webhook_deliveries_pending_idx): comparing every pending delivery with every earlier one
 * cost 21 ms a claim with 1,000 queued for one endpoint, and grew with the square of the backlog.
 */
const QUEUE_HEADS = `
  select head.id, head.endpoint_id, head.next_attempt_at, head.seq
    from webhook_endpoints e
    cross join lateral (
      select d.id, d.endpoint_id, d.next_attempt_at, d.seq from webhook_deliveries d
       where d.endpoint_id = e.id and d.status = 'PENDING'
       order by d.seq
       limit 1) head
   where e.enabled`;

/**
 * The delivery worker's statements, on a connection of its own pool: a claim holds its
 * transaction open for the length of an HTTP attempt, which request connections must not wait behind.
 */
export class DeliveryStatements {
  constructor(private readonly client: pg.ClientBase) {}

  private async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(sql, params)).rows as T[];
  }

  /**
   * The next due delivery at the head of an enabled endpoint's queue that no other worker
   * holds, locked (FOR UPDATE SKIP LOCKED) until the transaction ends. A delivery behind a
   * pending one of the same endpoint never qualifies: one in flight per endpoint, in order.
   * The conditions are on the locked row `d`, not on `heads`: PostgreSQL checks the locked row's
   * newest version against them again, while `heads` keeps the statement's snapshot. A head
   * another process has just attempted (retry not yet due) or requeued at the end (a new `seq`)
   * is then skipped, not sent again.
   */
  async claimNext(now: Date, busyEndpoints: readonly string[]): Promise<ClaimedDelivery | undefined> {
    const [row] = await this.rows<ClaimedDelivery>(
      `with heads as (${QUEUE_HEADS})
       select d.id, d.endpoint_id as "endpointId", d.event_id as "eventId", d.attempts, d.first_attempt_at as "firstAttemptAt"
         from heads h
         join webhook_deliveries d on d.id = h.id
        where d.status = 'PENDING' and d.seq = h.seq and d.next_attempt_at <= $1 and not (d.endpoint_id = any($2::uuid[]))
        order by h.next_attempt_at, h.seq
        limit 1
        for update of d skip locked`,
      [now, busyEndpoints],
    );
    return row;
  }

  async endpoint(id: string): Promise<EndpointForDelivery | undefined> {
    const [row] = await this.rows<EndpointForDelivery>(
      `select id, url, event_types as "eventTypes", event_position::text as "eventPosition", sealed_secret as "sealedSecret",
              sealed_previous_secret as "sealedPreviousSecret", previous_secret_until as "previousSecretUntil"
         from webhook_endpoints where id = $1`,
      [id],
    );
    return row;
  }

  async record(delivery: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    await this.client.query(
      `update webhook_deliveries set status = $2, attempts = attempts + 1, last_attempt_at = $3,
              first_attempt_at = coalesce(first_attempt_at, $3), next_attempt_at = $4, response_status = $5, last_error = $6
        where id = $1`,
      [delivery.id, outcome.status, outcome.now, outcome.nextAttemptAt, outcome.responseStatus, outcome.error],
    );
    await this.client.query(
      `update webhook_endpoints set consecutive_failures = case when $2 then 0 else consecutive_failures + 1 end where id = $1`,
      [delivery.endpointId, outcome.status === 'SUCCEEDED'],
    );
  }

  /**
   * When the next attempt is due: the earliest retry time among the heads of enabled endpoints'
   * queues; undefined when none waits. Deliveries queued behind a head waiting out its backoff
   * are not due before it, whatever their own time says (they were due when queued).
   */
  async nextDue(): Promise<Date | undefined> {
    const [row] = await this.rows<{ due: Date | null }>(`select min(next_attempt_at) as due from (${QUEUE_HEADS}) heads`);
    return row?.due ?? undefined;
  }
}
