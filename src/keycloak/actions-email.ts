import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import { AppError } from '../errors.js';

/** The actions a Keycloak email link can carry out, as Keycloak names them (required-action aliases). */
export type EmailAction = 'UPDATE_PASSWORD' | 'VERIFY_EMAIL' | 'CONFIGURE_TOTP' | 'UPDATE_PROFILE' | 'webauthn-register';

/**
 * Has Keycloak email the user one link (execute-actions-email) that performs `actions`,
 * valid for `lifespanSeconds`. Following it is Keycloak's own proof that the person
 * reads the address: the only thing that ever makes an email verified.
 */
export async function sendActionsEmail(
  keycloak: KeycloakAdminClient,
  userId: string,
  actions: readonly EmailAction[],
  lifespanSeconds: number,
): Promise<void> {
  try {
    await keycloak.users.executeActionsEmail({ id: userId, actions: [...actions], lifespan: lifespanSeconds });
  } catch (error) {
    const status = (error as { response?: { status?: number } }).response?.status;
    // Keycloak answers 500 for any mail failure; say what failed rather than "unavailable".
    if (status === 500) throw new AppError('UPSTREAM_UNAVAILABLE', 'Keycloak could not send the email; nothing was changed.');
    throw error;
  }
}

/** How long a password-setup link for a new account stays valid. */
export const SETUP_LINK_LIFESPAN_SECONDS = 72 * 3600;

/** How long the link that verifies a changed email stays valid. */
export const VERIFY_LINK_LIFESPAN_SECONDS = 24 * 3600;

/** How long the link of requireUserActions stays valid: the actions themselves wait for the next sign-in regardless. */
export const REQUIRED_ACTIONS_LINK_LIFESPAN_SECONDS = 24 * 3600;
