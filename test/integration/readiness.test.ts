import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const config = inject('config');

// A gateway process that reaches Keycloak and PostgreSQL through proxies the test cuts.
let keycloak: TcpProxy;
let postgres: TcpProxy;
let gateway: GatewayProcess;
beforeAll(async () => {
  const keycloakUrl = new URL(config.keycloak.url);
  const databaseUrl = new URL(config.databaseUrl);
  keycloak = await startTcpProxy({ host: keycloakUrl.hostname, port: Number(keycloakUrl.port || 80) });
  postgres = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) }, { lingerMs: 500 });
  gateway = await startGatewayProcess({
    ...config,
    databaseUrl: postgres.url(config.databaseUrl),
    keycloak: { ...config.keycloak, url: keycloak.url(config.keycloak.url) },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await keycloak?.close();
  await postgres?.close();
});

async function readyz(): Promise<[number, unknown]> {
  const response = await fetch(gateway.url.replace(/\/graphql$/, '/readyz'));
  return [response.status, await response.json()];
}

describe('/readyz of a gateway process', () => {
  // Each check waits 2 s at most: on a busy machine Keycloak can take longer to answer one, so
  // what depends on Keycloak answering is asked until it does.
  it('is ready when PostgreSQL and Keycloak answer', async () => {
    await expect.poll(readyz).toEqual([200, { status: 'ready', checks: { postgres: 'ok', keycloak: 'ok' } }]);
  });

  it('stays in the load balancer, degraded, while Keycloak is unreachable: the gateway still serves what needs no Keycloak', async () => {
    keycloak.mode = 'reset';
    try {
      expect(await readyz()).toEqual([200, { status: 'degraded', checks: { postgres: 'ok', keycloak: 'unreachable' } }]);
      expect((await gateway.graphql('{ publicHello }')).data).toEqual({ publicHello: expect.any(String) });
    } finally {
      keycloak.mode = 'pass';
    }
    await expect.poll(readyz).toEqual([200, { status: 'ready', checks: { postgres: 'ok', keycloak: 'ok' } }]);
  });

  it('answers 503 while PostgreSQL is unreachable, and ready again once it is back', async () => {
    postgres.mode = 'reset';
    try {
      await expect.poll(readyz).toEqual([503, { status: 'unavailable', checks: { postgres: 'unreachable', keycloak: 'ok' } }]);
    } finally {
      postgres.mode = 'pass';
    }
    await expect.poll(readyz).toEqual([200, { status: 'ready', checks: { postgres: 'ok', keycloak: 'ok' } }]);
  });
});
