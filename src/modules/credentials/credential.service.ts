import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import { REQUIRED_ACTIONS_LINK_LIFESPAN_SECONDS, type EmailAction } from '../../keycloak/actions-email.js';
import type { UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import type { CredentialsDirectories } from './credentials.directory.js';
import { REQUIRED_ACTION_ALIASES, type CredentialRecord, type RequiredAction } from './credential.type.js';

export interface CredentialServiceDependencies {
  /** The mirrored user an id names, and its realm. */
  users: Pick<UserService, 'findByIds'>;
  /** Realm routing: the Keycloak credentials of the realm an account lives in. */
  directories: CredentialsDirectories;
  journal: Pick<Journal, 'write'>;
}

/**
 * The credentials removeUserCredential takes away, each with the required action that has
 * the user enrol a new one. The password is not among them: a user without one could not
 * sign in, and setUserPassword or requireUserActions(UPDATE_PASSWORD) replace it instead.
 */
const REMOVABLE: Readonly<Record<string, string>> = {
  otp: 'CONFIGURE_TOTP',
  webauthn: 'webauthn-register',
  'webauthn-passwordless': 'webauthn-register-passwordless',
};

export const PASSWORD_NOT_REMOVABLE = "A user's password is not removed: use setUserPassword or requireUserActions (UPDATE_PASSWORD)";

/**
 * A user's credentials (password, OTP devices, passkeys) and required actions. Keycloak
 * owns both and the gateway keeps no copy: reads ask Keycloak (see CredentialResolver for
 * why), and writes go through the journal, whose entries name the credential's type and
 * never anything secret.
 */
export class CredentialService {
  constructor(private readonly deps: CredentialServiceDependencies) {}

  /** The user's credentials, live from Keycloak, without secrets. */
  async list(user: Pick<UserRecord, 'id' | 'realm'>): Promise<CredentialRecord[]> {
    try {
      return await this.deps.directories(user.realm).list(user.id);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError('UPSTREAM_UNAVAILABLE', "Keycloak did not answer with the user's credentials. Try again shortly.");
    }
  }

  /**
   * Removes an OTP device or a passkey, so that the user enrols a new one: when it was the
   * user's last of its kind, the matching required action is added, and the next sign-in
   * asks for the enrolment. The user's sessions end too: the factor is removed because it
   * was lost or stolen, and a session it opened must not outlive it (nor keep the user
   * from being asked to enrol until the session expires). The password is refused
   * (BAD_USER_INPUT); a credential the user does not have, another user's included, is
   * NOT_FOUND.
   */
  async remove(
    userId: string,
    credentialId: string,
    actorId: string | null,
  ): Promise<{ user: UserRecord; credential: CredentialRecord; enrolsAgain: boolean }> {
    const user = await this.requireUser(userId);
    const directory = this.deps.directories(user.realm);
    const credentials = await this.list(user);
    const credential = credentials.find((candidate) => candidate.id === credentialId);
    if (!credential) {
      throw new AppError('NOT_FOUND', `${user.email} has no credential with id ${credentialId}`);
    }
    if (credential.type === 'password') {
      throw new AppError('BAD_USER_INPUT', PASSWORD_NOT_REMOVABLE, { fieldErrors: { credentialId: 'is the password' } });
    }
    const enrol = REMOVABLE[credential.type];
    if (!enrol) {
      throw new AppError('BAD_USER_INPUT', `A credential of type ${credential.type} is not removed through the gateway`, {
        fieldErrors: { credentialId: `is of type ${credential.type}: only otp, webauthn and webauthn-passwordless are removed` },
      });
    }
    const lastOfItsKind = !credentials.some((other) => other.id !== credential.id && other.type === credential.type);
    await this.deps.journal.write({
      entry: {
        action: 'USER_CREDENTIAL_REMOVE',
        targetType: 'User',
        targetId: user.id,
        actorId,
        details: {
          email: user.email,
          credentialId: credential.id,
          credentialType: credential.type,
          ...(lastOfItsKind && { requiredAction: enrol }),
        },
      },
      keycloak: async (undo) => {
        // First what can be undone: should the removal fail, the user is not left asked to enrol.
        if (lastOfItsKind) await directory.addRequiredActions(user.id, [enrol], undo);
        await directory.remove(user.id, credential.id, undo, `the removal of a ${credential.type} credential of ${user.email}`);
        await directory.endSessions(user.id);
      },
      local: async () => undefined,
    });
    return { user, credential, enrolsAgain: lastOfItsKind };
  }

  /**
   * Adds `actions` to what the user must do at the next sign-in (the union with what they
   * must do already); with `sendEmail`, Keycloak also emails a link to do them now, as part
   * of the write: an email Keycloak cannot send undoes the added actions. Answers the
   * actions, deduplicated, in the order given.
   */
  async requireActions(
    userId: string,
    actions: readonly RequiredAction[],
    sendEmail: boolean,
    actorId: string | null,
  ): Promise<{ user: UserRecord; actions: RequiredAction[] }> {
    const wanted = [...new Set(actions)];
    if (wanted.length === 0) {
      throw new AppError('BAD_USER_INPUT', 'Name at least one action the user must perform', {
        fieldErrors: { actions: 'must name at least one action' },
      });
    }
    const user = await this.requireUser(userId);
    const directory = this.deps.directories(user.realm);
    const aliases: EmailAction[] = wanted.map((action) => REQUIRED_ACTION_ALIASES[action]);
    await this.deps.journal.write({
      entry: {
        action: 'USER_REQUIRE_ACTIONS',
        targetType: 'User',
        targetId: user.id,
        actorId,
        details: { email: user.email, actions: wanted, sendEmail },
      },
      keycloak: async (undo) => {
        await directory.addRequiredActions(user.id, aliases, undo);
        if (sendEmail) await directory.sendActionsEmail(user.id, aliases, REQUIRED_ACTIONS_LINK_LIFESPAN_SECONDS);
      },
      local: async () => undefined,
    });
    return { user, actions: wanted };
  }

  /** The mirrored user an id argument names; NOT_FOUND before any Keycloak call when there is none. */
  private async requireUser(id: string): Promise<UserRecord> {
    const [user] = await this.deps.users.findByIds([id]);
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${id}`);
    return user;
  }
}
