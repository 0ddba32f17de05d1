import type { SessionsEnd } from './sessions-end.js';
import type { SessionsQueries } from './sessions.queries.js';

/** `user_sessions_ended` in memory, for unit tests. */
export class FakeSessionsQueries implements SessionsQueries {
  readonly ends = new Map<string, SessionsEnd & { endedAt: Date }>();

  within(): SessionsQueries {
    return this;
  }

  async endsOf(userIds: readonly string[]): Promise<(SessionsEnd & { userId: string })[]> {
    return userIds.flatMap((userId) => {
      const end = this.ends.get(userId);
      return end ? [{ userId, refusedBefore: end.refusedBefore, checkedUntil: end.checkedUntil }] : [];
    });
  }

  async recordEnd(userId: string, end: SessionsEnd, endedAt: Date): Promise<void> {
    this.ends.set(userId, { ...end, endedAt });
  }
}
