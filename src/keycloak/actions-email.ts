import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import { AppError } from '../errors.js';

/**
 * Has Keycloak email the user a link to set a password (execute-actions-email with
 * UPDATE_PASSWORD), valid for `lifespanSeconds`.
 */
export async function sendPasswordEmail(keycloak: KeycloakAdminClient, userId: string, lifespanSeconds: number): Promise<void> {
  try {
    await keycloak.users.executeActionsEmail({ id: userId, actions: ['UPDATE_PASSWORD'], lifespan: lifespanSeconds });
  } catch (error) {
    const status = (error as { response?: { status?: number } }).response?.status;
    // Keycloak answers 500 for any mail failure; say what failed rather than "unavailable".
    if (status === 500) throw new AppError('UPSTREAM_UNAVAILABLE', 'Keycloak could not send the password email; nothing was changed.');
    throw error;
  }
}

/** How long a password-setup link for a new account stays valid. */
export const SETUP_LINK_LIFESPAN_SECONDS = 72 * 3600;
