import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { GatewayContext } from './context.js';
import { requestErrorBody } from './errors.js';
import { applyCors } from './http/cors.js';
import type { Logger } from './logger.js';

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
  apollo: ApolloServer<GatewayContext>;
  createContext: (request: {
    authorization?: string;
    requestId: string;
    tenantId?: string;
    remoteAddress?: string;
    forwardedFor?: string;
  }) => Promise<GatewayContext>;
  /** Null when ready, else what is not. */
  readiness: () => Promise<Record<string, string> | null>;
  /** The origins whose pages may call /graphql across origins (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** The GraphiQL IDE, served to browsers at /graphql; absent in production. */
  ide?: Ide;
  log: Logger;
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
 * /healthz (the process is alive) and /readyz (its backends answer). Plain node:http:
 * the gateway needs no web framework for three routes.
 */
export function createHttpServer(handlers: HttpHandlers): Server {
  const corsOrigins = new Set(handlers.corsOrigins);
  return createServer((request, response) => {
    const given = headerValue(request, 'x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    response.setHeader('x-request-id', requestId);
    route(handlers, corsOrigins, request, response, requestId).catch((error: unknown) => {
      handlers.log.error({ err: error, requestId }, 'request failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'Internal server error' });
      else response.end();
    });
  });
}

async function route(
  handlers: HttpHandlers,
  corsOrigins: ReadonlySet<string>,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
) {
  const url = new URL(request.url ?? '/', 'http://gateway');
  switch (url.pathname) {
    case '/healthz':
      return sendJson(response, 200, { status: 'ok' });
    case '/readyz': {
      const problems = await handlers.readiness();
      return sendJson(response, problems ? 503 : 200, problems ? { status: 'unavailable', problems } : { status: 'ready' });
    }
    case '/graphql':
      // Before anything that may answer, so that a browser can read every answer, errors included.
      if (applyCors(corsOrigins, request, response)) return;
      if (handlers.ide && isBrowserPage(request)) return handlers.ide.sendPage(response);
      return graphql(handlers, request, response, url, requestId);
    case '/callback':
      // Keycloak sends the IDE's sign-in back here: the gateway is one of the frontends (FRONTEND_URLS).
      if (handlers.ide && isBrowserPage(request)) return handlers.ide.sendPage(response);
      return notFound(response);
    case '/':
      // Where Keycloak sends the IDE after sign-out.
      if (handlers.ide && isBrowserPage(request)) return redirect(response, '/graphql');
      return notFound(response);
    default:
      if (handlers.ide && url.pathname.startsWith('/ide/') && (await handlers.ide.sendAsset(url.pathname.slice(5), response))) return;
      return notFound(response);
  }
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

async function graphql(handlers: HttpHandlers, request: IncomingMessage, response: ServerResponse, url: URL, requestId: string) {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const body = request.method === 'POST' ? await readJsonBody(request) : undefined;
  if (body instanceof BodyError) {
    // The rest of the body was never read: this connection cannot carry another request.
    if (body.cut) response.setHeader('connection', 'close');
    return sendJson(response, body.status, requestErrorBody(body.message));
  }

  const result = await handlers.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: request.method ?? 'GET', headers, search: url.search, body },
    context: () =>
      handlers.createContext({
        authorization: headerValue(request, 'authorization'),
        requestId,
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

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_DRAINED_BYTES) return new BodyError(413, TOO_LARGE, true);
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_BODY_BYTES) return new BodyError(413, TOO_LARGE);
  const text = Buffer.concat(chunks).toString('utf8');
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
