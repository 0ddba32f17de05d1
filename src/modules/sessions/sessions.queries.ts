import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { recordEvent } from '../../events/outbox.js';
import type { SessionsEnd } from './sessions-end.js';

/** What the session service reads and writes, so that its unit tests run against an in-memory fake. */
export interface SessionsQueries {
  /** The same statements inside the transaction `em` (a journal write's local step). */
  within(em: EntityManager): SessionsQueries;
  /** The last end of each of these users' sessions, for those that have one. */
  endsOf(userIds: readonly string[]): Promise<(SessionsEnd & { userId: string })[]>;
  /** Records an end of every session of the user, replacing the one before. */
  recordEnd(userId: string, end: SessionsEnd, endedAt: Date): Promise<void>;
}

/** Every statement on `user_sessions_ended`, and the identity event of each end. */
export class PostgresSessionsQueries implements SessionsQueries {
  constructor(private readonly em: EntityManager) {}

  within(em: EntityManager): SessionsQueries {
    return new PostgresSessionsQueries(em);
  }

  async endsOf(userIds: readonly string[]): Promise<(SessionsEnd & { userId: string })[]> {
    const rows = await selectRows<{ userId: string; refusedBefore: string | Date; checkedUntil: string | Date }>(
      this.em,
      `select user_id as "userId", refused_before as "refusedBefore", checked_until as "checkedUntil"
         from user_sessions_ended where user_id in (?)`,
      [userIds],
    );
    // Raw rows may carry timestamps as text.
    return rows.map((row) => ({
      userId: row.userId,
      refusedBefore: new Date(row.refusedBefore),
      checkedUntil: new Date(row.checkedUntil),
    }));
  }

  async recordEnd(userId: string, end: SessionsEnd, endedAt: Date): Promise<void> {
    // The identity event of the end, in its transaction: the mirror holds no sessions for a trigger to see.
    await recordEvent(this.em, { type: 'USER_SESSIONS_ENDED', subjectType: 'User', subjectId: userId, after: { id: userId, endedAt } });
    await this.em.execute(
      `insert into user_sessions_ended (user_id, refused_before, checked_until, ended_at) values (?, ?, ?, ?)
       on conflict (user_id) do update set refused_before = excluded.refused_before, checked_until = excluded.checked_until,
         ended_at = excluded.ended_at`,
      [userId, end.refusedBefore, end.checkedUntil, endedAt],
    );
  }
}
