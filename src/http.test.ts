import { connect, type AddressInfo, type Socket } from 'node:net';
import { HeaderMap } from '@apollo/server';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpHandlers, type HttpServer, type Readiness } from './http.js';

const READY: Readiness = { ready: true, degraded: false, checks: { postgres: 'ok', keycloak: 'ok' } };

describe('the HTTP server', () => {
  let http: HttpServer | undefined;
  afterEach(async () => {
    await http?.close(1000);
  });

  it('ATTACK-3: probes of /readyz that arrive while a check runs share it: anonymous floods make no queue of queries and Keycloak calls', async () => {
    const probes = 20;
    let checks = 0;
    const waiting: ((readiness: Readiness) => void)[] = [];
    const answer = (readiness: Readiness) => {
      for (const resolve of waiting.splice(0)) resolve(readiness);
    };
    const handlers = {
      readiness: () => {
        checks += 1;
        return new Promise<Readiness>((resolve) => waiting.push(resolve));
      },
      corsOrigins: [],
      log: pino({ level: 'silent' }),
    } as Partial<HttpHandlers> as HttpHandlers;
    http = createHttpServer(handlers);
    let arrived = 0;
    http.server.on('request', () => {
      arrived += 1;
    });
    await new Promise<void>((resolve) => http!.server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}/readyz`;
    const answers = Array.from({ length: probes }, () => fetch(url).then(async (response) => [response.status, await response.json()]));
    await expect.poll(() => arrived).toBe(probes);
    answer(READY);
    expect(await Promise.all(answers)).toEqual(Array(probes).fill([200, { status: 'ready', checks: READY.checks }]));
    expect(checks).toBe(1);
    // The next probe checks afresh.
    const next = fetch(url);
    await expect.poll(() => checks).toBe(2);
    answer({ ...READY, ready: false, checks: { postgres: 'unreachable', keycloak: 'ok' } });
    expect((await next).status).toBe(503);
  });

  describe('a client that sends a whole POST and half-closes its side (FIN)', () => {
    const text = JSON.stringify({ query: '{ publicHello }' });
    const request = `POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\n\r\n${text}`;
    const start = async (answered: Promise<void>) => {
      const handlers = {
        apollo: {
          executeHTTPGraphQLRequest: async () => {
            await answered;
            return { status: 200, headers: new HeaderMap(), body: { kind: 'complete', string: '{"data":{}}' } };
          },
        },
        corsOrigins: [],
        log: pino({ level: 'silent' }),
      } as Partial<HttpHandlers> as HttpHandlers;
      http = createHttpServer(handlers);
      await new Promise<void>((resolve) => http!.server.listen(0, '127.0.0.1', resolve));
      const serverSide = new Promise<Socket>((resolve) => http!.server.once('connection', resolve));
      // Like the review's client: it ends its side and never reads.
      const socket = connect((http.server.address() as AddressInfo).port, '127.0.0.1', () => socket.end(request));
      socket.on('error', () => {});
      const server = await serverSide;
      const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
      return { socket, serverClosed };
    };
    const rest = (socket: Socket) =>
      new Promise<string>((resolve) => {
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString();
        });
        socket.on('close', () => resolve(received));
      });

    // The fifth review saw such a socket open for 70 s and took it for the gateway's: it was its
    // own client's, which never read, and a socket that leaves its data unread emits neither
    // 'end' nor 'close'. The server's side was closed within milliseconds.
    it('is answered when the answer is ready, and the server closes its side even though the client never reads', async () => {
      const { socket, serverClosed } = await start(Promise.resolve());
      await serverClosed;
      expect(await rest(socket)).toMatch(/^HTTP\/1\.1 200 OK\r\n.*\r\n\r\n\{"data":\{\}\}$/s);
    });

    // Node's http server (httpAllowHalfOpen false, its default) takes the FIN for the client
    // leaving: the connection goes at once and a later answer is dropped. Nothing is held.
    it('is disconnected at once when its answer is not ready yet', async () => {
      let answer = () => {};
      const { socket, serverClosed } = await start(new Promise<void>((resolve) => (answer = resolve)));
      await serverClosed;
      answer();
      expect(await rest(socket)).toBe('');
    });
  });
});
