import { createServer, request as forward, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * How the proxy treats the next requests: `pass` forwards them, `delay` forwards them
 * after `delayMs`, `blackhole` accepts them and never answers, `reset` drops the
 * connection at once.
 */
export type ProxyMode = 'pass' | 'delay' | 'blackhole' | 'reset';

export interface KeycloakProxy {
  /** Give this to the gateway as `config.keycloak.url`. */
  url: string;
  /** Every request received, in order, as `METHOD /path?query`. */
  readonly requests: string[];
  /** The headers of each request in `requests`, in the same order. */
  readonly requestHeaders: IncomingHttpHeaders[];
  mode: ProxyMode;
  delayMs: number;
  /** Requests (`METHOD /path?query`) answered 500 without reaching Keycloak, whatever the mode. */
  failWhen?: (request: string) => boolean;
  /** Requests Keycloak carries out whose answer is then lost: the connection drops instead. */
  loseAnswerWhen?: (request: string) => boolean;
  close(): Promise<void>;
}

/**
 * A reverse proxy on loopback in front of the real Keycloak: it counts the gateway's
 * calls to Keycloak and can slow, swallow or cut them to show how the gateway copes.
 */
export async function startKeycloakProxy(keycloakUrl: string): Promise<KeycloakProxy> {
  const target = new URL(keycloakUrl);
  const sockets = new Set<Socket>();
  // A guard of the test that throws (failWhen) is shown and the call cut, not
  // left as an unhandled rejection with a request nobody answers.
  const server = createServer((request, response) =>
    handle(request, response).catch((error: unknown) => {
      console.error(`keycloak proxy: ${String(error)}`);
      response.destroy();
    }),
  );
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const line = `${request.method} ${request.url}`;
    proxy.requests.push(line);
    proxy.requestHeaders.push(request.headers);
    if (proxy.failWhen?.(line)) {
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"failure injected by the test proxy"}');
      return;
    }
    const { mode, delayMs } = proxy;
    if (mode === 'blackhole') return;
    if (mode === 'reset') return void request.socket.resetAndDestroy();
    if (mode === 'delay') await delay(delayMs);
    const upstream = forward(
      {
        hostname: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, host: target.host },
      },
      (answer) => {
        if (proxy.loseAnswerWhen?.(line)) {
          answer.resume();
          answer.on('end', () => request.socket.resetAndDestroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  };
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const proxy: KeycloakProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: [],
    requestHeaders: [],
    mode: 'pass',
    delayMs: 0,
    close: () =>
      new Promise((resolve) => {
        // Blackholed requests would otherwise keep the server open forever.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
