import { AppError } from '../errors.js';

/** The tokens of one Keycloak session, as the gateway hands them to a client. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** Seconds. */
  expiresIn: number;
  refreshExpiresIn: number;
  tokenType: string;
}

export interface KeycloakSessionsOptions {
  /** Base URL, without /realms/...: http://localhost:8180 */
  url: string;
  realm: string;
  /** The confidential API client: the only one allowed the password grant. */
  clientId: string;
  clientSecret: string;
}

/** Sessions at Keycloak's OpenID Connect endpoints, opened and ended as the API client. */
export interface KeycloakSessions {
  /** Throws UNAUTHENTICATED for any refusal: Keycloak's reason never reaches the caller. */
  passwordGrant(username: string, password: string): Promise<TokenSet>;
  refreshGrant(refreshToken: string): Promise<TokenSet>;
  /** Ends the session the refresh token belongs to; ending an ended one succeeds. */
  logout(refreshToken: string): Promise<void>;
}

// Wrong password, unknown user, locked by brute-force detection, disabled, required actions
// pending: Keycloak answers invalid_grant with differing descriptions; the caller gets one
// answer for all, so it cannot learn which accounts exist or what state they are in.
export const INVALID_CREDENTIALS = 'Invalid username or password';
export const INVALID_REFRESH_TOKEN = 'The refresh token is invalid, expired or revoked';
const REQUEST_TIMEOUT_MS = 10_000;

export function createKeycloakSessions(options: KeycloakSessionsOptions): KeycloakSessions {
  const endpoint = `${options.url}/realms/${encodeURIComponent(options.realm)}/protocol/openid-connect`;

  async function post(path: 'token' | 'logout', params: Record<string, string>, refusal: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${endpoint}/${path}`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: options.clientId, client_secret: options.clientSecret, ...params }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch {
      throw keycloakUnavailable();
    }
    if (response.status >= 500) throw keycloakUnavailable();
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (response.ok) return body;
    if (body?.error === 'invalid_grant') throw new AppError('UNAUTHENTICATED', refusal);
    // What the caller sent, not the gateway's configuration: a request too large for Keycloak,
    // or parameters it cannot read. The caller gets the answer for any refused credentials.
    if (response.status === 413 || response.status === 414 || response.status === 431 || body?.error === 'invalid_request') {
      throw new AppError('UNAUTHENTICATED', refusal);
    }
    // invalid_client, unauthorized_client and the like: the gateway's own configuration is wrong.
    throw new Error(
      `Keycloak refused ${path} to client ${options.clientId} in realm ${options.realm}: HTTP ${response.status} ${String(body?.error ?? '')}`,
    );
  }

  async function grant(params: Record<string, string>, refusal: string): Promise<TokenSet> {
    const body = (await post('token', params, refusal)) as Record<string, unknown> | undefined;
    if (typeof body?.access_token !== 'string' || typeof body.refresh_token !== 'string') {
      throw new Error(`Keycloak's token endpoint answered ${params.grant_type} without the tokens`);
    }
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresIn: Number(body.expires_in),
      refreshExpiresIn: Number(body.refresh_expires_in),
      tokenType: typeof body.token_type === 'string' ? body.token_type : 'Bearer',
    };
  }

  return {
    passwordGrant: (username, password) => grant({ grant_type: 'password', username, password }, INVALID_CREDENTIALS),
    refreshGrant: (refreshToken) => grant({ grant_type: 'refresh_token', refresh_token: refreshToken }, INVALID_REFRESH_TOKEN),
    async logout(refreshToken) {
      await post('logout', { refresh_token: refreshToken }, INVALID_REFRESH_TOKEN);
    },
  };
}

function keycloakUnavailable(): AppError {
  return new AppError('UPSTREAM_UNAVAILABLE', 'Keycloak is unavailable. Try again shortly.');
}
