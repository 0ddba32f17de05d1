import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a browser page may send to /graphql across origins. */
export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'OPTIONS'];
export const CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'x-tenant-id',
  'idempotency-key',
  'apollo-require-preflight',
  // The other header Apollo's CSRF refusal names: Apollo Client's GET requests may send it.
  'x-apollo-operation-name',
  'x-request-id',
];
/** Response headers a page may read: the id to quote when reporting a problem, and when to retry after a 429. */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after'];
/** How long a browser may reuse a preflight's answer: two hours, the most Chromium keeps one. */
export const CORS_MAX_AGE_SECONDS = 7200;

/**
 * Cross-origin access to /graphql for the configured origins (CORS_ORIGINS), exact matches
 * only. A request from any other origin, or with none, gets no CORS headers, so the browser
 * keeps the answer from the page (and refuses to send the request a preflight was for).
 * Never Access-Control-Allow-Credentials: callers authenticate with bearer tokens, not
 * cookies. Apollo's CSRF prevention still applies to every request that is not a preflight.
 *
 * Written here rather than with the `cors` package: given a list of origins, that package
 * answers every origin's preflight with 204 and the allowed methods and headers, and only an
 * origin callback that rejects makes it stay silent, which leaves the OPTIONS answer to the
 * caller anyway. The whole rule fits in this function.
 *
 * Answers OPTIONS itself (204, a preflight's headers for an allowed origin) and returns true;
 * otherwise sets the headers of an actual response and returns false.
 */
export function applyCors(allowedOrigins: ReadonlySet<string>, request: IncomingMessage, response: ServerResponse): boolean {
  const origin = request.headers.origin;
  const allowed = origin !== undefined && allowedOrigins.has(origin);
  // The answer depends on the Origin header: a shared cache must not hand one origin's to another.
  if (allowedOrigins.size > 0) response.setHeader('vary', 'Origin');
  if (request.method === 'OPTIONS') {
    response.statusCode = 204;
    response.setHeader('allow', CORS_ALLOWED_METHODS.join(', '));
    if (allowed && request.headers['access-control-request-method'] !== undefined) {
      response.setHeader('access-control-allow-origin', origin);
      response.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS.join(', '));
      response.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS.join(', '));
      response.setHeader('access-control-max-age', String(CORS_MAX_AGE_SECONDS));
    }
    response.end();
    return true;
  }
  if (allowed) {
    response.setHeader('access-control-allow-origin', origin);
    response.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
  }
  return false;
}
