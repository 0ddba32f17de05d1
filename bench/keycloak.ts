/**
 * Keycloak's REST APIs as the bench uses them: the master admin to seed the realm, the
 * gateway's own client for tokens. Plain fetch, so that what is timed is Keycloak's work.
 */

export interface KeycloakTarget {
  /** Base URL, without /realms/...: http://localhost:8180 */
  url: string;
  realm: string;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
}

export interface AdminResponse<T> {
  status: number;
  body: T;
  location: string | null;
}

/** A bearer token, obtained again shortly before it expires; concurrent callers share one request. */
export function cachedToken(fetchToken: () => Promise<TokenResponse>): () => Promise<string> {
  let current: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;
  return () => {
    if (current && Date.now() < current.renewAt) return Promise.resolve(current.token);
    pending ??= (async () => {
      const requestedAt = Date.now();
      const { access_token, expires_in } = await fetchToken();
      current = { token: access_token, renewAt: requestedAt + expires_in * 800 };
      return access_token;
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

export async function tokenRequest(url: string, realm: string, params: Record<string, string>): Promise<TokenResponse> {
  const response = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams(params),
  });
  if (!response.ok)
    throw new Error(`token request (${params.grant_type}) in realm ${realm} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenResponse;
}

export function masterAdminToken(url: string, credentials: { username: string; password: string }) {
  return cachedToken(() => tokenRequest(url, 'master', { grant_type: 'password', client_id: 'admin-cli', ...credentials }));
}

export function clientCredentialsToken(target: KeycloakTarget, clientId: string, clientSecret: string) {
  return cachedToken(() =>
    tokenRequest(target.url, target.realm, { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  );
}

/** The realm's admin REST API, authenticated by `token`. */
export class KeycloakAdminRest {
  constructor(
    readonly target: KeycloakTarget,
    private readonly token: () => Promise<string>,
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<AdminResponse<T>> {
    const response = await fetch(`${this.target.url}/admin/realms/${encodeURIComponent(this.target.realm)}${path}`, {
      method,
      headers: { authorization: `Bearer ${await this.token()}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, location: response.headers.get('location') };
  }

  /** Like `call`, but any answer outside 2xx is an error. */
  async ok<T = unknown>(method: string, path: string, body?: unknown): Promise<AdminResponse<T>> {
    const answer = await this.call<T>(method, path, body);
    if (answer.status < 200 || answer.status >= 300) {
      throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)?.slice(0, 500)}`);
    }
    return answer;
  }

  /** Every item of a paged listing (`first`/`max`). */
  async all<T>(path: string, pageSize = 1000): Promise<T[]> {
    const items: T[] = [];
    const separator = path.includes('?') ? '&' : '?';
    for (let first = 0; ; first += pageSize) {
      const page = (await this.ok<T[]>('GET', `${path}${separator}first=${first}&max=${pageSize}`)).body;
      items.push(...page);
      if (page.length < pageSize) return items;
    }
  }
}
