import KeycloakAdminClient from '@keycloak/keycloak-admin-client';

/** An access token and its lifetime in seconds, as the token endpoint answers. */
export interface AccessTokenGrant {
  accessToken: string;
  expiresIn: number;
}

export interface KeycloakAdminOptions {
  /** Base URL, without /realms/...: http://localhost:8180 */
  url: string;
  realm: string;
  /** The confidential client whose service account the gateway acts as. */
  clientId: string;
  clientSecret: string;
  /** How long one admin-API or token request may take (default 10 s). */
  timeoutMs?: number;
  /** Obtains a new token. Defaults to the client-credentials grant at the realm's token endpoint. */
  fetchToken?: () => Promise<AccessTokenGrant>;
}

export interface KeycloakAdmin {
  /** The admin client, bound to the realm and authenticated as the service account. */
  readonly client: KeycloakAdminClient;
  /**
   * A valid access token of the service account. Renewed shortly before it expires;
   * concurrent callers share one token request.
   */
  getAccessToken(): Promise<string>;
}

// Renew 10% of the lifetime early, at most 30 s: covers clock skew and request latency.
const MAX_RENEWAL_MARGIN_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Creates the gateway's Keycloak admin client for one realm. Client credentials issue no
 * refresh token and the library cannot renew such a token (keycloak/keycloak#44379), so
 * a token provider of our own obtains a new one before the current one expires.
 */
export function createKeycloakAdmin(options: KeycloakAdminOptions): KeycloakAdmin {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const fetchToken = options.fetchToken ?? (() => requestClientCredentialsToken(options, timeoutMs));
  let current: { token: string; renewAt: number } | undefined;
  let renewal: Promise<string> | undefined;

  const renew = async (): Promise<string> => {
    // The lifetime counts from when Keycloak issued the token, before the answer arrived.
    const requestedAt = Date.now();
    const { accessToken, expiresIn } = await fetchToken();
    const lifetimeMs = expiresIn * 1000;
    current = { token: accessToken, renewAt: requestedAt + lifetimeMs - Math.min(MAX_RENEWAL_MARGIN_MS, lifetimeMs / 10) };
    return accessToken;
  };

  const getAccessToken = (): Promise<string> => {
    if (current && Date.now() < current.renewAt) return Promise.resolve(current.token);
    renewal ??= renew().finally(() => {
      renewal = undefined;
    });
    return renewal;
  };

  // A bounded wait: a Keycloak that hangs must fail the write, not hold it forever.
  const client = new KeycloakAdminClient({ baseUrl: options.url, realmName: options.realm, timeout: timeoutMs });
  client.registerTokenProvider({ getAccessToken });
  return { client, getAccessToken };
}

async function requestClientCredentialsToken(options: KeycloakAdminOptions, timeoutMs: number): Promise<AccessTokenGrant> {
  const { url, realm, clientId, clientSecret } = options;
  const response = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json().catch(() => ({}))) as {
    access_token?: string;
    expires_in?: number;
    error?: string;
    error_description?: string;
  };
  if (!response.ok || !body.access_token || !body.expires_in) {
    const reason = [body.error, body.error_description].filter(Boolean).join(': ');
    throw new Error(
      `Keycloak refused a token to client ${clientId} in realm ${realm} (HTTP ${response.status}${reason ? `, ${reason}` : ''})`,
    );
  }
  return { accessToken: body.access_token, expiresIn: body.expires_in };
}
