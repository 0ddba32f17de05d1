import type { AddressInfo } from 'node:net';
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
});
