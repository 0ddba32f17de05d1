import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type IsolatedBackends, isolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, type TestUser } from '../support/keycloak.js';

const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }';
const ME = 'query Me { me { user { id } } }';

/** The value of one series in Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
};

describe('/metrics after real traffic', () => {
  let gateway: TestGateway;
  let user: TestUser;
  let metricsUrl: string;

  let backends: IsolatedBackends;

  beforeAll(async () => {
    // A realm and a database of their own: the test runs the full comparison and the push of
    // pending users, which would mirror, push or remove what other files arrange in the shared
    // ones.
    backends = await isolatedBackends('metrics');
    // One login per account and address: the second is refused, and counted as such.
    gateway = await startTestGateway(() => ({
      ...backends.config,
      rateLimits: {
        ...backends.config.rateLimits,
        login: { perAccountAndIp: { max: 1, windowSeconds: 60 }, perIp: { max: 10, windowSeconds: 60 } },
      },
    }));
    metricsUrl = gateway.url.replace(/\/graphql$/, '/metrics');
    user = await createKeycloakUser({ realm: backends.realm });
  });
  afterAll(async () => {
    await gateway?.close();
    await backends?.close();
  });

  it('shows every family: operations, Keycloak calls, the pool, rate limits, the jobs and the caches', async () => {
    const signedIn = await gateway.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    expect(signedIn.errors).toBeUndefined();
    const token = signedIn.data?.login.tokens.accessToken as string;
    expect(token).toBeTruthy();
    const refused = await gateway.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    expect(refused.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
    for (let call = 0; call < 2; call++) expect((await gateway.graphql(ME, { token })).data?.me.user.id).toBe(user.id);
    await gateway.app.jobs.syncPendingUsers();
    await gateway.app.jobs.reconcile();

    const { status, type, body } = await scrape(metricsUrl);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(body, 'iam_graphql_operation_duration_seconds_count{operation="Login",type="mutation",outcome="OK"}')).toBe(1);
    expect(sample(body, 'iam_graphql_operation_duration_seconds_count{operation="Login",type="mutation",outcome="RATE_LIMITED"}')).toBe(1);
    expect(sample(body, 'iam_graphql_operation_duration_seconds_count{operation="Me",type="query",outcome="OK"}')).toBe(2);
    expect(sample(body, 'iam_rate_limit_refusals_total{operation="login"}')).toBe(1);
    // The password grant of the login, and the admin API the reconciler read.
    expect(sample(body, 'iam_keycloak_request_duration_seconds_count{family="token",status="200"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'iam_keycloak_request_duration_seconds_count{family="admin/users",status="200"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'iam_db_pool_connections{state="idle"}')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_db_pool_connections{state="in_use"}')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_user_sync_pending')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_journal_pending_entries')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_journal_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_user_sync_users_total{result="synced"}')).toBeGreaterThanOrEqual(0);
    expect(sample(body, 'iam_reconciler_drift_healed_total{kind="usersAdded"}')).toBeGreaterThanOrEqual(0);
    // The second `me` found the token it had verified, and the caller it had admitted.
    expect(sample(body, 'iam_cache_lookups_total{cache="verified_token",result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'iam_cache_lookups_total{cache="verified_token",result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'iam_cache_lookups_total{cache="caller",result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(body).toContain('nodejs_eventloop_lag_seconds');
  });

  it('serves /metrics only on METRICS_PORT when it is set', async () => {
    const separate = await startTestGateway((config) => ({ ...config, http: { ...config.http, metricsPort: 0 } }));
    try {
      const port = (separate.app.metricsServer!.address() as AddressInfo).port;
      const own = await scrape(`http://localhost:${port}/metrics`);
      expect(own.status).toBe(200);
      expect(own.body).toContain('iam_graphql_operation_duration_seconds');
      expect((await scrape(separate.url.replace(/\/graphql$/, '/metrics'))).status).toBe(404);
      expect((await scrape(`http://localhost:${port}/graphql`)).status).toBe(404);
    } finally {
      await separate.close();
    }
  });

  it('ATTACK-5: a client that never finishes its request on METRICS_PORT does not hold the stop past its deadline', async () => {
    const separate = await startTestGateway((config) => ({
      ...config,
      http: { ...config.http, metricsPort: 0 },
      shutdown: { drainSeconds: 0, timeoutSeconds: 1 },
    }));
    const port = (separate.app.metricsServer!.address() as AddressInfo).port;
    // Headers sent, the announced body never: Node's own request timeout is five minutes.
    const client = connect(port, '127.0.0.1');
    const cut = new Promise<void>((resolve) => client.on('close', () => resolve()));
    const answered = new Promise<string>((resolve) => client.once('data', (chunk) => resolve(chunk.toString())));
    client.on('error', () => {});
    client.write('POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{');
    // The scrape is answered, and the connection stays open for the rest of the body. Waiting
    // for the answer keeps the scrape's own reads out of the stop being measured.
    expect(await answered).toMatch(/^HTTP\/1\.1 200 /);
    const started = performance.now();
    await separate.close();
    await cut;
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
