import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

describe('the HTTP surface', () => {
  let gateway: TestGateway;
  let base: string;
  beforeAll(async () => {
    gateway = await startTestGateway();
    base = gateway.url.replace(/\/graphql$/, '');
  });
  afterAll(() => gateway?.close());

  it('answers publicHello without a token', async () => {
    const response = await gateway.graphql('{ publicHello }');
    expect(response).toMatchObject({ status: 200, data: { publicHello: 'Hello from the IAM gateway' } });
  });

  // Readiness without PostgreSQL or Keycloak, and while stopping: test/integration/process-stop.test.ts.
  it('is alive at /healthz and ready at /readyz when PostgreSQL and Keycloak answer', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { postgres: 'ok', keycloak: 'ok' } }]);
  });

  it('echoes the caller’s request id, or makes one up', async () => {
    const given = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const made = await fetch(`${base}/healthz`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('I5: replaces a request id that is not a short token of safe characters, which would reach every log line', async () => {
    const kept = 'A-z_0.9'.padEnd(64, 'x');
    expect((await fetch(`${base}/healthz`, { headers: { 'x-request-id': kept } })).headers.get('x-request-id')).toBe(kept);
    const refused = ['x'.repeat(65), 'two words', '{"level":"error"}', 'trace;admin=1', 'é', '../../etc', 'id\tx'];
    for (const given of refused) {
      const response = await fetch(`${base}/healthz`, { headers: { 'x-request-id': given } });
      expect(response.headers.get('x-request-id'), given).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  // The first request of a fresh checkout bundles the IDE, which on a busy machine takes most of a minute.
  it('serves GraphiQL, bundled from the installed packages, to a browser in development: no inline script, only its own files', {
    timeout: 180_000,
  }, async () => {
    const page = await fetch(gateway.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self';");
    const html = await page.text();
    expect(html, 'an inline script').not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.some((asset) => asset.endsWith('.js')) && assets.some((asset) => asset.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      expect(asset, 'served by the gateway').toMatch(/^\/ide\/assets\//);
      const response = await fetch(`${base}${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.text()).length, asset).toBeGreaterThan(500);
    }
    const settings = await (await fetch(`${base}/ide/settings.json`)).json();
    expect(settings).toMatchObject({ clientId: inject('config').keycloak.frontendClientId });
  });

  it('ATTACK: an IDE asset named after an object property (constructor, __proto__, toString) is not found, not a server error', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'assets/constructor', 'assets/__proto__', 'index.html']) {
      expect((await fetch(`${base}/ide/${name}`)).status, name).toBe(404);
    }
  });

  it('serves no IDE and refuses introspection in production', async () => {
    const production = await startTestGateway((config) => ({ ...config, environment: 'production' }));
    try {
      const page = await fetch(production.url, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toContain('graphiql');
      const productionBase = production.url.replace(/\/graphql$/, '');
      for (const path of ['/callback', '/', '/ide/settings.json']) {
        expect((await fetch(`${productionBase}${path}`, { headers: { accept: 'text/html' } })).status, path).toBe(404);
      }
      const introspection = await production.graphql('{ __schema { types { name } } }');
      expect(introspection.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    } finally {
      await production.close();
    }
  });

  it('answers BAD_USER_INPUT for a query that does not parse or names an unknown field', async () => {
    for (const query of ['{ publicHello', '{ nothingHere }']) {
      const response = await gateway.graphql(query);
      expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', status: 400 });
    }
  });

  it('refuses a cross-site simple request (CSRF prevention)', async () => {
    const response = await fetch(`${gateway.url}?query=${encodeURIComponent('{ publicHello }')}`);
    expect(response.status).toBe(400);
  });
});
