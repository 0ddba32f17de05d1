import type { IncomingMessage, Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ParseOptions,
  type ValidationRule,
} from 'graphql';
import { CloseCode } from 'graphql-ws';
// Renamed: it is no React hook, though the linter's rules of hooks would read its name so.
import { useServer as serveGraphqlWs } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { GatewayContext } from '../context.js';
import type { Logger } from '../logger.js';

/** A connection's messages are small documents and variables: anything bigger is refused by the socket itself. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** Enough for a page that watches a few kinds of events; a bound so that one socket cannot hold thousands of subscriptions. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 10;

const REFUSALS = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);

export interface SubscriptionServerOptions {
  /** The gateway's HTTP server: subscriptions share its port and its /graphql path. */
  server: Server;
  schema: GraphQLSchema;
  /** The HTTP requests' own limits (src/auth/armor.ts): depth, cost, aliases, tokens. */
  limits: { validationRules: ValidationRule[]; parseOptions: ParseOptions };
  /** A request's context, as /graphql builds it, for each subscription of a connection. */
  createContext: (request: {
    authorization: string;
    requestId: string;
    tenantId?: string;
    remoteAddress?: string;
    forwardedFor?: string;
  }) => Promise<GatewayContext>;
  /** The one place errors become GraphQL errors (src/errors.ts), as for HTTP answers. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  log: Logger;
  /** The clock tokens expire by (tests move it). */
  now?: () => number;
  /**
   * Connections one account may hold open at once (config.http.subscriptionConnectionsPerAccount):
   * a few tabs and devices, not a loop opening thousands, each kept and admitted again at
   * every change of the account for as long as it is open.
   */
  maxConnectionsPerAccount: number;
}

export interface SubscriptionServer {
  /** Connections open now (the metrics and the tests read it). */
  readonly connections: number;
  /**
   * A user's record changed (PostgreSQL announced it): each of their connections is admitted
   * again, and closed if they no longer are. `*` re-admits everyone.
   */
  userChanged(userId: string): void;
  /** Closes every connection (1001, going away) and stops accepting: the process is stopping. */
  close(): Promise<void>;
}

/** What the gateway keeps of a connection once its `connection_init` was admitted. */
interface Admitted {
  authorization: string;
  tenantId?: string;
  userId: string;
  request: IncomingMessage;
  socket: WebSocket;
  expiry: NodeJS.Timeout;
}

type Extra = {
  socket: WebSocket;
  request: IncomingMessage;
  admitted?: Admitted;
  /** The ids of this connection's subscriptions that stream (their start was allowed). */
  streaming?: Set<string>;
};

/**
 * GraphQL subscriptions over graphql-ws (the protocol Apollo Client and GraphiQL speak) on
 * the /graphql path of the gateway's own server: a WebSocket upgrade there is a subscription
 * connection, anything else is HTTP as before.
 *
 * The access token travels in `connection_init` ({authorization: 'Bearer ...'}), never in the
 * URL, where proxies would log it. Browsers send no credentials of their own over a WebSocket
 * that the gateway would honour (no cookies are read), so a page on another origin gains
 * nothing by opening one: there is no cross-site hijacking to guard against with Origin checks.
 *
 * A connection lives only as long as what admitted it:
 * - it closes (4403) when its token expires: the client reconnects with a fresh one;
 * - it closes (4403) as soon as its user is disabled, deleted or their sessions are ended,
 *   which PostgreSQL announces (`userChanged`); announcements lost while the gateway was not
 *   listening are covered by admitting every connection again once it listens (src/app.ts);
 * - each event is shown under the permission table's rule again, with the caller as they are
 *   at that moment (the subscription's resolver, src/modules/events).
 * One account holds at most `maxConnectionsPerAccount` connections: one more is closed with 1013
 * (try again later).
 * Only subscriptions travel here: queries and mutations keep HTTP, where the rate limits,
 * idempotency and access log are.
 */
export function serveSubscriptions(options: SubscriptionServerOptions): SubscriptionServer {
  const { schema, limits, log, formatError, maxConnectionsPerAccount } = options;
  // A request the gateway will not run, like a document that does not validate: BAD_USER_INPUT (src/errors.ts).
  const refusal = (message: string) => new GraphQLError(message);
  const format = (errors: readonly GraphQLError[]) => errors.map((error) => formatError(error.toJSON(), error));
  const now = options.now ?? Date.now;
  const sockets = new WebSocketServer({ server: options.server, path: '/graphql', maxPayload: MAX_MESSAGE_BYTES });
  const admitted = new Set<Admitted>();

  const admit = async (extra: Extra, connectionParams: Readonly<Record<string, unknown>> | undefined) => {
    const authorization = connectionParams?.authorization;
    const tenantId = connectionParams?.['x-tenant-id'];
    if (typeof authorization !== 'string' || (tenantId !== undefined && typeof tenantId !== 'string')) return null;
    const request = extra.request;
    const context = await options.createContext({
      authorization,
      requestId: randomUUID(),
      tenantId,
      remoteAddress: request.socket.remoteAddress,
      forwardedFor: headerOf(request, 'x-forwarded-for'),
    });
    const caller = await context.caller().catch(() => null);
    if (!caller) return null;
    const untilExpiry = caller.principal.expiresAt * 1000 - now();
    if (untilExpiry <= 0) return null;
    const connection: Admitted = {
      authorization,
      tenantId,
      userId: caller.principal.userId,
      request,
      socket: extra.socket,
      expiry: setTimeout(() => extra.socket.close(CloseCode.Forbidden, 'Token expired'), Math.min(untilExpiry, 2 ** 31 - 1)),
    };
    connection.expiry.unref();
    return connection;
  };

  const readmit = async (connection: Admitted) => {
    const context = await options.createContext(contextRequest(connection));
    const stillAdmitted = await context.caller().then(
      () => true,
      () => false,
    );
    if (!stillAdmitted) connection.socket.close(CloseCode.Forbidden, 'Forbidden');
  };

  const server = serveGraphqlWs<Record<string, unknown> | undefined, Extra>(
    {
      schema,
      onConnect: async (ctx) => {
        const connection = await admit(ctx.extra, ctx.connectionParams).catch((error: unknown) => {
          log.error({ err: error }, 'a subscription connection could not be admitted');
          return null;
        });
        if (!connection) {
          // 4401 rather than graphql-ws' 4403 for `false`: the client should sign in again, not give up.
          ctx.extra.socket.close(CloseCode.Unauthorized, 'Unauthorized');
          return false;
        }
        // Counted and added with no wait in between, so that sockets admitted at once are counted too.
        if (openFor(connection.userId) >= maxConnectionsPerAccount) {
          clearTimeout(connection.expiry);
          // 1013 (try again later): the account's other sockets are its limit, not its token.
          ctx.extra.socket.close(1013, `At most ${maxConnectionsPerAccount} connections per account`);
          return false;
        }
        ctx.extra.admitted = connection;
        admitted.add(connection);
        return true;
      },
      onClose: (ctx) => forget(ctx.extra),
      onDisconnect: (ctx) => forget(ctx.extra),
      // Refusals here reach the client through onError, formatted like every other error.
      onSubscribe: (ctx, _id, payload) => {
        if (Object.keys(ctx.subscriptions).length >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
          return [refusal(`At most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection`)];
        }
        let document: ReturnType<typeof parse>;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (error) {
          return [error instanceof GraphQLError ? error : refusal('The query could not be parsed')];
        }
        const errors = validate(schema, document, [...specifiedRules, ...limits.validationRules]);
        if (errors.length > 0) return errors;
        if (getOperationAST(document, payload.operationName)?.operation !== 'subscription') {
          return [refusal('Only subscriptions are served over WebSocket: send queries and mutations over HTTP')];
        }
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables ?? undefined,
        };
      },
      onOperation: (ctx, id, _payload, _args, result) => {
        // A refused start answers once (next, then complete) and streams nothing.
        if (Symbol.asyncIterator in result) (ctx.extra.streaming ??= new Set()).add(id);
      },
      onComplete: (ctx, id) => {
        ctx.extra.streaming?.delete(id);
      },
      onNext: (ctx, id, _payload, _args, result) => {
        if (!result.errors) return result;
        const errors = format(result.errors);
        // A streaming subscription's caller was refused this event (the rule is asked again for
        // each): they lost the right since they subscribed. The refusal is sent, then the
        // connection ends. A refused start leaves the connection and its other subscriptions be.
        if (ctx.extra.streaming?.has(id) && errors.some((error) => REFUSALS.has(String(error.extensions?.code)))) {
          setImmediate(() => ctx.extra.socket.close(CloseCode.Forbidden, 'Forbidden'));
        }
        return { ...result, errors };
      },
      onError: (_ctx, _id, _payload, errors) => format(errors),
      context: (ctx) => options.createContext(contextRequest(ctx.extra.admitted!)),
    },
    sockets,
  );

  // graphql-ws (use/ws) answers an error of a socket (a frame over MAX_MESSAGE_BYTES, a broken
  // frame: the client's doing, before any sign-in) with console.error and a stack trace, then
  // closes it. Its listener, added as the socket connected just before this one, is replaced
  // by one that writes a line to the gateway's log instead: one JSON line per failed socket,
  // with the reason and no stack, like every other line operators collect.
  sockets.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error: Error & { code?: string }) => {
      log.info({ reason: error.code ?? error.message }, 'a subscription connection failed');
      if (socket.readyState === socket.OPEN) socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
  });

  function openFor(userId: string): number {
    let count = 0;
    for (const connection of admitted) if (connection.userId === userId) count++;
    return count;
  }

  function forget(extra: Extra) {
    if (!extra.admitted) return;
    clearTimeout(extra.admitted.expiry);
    admitted.delete(extra.admitted);
  }

  return {
    get connections() {
      return admitted.size;
    },
    userChanged(userId) {
      for (const connection of admitted) {
        if (userId !== '*' && connection.userId !== userId) continue;
        readmit(connection).catch((error: unknown) => {
          log.error({ err: error }, 'a subscription connection could not be admitted again: closed');
          connection.socket.close(CloseCode.InternalServerError, 'Internal server error');
        });
      }
    },
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

function contextRequest(connection: Admitted) {
  return {
    authorization: connection.authorization,
    requestId: randomUUID(),
    tenantId: connection.tenantId,
    remoteAddress: connection.request.socket.remoteAddress,
    forwardedFor: headerOf(connection.request, 'x-forwarded-for'),
  };
}

function headerOf(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
