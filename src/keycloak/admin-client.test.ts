import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AccessTokenGrant, createKeycloakAdmin } from './admin-client.js';

const connection = { url: 'http://keycloak.test', realm: 'iam', clientId: 'iam-gateway', clientSecret: 'the-secret' };

/** A token endpoint that answers only when told to, so callers really overlap. */
class FakeTokenEndpoint {
  requests = 0;
  private answers: Array<(grant: AccessTokenGrant | Error) => void> = [];

  readonly fetchToken = (): Promise<AccessTokenGrant> => {
    this.requests += 1;
    return new Promise((resolve, reject) => {
      this.answers.push((grant) => (grant instanceof Error ? reject(grant) : resolve(grant)));
    });
  };

  answer(grant: AccessTokenGrant | Error): void {
    for (const answer of this.answers.splice(0)) answer(grant);
  }
}

function concurrently(count: number, getAccessToken: () => Promise<string>): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, () => getAccessToken()));
}

describe('createKeycloakAdmin', () => {
  let endpoint: FakeTokenEndpoint;

  beforeEach(() => {
    vi.useFakeTimers();
    endpoint = new FakeTokenEndpoint();
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('makes one token request for 50 concurrent callers', async () => {
    const admin = createKeycloakAdmin({ ...connection, fetchToken: endpoint.fetchToken });

    const tokens = concurrently(50, admin.getAccessToken);
    endpoint.answer({ accessToken: 'token-1', expiresIn: 300 });

    expect(await tokens).toEqual(Array(50).fill('token-1'));
    expect(endpoint.requests).toBe(1);
  });

  async function adminHolding(grant: AccessTokenGrant) {
    const admin = createKeycloakAdmin({ ...connection, fetchToken: endpoint.fetchToken });
    const first = admin.getAccessToken();
    endpoint.answer(grant);
    await first;
    return admin;
  }

  it('reuses the token until 30 s before a 300 s token expires, then renews it once', async () => {
    const admin = await adminHolding({ accessToken: 'token-1', expiresIn: 300 });

    vi.advanceTimersByTime(269_000);
    expect(await concurrently(50, admin.getAccessToken)).toEqual(Array(50).fill('token-1'));
    expect(endpoint.requests).toBe(1);

    vi.advanceTimersByTime(1_000);
    const renewed = concurrently(50, admin.getAccessToken);
    endpoint.answer({ accessToken: 'token-2', expiresIn: 300 });
    expect(await renewed).toEqual(Array(50).fill('token-2'));
    expect(endpoint.requests).toBe(2);
  });

  it('renews a short-lived token 10% of its lifetime early', async () => {
    const admin = await adminHolding({ accessToken: 'token-1', expiresIn: 60 });

    vi.advanceTimersByTime(53_999);
    expect(await admin.getAccessToken()).toBe('token-1');
    vi.advanceTimersByTime(1);
    const renewed = admin.getAccessToken();
    endpoint.answer({ accessToken: 'token-2', expiresIn: 60 });
    expect(await renewed).toBe('token-2');
    expect(endpoint.requests).toBe(2);
  });

  it('hands a failed token request to every waiting caller and tries again on the next call', async () => {
    const admin = createKeycloakAdmin({ ...connection, fetchToken: endpoint.fetchToken });

    const failed = Promise.allSettled([admin.getAccessToken(), admin.getAccessToken()]);
    endpoint.answer(new Error('Keycloak is down'));
    expect((await failed).map((result) => result.status)).toEqual(['rejected', 'rejected']);

    const retried = admin.getAccessToken();
    endpoint.answer({ accessToken: 'token-2', expiresIn: 300 });
    expect(await retried).toBe('token-2');
    expect(endpoint.requests).toBe(2);
  });

  it('authenticates the library client with its tokens', async () => {
    const admin = createKeycloakAdmin({ ...connection, fetchToken: endpoint.fetchToken });

    const token = admin.client.getAccessToken();
    endpoint.answer({ accessToken: 'token-1', expiresIn: 300 });

    expect(await token).toBe('token-1');
    expect(admin.client.realmName).toBe('iam');
  });

  it('asks the realm token endpoint for a client-credentials token by default', async () => {
    const fetch = vi.fn(async () => Response.json({ access_token: 'token-1', expires_in: 300, token_type: 'Bearer' }));
    vi.stubGlobal('fetch', fetch);

    expect(await createKeycloakAdmin(connection).getAccessToken()).toBe('token-1');

    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://keycloak.test/realms/iam/protocol/openid-connect/token');
    expect(Object.fromEntries(init.body as URLSearchParams)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'iam-gateway',
      client_secret: 'the-secret',
    });
  });

  it('explains a refused token request without revealing the secret', async () => {
    const answer = { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' };
    vi.stubGlobal('fetch', async () => Response.json(answer, { status: 401 }));

    const failure = createKeycloakAdmin(connection).getAccessToken();

    await expect(failure).rejects.toThrow(
      'Keycloak refused a token to client iam-gateway in realm iam (HTTP 401, unauthorized_client: Invalid client or Invalid client credentials)',
    );
    await expect(failure).rejects.not.toThrow(connection.clientSecret);
  });
});
