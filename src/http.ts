import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { GatewayContext } from './context.js';
import { requestErrorBody } from './errors.js';
import { applyCors } from './http/cors.js';
import { logAccess } from './http/access-log.js';
import { serveRequest, type Logger, type RequestRecord } from './logger.js';
import type { Metrics } from './metrics/metrics.js';
import type { Tracing } from './telemetry/tracing.js';

const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A client's X-Request-Id is kept only when it is a short token of safe characters: it is
 * echoed in the response and written into every log line, where anything else could forge
 * or break entries. Otherwise the request gets an id of its own.
 */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * A body past MAX_BODY_BYTES is still read to its end, up to this much, and dropped: the
 * client is still sending, and only once it is done does it read the 413 (nginx's lingering
 * close does the same). Past this, the connection is cut.
 */
const MAX_DRAINED_BYTES = 16 * MAX_BODY_BYTES;

export interface HttpHandlers {
  /** Apollo, or Apollo run inside the operation's span when tracing is on (src/app.ts). */
  apollo: Pick<ApolloServer<GatewayContext>, 'executeHTTPGraphQLRequest'>;
  createContext: (request: {
    authorization?: string;
    requestId: string;
    tenantId?: string;
    remoteAddress?: string;
    forwardedFor?: string;
  }) => Promise<GatewayContext>;
  /** What the backends answer now (asked at each /readyz). */
  readiness: () => Promise<Readiness>;
  /** The origins whose pages may call /graphql across origins (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** Served at /metrics; absent when METRICS_PORT gives them a server of their own (createMetricsServer). */
  metrics?: Pick<Metrics, 'render'>;
  /** The GraphiQL IDE, served to browsers at /graphql; absent in production. */
  ide?: Ide;
  /** A span for each request to /graphql (src/telemetry/tracing.ts); absent when tracing is off. */
  tracing?: Pick<Tracing, 'request'>;
  log: Logger;
}

/**
 * Whether the gateway can serve, and what each backend answered. PostgreSQL is required;
 * without Keycloak the gateway still serves reads, `me` and deferred registrations, so
 * Keycloak's absence leaves it `degraded` but in the load balancer: otherwise every
 * replica would leave at once.
 */
export interface Readiness {
  ready: boolean;
  degraded: boolean;
  checks: Record<string, 'ok' | 'unreachable'>;
}

/** The gateway's HTTP server, and the two steps that stop it without dropping requests. */
export interface HttpServer {
  server: Server;
  /**
   * From now on /readyz answers 503 (load balancers stop sending) while requests are still
   * served, each answer closing its connection so that clients reconnect elsewhere.
   */
  drain(): void;
  /**
   * Stops accepting, closes idle keep-alive connections at once and busy ones as their answer
   * is sent; after `timeoutMs` cuts what is left. Resolves, once nothing is open, with the
   * number of requests that were cut.
   */
  close(timeoutMs: number): Promise<number>;
}

/**
 * An IDE served from the gateway itself (src/ide.ts, development only: its assets are
 * development dependencies, so the production entry never imports it).
 */
export interface Ide {
  /** Answers a browser's GET /graphql, or /callback on its way back from signing in, with the IDE's page. */
  sendPage(response: ServerResponse): Promise<void>;
  /** Serves /ide/<asset>; false when the name is not one of the IDE's files. */
  sendAsset(name: string, response: ServerResponse): Promise<boolean>;
}

/**
 * The gateway's HTTP surface: /graphql (Apollo, and GraphiQL for browsers in development),
 * /healthz (the process is alive) and /readyz (it can serve: PostgreSQL answers, and it is
 * not stopping). Plain node:http:
 * the gateway needs no web framework for three routes.
 */
export function createHttpServer(given: HttpHandlers): HttpServer {
  // Anyone may ask /readyz, and each check holds a pooled connection (kept past its timeout:
  // a query cannot be aborted) and calls Keycloak: probes that arrive while one runs share it.
  let checking: Promise<Readiness> | undefined;
  const readiness = () =>
    (checking ??= given.readiness().finally(() => {
      checking = undefined;
    }));
  const handlers: HttpHandlers = { ...given, readiness };
  const corsOrigins = new Set(handlers.corsOrigins);
  const inFlight = new Set<ServerResponse>();
  const state = { draining: false, closing: false };
  const server = createServer((request, response) => {
    const given = headerValue(request, 'x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    const startedAt = performance.now();
    const record: RequestRecord = { requestId };
    response.setHeader('x-request-id', requestId);
    if (state.draining) response.setHeader('connection', 'close');
    inFlight.add(response);
    response.once('close', () => {
      inFlight.delete(response);
      logAccess(handlers.log, request, response, record, startedAt);
      // An answer streamed before the drain kept its connection open: it is idle now.
      if (state.closing) setImmediate(() => server.closeIdleConnections());
    });
    serveRequest(record, () =>
      route(handlers, state, corsOrigins, request, response, record).catch((error: unknown) => {
        // A client gone before its body arrived (or a connection cut at shutdown) is no
        // server error: its access line says `aborted`.
        if (request.destroyed && !request.complete) return;
        handlers.log.error({ err: error }, 'request failed');
        if (!response.headersSent) sendJson(response, 500, { error: 'Internal server error' });
        else response.end();
      }),
    );
  });

  const drain = () => {
    state.draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
  };
  return {
    server,
    drain,
    async close(timeoutMs) {
      drain();
      state.closing = true;
      // Resolves when every connection is gone (at once, with an error, when it never listened).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      });
      const late = await Promise.race([closed.then(() => false), expired]);
      clearTimeout(timer);
      if (!late) return 0;
      const cut = inFlight.size;
      server.closeAllConnections();
      await closed;
      return cut;
    },
  };
}

async function route(
  handlers: HttpHandlers,
  state: { draining: boolean },
  corsOrigins: ReadonlySet<string>,
  request: IncomingMessage,
  response: ServerResponse,
  record: RequestRecord,
) {
  const url = requestTarget(request.url ?? '/');
  if (!url) return sendJson(response, 400, { error: 'Bad request target' });
  switch (url.pathname) {
    case '/healthz':
      return sendJson(response, 200, { status: 'ok' });
    case '/readyz': {
      if (state.draining) return sendJson(response, 503, { status: 'stopping' });
      const { ready, degraded, checks } = await handlers.readiness();
      const status = ready ? (degraded ? 'degraded' : 'ready') : 'unavailable';
      return sendJson(response, ready ? 200 : 503, { status, checks });
    }
    case '/metrics':
      if (!handlers.metrics) break;
      return sendMetrics(handlers.metrics, response);
    case '/graphql':
      // Before anything that may answer, so that a browser can read every answer, errors included.
      if (applyCors(corsOrigins, request, response)) return;
      if (handlers.ide && isBrowserPage(request)) return handlers.ide.sendPage(response);
      if (handlers.tracing)
        return handlers.tracing.request(request, response, record.requestId, () => graphql(handlers, request, response, url, record));
      return graphql(handlers, request, response, url, record);
    case '/callback':
      // Keycloak sends the IDE's sign-in back here: the gateway is one of the frontends (FRONTEND_URLS).
      if (handlers.ide && isBrowserPage(request)) return handlers.ide.sendPage(response);
      break;
    case '/':
      // Where Keycloak sends the IDE after sign-out.
      if (handlers.ide && isBrowserPage(request)) return redirect(response, '/graphql');
      break;
  }
  if (handlers.ide && url.pathname.startsWith('/ide/') && (await handlers.ide.sendAsset(url.pathname.slice(5), response))) return;
  return notFound(response);
}

/**
 * A plain path without a query string (every POST to /graphql) is its own pathname: the WHATWG
 * parser would change nothing in it, and costs a few microseconds a request (measured by `npm
 * run bench`, workload 1). Anything else (dots, escapes, a query string) goes through the parser.
 * Undefined for a target the parser refuses: Node's HTTP parser lets through absolute forms such
 * as `http://x:99999/graphql` (a port out of range), which are the client's error, not the server's.
 * (On METRICS_PORT the parser's throw came before any catch: one such request ended the process.)
 */
const PLAIN_PATH = /^\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;

function requestTarget(target: string): Pick<URL, 'pathname' | 'search'> | undefined {
  if (PLAIN_PATH.test(target)) return { pathname: target, search: '' };
  try {
    return new URL(target, 'http://gateway');
  } catch {
    return undefined;
  }
}

/** The server of METRICS_PORT: /metrics and nothing else. */
export function createMetricsServer(metrics: Pick<Metrics, 'render'>, log: Logger): Server {
  return createServer((request, response) => {
    const answer =
      requestTarget(request.url ?? '/')?.pathname === '/metrics'
        ? sendMetrics(metrics, response)
        : Promise.resolve(sendJson(response, 404, { error: 'Not found: this port serves /metrics' }));
    answer.catch((error: unknown) => {
      log.error({ err: error }, 'metrics scrape failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'Internal server error' });
    });
  });
}

async function sendMetrics(metrics: Pick<Metrics, 'render'>, response: ServerResponse) {
  const { contentType, body } = await metrics.render();
  response.statusCode = 200;
  response.setHeader('content-type', contentType);
  response.end(body);
}

/** A browser navigating to a page, as opposed to a client calling the API. */
function isBrowserPage(request: IncomingMessage): boolean {
  return request.method === 'GET' && Boolean(request.headers.accept?.includes('text/html'));
}

function notFound(response: ServerResponse) {
  sendJson(response, 404, { error: 'Not found: the API is at /graphql' });
}

function redirect(response: ServerResponse, location: string) {
  response.statusCode = 303;
  response.setHeader('location', location);
  response.end();
}

async function graphql(
  handlers: HttpHandlers,
  request: IncomingMessage,
  response: ServerResponse,
  url: Pick<URL, 'search'>,
  record: RequestRecord,
) {
  // GraphQL answers (tokens, personal data) are never to be stored by browsers or proxies. Set
  // here rather than by an Apollo plugin: one hook fewer on every request.
  response.setHeader('cache-control', 'no-store');
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const body = request.method === 'POST' ? await readJsonBody(request) : undefined;
  if (body instanceof BodyError) {
    // The rest of the body was never read: this connection cannot carry another request.
    if (body.cut) response.setHeader('connection', 'close');
    record.errorCodes = ['BAD_USER_INPUT'];
    return sendJson(response, body.status, requestErrorBody(body.message));
  }

  const result = await handlers.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: request.method ?? 'GET', headers, search: url.search, body },
    context: () =>
      handlers.createContext({
        authorization: headerValue(request, 'authorization'),
        requestId: record.requestId,
        tenantId: headerValue(request, 'x-tenant-id'),
        // The rate limits count callers by address; X-Forwarded-For counts only behind trusted proxies.
        remoteAddress: request.socket.remoteAddress,
        forwardedFor: headerValue(request, 'x-forwarded-for'),
      }),
  });
  for (const [name, value] of result.headers) response.setHeader(name, value);
  response.statusCode = result.status ?? 200;
  if (result.body.kind === 'complete') {
    response.end(result.body.string);
    return;
  }
  for await (const chunk of result.body.asyncIterator) response.write(chunk);
  response.end();
}

class BodyError {
  constructor(
    readonly status: number,
    readonly message: string,
    /** The body was not read to its end. */
    readonly cut = false,
  ) {}
}

const TOO_LARGE = `Request body larger than ${MAX_BODY_BYTES} bytes`;

/**
 * The body, parsed when JSON. Read with the stream's own events rather than async iteration:
 * its iterator costs a few microseconds per request in promises (measured by `npm run bench`,
 * workload 1), and a request body is nearly always one chunk.
 */
function readJsonBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DRAINED_BYTES) {
        stop();
        // The client is still sending: the connection goes with it (destroying the request cuts its socket).
        request.destroy();
        resolve(new BodyError(413, TOO_LARGE, true));
      } else if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(
        size > MAX_BODY_BYTES
          ? new BodyError(413, TOO_LARGE)
          : parseBody(request, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)),
      );
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    // Closed before its end without an error (the client went away): as stream.finished says it.
    const onClose = () => {
      stop();
      reject(new Error('the request closed before its body ended'));
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

function parseBody(request: IncomingMessage, bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  const type = request.headers['content-type'] ?? '';
  // Apollo's CSRF prevention decides about non-JSON requests; hand it the raw text.
  if (!type.includes('application/json')) return text;
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return new BodyError(400, 'Request body is not valid JSON');
  }
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.end(JSON.stringify(body));
}
