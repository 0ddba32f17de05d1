import DataLoader from 'dataloader';
import { UUID } from '../../validation.js';
import type { SessionService } from './session.service.js';
import type { SessionsEnd } from './sessions-end.js';

/** Per-request loaders: the last end of each user's sessions, one query for every user asked in a request. */
export function createSessionLoaders(sessions: Pick<SessionService, 'endsOf'>) {
  return {
    sessionsEndByUserId: new DataLoader<string, SessionsEnd | null>(async (ids) => {
      const valid = ids.filter((id) => UUID.test(id));
      const ends = new Map(valid.length > 0 ? (await sessions.endsOf(valid)).map(({ userId, ...end }) => [userId, end]) : []);
      return ids.map((id) => ends.get(id) ?? null);
    }),
  };
}
