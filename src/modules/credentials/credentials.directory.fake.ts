import { randomUUID } from 'node:crypto';
import type { UndoLog } from '../../journal/journal.js';
import type { EmailAction } from '../../keycloak/actions-email.js';
import { irreversible } from '../users/users.directory.js';
import type { CredentialRecord } from './credential.type.js';
import type { CredentialsDirectory } from './credentials.directory.js';

/**
 * CredentialsDirectory in memory, for unit tests: each user's credentials and required
 * actions, what was emailed, whose sessions ended. `failNext` makes a method's next call
 * throw, to exercise the undo of the steps before it.
 */
export class FakeCredentialsDirectory implements CredentialsDirectory {
  readonly credentials = new Map<string, CredentialRecord[]>();
  readonly requiredActions = new Map<string, string[]>();
  readonly emails: { userId: string; actions: EmailAction[]; lifespanSeconds: number }[] = [];
  readonly sessionsEnded: string[] = [];
  /** How many times Keycloak was asked for a user's credentials. */
  listCalls = 0;
  private readonly failures = new Map<keyof CredentialsDirectory, Error>();

  /** The next call of `method` throws `error` (once), before changing anything. */
  failNext(method: keyof CredentialsDirectory, error: Error = new Error(`${method} failed`)): void {
    this.failures.set(method, error);
  }

  /** A credential the user enrolled on Keycloak's pages. */
  add(userId: string, type: string, label: string | null = null): CredentialRecord {
    const credential = { id: randomUUID(), type, label, createdAt: new Date() };
    this.credentials.set(userId, [...(this.credentials.get(userId) ?? []), credential]);
    return credential;
  }

  async list(userId: string): Promise<CredentialRecord[]> {
    this.maybeFail('list');
    this.listCalls++;
    return [...(this.credentials.get(userId) ?? [])];
  }

  async remove(userId: string, credentialId: string, undo: UndoLog, what: string): Promise<void> {
    this.maybeFail('remove');
    const held = this.credentials.get(userId) ?? [];
    if (!held.some((credential) => credential.id === credentialId)) {
      throw Object.assign(new Error('Request failed with status code 404'), { response: { status: 404 } });
    }
    this.credentials.set(
      userId,
      held.filter((credential) => credential.id !== credentialId),
    );
    irreversible(undo, what);
  }

  async addRequiredActions(userId: string, actions: readonly string[], undo: UndoLog): Promise<string[]> {
    this.maybeFail('addRequiredActions');
    const before = this.requiredActions.get(userId) ?? [];
    const added = actions.filter((action) => !before.includes(action));
    if (added.length === 0) return [];
    this.requiredActions.set(userId, [...before, ...added]);
    undo.push(`restore the required actions of user ${userId}`, async () => {
      this.requiredActions.set(userId, before);
    });
    return added;
  }

  async sendActionsEmail(userId: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void> {
    this.maybeFail('sendActionsEmail');
    this.emails.push({ userId, actions: [...actions], lifespanSeconds });
  }

  async endSessions(userId: string): Promise<void> {
    this.maybeFail('endSessions');
    this.sessionsEnded.push(userId);
  }

  private maybeFail(method: keyof CredentialsDirectory): void {
    const error = this.failures.get(method);
    if (error) {
      this.failures.delete(method);
      throw error;
    }
  }
}
