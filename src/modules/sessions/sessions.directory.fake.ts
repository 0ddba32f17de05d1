import { OFFLINE_SUFFIX, type SessionsDirectory } from './sessions.directory.js';
import type { SessionRecord } from './session.type.js';

/**
 * Keycloak's sessions in memory, for unit tests: each user's sessions, and the not-before
 * second an end sets (`notBefore`, null to answer as a Keycloak that does not say).
 * `failing` makes every call fail as an unreachable Keycloak would.
 */
export class FakeSessionsDirectory implements SessionsDirectory {
  readonly sessions = new Map<string, SessionRecord[]>();
  readonly ended: string[] = [];
  notBefore: number | null = null;
  failing = false;
  /** How many times isLive was asked. */
  livenessQuestions = 0;

  /** Adds a session of `userId`: online unless said otherwise, for `clientId`. */
  add(userId: string, session: Partial<SessionRecord> & { id: string }): SessionRecord {
    const record: SessionRecord = {
      ipAddress: '192.0.2.1',
      startedAt: new Date(0),
      lastAccessAt: new Date(0),
      clients: ['iam-frontend'],
      offline: false,
      ...session,
    };
    this.sessions.set(userId, [...(this.sessions.get(userId) ?? []), record]);
    return record;
  }

  async list(userId: string): Promise<SessionRecord[]> {
    this.maybeFail();
    return [...(this.sessions.get(userId) ?? [])];
  }

  async endAll(userId: string): Promise<number | null> {
    this.maybeFail();
    this.ended.push(userId);
    this.sessions.delete(userId);
    return this.notBefore;
  }

  async isLive(userId: string, sessionId: string, clientId: string): Promise<boolean> {
    this.maybeFail();
    this.livenessQuestions++;
    return (this.sessions.get(userId) ?? []).some(
      (session) =>
        session.id === sessionId ||
        (session.offline && session.id === `${sessionId}${OFFLINE_SUFFIX}` && session.clients.includes(clientId)),
    );
  }

  private maybeFail(): void {
    if (this.failing) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }
}
