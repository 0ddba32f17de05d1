import type { EntityManager } from '@mikro-orm/postgresql';
import { MAX_PAGE_SIZE, type PageInfo, type PageWindow } from '../../db/pagination.js';
import { AppError } from '../../errors.js';
import {
  decodeEventCursor,
  encodeEventCursor,
  type EventFilter,
  eventsAfter,
  eventsAtOrBefore,
  eventsBefore,
  eventsByIds,
  type IdentityEventRow,
  relayEvents,
} from '../../events/outbox.js';

/** A page of identity events, as IdentityEventConnection shows it. */
export interface EventPage {
  edges: { cursor: string; node: IdentityEventRow }[];
  pageInfo: PageInfo;
}

/** The identity events (src/events/outbox.ts), read in commit order from a consumer's cursor. */
export class EventsService {
  constructor(private readonly em: EntityManager) {}

  /** The numbered events with these ids, in no particular order; unknown ids are left out. */
  findByIds(ids: readonly string[]): Promise<IdentityEventRow[]> {
    return eventsByIds(this.em, ids);
  }

  /**
   * Forward, the `first` events after the cursor `after` (from the first without one): what
   * committed up to now is numbered first, so that a caller reads its own changes at once; a
   * consumer polls with its last cursor and never misses one committed later (commit order).
   * Backward, the `last` events before the cursor `before` (the newest without one), in commit
   * order too: a screen shows the newest events without reading every older one first.
   */
  async list(window: PageWindow, filter: EventFilter): Promise<EventPage> {
    const backward = 'last' in window;
    const size = backward ? window.last : window.first;
    const name = backward ? 'last' : 'first';
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
      throw new AppError('BAD_USER_INPUT', `${name} must be between 1 and ${MAX_PAGE_SIZE}`, {
        fieldErrors: { [name]: `must be between 1 and ${MAX_PAGE_SIZE}` },
      });
    }
    const cursor = backward ? window.before : window.after;
    const from = cursor != null ? decodeEventCursor(cursor, backward ? 'before' : 'after') : null;
    await relayEvents(this.em);
    const rows = backward ? await eventsBefore(this.em, from, size + 1, filter) : await eventsAfter(this.em, from ?? 0, size + 1, filter);
    const more = rows.length > size;
    const page = backward ? rows.slice(more ? 1 : 0) : rows.slice(0, size);
    const edges = page.map((node) => ({ cursor: encodeEventCursor(node.position), node }));
    const em = this.em;
    let behind: Promise<boolean> | undefined;
    return {
      edges,
      pageInfo: {
        // Backward from `before`, the event at `before` follows; from the newest, none does yet.
        hasNextPage: backward ? from !== null : more,
        get hasPreviousPage() {
          if (backward) return more;
          if (!from) return false;
          behind ??= eventsAtOrBefore(em, from, filter);
          return behind;
        },
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }
}
