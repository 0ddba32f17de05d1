import type { EntityManager } from '@mikro-orm/postgresql';
import { eventsAfter, eventsByIds, IDENTITY_EVENTS_CHANNEL, lastEventPosition, type IdentityEventRow } from '../../events/outbox.js';

/** One identity event, as webhooks deliver it. */
export interface FeedEvent {
  id: string;
  /** Its place in commit order (a bigint, as text). */
  position: string;
  type: string;
  occurredAt: Date;
  /** The event as the body's `data` carries it: never secrets. */
  data: Record<string, unknown>;
}

/**
 * What webhooks read of the identity-event outbox: the stream in commit order, and the
 * PostgreSQL channel announcing new events. An interface, so that the delivery rules are
 * unit-tested on an in-memory stream (webhook.events.fake.ts).
 */
export interface EventFeed {
  /** The NOTIFY channel the outbox announces committed events on. */
  readonly channel: string;
  /** The position of the newest committed event ('0' when none): a new endpoint starts after it. */
  head(em: EntityManager): Promise<string>;
  /** Up to `limit` events after `position`, in commit order. */
  after(em: EntityManager, position: string, limit: number): Promise<FeedEvent[]>;
  /** The events with these ids, in no particular order. */
  byIds(em: EntityManager, ids: readonly string[]): Promise<FeedEvent[]>;
}

/** The outbox (src/events/outbox.ts) as webhooks read it. */
export const outboxFeed: EventFeed = {
  channel: IDENTITY_EVENTS_CHANNEL,
  async head(em) {
    return String(await lastEventPosition(em));
  },
  async after(em, position, limit) {
    return (await eventsAfter(em, Number(position), limit)).map(asFeedEvent);
  },
  async byIds(em, ids) {
    return (await eventsByIds(em, ids)).map(asFeedEvent);
  },
};

function asFeedEvent(row: IdentityEventRow): FeedEvent {
  const { position, ...data } = row;
  return {
    id: row.id,
    position: String(position),
    type: row.type,
    occurredAt: row.occurredAt,
    data: { ...data, occurredAt: row.occurredAt.toISOString() },
  };
}
