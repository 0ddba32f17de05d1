import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  createContextKey,
  diag,
  DiagLogLevel,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { ApolloServerPlugin } from '@apollo/server';
import { DefaultLogger, type LogContext, type LoggerNamespace, type LoggerOptions } from '@mikro-orm/core';
import type { Options } from '@mikro-orm/postgresql';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { Kind, type OperationDefinitionNode } from 'graphql';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../config.js';
import { answeredErrors, codeOf, ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { keycloakFamily, OPERATION_NAME } from '../metrics/metrics.js';

/**
 * OpenTelemetry tracing, on when an OTLP endpoint is configured (src/config.ts). A trace of
 * a call to /graphql holds:
 *
 * - one server span for the HTTP request, child of the caller's W3C `traceparent`;
 * - under it, one span for the GraphQL operation (type, name, root fields, outcome code);
 * - under that, one client span per call to Keycloak, whose `traceparent` names it, so that
 *   Keycloak's own spans join the trace;
 * - and one span per SQL statement, its text with `?` where the values go.
 *
 * Attributes never hold the data a request carries: no document, no variables, no SQL
 * parameter, no query-string value of a Keycloak call (they are `REDACTED`), no error message;
 * of what the caller chose, only the operation's name and the request id, both held to
 * name-like characters. Statements and calls made outside a traced request (background jobs,
 * probes) make no span.
 *
 * How each kind of span is made, and why not by OpenTelemetry's auto-instrumentations:
 * those of `http` and `pg` patch modules as they are `require`d; the gateway is ES modules,
 * which they reach only through a loader hook given to node on its command line (`--import`):
 * tried without it, `instrumentation-http` made no span of a server from `node:http` imported
 * by an ES module, and with it, it did. And the `pg` one would record MikroORM's statements
 * after MikroORM inlined the values (it sends `CompiledQuery.raw(formatted)`). So
 * the server and operation spans are made here, around the request (src/http.ts); the SQL
 * spans come from MikroORM's logger, which it calls with each statement's text before the
 * values are put in, its duration and its outcome; and the Keycloak spans come from
 * `@opentelemetry/instrumentation-undici`, which needs no hook: Node's fetch publishes every
 * request on diagnostics channels, and every call to Keycloak goes through fetch.
 *
 * The tracer provider is the gateway's own, not registered as the process's global one: a
 * library that speaks the OpenTelemetry API (the Keycloak admin client, the Redis client)
 * adds no spans, and so no attributes nobody vetted. The context manager and the W3C
 * propagator are process-wide by nature, so one gateway per process traces at a time.
 */
export interface Tracing {
  /** Runs `handle` in a server span for the request, child of the caller's `traceparent`. */
  request<T>(request: IncomingMessage, response: ServerResponse, requestId: string, handle: () => Promise<T>): Promise<T>;
  /** Runs `execute` (Apollo's) in the GraphQL operation's span, which `graphqlPlugin` names. */
  operation<T>(execute: () => Promise<T>): Promise<T>;
  /** Names the operation's span and records its outcome. */
  readonly graphqlPlugin: ApolloServerPlugin;
  /** MikroORM options that make a span of each SQL statement. */
  readonly ormOptions: Partial<Options>;
  /** Sends every ended span now. */
  flush(): Promise<void>;
  /** Sends what is left, then stops tracing and releases the process-wide hooks. */
  close(): Promise<void>;
}

export interface TracingOptions {
  /** Calls to this origin get client spans and carry `traceparent`; no other call does. */
  keycloakUrl: string;
  /** The database's name, for `db.namespace`. */
  databaseName: string;
  /** Where OpenTelemetry's own warnings go: exports that fail (a collector unreachable). */
  log: Logger;
}

const TRACER_NAME = 'iam-gateway';
/** Where the operation's span travels from `operation` to the Apollo plugin. */
const OPERATION_SPAN = createContextKey('iam-gateway graphql operation span');
/** A long statement (an `in (?, ?, …)` list) is cut here rather than shipped whole. */
const MAX_ATTRIBUTE_LENGTH = 4096;
const SQL_VERB = /^\s*\(?\s*([A-Za-z]+)/;

// Attributes of OpenTelemetry's semantic conventions still marked incubating: written out, as
// the conventions package advises, so that their names are fixed here.
const ATTR_DB_SYSTEM = 'db.system';
const ATTR_GRAPHQL_OPERATION_NAME = 'graphql.operation.name';
const ATTR_GRAPHQL_OPERATION_TYPE = 'graphql.operation.type';
const ATTR_DB_RESPONSE_RETURNED_ROWS = 'db.response.returned_rows';

/**
 * Starts tracing: the SDK is loaded only now, so that a gateway without tracing neither loads
 * nor runs any of it. Spans go to the OTLP endpoint of `config`, or to `exporter` (tests).
 */
export async function startTracing(config: TracingConfig, options: TracingOptions, exporter?: SpanExporter): Promise<Tracing> {
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, sdk, { resourceFromAttributes }, { UndiciInstrumentation }] =
    await Promise.all([
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
      import('@opentelemetry/sdk-trace'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/instrumentation-undici'),
    ]);
  const { OTLPTraceExporter } =
    config.protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');

  const root =
    config.sampler.root === 'always_on'
      ? new sdk.AlwaysOnSampler()
      : config.sampler.root === 'always_off'
        ? new sdk.AlwaysOffSampler()
        : new sdk.TraceIdRatioBasedSampler(config.sampler.ratio);
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes(config.resource),
    sampler: config.sampler.parentBased ? new sdk.ParentBasedSampler({ root }) : root,
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_LENGTH },
    // The exporter reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and the TLS files itself.
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter: exporter ?? new OTLPTraceExporter({ url: config.endpoint }) })],
  });
  const tracer = provider.getTracer(TRACER_NAME);

  if (!context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())) {
    await provider.shutdown();
    throw new Error('Tracing cannot start: this process already has an OpenTelemetry context manager (one tracing gateway per process)');
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // Without a logger, OpenTelemetry drops its errors: a collector out of reach would go unnoticed.
  const warn = (message: string, ...details: unknown[]) =>
    options.log.warn({ details: details.map((detail) => String(detail)) }, `OpenTelemetry: ${message}`);
  const ignore = () => {};
  diag.setLogger(
    { error: warn, warn, info: ignore, debug: ignore, verbose: ignore },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );

  const keycloakOrigin = new URL(options.keycloakUrl).origin;
  // It listens from its construction on, and takes the gateway's provider in the same tick,
  // before any request could be made.
  const keycloakCalls = new UndiciInstrumentation({
    requireParentforSpans: true,
    ignoreRequestHook: (request) => new URL(String(request.origin)).origin !== keycloakOrigin,
    startSpanHook: (request) => redactedUrl(new URL(request.path, String(request.origin))),
    requestHook: (span, request) => span.updateName(`${request.method} ${keycloakFamily(request.path)}`),
  });
  keycloakCalls.setTracerProvider(provider);

  return {
    request: (request, response, requestId, handle) => traceRequest(tracer, request, response, requestId, handle),
    async operation(execute) {
      const span = tracer.startSpan('GraphQL Operation', { kind: SpanKind.INTERNAL });
      const active = trace.setSpan(context.active(), span).setValue(OPERATION_SPAN, span);
      try {
        return await context.with(active, execute);
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'the operation failed' });
        throw error;
      } finally {
        span.end();
      }
    },
    graphqlPlugin: operationPlugin(),
    ormOptions: {
      loggerFactory: (loggerOptions: LoggerOptions) =>
        new StatementSpans(loggerOptions, tracer, {
          [ATTR_DB_SYSTEM_NAME]: 'postgresql',
          // The older name of the same attribute, which many backends still read.
          [ATTR_DB_SYSTEM]: 'postgresql',
          [ATTR_DB_NAMESPACE]: options.databaseName,
        }),
    },
    flush: () => provider.forceFlush(),
    async close() {
      keycloakCalls.disable();
      // Spans that cannot be sent (a collector out of reach) do not make the stop fail.
      await provider.shutdown().catch((error: unknown) => options.log.warn({ err: error }, 'the last spans could not be sent'));
      propagation.disable();
      context.disable();
      diag.disable();
    },
  };
}

async function traceRequest<T>(
  tracer: Tracer,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  handle: () => Promise<T>,
): Promise<T> {
  const caller = propagation.extract(ROOT_CONTEXT, request.headers);
  const method = request.method && /^[A-Z]{1,10}$/.test(request.method) ? request.method : '_OTHER';
  const span = tracer.startSpan(
    `${method} /graphql`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_HTTP_ROUTE]: '/graphql',
        // Not the query string: a GET carries the document and its variables there.
        [ATTR_URL_PATH]: '/graphql',
        [ATTR_URL_SCHEME]: 'http',
        // The id of the request in the gateway's logs.
        'iam.request_id': requestId,
      },
    },
    caller,
  );
  try {
    return await context.with(trace.setSpan(caller, span), handle);
  } catch (error) {
    span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.name : 'unknown');
    throw error;
  } finally {
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
}

/**
 * Names the operation's span `<type> <name>` (the conventions' GraphQL span name) and records
 * its outcome: `OK` or the first error's code, the status an error when that code is a
 * server-side one (5xx), not when the caller was refused.
 */
function operationPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      const span = context.active().getValue(OPERATION_SPAN) as Span | undefined;
      if (!span) return;
      return {
        async willSendResponse({ operation, request, response }) {
          const type = operation?.operation;
          const given = operation?.name?.value ?? request.operationName;
          // Client-chosen names become attributes only when they look like names, as in the metrics.
          const name = given && OPERATION_NAME.test(given) ? given : undefined;
          if (type) span.updateName(name ? `${type} ${name}` : type);
          const [firstError] = answeredErrors(response.body);
          const outcome = firstError ? codeOf(firstError) : 'OK';
          span.setAttributes({
            ...(type && { [ATTR_GRAPHQL_OPERATION_TYPE]: type }),
            ...(name && { [ATTR_GRAPHQL_OPERATION_NAME]: name }),
            ...(operation && { 'iam.graphql.root_fields': rootFields(operation) }),
            'iam.graphql.outcome': outcome,
          });
          if ((ERROR_STATUS[outcome as ErrorCode] ?? 500) >= 500 && outcome !== 'OK') {
            span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
          }
        },
      };
    },
  };
}

/** The schema's root fields the operation asks for (`createUser`): names the schema defines, whatever the client sent. */
function rootFields(operation: OperationDefinitionNode): string[] {
  return operation.selectionSet.selections.flatMap((selection) => (selection.kind === Kind.FIELD ? [selection.name.value] : []));
}

/**
 * The URL attributes of a Keycloak call without the query string's values: admin API lookups
 * carry emails and usernames there (`/users?email=…`). The parameters' names stay.
 */
function redactedUrl(url: URL): Attributes {
  const query = [...url.searchParams.keys()].map((name) => `${encodeURIComponent(name)}=REDACTED`).join('&');
  url.search = query;
  return {
    [ATTR_URL_FULL]: url.toString(),
    [ATTR_URL_QUERY]: query,
    'iam.keycloak.endpoint': keycloakFamily(url.pathname),
  };
}

/**
 * MikroORM's logger, which it calls after each statement with the statement's text (`?`
 * where the values go), how long it took, and whether it failed: each becomes a span, child
 * of the span active when the statement ran. Its start is back-dated by `took`, which
 * MikroORM counts in whole milliseconds. Transaction control (`begin`, `commit`) is logged
 * without a duration, and makes no span.
 *
 * Why a logger rather than the pool (MikroORM's `onPoolCreated`): `pg` only ever sees the
 * statement with its values inlined, as MikroORM formats it before sending.
 */
class StatementSpans extends DefaultLogger {
  constructor(
    options: LoggerOptions,
    private readonly tracer: Tracer,
    private readonly attributes: Attributes,
  ) {
    super(options);
  }

  override logQuery(log: { query: string } & LogContext): void {
    if ((log.namespace ?? 'query') === 'query' && log.took !== undefined) this.recordStatement(log.query, log.took, log);
    super.logQuery(log);
  }

  /** Never the statement with its values, whatever the debug mode: its text is what spans record. */
  override isEnabled(namespace: LoggerNamespace, context?: LogContext): boolean {
    return namespace !== 'query-params' && super.isEnabled(namespace, context);
  }

  private recordStatement(statement: string, tookMs: number, log: LogContext) {
    // Only statements of a traced request: the jobs' and probes' would each start a trace.
    if (!trace.getSpan(context.active())?.isRecording()) return;
    const operation = SQL_VERB.exec(statement)?.[1]?.toUpperCase();
    const end = Date.now();
    const span = this.tracer.startSpan(operation ?? 'postgresql', {
      kind: SpanKind.CLIENT,
      startTime: end - tookMs,
      attributes: {
        ...this.attributes,
        [ATTR_DB_QUERY_TEXT]: statement,
        ...(operation && { [ATTR_DB_OPERATION_NAME]: operation }),
        ...(log.results !== undefined && { [ATTR_DB_RESPONSE_RETURNED_ROWS]: log.results }),
      },
    });
    // Not the error's message: PostgreSQL's names the values (`Key (email)=(…) already exists`).
    if (log.level === 'error') span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(end);
  }
}
