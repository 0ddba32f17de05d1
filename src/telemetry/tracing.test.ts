import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { InMemorySpanExporter, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger as OrmLogger } from '@mikro-orm/core';
import type { Logger } from '../logger.js';
import type { GraphQLRequestContextWillSendResponse } from '@apollo/server';
import { parse, type OperationDefinitionNode } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TracingConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startTracing, type Tracing } from './tracing.js';

const CONFIG: TracingConfig = {
  endpoint: 'http://127.0.0.1:9/v1/traces',
  protocol: 'http/json',
  resource: { 'service.name': 'iam-gateway' },
  sampler: { root: 'always_on', ratio: 1, parentBased: true },
};
const TARGETS = { keycloakUrl: 'http://keycloak.test', databaseName: 'iam', log: createLogger({ level: 'silent' }) };
const CALLER = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };

describe('tracing', () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let statements: OrmLogger;
  beforeEach(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await startTracing(CONFIG, TARGETS, exporter);
    statements = tracing.ormOptions.loggerFactory!({ writer: () => {} });
  });
  afterEach(() => tracing.close());

  /** Runs `work` as the gateway runs a /graphql request: in its server span, then in the operation's. */
  function inRequest(work: () => Promise<void>, headers: Record<string, string> = {}) {
    const request = { method: 'POST', headers } as unknown as IncomingMessage;
    const response = { statusCode: 200 } as ServerResponse;
    return tracing.request(request, response, 'request-1', () => tracing.operation(work));
  }

  async function finished() {
    await tracing.flush();
    return exporter.getFinishedSpans();
  }

  /** What Apollo hands the plugin as it answers: the operation, and the errors' codes. */
  async function answer(document: string, codes: string[]) {
    const operation = parse(document).definitions[0] as OperationDefinitionNode;
    const errors = codes.map((code) => ({ message: 'refused', extensions: { code } }));
    const hooks = await tracing.graphqlPlugin.requestDidStart!({} as never);
    await hooks!.willSendResponse!({
      operation,
      request: {},
      response: { body: { kind: 'single', singleResult: { errors: errors.length > 0 ? errors : undefined } } },
    } as unknown as GraphQLRequestContextWillSendResponse<never>);
  }

  it('makes the request a server span of the caller’s trace and the operation its child, named by Apollo’s answer', async () => {
    await inRequest(() => answer('mutation CreateUser { createUser(input: {}) { message } }', []), {
      traceparent: `00-${CALLER.traceId}-${CALLER.spanId}-01`,
    });
    const [operation, request] = await finished();
    expect(request).toMatchObject({ name: 'POST /graphql', kind: SpanKind.SERVER, parentSpanContext: { spanId: CALLER.spanId } });
    expect(request?.spanContext().traceId).toBe(CALLER.traceId);
    expect(request?.attributes).toMatchObject({ 'http.response.status_code': 200, 'iam.request_id': 'request-1' });
    expect(operation).toMatchObject({
      name: 'mutation CreateUser',
      parentSpanContext: { spanId: request?.spanContext().spanId },
      attributes: {
        'graphql.operation.type': 'mutation',
        'graphql.operation.name': 'CreateUser',
        'iam.graphql.root_fields': ['createUser'],
        'iam.graphql.outcome': 'OK',
      },
      status: { code: SpanStatusCode.UNSET },
    });
  });

  it('marks the operation failed for a server-side code, not for a refusal', async () => {
    await inRequest(() => answer('{ users { totalCount } }', ['FORBIDDEN']));
    await inRequest(() =>
      answer('query Weird__Name_That_Is_Far_Too_Long_To_Be_A_Plausible_Operation_Name_At_All { me { roles } }', ['INTERNAL_SERVER_ERROR']),
    );
    const [refused, , failed] = await finished();
    expect(refused).toMatchObject({
      name: 'query',
      attributes: { 'iam.graphql.outcome': 'FORBIDDEN' },
      status: { code: SpanStatusCode.UNSET },
    });
    expect(failed).toMatchObject({ name: 'query', status: { code: SpanStatusCode.ERROR, message: 'INTERNAL_SERVER_ERROR' } });
    expect(failed?.attributes['graphql.operation.name']).toBeUndefined();
  });

  it('makes a span of each statement run for a request, its text without values, back-dated by its duration', async () => {
    await inRequest(async () => {
      statements.logQuery({ query: 'insert into "users" ("email") values (?)', params: ['ada@example.test'], took: 7, affected: 1 });
      statements.logQuery({ query: 'select 1 from "users" where "email" = ?', params: ['ada@example.test'], took: 2, level: 'error' });
      // Transaction control is logged without a duration: no span.
      statements.logQuery({ query: 'begin' });
    });
    const spans = await finished();
    const [insert, failed] = spans;
    const operation = spans.find((span) => span.name === 'query' || span.name === 'GraphQL Operation');
    expect(spans).toHaveLength(4);
    expect(insert).toMatchObject({
      name: 'INSERT',
      kind: SpanKind.CLIENT,
      parentSpanContext: { spanId: operation?.spanContext().spanId },
      attributes: {
        'db.system.name': 'postgresql',
        'db.system': 'postgresql',
        'db.namespace': 'iam',
        'db.operation.name': 'INSERT',
        'db.query.text': 'insert into "users" ("email") values (?)',
      },
    });
    const [seconds, nanos] = insert!.duration;
    expect(seconds * 1000 + nanos / 1e6).toBe(7);
    expect(failed).toMatchObject({ name: 'SELECT', status: { code: SpanStatusCode.ERROR } });
    expect(failed?.status.message).toBeUndefined();
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain('ada@example.test');
  });

  it('makes no span of a statement outside a request (jobs, probes), and never logs statements with their values', async () => {
    statements.logQuery({ query: 'select * from "user_sync"', took: 1 });
    expect(await finished()).toEqual([]);
    expect(statements.isEnabled('query-params', { enabled: true })).toBe(false);
  });

  it('sets the W3C propagator while it runs, and releases it when closed', async () => {
    expect(propagation.fields()).toEqual(['traceparent', 'tracestate']);
    await tracing.close();
    expect(propagation.fields()).toEqual([]);
    // Released: another can start in the same process.
    tracing = await startTracing(CONFIG, TARGETS, exporter);
  });

  it('exports OTLP protobuf over HTTP to the endpoint by default', async () => {
    const received: { path?: string; type?: string }[] = [];
    const collector = createServer((request, response) => {
      received.push({ path: request.url, type: request.headers['content-type'] });
      request.resume().on('end', () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      await tracing.close();
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
      tracing = await startTracing({ ...CONFIG, endpoint, protocol: 'http/protobuf' }, TARGETS);
      await inRequest(async () => {});
      await tracing.flush();
      expect(received).toEqual([{ path: '/v1/traces', type: 'application/x-protobuf' }]);
    } finally {
      collector.close();
      collector.closeAllConnections();
    }
  });

  it('warns when the last spans cannot be sent, and stops all the same', async () => {
    const warnings: string[] = [];
    const log = { warn: (_details: unknown, message: string) => warnings.push(message) } as unknown as Logger;
    const unreachable: SpanExporter = {
      export: (_spans, done) => done({ code: ExportResultCode.FAILED, error: new Error('connect ECONNREFUSED') }),
      shutdown: async () => {},
    };
    await tracing.close();
    tracing = await startTracing(CONFIG, { ...TARGETS, log }, unreachable);
    await inRequest(async () => {});
    await tracing.close();
    expect(warnings).toEqual(['the last spans could not be sent']);
  });
});
