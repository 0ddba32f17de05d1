import type { EntityManager } from '@mikro-orm/postgresql';
import { MAX_PAGE_SIZE, type PageInfo } from '../../db/pagination.js';
import { AppError } from '../../errors.js';
import {
  decodeEventCursor,
  encodeEventCursor,
  type EventFilter,
  eventsAfter,
  eventsAtOrBefore,
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
   * The `first` events after the cursor `after` (from the first without one). What committed
   * up to now is numbered first, so that a caller reads its own changes at once; a consumer
   * polls with its last cursor and never misses one committed later (commit order).
   */
  async list(first: number, after: string | null | undefined, filter: EventFilter): Promise<EventPage> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
      throw new AppError('BAD_USER_INPUT', `first must be between 1 and ${MAX_PAGE_SIZE}`, {
        fieldErrors: { first: `must be between 1 and ${MAX_PAGE_SIZE}` },
      });
    }
    const from = after != null ? decodeEventCursor(after, 'after') : 0;
    await relayEvents(this.em);
    const rows = await eventsAfter(this.em, from, first + 1, filter);
    const edges = rows.slice(0, first).map((node) => ({ cursor: encodeEventCursor(node.position), node }));
    const em = this.em;
    let behind: Promise<boolean> | undefined;
    return {
      edges,
      pageInfo: {
        hasNextPage: rows.length > first,
        get hasPreviousPage() {
          if (from === 0) return false;
          behind ??= eventsAtOrBefore(em, from, filter);
          return behind;
        },
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }
}
