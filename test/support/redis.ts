import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'node:net';
import { freePort } from '../../src/stack/free-port.js';

/** A Redis the tests may use, or why there is none. */
export type TestRedis = { url: string; stop(): Promise<void>; reason?: undefined } | { url?: undefined; reason: string };

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** Whether a Redis answers PING at host:port within a second. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * Finds Redis as the stack finds its other servers: the one at TEST_REDIS_URL (default
 * redis://127.0.0.1:6379) when it answers, else a `redis-server` of its own on a free
 * loopback port, without persistence, stopped by `stop()`. When neither is possible the
 * answer says why, for the test to print as its reason to skip.
 */
export async function findOrStartRedis(): Promise<TestRedis> {
  const url = new URL(process.env.TEST_REDIS_URL ?? DEFAULT_URL);
  if (await answers(url.hostname, Number(url.port || 6379))) return { url: url.href, stop: async () => {} };

  if (spawnSync('redis-server', ['--version']).status !== 0) {
    return {
      reason: `no Redis answers at ${url.href} and redis-server is not installed (apt-get install redis-server, or set TEST_REDIS_URL)`,
    };
  }
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));
  // Ready once it answers; it answers within milliseconds, so ten seconds means it failed.
  const deadline = Date.now() + 10_000;
  while (running && Date.now() < deadline && !(await answers('127.0.0.1', port))) await delay(20);
  if (!running || !(await answers('127.0.0.1', port))) {
    server.kill();
    return { reason: `no Redis answers at ${url.href}, and a redis-server started on port ${port} did not answer` };
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      server.kill();
      await exited;
    },
  };
}
