import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small load balancer in front of gateway processes, as a real one behaves: requests go to
 * the healthy backends in turn, and a backend is healthy while its /readyz answers 200, asked
 * every `healthIntervalMs`. A backend that starts draining (SIGTERM: /readyz answers 503 at
 * once) leaves the rotation within one interval, one that refuses connections at once; a slow
 * answer changes nothing (a busy backend is not a broken one). A request whose connection is
 * refused, and so never reached a backend, goes to the next one, as nginx's
 * `proxy_next_upstream error` and Caddy's `lb_try_duration` do.
 */
export interface RoundRobin {
  /** The GraphQL endpoint through the balancer. */
  url: string;
  /** Replaces the backends (GraphQL endpoint URLs); new ones join once healthy. */
  setBackends(urls: readonly string[]): void;
  /** Resolves once `url` is in the rotation. */
  waitUntilHealthy(url: string): Promise<void>;
  close(): Promise<void>;
}

/** A connection the backend refused: the request never reached it. */
function refused(error: unknown): boolean {
  return (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
}

export async function startRoundRobin(options: { healthIntervalMs?: number } = {}): Promise<RoundRobin> {
  const interval = options.healthIntervalMs ?? 100;
  let backends: string[] = [];
  const healthy = new Set<string>();
  const waiters = new Map<string, (() => void)[]>();
  let next = 0;

  const check = async (url: string) => {
    const ready = await fetch(url.replace(/\/graphql$/, '/readyz'), { signal: AbortSignal.timeout(2_000) })
      .then((response) => response.status === 200)
      .catch((error: unknown) => (refused(error) ? false : undefined));
    if (ready === undefined) return;
    if (ready && backends.includes(url)) {
      healthy.add(url);
      for (const resolve of waiters.get(url) ?? []) resolve();
      waiters.delete(url);
    } else healthy.delete(url);
  };
  const timer = setInterval(() => {
    for (const url of backends) void check(url);
  }, interval);

  const server: Server = createServer((request, response) => {
    void forward(request)
      .then(
        async (answer) => {
          response.writeHead(answer.status, Object.fromEntries(answer.headers));
          response.end(Buffer.from(await answer.arrayBuffer()));
        },
        (error: unknown) => {
          response.writeHead(502, { 'content-type': 'text/plain' });
          response.end(`no backend answered: ${String(error)}`);
        },
      )
      // A backend cut while its answer's body was read: the client's request is cut too.
      .catch(() => response.destroy());
  });

  async function forward(request: IncomingMessage): Promise<Response> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = Object.entries(request.headers).flatMap(([name, value]) =>
      value === undefined || name === 'host' || name === 'connection' ? [] : [[name, String(value)] as [string, string]],
    );
    const rotation = backends.filter((url) => healthy.has(url));
    if (rotation.length === 0) throw new Error('no healthy backend');
    for (let attempt = 0; ; attempt++) {
      const target = rotation[next++ % rotation.length]!;
      try {
        return await fetch(new URL(request.url ?? '/graphql', target), {
          method: request.method,
          headers,
          body: request.method === 'GET' || request.method === 'HEAD' ? undefined : Buffer.concat(chunks),
        });
      } catch (error) {
        if (!refused(error) || attempt + 1 >= rotation.length) throw error;
        healthy.delete(target);
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    setBackends(urls) {
      backends = [...urls];
      for (const url of healthy) if (!backends.includes(url)) healthy.delete(url);
    },
    waitUntilHealthy(url) {
      if (healthy.has(url)) return Promise.resolve();
      return new Promise((resolve) => waiters.set(url, [...(waiters.get(url) ?? []), resolve]));
    },
    async close() {
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
