import { randomBytes, randomUUID } from 'node:crypto';
import { propagation } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { adminAccessToken, createKeycloakUser } from '../support/keycloak.js';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';

const config = inject('config');
const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }';
const CREATE_USER = 'mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { user { id email } } }';

/** The gateway's tracing as OpenTelemetry's standard variables configure it. */
function tracingFrom(env: Record<string, string>): Config['tracing'] {
  return loadConfig({ DATABASE_URL: config.databaseUrl, KEYCLOAK_URL: config.keycloak.url, KEYCLOAK_API_CLIENT_SECRET: 'unused', ...env })
    .tracing;
}

/** A caller's W3C trace context: the gateway's spans must join this trace. */
function callerTrace() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** A gateway that reaches Keycloak through a proxy that keeps each request's headers. */
async function startGateway(tracing: Config['tracing']) {
  const proxy = await startKeycloakProxy(config.keycloak.url);
  const gateway = await startTestGateway((base) => ({ ...base, keycloak: { ...base.keycloak, url: proxy.url }, tracing }));
  return { proxy, gateway };
}

const one = (spans: ReceivedSpan[], what: string, test: (span: ReceivedSpan) => boolean): ReceivedSpan => {
  const found = spans.filter(test);
  expect(found, `${what} in ${JSON.stringify(spans.map((span) => span.name))}`).toHaveLength(1);
  return found[0]!;
};

describe('tracing, with an OTLP endpoint configured', () => {
  let receiver: OtlpReceiver;
  let proxy: KeycloakProxy;
  let gateway: TestGateway;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    ({ proxy, gateway } = await startGateway(
      tracingFrom({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'iam-traced' }),
    ));
  });
  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
    await receiver?.close();
  });

  /** The spans of one trace, once the gateway sent them; the request and operation spans checked on the way. */
  async function traceOf(caller: ReturnType<typeof callerTrace>, operation: { name: string; rootField: string }) {
    await gateway.app.tracing!.flush();
    const spans = receiver.spans.filter((span) => span.traceId === caller.traceId);
    const request = one(spans, 'one server span, child of the caller', (span) => span.kind === SPAN_KIND.server);
    expect(request).toMatchObject({
      parentSpanId: caller.spanId,
      name: 'POST /graphql',
      service: 'iam-traced',
      attributes: { 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 },
    });
    const operationSpan = one(spans, 'one operation span under the request', (span) => span.parentSpanId === request.spanId);
    expect(operationSpan).toMatchObject({
      name: `mutation ${operation.name}`,
      attributes: {
        'graphql.operation.type': 'mutation',
        'graphql.operation.name': operation.name,
        'iam.graphql.root_fields': [operation.rootField],
        'iam.graphql.outcome': 'OK',
      },
    });
    const children = spans.filter((span) => span.parentSpanId === operationSpan.spanId);
    return { spans, children };
  }

  /** The Keycloak calls among the spans, each checked to have reached Keycloak with its own traceparent. */
  function keycloakCalls(caller: ReturnType<typeof callerTrace>, spans: ReceivedSpan[]) {
    const calls = spans.filter((span) => span.kind === SPAN_KIND.client && span.attributes['iam.keycloak.endpoint'] !== undefined);
    for (const call of calls) {
      const received = proxy.requests.filter(
        (_, index) => proxy.requestHeaders[index]?.traceparent === `00-${caller.traceId}-${call.spanId}-01`,
      );
      expect(
        received.map((line) => line.split('?')[0]),
        call.name,
      ).toEqual([`${call.attributes['http.request.method']} ${call.attributes['url.path']}`]);
      // The query string keeps its parameters' names, never their values (emails, usernames).
      const query = String(call.attributes['url.query']);
      expect(
        query.split('&').filter((parameter) => parameter && !parameter.endsWith('=REDACTED')),
        query,
      ).toEqual([]);
      expect(String(call.attributes['url.full']).endsWith(query ? `?${query}` : (call.attributes['url.path'] as string))).toBe(true);
    }
    return calls;
  }

  it('login: the request span joins the caller’s trace; under the operation, the token endpoint call, whose traceparent Keycloak receives', async () => {
    const user = await createKeycloakUser();
    const caller = callerTrace();

    const response = await gateway.graphql(LOGIN, {
      variables: { input: { username: user.email, password: user.password } },
      headers: { traceparent: caller.traceparent },
    });
    expect(response.errors).toBeUndefined();

    const { spans, children } = await traceOf(caller, { name: 'Login', rootField: 'login' });
    // The user's password grant, and the gateway's own client-credentials grant when its admin token is due.
    const tokenCalls = keycloakCalls(caller, children).filter((span) => span.name === 'POST token');
    expect(tokenCalls.length).toBeGreaterThanOrEqual(1);
    for (const call of tokenCalls) {
      expect(call.attributes).toMatchObject({
        'url.path': `/realms/${config.keycloak.realm}/protocol/openid-connect/token`,
        'http.response.status_code': 200,
      });
    }
    // Nothing the caller sent is in any span: not the password, not the username.
    expect(JSON.stringify(spans)).not.toContain(user.password);
    expect(JSON.stringify(spans).toLowerCase()).not.toContain(user.email.toLowerCase());
  });

  it('createUser: under the operation, the admin API calls (POST users) and the SQL statements, without their values', async () => {
    const token = await adminAccessToken();
    const email = `traced-${randomUUID().slice(0, 8)}@example.test`;
    const password = `Tr4ced-${randomUUID()}`;
    const caller = callerTrace();

    const response = await gateway.graphql(CREATE_USER, {
      token,
      variables: { input: { email, password, firstName: 'Grace', lastName: `Hopper-${randomUUID().slice(0, 8)}` } },
      headers: { traceparent: caller.traceparent },
    });
    expect(response.errors).toBeUndefined();

    const { spans, children } = await traceOf(caller, { name: 'CreateUser', rootField: 'createUser' });
    const userCreation = one(
      keycloakCalls(caller, children),
      'one POST to the admin API’s users',
      (span) => span.name === 'POST admin/users',
    );
    expect(userCreation.attributes).toMatchObject({
      'url.path': expect.stringMatching(new RegExp(`^/admin/realms/${config.keycloak.realm}/users/?$`)),
      'http.response.status_code': 201,
    });

    const statements = children.filter((span) => span.attributes['db.system.name'] === 'postgresql');
    expect(statements.every((span) => span.kind === SPAN_KIND.client && span.attributes['db.system'] === 'postgresql')).toBe(true);
    const userInsert = one(statements, 'one insert into users', (span) =>
      /^insert into "users"/.test(String(span.attributes['db.query.text'])),
    );
    expect(userInsert).toMatchObject({
      name: 'INSERT',
      attributes: { 'db.operation.name': 'INSERT', 'db.namespace': config.databaseUrl.split('/').at(-1) },
    });
    expect(userInsert.attributes['db.query.text']).toContain('?');
    // The journal's record of the write is inserted in the same trace.
    expect(statements.some((span) => /^insert into "audit_events"/.test(String(span.attributes['db.query.text'])))).toBe(true);
    const text = JSON.stringify(spans).toLowerCase();
    expect(text).not.toContain(email);
    expect(text).not.toContain(password.toLowerCase());
  });

  it('a request without traceparent starts a trace of its own', async () => {
    const before = receiver.spans.length;
    const response = await gateway.graphql('query Hello { publicHello }');
    expect(response.errors).toBeUndefined();
    await gateway.app.tracing!.flush();
    const request = one(receiver.spans.slice(before), 'one server span', (span) => span.kind === SPAN_KIND.server);
    expect(request.parentSpanId).toBeUndefined();
    expect(receiver.spans.slice(before).find((span) => span.parentSpanId === request.spanId)?.name).toBe('query Hello');
  });
});

describe('tracing, off', () => {
  it('is off while OTEL_SDK_DISABLED=true, whatever the endpoint: nothing is exported, nothing reaches Keycloak with a traceparent', async () => {
    const receiver = await startOtlpReceiver();
    const tracing = tracingFrom({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SDK_DISABLED: 'true',
    });
    expect(tracing).toBeUndefined();
    const { proxy, gateway } = await startGateway(tracing);
    try {
      const user = await createKeycloakUser();
      const response = await gateway.graphql(LOGIN, {
        variables: { input: { username: user.email, password: user.password } },
        headers: { traceparent: callerTrace().traceparent },
      });
      expect(response.errors).toBeUndefined();
      expect(gateway.app.tracing).toBeUndefined();
      // No W3C propagator is registered in the process: the API's no-op one injects nothing.
      expect(propagation.fields()).toEqual([]);
    } finally {
      // A tracing gateway sends its last spans as it closes.
      await gateway.close();
      await proxy.close();
      await receiver.close();
    }
    expect(receiver.exports).toBe(0);
    expect(proxy.requests.some((line) => line.includes('/protocol/openid-connect/token'))).toBe(true);
    expect(proxy.requestHeaders.filter((headers) => headers.traceparent !== undefined)).toEqual([]);
  });
});
