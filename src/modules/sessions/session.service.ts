import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import { fromKeycloakError } from '../../keycloak/keycloak-errors.js';
import type { UserRecord } from '../users/user.type.js';
import { endWindow, verdictOn, type SessionsEnd } from './sessions-end.js';
import type { SessionsDirectories } from './sessions.directory.js';
import type { SessionsQueries } from './sessions.queries.js';
import type { SessionRecord } from './session.type.js';

/**
 * Keycloak's answers about the sessions of tokens issued within an end's window, kept as long
 * as the end they were asked for: the end read into the process's cache of callers
 * (src/modules/users/user-record-cache.ts) goes with its cache entry, and so do these. What
 * they tell stays true: a session found live was made after the end (the end removed every
 * earlier one), so its token is as good as any later one, and a session found gone never
 * comes back. So a new sign-in's token costs Keycloak one call, not one per request until it
 * is refreshed.
 */
const SESSION_ANSWERS = new WeakMap<SessionsEnd, Map<string, boolean>>();
/** A user has a few sessions; a bound on what a token holder could make the process keep. */
const MAX_ANSWERS_PER_END = 100;

/** The account whose sessions are read or ended: its id and the realm it lives in. */
export type SessionOwner = Pick<UserRecord, 'id' | 'email' | 'realm'>;

export interface SessionServiceDependencies {
  /** Realm routing: the Keycloak sessions of the realm an account lives in. */
  directories: SessionsDirectories;
  queries: SessionsQueries;
  /** The mirror's users, to find the account an id names and its realm. */
  users: { findByIds(ids: readonly string[]): Promise<UserRecord[]> };
  journal: Pick<Journal, 'write'>;
  /** Milliseconds since the epoch: the system clock unless a test moves one of its own. */
  now?: () => number;
}

/**
 * Users' Keycloak sessions: listing them, ending them all, and whether an access token
 * outlived such an end.
 *
 * Sessions are read from Keycloak, not from the mirror, unlike every other read: they are
 * Keycloak's live state (a sign-in, a refresh, an expiry changes them every moment) and no
 * event tells the gateway of those changes, so a mirror would always be stale; and the
 * only callers are administrators and a user looking at their own, a few calls, never a
 * hot path.
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDependencies) {}

  /** The sessions of the user `userId` names; NOT_FOUND when the mirror has no such user. */
  async listOf(userId: string): Promise<SessionRecord[]> {
    return this.list(await this.requireUser(userId));
  }

  /** The sessions of a known account (the caller's own, for `me`). */
  async list(owner: SessionOwner): Promise<SessionRecord[]> {
    try {
      return await this.deps.directories(owner.realm).list(owner.id);
    } catch (error) {
      throw fromKeycloakError(error);
    }
  }

  /** Ends every session of the user `userId` names, through the journal; NOT_FOUND before any write when there is none. */
  async endAllOf(userId: string, actorId: string): Promise<UserRecord> {
    const user = await this.requireUser(userId);
    await this.endAll(user, actorId);
    return user;
  }

  /**
   * Ends every session of `owner`, offline ones included: its refresh tokens are refused
   * by Keycloak at once, and its earlier access tokens by the gateway from the next request
   * (sessions-end.ts), in every process: the recorded end announces the user on `users_changed`.
   */
  async endAll(owner: SessionOwner, actorId: string): Promise<void> {
    const directory = this.deps.directories(owner.realm);
    const now = this.deps.now ?? Date.now;
    await this.deps.journal.write({
      entry: { action: 'USER_SESSIONS_END', targetType: 'User', targetId: owner.id, actorId, details: { email: owner.email } },
      // Nothing to undo: should the local step fail, the user only signs in again.
      keycloak: async () => {
        const started = now();
        const notBefore = await directory.endAll(owner.id);
        const finished = now();
        return { end: endWindow(notBefore, started, finished), endedAt: new Date(finished) };
      },
      local: (em, { end, endedAt }) => this.deps.queries.within(em).recordEnd(owner.id, end, endedAt),
    });
  }

  /** The last end of each user's sessions (the caller check's loader). */
  endsOf(userIds: readonly string[]): Promise<(SessionsEnd & { userId: string })[]> {
    return this.deps.queries.endsOf(userIds);
  }

  /**
   * Whether an access token of `owner`, issued at `issuedAt` in the session `sessionId` for
   * the client `clientId`, outlived the last end of their sessions (sessions-end.ts).
   * Keycloak's answer about a session is kept with the end it was asked for (see SESSION_ANSWERS).
   */
  async survivesEnd(
    owner: Pick<SessionOwner, 'id' | 'realm'>,
    token: { issuedAt: number; sessionId?: string | null; clientId: string },
    end: SessionsEnd | null | undefined,
  ): Promise<boolean> {
    const verdict = verdictOn(token.issuedAt, end);
    if (verdict !== 'askKeycloak') return verdict === 'accepted';
    if (!token.sessionId || !end) return false;
    const key = `${token.clientId} ${token.sessionId}`;
    const answers = SESSION_ANSWERS.get(end) ?? new Map<string, boolean>();
    const known = answers.get(key);
    if (known !== undefined) return known;
    let live: boolean;
    try {
      live = await this.deps.directories(owner.realm).isLive(owner.id, token.sessionId, token.clientId);
    } catch (error) {
      throw fromKeycloakError(error);
    }
    if (answers.size < MAX_ANSWERS_PER_END) SESSION_ANSWERS.set(end, answers.set(key, live));
    return live;
  }

  private async requireUser(id: string): Promise<UserRecord> {
    const [user] = await this.deps.users.findByIds([id]);
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${id}`);
    return user;
  }
}
