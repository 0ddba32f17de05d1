import { singleLoader } from '../../db/loaders.js';
import type { IdentityEventRow } from '../../events/outbox.js';
import type { EventsService } from './events.service.js';

/** Per-request loaders for identity events, as `node(id:)` refetches them. */
export function createEventsLoaders(events: EventsService) {
  return { identityEventById: singleLoader<IdentityEventRow>((ids) => events.findByIds(ids)) };
}
