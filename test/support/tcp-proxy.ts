import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What the proxy does with the bytes it carries, from now on, on every connection:
 * - `pass` forwards them;
 * - `delay` forwards them `delayMs` late (in order);
 * - `blackhole` swallows them and keeps the connections open (a peer that hangs);
 * - `reset` resets every open connection and each new one at once (a peer that is down).
 */
export type TcpMode = 'pass' | 'delay' | 'blackhole' | 'reset';

export interface TcpProxy {
  /** Where the proxy listens, on loopback. */
  readonly host: string;
  readonly port: number;
  /** `target` (an http:// or postgres:// URL of the proxied server) with the proxy's host and port. */
  url(target: string): string;
  mode: TcpMode;
  delayMs: number;
  /**
   * When set, a connection is reset once it carried this many bytes (both directions
   * together, since it opened): a connection cut in the middle of a message.
   */
  cutAfterBytes: number | undefined;
  /** Connections accepted since the proxy started (refused ones included). */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Resets every open connection, whatever the mode. */
  resetAll(): void;
  close(): Promise<void>;
}

interface Connection {
  client: Socket;
  upstream: Socket;
  bytes: number;
  /** Per direction, the chunks still on their way: a chain keeps them in order whatever the mode. */
  toUpstream: Promise<void>;
  toClient: Promise<void>;
}

/**
 * A small in-process TCP proxy on loopback, protocol-agnostic, for fault injection between
 * the gateway and a backend (PostgreSQL, Keycloak): point the gateway at `url(...)` and
 * switch `mode` while it works.
 *
 * When the client gives up (closes) while bytes are still delayed, they are delivered all
 * the same, and the upstream connection is kept until the server answered or `lingerMs`
 * passed: a request that was slow on the way still reaches the server, as on a real network.
 */
export async function startTcpProxy(target: { host: string; port: number }, options: { lingerMs?: number } = {}): Promise<TcpProxy> {
  const lingerMs = options.lingerMs ?? 10_000;
  const connections = new Set<Connection>();
  let mode: TcpMode = 'pass';
  let accepted = 0;

  const resetAll = () => {
    for (const connection of connections) drop(connection);
  };
  const drop = (connection: Connection) => {
    connections.delete(connection);
    if (!connection.client.destroyed) connection.client.resetAndDestroy();
    if (!connection.upstream.destroyed) connection.upstream.resetAndDestroy();
  };

  const server = createServer((client) => {
    accepted++;
    client.on('error', () => {});
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    upstream.on('error', () => {});
    const connection: Connection = { client, upstream, bytes: 0, toUpstream: Promise.resolve(), toClient: Promise.resolve() };
    connections.add(connection);

    const carry = (direction: 'toUpstream' | 'toClient', chunk: Buffer) => {
      if (mode === 'blackhole' || mode === 'reset') return;
      let cut = false;
      if (proxy.cutAfterBytes !== undefined) {
        const room = proxy.cutAfterBytes - connection.bytes;
        if (chunk.length >= room) {
          chunk = chunk.subarray(0, Math.max(0, room));
          cut = true;
        }
      }
      connection.bytes += chunk.length;
      const delayMs = mode === 'delay' ? proxy.delayMs : 0;
      const to = direction === 'toUpstream' ? upstream : client;
      connection[direction] = connection[direction].then(async () => {
        if (delayMs > 0) await sleep(delayMs);
        if (chunk.length > 0 && !to.destroyed) to.write(chunk);
        if (cut) drop(connection);
      });
    };
    client.on('data', (chunk: Buffer) => carry('toUpstream', chunk));
    upstream.on('data', (chunk: Buffer) => carry('toClient', chunk));

    client.on('close', () => {
      // Whatever is still on its way reaches the server; then the server's answer (or lingerMs) ends it.
      void connection.toUpstream.then(async () => {
        if (upstream.destroyed) return connections.delete(connection);
        const answered = new Promise<void>((resolve) => upstream.once('data', () => resolve()).once('close', () => resolve()));
        await Promise.race([answered, sleep(lingerMs)]);
        upstream.destroy();
        connections.delete(connection);
      });
    });
    upstream.on('close', () => {
      void connection.toClient.then(() => {
        client.end();
        connections.delete(connection);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const proxy: TcpProxy = {
    host: '127.0.0.1',
    port,
    url(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString().replace(/\/$/, '');
    },
    get mode() {
      return mode;
    },
    set mode(next: TcpMode) {
      mode = next;
      if (next === 'reset') resetAll();
    },
    delayMs: 0,
    cutAfterBytes: undefined,
    get accepted() {
      return accepted;
    },
    get open() {
      return connections.size;
    },
    resetAll,
    close: () =>
      new Promise((resolve) => {
        resetAll();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
