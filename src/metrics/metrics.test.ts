import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Kind, type OperationDefinitionNode, parse } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, keycloakFamily, type Metrics } from './metrics.js';

const sources = (keycloakUrl = 'http://keycloak.invalid') => ({
  keycloakUrl,
  pool: async () => ({ total: 4, idle: 3, waiting: 0 }),
  backlog: async () => ({ usersWaitingForSync: 2, pendingJournalEntries: 5, oldestPendingAgeSeconds: 42.5 }),
});

/** The value of one series in Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  let metrics: Metrics | undefined;
  afterEach(() => metrics?.close());

  it('names Keycloak endpoint families from a bounded set', () => {
    expect(keycloakFamily('/realms/iam/protocol/openid-connect/token')).toBe('token');
    expect(keycloakFamily('/realms/iam/protocol/openid-connect/certs')).toBe('certs');
    expect(keycloakFamily('/admin/realms/iam/users/5b2c/role-mappings/realm?briefRepresentation=true')).toBe('admin/users');
    expect(keycloakFamily('/admin/realms/iam/ui-ext/effective-roles-all/users/5b2c')).toBe('admin/ui-ext');
    expect(keycloakFamily('/admin/realms/iam')).toBe('admin/realm');
    expect(keycloakFamily('/realms/iam')).toBe('realm');
    expect(keycloakFamily('/health/ready')).toBe('other');
  });

  it('times every call to Keycloak by family and status, and nothing sent elsewhere', async () => {
    const keycloak = createServer((request, response) => response.writeHead(request.url?.includes('token') ? 200 : 404).end());
    await new Promise<void>((resolve) => keycloak.listen(0, '127.0.0.1', resolve));
    const other = createServer((_request, response) => response.writeHead(200).end());
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(keycloak.address() as AddressInfo).port}`;
      metrics = createMetrics(sources(url));
      await (await fetch(`${url}/realms/iam/protocol/openid-connect/token`, { method: 'POST' })).text();
      await (await fetch(`${url}/admin/realms/iam/users/missing`)).text();
      await (await fetch(`http://127.0.0.1:${(other.address() as AddressInfo).port}/realms/iam/protocol/openid-connect/token`)).text();
      const { body } = await metrics.render();
      expect(sample(body, 'iam_keycloak_request_duration_seconds_count{family="token",status="200"}')).toBe(1);
      expect(sample(body, 'iam_keycloak_request_duration_seconds_count{family="admin/users",status="404"}')).toBe(1);
    } finally {
      keycloak.close();
      other.close();
    }
  });

  it('counts a call that got no answer as status "error"', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    metrics = createMetrics(sources(url));
    await expect(fetch(`${url}/realms/iam/protocol/openid-connect/token`)).rejects.toThrow();
    const { body } = await metrics.render();
    expect(sample(body, 'iam_keycloak_request_duration_seconds_count{family="token",status="error"}')).toBe(1);
  });

  it('reads the pool and the jobs backlog at each scrape, and counts cache lookups and job runs', async () => {
    metrics = createMetrics(sources());
    metrics.cacheLookup('verified_token', true);
    metrics.cacheLookup('verified_token', true);
    metrics.cacheLookup('verified_token', false);
    metrics.userSyncRun({ synced: 3, pending: 1, failed: 0 });
    metrics.reconcilerRun({ usersAdded: 1, usersUpdated: 2 });
    metrics.webhookAttempt({ delivered: false });
    metrics.webhookAttempt({ delivered: true, lagSeconds: 0.2 });
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(body, 'iam_db_pool_connections{state="in_use"}')).toBe(1);
    expect(sample(body, 'iam_db_pool_connections{state="idle"}')).toBe(3);
    expect(sample(body, 'iam_user_sync_pending')).toBe(2);
    expect(sample(body, 'iam_journal_pending_entries')).toBe(5);
    expect(sample(body, 'iam_journal_oldest_pending_age_seconds')).toBe(42.5);
    expect(sample(body, 'iam_cache_lookups_total{cache="verified_token",result="hit"}')).toBe(2);
    expect(sample(body, 'iam_cache_lookups_total{cache="verified_token",result="miss"}')).toBe(1);
    expect(sample(body, 'iam_user_sync_users_total{result="synced"}')).toBe(3);
    expect(sample(body, 'iam_reconciler_drift_healed_total{kind="usersUpdated"}')).toBe(2);
    expect(sample(body, 'iam_webhook_attempts_total{result="failed"}')).toBe(1);
    expect(sample(body, 'iam_webhook_delivery_lag_seconds_bucket{le="0.25"}')).toBe(1);
    expect(body).toContain('process_resident_memory_bytes');
  });

  it('keeps client-chosen operation names from growing the series without bound', async () => {
    metrics = createMetrics(sources());
    const { requestDidStart } = metrics.graphqlPlugin;
    const send = async (operationName: string) => {
      const hooks = await requestDidStart!({ request: { operationName } } as never);
      await hooks!.willSendResponse!({ request: { operationName }, response: { body: { kind: 'single', singleResult: {} } } } as never);
    };
    for (let index = 0; index < 250; index++) await send(`Op${index}`);
    await send('has spaces and {braces}');
    const { body } = await metrics.render();
    const names = new Set(
      [...body.matchAll(/iam_graphql_operation_duration_seconds_count\{operation="([^"]+)"/g)].map((match) => match[1]),
    );
    expect(names.size).toBe(201);
    expect(names.has('Op0')).toBe(true);
    expect(names.has('Op249')).toBe(false);
    expect(sample(body, 'iam_graphql_operation_duration_seconds_count{operation="other",type="unknown",outcome="OK"}')).toBe(51);
  });

  it('ATTACK-1: labels rate-limit refusals by root field, not by the alias the client chose', async () => {
    metrics = createMetrics(sources());
    const { requestDidStart } = metrics.graphqlPlugin;
    const refuse = async (query: string, keys: string[]) => {
      const document = parse(query);
      const operation = document.definitions.find((definition) => definition.kind === Kind.OPERATION_DEFINITION) as OperationDefinitionNode;
      const errors = keys.map((key) => ({ message: 'Too many attempts', path: [key], extensions: { code: 'RATE_LIMITED' } }));
      const request = { request: {}, document, operation, response: { body: { kind: 'single', singleResult: { errors } } } };
      const hooks = await requestDidStart!(request as never);
      await hooks!.willSendResponse!(request as never);
    };
    const login = 'login(input: { username: "u", password: "p" }) { user { id } }';
    for (let index = 0; index < 300; index++) await refuse(`mutation { a${index}: ${login} }`, [`a${index}`]);
    await refuse(`mutation { ...Tries } fragment Tries on Mutation { b: ${login} ... on Mutation { c: ${login} } }`, ['b', 'c']);
    await refuse(`mutation { ${login} }`, ['login']);
    await refuse(`mutation { ${login} }`, ['notInTheDocument']);
    const { body } = await metrics.render();
    const labels = [...body.matchAll(/iam_rate_limit_refusals_total\{operation="([^"]+)"\}/g)].map((match) => match[1]);
    expect(labels.sort()).toEqual(['login', 'unknown']);
    expect(sample(body, 'iam_rate_limit_refusals_total{operation="login"}')).toBe(303);
  });
});
