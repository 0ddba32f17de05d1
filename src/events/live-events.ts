import type { EntityManager } from '@mikro-orm/postgresql';
import { Repeater } from '@repeaterjs/repeater';
import { listenToChannel } from '../db/channel-listener.js';
import type { Logger } from '../logger.js';
import { eventsAfter, IDENTITY_EVENTS_CHANNEL, lastEventPosition, type EventFilter, type IdentityEventRow } from './outbox.js';

/** Events read from the outbox at a time when catching up. */
const READ_BATCH = 500;
/**
 * Events a subscriber may have waiting before it is cut off: a client that stopped reading
 * must not make the process hold the stream for it. Its subscription ends with an error; it
 * resumes from the events query with the last cursor it saw. (Below Repeater's own bound of
 * 1,024 pending pushes.)
 */
export const MAX_WAITING_EVENTS = 1000;
/** A read in case a notification was missed while the listening connection was down. */
const SWEEP_MS = 5000;

export interface LiveEvents {
  /**
   * The events numbered from now on that match `filter`, in commit order, until the
   * iterator is returned (the subscription ended) or the hub stops.
   */
  subscribe(filter: EventFilter): AsyncIterableIterator<IdentityEventRow>;
  /** Subscribers now (the metrics and the tests read it). */
  readonly subscribers: number;
  stop(): Promise<void>;
}

/**
 * The process's one reader of the outbox for subscriptions: woken by the relay's NOTIFY, it
 * reads what was numbered since its last position once, and hands each event to every local
 * subscriber whose filter matches. One query per wake whatever the number of subscribers, so
 * a thousand subscribers cost a thousand in-memory sends, not a thousand queries. Every gateway
 * process runs one, so a subscriber on any process sees every committed event.
 *
 * Repeater (@repeaterjs/repeater, the push-to-async-iterator library graphql-yoga and
 * type-graphql use) turns the pushes into each subscriber's iterator rather than a
 * hand-written queue; a push settles once the subscriber took the event, which is how the
 * events waiting for it are counted.
 */
export function startLiveEvents(deps: { em: EntityManager; databaseUrl: string; log: Logger }): LiveEvents {
  const log = deps.log.child({ component: 'live-events' });
  const subscribers = new Set<{ filter: EventFilter; push: (event: IdentityEventRow) => void; fail: (error: Error) => void }>();
  // Where the next read starts; read afresh when the first subscriber comes, since no read runs without one.
  let position: Promise<number> = Promise.resolve(0);
  let reading: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const readNew = async () => {
    let from = await position;
    for (;;) {
      const events = await eventsAfter(deps.em.fork(), from, READ_BATCH);
      for (const event of events) {
        for (const subscriber of subscribers) if (matches(subscriber.filter, event)) subscriber.push(event);
      }
      if (events.length > 0) from = events.at(-1)!.position;
      position = Promise.resolve(from);
      if (events.length < READ_BATCH) return;
    }
  };

  const wake = () => {
    if (stopped || subscribers.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = readNew()
      .catch((error: unknown) => log.warn({ err: error }, 'reading new identity events failed; the next notification or sweep tries again'))
      .finally(() => {
        reading = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  };

  const listener = listenToChannel({
    databaseUrl: deps.databaseUrl,
    channel: IDENTITY_EVENTS_CHANNEL,
    onMessage: wake,
    onListening: (listening) => {
      if (listening) wake();
    },
    log,
  });
  const sweep = setInterval(wake, SWEEP_MS);
  sweep.unref();

  return {
    get subscribers() {
      return subscribers.size;
    },
    subscribe(filter) {
      return new Repeater<IdentityEventRow>(async (push, stop) => {
        let waiting = 0;
        const subscriber = {
          filter,
          push: (event: IdentityEventRow) => {
            if (++waiting > MAX_WAITING_EVENTS) {
              stop(new Error(`More than ${MAX_WAITING_EVENTS} events waited for this subscriber: resume from the events query`));
              return;
            }
            push(event).then(
              () => waiting--,
              () => {},
            );
          },
          fail: (error: Error) => stop(error),
        };
        // The first subscriber starts at the stream's current end: what is numbered from now on.
        if (subscribers.size === 0 && !reading) position = lastEventPosition(deps.em.fork());
        await position;
        subscribers.add(subscriber);
        await stop;
        subscribers.delete(subscriber);
      });
    },
    async stop() {
      stopped = true;
      clearInterval(sweep);
      for (const subscriber of subscribers) subscriber.fail(new Error('The gateway is stopping'));
      await listener.close();
      await reading;
    },
  };
}

function matches(filter: EventFilter, event: IdentityEventRow): boolean {
  if (filter.types && filter.types.length > 0 && !filter.types.includes(event.type)) return false;
  if (filter.subjectId && filter.subjectId !== event.subjectId) return false;
  if (filter.tenantId && filter.tenantId !== event.tenantId) return false;
  if (filter.origin && filter.origin !== event.origin) return false;
  return true;
}
