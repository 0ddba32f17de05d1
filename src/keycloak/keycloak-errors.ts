import { AppError } from '../errors.js';

/**
 * Turns whatever a Keycloak call threw into the caller's error. Keycloak's own message is
 * kept where it explains a refusal (a taken email, a weak password); transport failures
 * and server errors become UPSTREAM_UNAVAILABLE.
 */
export function fromKeycloakError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const status = (error as { response?: { status?: number } })?.response?.status;
  const reason = keycloakReason(error);
  switch (status) {
    case 400:
      return new AppError('BAD_USER_INPUT', reason ?? 'Keycloak refused the request');
    case 404:
      return new AppError('NOT_FOUND', reason ?? 'Not found in Keycloak');
    case 409:
      return new AppError('CONFLICT', reason ?? 'Keycloak reports a conflict');
    default:
      return new AppError('UPSTREAM_UNAVAILABLE', 'Keycloak is unavailable; nothing was changed. Try again shortly.');
  }
}

/** Keycloak's explanation from an admin client error, if it gave one. */
export function keycloakReason(error: unknown): string | undefined {
  const data = (error as { responseData?: unknown })?.responseData;
  if (data && typeof data === 'object') {
    const { errorMessage, error_description, error: code } = data as Record<string, unknown>;
    for (const candidate of [errorMessage, error_description, code]) {
      if (typeof candidate === 'string' && candidate) return candidate;
    }
  }
  return undefined;
}

export function isKeycloakNotFound(error: unknown): boolean {
  return (error as { response?: { status?: number } })?.response?.status === 404;
}
