import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { audienceMapper, frontendClient, frontendClientRepresentation } from '../../src/keycloak/provisioning.js';
import { freePort } from '../../src/stack/free-port.js';
import { launchBrowser, privateWindow } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, type TestUser } from '../support/keycloak.js';
import { decodeToken } from '../support/tokens.js';

/**
 * How long the access tokens of this file's client live. The IDE renews a token a minute
 * before it expires, so here within seconds of each sign-in, through the real refresh-token
 * grant, without the test waiting out a real lifespan.
 */
const ACCESS_TOKEN_SECONDS = 65;
const ME = '{ me { id user { email } } }';
const USER_KEYS = 'iam-gateway.ide.user.';

// Each test signs in through Keycloak's pages, more than once: slower than an API call on a busy machine.
describe('the IDE in a browser: sign-in with Keycloak', { timeout: 120_000 }, () => {
  let gateway: TestGateway;
  let browser: Browser;
  let origin: string;
  let clientUuid: string | undefined;
  const clientId = `ide-test-${randomUUID().slice(0, 8)}`;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    // The gateway's address must be known before it starts: it is the IDE's redirect URI.
    const port = await freePort();
    origin = `http://localhost:${port}`;
    const base = inject('config');
    const config: Config = {
      ...base,
      publicUrl: origin,
      frontendUrls: [origin],
      keycloak: {
        ...base.keycloak,
        frontendClientId: clientId,
        frontendRedirectUris: [`${origin}/callback`],
        frontendWebOrigins: [origin],
        frontendPostLogoutRedirectUris: [`${origin}/`],
        acceptedClientIds: [base.keycloak.apiClientId, clientId],
      },
    };
    // A frontend client like the provisioned one, on this gateway's address, with short-lived access tokens.
    const client = frontendClientRepresentation(frontendClient(clientId, config.keycloak));
    const created = await keycloakAdmin('POST', '/clients', {
      ...client,
      protocol: 'openid-connect',
      protocolMappers: [audienceMapper(config.keycloak.apiClientId)],
      attributes: { ...client.attributes, 'access.token.lifespan': String(ACCESS_TOKEN_SECONDS) },
    });
    expect(created.status).toBe(201);
    clientUuid = created.location!.split('/').at(-1);
    gateway = await startTestGateway(() => config, {}, port);
    // The first request for the page bundles the IDE, which takes longer than a page load may.
    expect((await fetch(`${origin}/graphql`, { headers: { accept: 'text/html' } })).status).toBe(200);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await browser?.close();
    await gateway?.close();
    if (clientUuid) await keycloakAdmin('DELETE', `/clients/${clientUuid}`);
  });

  /** A private window on the IDE, collecting what its own pages report against their content security policy. */
  async function openIde(): Promise<{ context: BrowserContext; page: Page; policyViolations: string[] }> {
    const context = await privateWindow(browser);
    cleanups.push(() => context.close());
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const page = await context.newPage();
    const policyViolations: string[] = [];
    page.on('console', (message) => {
      if (message.location().url.startsWith(origin) && /Content Security Policy/i.test(message.text())) {
        policyViolations.push(message.text().slice(0, 200));
      }
    });
    await page.goto(`${origin}/graphql`);
    await status(page, 'Signed out');
    return { context, page, policyViolations };
  }

  const status = (page: Page, text: string) => page.locator('#session-status', { hasText: text }).waitFor();

  /** Through Keycloak's own login page; back on the IDE, signed in. */
  async function signInWithPassword(page: Page, user: TestUser): Promise<void> {
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#username').fill(user.email);
    await page.locator('#password').fill(user.password);
    await page.locator('#kc-login').click();
    await page.waitForURL(`${origin}/graphql`);
    await status(page, `Signed in as ${user.email}`);
  }

  /** Types the query into GraphiQL's editor and runs it: the Authorization header it went with, and the answer. */
  async function run(page: Page, query: string): Promise<{ authorization?: string; body: any }> {
    // Pasted, as typing would meet the editor's closing brackets; the clipboard needs the tab in front.
    await page.bringToFront();
    await page.evaluate((text) => (globalThis as any).navigator.clipboard.writeText(text), query);
    await page.locator('.graphiql-query-editor').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('ControlOrMeta+V');
    const [response] = await Promise.all([
      page.waitForResponse(
        (candidate) =>
          candidate.url() === `${origin}/graphql` &&
          candidate.request().method() === 'POST' &&
          (candidate.request().postData() ?? '').includes(query),
      ),
      page.getByRole('button', { name: /execute query/i }).click(),
    ]);
    const body = await response.json();
    if (body.data) await page.locator('.result-window', { hasText: JSON.stringify(body.data.me.user.email) }).waitFor();
    return { authorization: response.request().headers().authorization, body };
  }

  const rememberedKeys = (page: Page) =>
    page.evaluate((prefix) => Object.keys(localStorage).filter((key) => key.startsWith(prefix)), USER_KEYS);

  it('signs in on Keycloak’s login page, sends the access token with each query, and renews it with the refresh token before it expires', async () => {
    const user = await createKeycloakUser();
    const { page, policyViolations } = await openIde();
    const refreshed: string[] = [];
    page.on('response', (response) => {
      const request = response.request();
      if (
        request.url().endsWith('/protocol/openid-connect/token') &&
        request.postData()?.includes('grant_type=refresh_token') &&
        response.ok()
      ) {
        // The IDE renews every few seconds until its window closes after the file: an answer
        // still being read then has nothing to add (its read fails: the page is gone).
        response.json().then(
          (body: { access_token: string }) => refreshed.push(body.access_token),
          () => {},
        );
      }
    });
    await signInWithPassword(page, user);

    const first = await run(page, ME);
    expect(first.body).toEqual({ data: { me: { id: user.id, user: { email: user.email } } } });
    const firstToken = first.authorization!.replace(/^Bearer /, '');
    const { payload } = decodeToken(firstToken);
    expect(payload.azp).toBe(clientId);
    expect((payload.exp as number) - (payload.iat as number)).toBe(ACCESS_TOKEN_SECONDS);

    // The IDE renews on its own, a minute before expiry: wait for a renewal after the first query.
    const renewalsBefore = refreshed.length;
    await expect.poll(() => refreshed.length, { timeout: 30_000 }).toBeGreaterThan(renewalsBefore);
    const second = await run(page, ME);
    expect(second.body).toEqual(first.body);
    expect(second.authorization).not.toBe(first.authorization);
    expect(refreshed).toContain(second.authorization!.replace(/^Bearer /, ''));

    expect(policyViolations).toEqual([]);
    // Not remembered: nothing of the sign-in is in the browser's storage.
    expect(await rememberedKeys(page)).toEqual([]);
  });

  it('runs a subscription over WebSocket with the signed-in token and shows identity events as they commit', async () => {
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const { page, policyViolations } = await openIde();
    await signInWithPassword(page, admin);
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));

    const subscription = 'subscription { identityEvents(filter: { types: ["USER_CREATED"] }) { type subjectId } }';
    await page.bringToFront();
    await page.evaluate((text) => (globalThis as any).navigator.clipboard.writeText(text), subscription);
    await page.locator('.graphiql-query-editor').click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('ControlOrMeta+V');
    await page.getByRole('button', { name: /execute query/i }).click();
    await expect.poll(() => gateway.app.liveEvents.subscribers, { timeout: 30_000 }).toBeGreaterThan(0);

    const email = `ide-live-${randomUUID()}@example.com`;
    const created = await gateway.graphql<{ createUser: { user: { id: string } } }>(
      'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }',
      {
        token: (await passwordGrant(admin.email, admin.password)).access_token,
        variables: { input: { email, firstName: 'Live', lastName: 'Event', password: `Pw-${randomUUID()}` } },
      },
    );
    expect(created.errors).toBeUndefined();
    await page.locator('.result-window', { hasText: created.data!.createUser.user.id }).waitFor();
    // The result pane is an editor that draws only the lines in view: the event is short enough to show whole.
    await page.locator('.result-window', { hasText: 'USER_CREATED' }).waitFor();
    expect(sockets).toEqual([`${origin.replace(/^http/, 'ws')}/graphql`]);
    expect(policyViolations).toEqual([]);
  });

  it('a reload signs out unless "Remember me on this device" is ticked; ticked, the sign-in survives the reload', async () => {
    const user = await createKeycloakUser();
    const { page } = await openIde();
    await signInWithPassword(page, user);

    await page.reload();
    await status(page, 'Signed out');
    const anonymous = await run(page, ME);
    expect(anonymous.authorization).toBeUndefined();
    expect(anonymous.body.errors[0].extensions.code, JSON.stringify(anonymous.body)).toBe('UNAUTHENTICATED');

    // Keycloak's session still holds: signing in again asks for no password.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${origin}/graphql`);
    await status(page, `Signed in as ${user.email}`);
    await page.getByLabel('Remember me on this device').check();
    expect((await rememberedKeys(page)).length).toBeGreaterThan(0);

    await page.reload();
    await status(page, `Signed in as ${user.email}`);
    expect(await page.getByLabel('Remember me on this device').isChecked()).toBe(true);
    expect((await run(page, ME)).body.data.me.id).toBe(user.id);

    // Unticked: the tokens leave the device at once, and stay in the page until it goes.
    await page.getByLabel('Remember me on this device').uncheck();
    expect(await rememberedKeys(page)).toEqual([]);
    expect((await run(page, ME)).body.data.me.id).toBe(user.id);
  });

  it('signing out ends Keycloak’s session too: the next sign-in asks for the password, and the device keeps nothing', async () => {
    const user = await createKeycloakUser();
    const { page } = await openIde();
    await page.getByLabel('Remember me on this device').check();
    await signInWithPassword(page, user);
    expect((await rememberedKeys(page)).length).toBeGreaterThan(0);

    // Through Keycloak's logout, which sends the browser back to the gateway: a new page at /graphql.
    // Waited for together with the click: a click that fails leaves no wait behind.
    await Promise.all([
      page.waitForEvent('framenavigated', (frame) => frame === page.mainFrame() && frame.url() === `${origin}/graphql`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await status(page, 'Signed out');
    expect(await rememberedKeys(page)).toEqual([]);

    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#password').waitFor();
    expect(new URL(page.url()).origin).toBe(new URL(inject('config').keycloak.publicUrl).origin);
  });
});
