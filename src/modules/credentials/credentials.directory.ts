import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type CredentialRepresentation from '@keycloak/keycloak-admin-client/lib/defs/credentialRepresentation.js';
import { AppError } from '../../errors.js';
import { endSessions, type UndoLog } from '../../journal/journal.js';
import { sendActionsEmail, type EmailAction } from '../../keycloak/actions-email.js';
import { isKeycloakNotFound } from '../../keycloak/keycloak-errors.js';
import { irreversible } from '../users/users.directory.js';
import type { RealmAdminClients } from '../users/users.realms.js';
import type { CredentialRecord } from './credential.type.js';

/**
 * A user's credentials and required actions in Keycloak: the only code that calls Keycloak
 * for them. Keycloak owns credentials; the gateway keeps no copy, not even of their ids.
 */
export interface CredentialsDirectory {
  /** The user's credentials, without secrets, in Keycloak's order; none when Keycloak has no such user. */
  list(userId: string): Promise<CredentialRecord[]>;
  /** Deletes one credential of the user. Irreversible: a secret cannot be put back. */
  remove(userId: string, credentialId: string, undo: UndoLog, what: string): Promise<void>;
  /**
   * Adds `actions` to the user's required actions, keeping those it has; the undo puts the
   * list back as it was. Answers the actions it added (none when the user had them all).
   */
  addRequiredActions(userId: string, actions: readonly string[], undo: UndoLog): Promise<string[]>;
  /** Has Keycloak email the user one link that performs `actions`. */
  sendActionsEmail(userId: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void>;
  /** Ends every session of the user, offline ones included (see endSessions). */
  endSessions(userId: string): Promise<void>;
}

/** The credentials directory of the realm an account lives in: null names the gateway's own realm. */
export type CredentialsDirectories = (realm: string | null | undefined) => CredentialsDirectory;

/** CredentialsDirectory of each realm, routed as the users' (src/modules/users/users.realms.ts). */
export function keycloakCredentialsDirectories(clients: RealmAdminClients): CredentialsDirectories {
  return (realm) => new KeycloakCredentialsDirectory(clients(realm));
}

/** CredentialsDirectory through the gateway's admin client in one realm. */
export class KeycloakCredentialsDirectory implements CredentialsDirectory {
  constructor(private readonly keycloak: KeycloakAdminClient) {}

  async list(userId: string): Promise<CredentialRecord[]> {
    try {
      return (await this.keycloak.users.getCredentials({ id: userId })).flatMap(withoutSecrets);
    } catch (error) {
      if (isKeycloakNotFound(error)) return [];
      throw error;
    }
  }

  async remove(userId: string, credentialId: string, undo: UndoLog, what: string): Promise<void> {
    await this.keycloak.users.deleteCredential({ id: userId, credentialId });
    irreversible(undo, what);
  }

  async addRequiredActions(userId: string, actions: readonly string[], undo: UndoLog): Promise<string[]> {
    const user = await this.keycloak.users.findOne({ id: userId });
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${userId} in Keycloak`);
    const before = user.requiredActions ?? [];
    const added = actions.filter((action) => !before.includes(action));
    if (added.length === 0) return [];
    // Only the list is sent: Keycloak leaves every field the body does not name as it is.
    await this.keycloak.users.update({ id: userId }, { requiredActions: [...before, ...added] });
    undo.push(`restore the required actions of user ${userId}`, () =>
      this.keycloak.users.update({ id: userId }, { requiredActions: before }),
    );
    return added;
  }

  sendActionsEmail(userId: string, actions: readonly EmailAction[], lifespanSeconds: number): Promise<void> {
    return sendActionsEmail(this.keycloak, userId, actions, lifespanSeconds);
  }

  endSessions(userId: string): Promise<void> {
    return endSessions(this.keycloak, userId);
  }
}

/**
 * The fields the API shows, picked one by one: Keycloak's answer also carries
 * `credentialData` (a password's hashing parameters, an OTP device's settings) and, in some
 * versions and storage providers, `secretData`; neither ever leaves this function.
 */
function withoutSecrets(credential: CredentialRepresentation): CredentialRecord[] {
  if (!credential.id || !credential.type) return [];
  return [
    {
      id: credential.id,
      type: credential.type,
      label: credential.userLabel || null,
      createdAt: typeof credential.createdDate === 'number' ? new Date(credential.createdDate) : null,
    },
  ];
}
