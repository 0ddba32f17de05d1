import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CORS_ALLOWED_HEADERS } from '../../src/http/cors.js';
import { launchBrowser, privateWindow } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// Browsers send Origin and the Access-Control-Request-* headers themselves; these requests
// are what a page on another origin makes its browser send.
const QUERY = JSON.stringify({ query: '{ publicHello }' });

/** A server of one empty page on a free loopback port: a frontend's origin. */
async function servePage(): Promise<Server> {
  const server = createServer((_request, response) =>
    response.writeHead(200, { 'content-type': 'text/html' }).end('<title>frontend</title>'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const originOf = (server: Server) => `http://localhost:${(server.address() as AddressInfo).port}`;

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));
}

describe('cross-origin calls to /graphql (CORS_ORIGINS)', () => {
  const configured = inject('config').http.corsOrigins;
  let gateway: TestGateway;
  const preflight = (origin: string, requestHeaders = 'authorization, content-type, x-tenant-id') =>
    fetch(gateway.url, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requestHeaders },
    });
  const post = (origin: string, body = QUERY) =>
    fetch(gateway.url, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body });

  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway?.close());

  it('answers the preflight of every configured origin: that origin, the methods, the headers, a max-age, no credentials', async () => {
    // Development's defaults: the usual dev-server ports and the example app's.
    expect(configured).toEqual(expect.arrayContaining(['http://localhost:3000', 'http://localhost:5173']));
    for (const origin of configured) {
      const response = await preflight(origin, CORS_ALLOWED_HEADERS.join(', '));
      expect(response.status, origin).toBe(204);
      expect(corsHeaders(response), origin).toEqual({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, x-tenant-id, idempotency-key, apollo-require-preflight, x-request-id',
        'access-control-max-age': '7200',
      });
      expect(response.headers.get('vary'), origin).toBe('Origin');
    }
  });

  it('gives any other origin no CORS headers at all, so its preflight fails and its page reads nothing', async () => {
    const others = [
      'https://evil.example',
      'http://localhost:3000.evil.example',
      'https://localhost:3000',
      'http://localhost:30001',
      'http://localhost:300',
      'null',
    ];
    for (const origin of others) {
      const answered = await preflight(origin);
      expect(corsHeaders(answered), origin).toEqual({});
      const response = await post(origin);
      expect(corsHeaders(response), origin).toEqual({});
      // The browser keeps the answer from the page; the request itself is served as any other.
      expect(response.status, origin).toBe(200);
    }
  });

  it('answers an actual request from a configured origin with that origin and the headers the page may read', async () => {
    const [origin] = configured;
    const response = await post(origin!);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { publicHello: 'Hello from the IAM gateway' } });
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': origin,
      'access-control-expose-headers': 'x-request-id, retry-after',
    });
    // Even a request refused before Apollo sees it stays readable, so the page can show why.
    const malformed = await post(origin!, '{"query": ');
    expect(malformed.status).toBe(400);
    expect(corsHeaders(malformed)).toMatchObject({ 'access-control-allow-origin': origin });
  });

  it('keeps CSRF prevention: a simple request from a configured origin, which no preflight precedes, is still refused', async () => {
    const [origin] = configured;
    const formPost = await fetch(gateway.url, { method: 'POST', headers: { origin: origin!, 'content-type': 'text/plain' }, body: QUERY });
    expect(formPost.status).toBe(400);
    expect(await formPost.text()).toMatch(/Cross-Site Request Forgery/);
    const simpleGet = await fetch(`${gateway.url}?query=${encodeURIComponent('{ publicHello }')}`, { headers: { origin: origin! } });
    expect(simpleGet.status).toBe(400);
  });

  it('answers OPTIONS without an Origin (no preflight) with the methods /graphql takes, not an error', async () => {
    const response = await fetch(gateway.url, { method: 'OPTIONS' });
    expect(response.status).toBe(204);
    expect(response.headers.get('allow')).toBe('GET, POST, OPTIONS');
    expect(corsHeaders(response)).toEqual({});
  });

  it('allows no origin when none is configured (production without CORS_ORIGINS or other frontends)', async () => {
    const closed = await startTestGateway((config) => ({ ...config, http: { ...config.http, corsOrigins: [] } }));
    try {
      for (const origin of configured) {
        const answered = await fetch(closed.url, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST' },
        });
        expect(corsHeaders(answered), origin).toEqual({});
      }
    } finally {
      await closed.close();
    }
  });

  describe('in a real browser', () => {
    let browser: Browser;
    let allowedPage: Server;
    let otherPage: Server;
    let gatewayAllowingThePage: TestGateway;
    beforeAll(async () => {
      browser = await launchBrowser();
      // Real servers, not pages Playwright makes up: Chromium treats a made-up page as public and
      // refuses it the loopback gateway before CORS is even asked.
      [allowedPage, otherPage] = await Promise.all([servePage(), servePage()]);
      gatewayAllowingThePage = await startTestGateway((config) => ({
        ...config,
        http: { ...config.http, corsOrigins: [...config.http.corsOrigins, originOf(allowedPage)] },
      }));
    });
    afterAll(async () => {
      await Promise.all([browser?.close(), gatewayAllowingThePage?.close(), allowedPage?.close(), otherPage?.close()]);
    });

    /**
     * What a page served by `server` reads when it calls the gateway as Apollo Client does: a POST
     * with a JSON body and an Authorization header, so the browser sends its own preflight.
     */
    async function callFromPageOf(server: Server): Promise<unknown> {
      const context = await privateWindow(browser);
      try {
        const page = await context.newPage();
        await page.goto(`${originOf(server)}/`);
        return await page.evaluate(async (gatewayUrl) => {
          try {
            const response = await fetch(gatewayUrl, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-token', 'x-request-id': 'browser-cors-1' },
              body: JSON.stringify({ query: '{ publicHello }' }),
            });
            return { status: response.status, requestId: response.headers.get('x-request-id'), body: await response.json() };
          } catch (error) {
            return { failed: String(error) };
          }
        }, gatewayAllowingThePage.url);
      } finally {
        await context.close();
      }
    }

    it('lets a page on a configured origin call /graphql and read the answer and its request id', async () => {
      expect(await callFromPageOf(allowedPage)).toEqual({
        status: 200,
        requestId: 'browser-cors-1',
        body: { data: { publicHello: 'Hello from the IAM gateway' } },
      });
    });

    it('keeps the answer from a page on any other origin', async () => {
      expect(await callFromPageOf(otherPage)).toEqual({ failed: 'TypeError: Failed to fetch' });
    });
  });
});
