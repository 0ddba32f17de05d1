import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { buildGateway, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const config = inject('config');
// Compiled once, before the tests' clocks start.
beforeAll(async () => {
  await buildGateway();
});

/** A test's own shutdown timing: a short drain, and a deadline of its choosing. */
const stopping = (shutdown: Config['shutdown']): Config => ({ ...config, shutdown });

/** GET or POST over `agent`, so that a test decides which connection carries it. */
function send(
  agent: Agent,
  url: string,
  body?: unknown,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { agent, method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(text) }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const baseOf = (gateway: GatewayProcess) => gateway.url.replace(/\/graphql$/, '');
const logged = (gateway: GatewayProcess, msg: string) => gateway.logs.filter((line) => line.msg === msg);

describe('the gateway process', () => {
  it('stops cleanly on SIGTERM: exit code 0', async () => {
    const gateway = await startGatewayProcess(config);
    expect((await gateway.graphql('{ publicHello }')).data).toBeDefined();

    await gateway.stop();

    expect(await gateway.exited).toBe(0);
    expect(gateway.logs.filter((line) => line.msg === 'stopping')).toEqual([expect.objectContaining({ signal: 'SIGTERM' })]);
  });

  it('stops cleanly when Ctrl-C arrives twice, as npm forwards it to its script once more', async () => {
    const gateway = await startGatewayProcess(config);

    process.kill(gateway.pid, 'SIGINT');
    process.kill(gateway.pid, 'SIGINT');

    // A second signal nobody listened for would have killed it (exit code null, by SIGINT)
    // before it stopped what it started.
    expect(await gateway.exited).toBe(0);
    expect(gateway.logs.filter((line) => line.msg === 'stopping')).toEqual([expect.objectContaining({ signal: 'SIGINT' })]);
  });

  it('on SIGTERM /readyz answers 503 at once while /graphql is still served for the drain; a client that keeps its keep-alive connection busy does not hold the exit', async () => {
    // A deadline far away: the process must exit long before it, with nothing cut. The drain is
    // long enough for the probes below to be answered within it on a busy machine.
    const gateway = await startGatewayProcess(stopping({ drainSeconds: 10, timeoutSeconds: 60 }));
    const base = baseOf(gateway);
    const probe = new Agent({ keepAlive: false });
    // One connection, reused request after request, as a load balancer's pool does.
    const busy = new Agent({ keepAlive: true, maxSockets: 1 });
    const first = await send(busy, gateway.url, { query: '{ publicHello }' });
    expect([first.status, first.headers.connection]).toEqual([200, 'keep-alive']);

    // The busy client: one request after the other until the gateway stops taking them.
    const answered: { status: number; connection?: string }[] = [];
    const client = (async () => {
      for (;;) {
        try {
          const { status, headers } = await send(busy, gateway.url, { query: '{ publicHello }' });
          answered.push({ status, connection: headers.connection });
        } catch (error) {
          return error as NodeJS.ErrnoException;
        }
      }
    })();
    await expect.poll(() => answered.length).toBeGreaterThan(0);

    process.kill(gateway.pid, 'SIGTERM');
    await expect.poll(async () => (await send(probe, `${base}/readyz`)).status).toBe(503);
    expect((await send(probe, `${base}/readyz`)).body).toEqual({ status: 'stopping' });
    const during = await send(probe, gateway.url, { query: '{ publicHello }' });
    expect([during.status, during.body.data]).toEqual([200, { publicHello: expect.any(String) }]);
    expect(logged(gateway, 'no longer accepting connections')).toEqual([]);

    expect(await gateway.exited).toBe(0);
    // It stopped when the gateway no longer took connections (refused, or reset while still
    // waiting to be accepted); every request the gateway took was answered.
    expect(['ECONNREFUSED', 'ECONNRESET']).toContain((await client).code);
    expect(answered.every(({ status }) => status === 200)).toBe(true);
    expect(logged(gateway, 'request').filter((line) => line.aborted || line.status !== 200)).toEqual([]);
    // During the drain each answer closed its connection, so the client came back on a new one.
    expect(answered.at(-1)?.connection).toBe('close');
    expect(logged(gateway, 'requests still running at the shutdown deadline were cut')).toEqual([]);
    busy.destroy();
  });

  it('a request that hangs is cut at SHUTDOWN_TIMEOUT_SECONDS after the drain, and the process still exits cleanly', async () => {
    const gateway = await startGatewayProcess(stopping({ drainSeconds: 1, timeoutSeconds: 1 }));
    // A client that announced a body and never sends it: its request waits for ever.
    const hanging = request(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
    const outcome = new Promise<Error>((resolve) => {
      hanging.on('error', resolve);
      hanging.on('response', () => resolve(new Error('the hanging request was answered')));
    });
    await new Promise<void>((resolve) => hanging.write('{"query":', () => resolve()));

    process.kill(gateway.pid, 'SIGTERM');

    expect(await gateway.exited).toBe(0);
    expect((await outcome).message).toMatch(/socket hang up|ECONNRESET/);
    expect(logged(gateway, 'requests still running at the shutdown deadline were cut')).toEqual([
      expect.objectContaining({ requests: 1, timeoutSeconds: 1 }),
    ]);
    expect(logged(gateway, 'the gateway did not stop in time; exiting')).toEqual([]);
    expect(logged(gateway, 'request failed')).toEqual([]);
    expect(logged(gateway, 'request')).toContainEqual(expect.objectContaining({ method: 'POST', aborted: true }));
  });
});
