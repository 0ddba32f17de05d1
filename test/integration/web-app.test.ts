import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Locator, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, privateWindow } from '../support/browser.js';
import { unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, renewedToken, type TestUser } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';
import { decodeToken } from '../support/tokens.js';
import { startWebApp, type WebApp } from '../support/web-app.js';

// The example app (examples/web) as its users meet it: Chromium on the app's own origin, the
// gateway on another, Keycloak's real sign-in pages and the real emails. The one file that
// serves the app, on the test realm's frontend URL (test/support/global-setup.ts).

const config = inject('config');
const realmUrl = `${config.keycloak.publicUrl}/realms/${encodeURIComponent(config.keycloak.realm)}`;
const tokenEndpoint = `${realmUrl}/protocol/openid-connect/token`;
/** As long as Playwright waits for an element (test/support/browser.ts). */
const WAIT = { timeout: 20_000 };

// Each flow goes through Keycloak's pages and the gateway several times: tens of seconds, more under a full run's load.
describe('the example app (examples/web) in a real browser', { timeout: 180_000 }, () => {
  let gateway: TestGateway;
  let app: WebApp;
  let browser: Browser;
  /** How far ahead of the real clock the gateway judges token expiry: moved by the test of reconnection at expiry. */
  let gatewayAhead = 0;

  beforeAll(async () => {
    gateway = await startTestGateway(undefined, { now: () => Date.now() + gatewayAhead });
    [app, browser] = await Promise.all([
      startWebApp({
        url: inject('webAppUrl'),
        gatewayUrl: gateway.url,
        oidcAuthority: realmUrl,
        oidcClientId: config.keycloak.frontendClientId,
      }),
      launchBrowser(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([browser?.close(), app?.close()]);
    await gateway?.close();
  });

  /** This test's windows: closed after it, so that no earlier page stays subscribed to events. */
  const windows: BrowserContext[] = [];
  async function newWindow(): Promise<Page> {
    const context = await privateWindow(browser);
    windows.push(context);
    return context.newPage();
  }
  afterEach(async () => {
    await Promise.all(windows.splice(0).map((context) => context.close()));
    await expect.poll(() => gateway.app.liveEvents.subscribers, WAIT).toBe(0);
  });

  async function openApp(path = '/'): Promise<Page> {
    const page = await newWindow();
    await page.goto(`${app.url}${path}`);
    return page;
  }

  /**
   * Waits until the Events page receives events as they commit. "Live" says the socket is
   * open; the subscription is sent after that, and the gateway counts it once it has checked it.
   * An event committed in between would reach neither the page's reading nor its subscription.
   */
  async function waitUntilLive(page: Page): Promise<void> {
    await page.getByRole('status').getByText('Live: new events appear as they happen.').waitFor(WAIT);
    await expect.poll(() => gateway.app.liveEvents.subscribers, WAIT).toBe(1);
  }

  /** Keycloak's own sign-in page, as a person fills it in; back in the app once it is done. */
  async function signInAtKeycloak(page: Page, email: string, password: string): Promise<void> {
    await page.waitForURL(`${realmUrl}/**`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign In' }).click();
    await page.waitForURL(`${app.url}/**`);
  }

  async function signIn(user: TestUser): Promise<Page> {
    const page = await openApp();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await signInAtKeycloak(page, user.email, user.password);
    await page.getByText(`Signed in as ${user.email}`).waitFor();
    return page;
  }

  /** The problem the app shows beside a field: the text its input names as its accessible description. */
  async function problemBeside(page: Page, label: string): Promise<string | null> {
    const described = await page.getByLabel(label, { exact: true }).getAttribute('aria-describedby');
    return described ? page.locator(`[id="${described}"]`).textContent() : null;
  }

  /** Trades a refresh token at Keycloak as the app's client does. */
  const refresh = (refreshToken: string) =>
    fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: config.keycloak.frontendClientId, refresh_token: refreshToken }),
    });

  /** Makes the page's stored access token expire this many seconds from now, as oidc-client-ts reads it. */
  async function setTokenExpiry(page: Page, seconds: number): Promise<void> {
    await page.evaluate((seconds) => {
      const key = Object.keys(sessionStorage).find((name) => name.startsWith('oidc.user:'))!;
      const stored = JSON.parse(sessionStorage.getItem(key)!);
      sessionStorage.setItem(key, JSON.stringify({ ...stored, expires_at: Math.floor(Date.now() / 1000) + seconds }));
    }, seconds);
  }

  /** The tokens oidc-client-ts keeps in the page's sessionStorage. */
  async function storedTokens(page: Page): Promise<{ access_token: string; refresh_token: string }> {
    const stored = await page.evaluate(() =>
      Object.keys(sessionStorage)
        .filter((key) => key.startsWith('oidc.user:'))
        .map((key) => sessionStorage.getItem(key)!),
    );
    expect(stored).toHaveLength(1);
    return JSON.parse(stored[0]!);
  }

  async function call<T = any>(token: string, query: string, variables: Record<string, unknown>): Promise<T> {
    const response = await gateway.graphql<T>(query, { token, variables });
    if (response.errors) throw new Error(JSON.stringify(response.errors));
    return response.data!;
  }

  it('signs a person up through signup (a weak password shown beside its field), then in through Keycloak’s page, and shows me', async () => {
    const email = `${unique('signup-')}@example.test`;
    const page = await openApp();
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('First name').fill('Ada');
    await page.getByLabel('Last name').fill('Lovelace');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => problemBeside(page, 'Password'), WAIT).toMatch(/^Password must /);
    expect(await problemBeside(page, 'Email')).toBeNull();

    await page.getByLabel('Password').fill('Str0ng-password-1');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText(`Your account ${email} is ready`).waitFor();
    await page.getByRole('main').getByRole('button', { name: 'Sign in' }).click();
    await signInAtKeycloak(page, email, 'Str0ng-password-1');
    await page.getByText(`Signed in as ${email}`).waitFor();
    await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
  });

  describe('an administrator', () => {
    let admin: TestUser;
    /** Renewed when it nears expiry: these tests can outlast one access token on a loaded machine. */
    let adminToken: () => Promise<string>;
    beforeAll(async () => {
      admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
      adminToken = renewedToken(admin.email, admin.password);
    });

    it('creates a user with a role and a group (an invalid email shown beside its field), then finds them with the search box', async () => {
      const groupName = unique('web-group-');
      await call(await adminToken(), 'mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
        input: { groupName },
      });
      const { roles } = await call<{ roles: { name: string; displayName: string }[] }>(
        await adminToken(),
        '{ roles { name displayName } }',
        {},
      );
      const manager = roles.find((role) => role.name === 'role_manager')!;
      const email = `${unique('created-')}@example.test`;

      const page = await signIn(admin);
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByLabel('Email', { exact: true }).fill('not-an-email');
      await page.getByLabel('First name').fill('Grace');
      await page.getByLabel('Last name').fill('Hopper');
      await page.getByLabel('Password').fill('Str0ng-password-1');
      await page.getByRole('checkbox', { name: manager.displayName, exact: true }).check();
      await page.getByRole('checkbox', { name: groupName, exact: true }).check();
      await page.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => problemBeside(page, 'Email'), WAIT).toBe('must be a valid email address');
      expect(await problemBeside(page, 'First name')).toBeNull();

      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByRole('button', { name: 'Create user' }).click();
      await page.getByRole('status').getByText(`Created ${email}`).waitFor();

      await page.getByRole('searchbox', { name: 'Search users' }).fill(email);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByRole('table').getByText(`1 user matching “${email}”`).waitFor();
      const row = page.getByRole('row').filter({ hasText: email });
      expect(await row.getByRole('cell').allTextContents()).toEqual([email, 'Grace Hopper', manager.displayName, groupName, 'active']);
    });

    it('pages through a search by cursor, forward and back', async () => {
      const prefix = unique('paged-');
      const emails = Array.from({ length: 12 }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}@example.test`);
      const token = await adminToken();
      await Promise.all(
        emails.map((email) =>
          call(token, 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', {
            input: { email, firstName: 'Paged', lastName: 'User', password: 'Str0ng-password-1' },
          }),
        ),
      );
      const page = await signIn(admin);
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByRole('searchbox', { name: 'Search users' }).fill(prefix);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByRole('table').getByText(`12 users matching “${prefix}”`).waitFor();
      const shown = async () => (await page.getByRole('row').allTextContents()).filter((text) => text.includes(prefix)).length;
      const firstPage = await page.getByRole('row').allTextContents();
      expect(await shown()).toBe(10);
      expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);

      await page.getByRole('button', { name: 'Next page' }).click();
      await expect.poll(shown, WAIT).toBe(2);
      expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
      const secondPage = (await page.getByRole('row').allTextContents()).filter((text) => text.includes(prefix));
      expect(secondPage.some((row) => firstPage.includes(row))).toBe(false);

      await page.getByRole('button', { name: 'Previous page' }).click();
      await expect.poll(shown, WAIT).toBe(10);
      expect(await page.getByRole('row').allTextContents()).toEqual(firstPage);
    });

    async function createUserThroughApi(email: string): Promise<string> {
      const { createUser } = await call(
        await adminToken(),
        'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }',
        {
          input: { email, firstName: 'Eve', lastName: 'Vent', password: 'Str0ng-password-1' },
        },
      );
      return createUser.user.id;
    }

    /** The Events page's row of the event of this type about this subject, as its cells read. */
    const eventRow = (page: Page, type: string, subjectId: string) =>
      page
        .getByRole('row')
        .filter({ hasText: subjectId })
        .filter({ has: page.getByRole('cell', { name: type, exact: true }) });

    /**
     * Waits for the row to be shown, and answers its cells as they read then. The page shows
     * the newest events, and the administrator sees everyone's: other test files' events may
     * push it further back, where "Show older events" reveals it, and may push it out of the
     * shown window again right after, so the cells are read in the same look as the row is found.
     */
    async function waitForRow(page: Page, row: Locator): Promise<string[]> {
      const older = page.getByRole('button', { name: 'Show older events' });
      let cells: string[] = [];
      await expect
        .poll(async () => {
          cells = await row.getByRole('cell').allTextContents();
          if (cells.length === 0 && (await older.isEnabled())) await older.click();
          return cells.length;
        }, WAIT)
        .toBeGreaterThan(0);
      return cells;
    }

    it('shows the latest identity events from the query, then a user created through the API live, without a reload', async () => {
      const { me } = await call<{ me: { id: string } }>(await adminToken(), '{ me { id } }', {});
      const earlierEmail = `${unique('earlier-')}@example.test`;
      const earlierId = await createUserThroughApi(earlierEmail);

      const page = await signIn(admin);
      await page.getByRole('link', { name: 'Events' }).click();
      await waitUntilLive(page);
      // Read with the query: it committed before the page opened.
      const earlier = eventRow(page, 'USER_CREATED', earlierId);
      expect((await waitForRow(page, earlier)).slice(0, 4)).toEqual([
        'USER_CREATED',
        'GATEWAY',
        `User ${earlierEmail} ${earlierId}`,
        me.id,
      ]);

      const laterEmail = `${unique('later-')}@example.test`;
      const navigations: string[] = [];
      page.on('framenavigated', (frame) => navigations.push(frame.url()));
      const laterId = await createUserThroughApi(laterEmail);
      const later = eventRow(page, 'USER_CREATED', laterId);
      expect((await waitForRow(page, later)).slice(0, 4)).toEqual(['USER_CREATED', 'GATEWAY', `User ${laterEmail} ${laterId}`, me.id]);
      expect(navigations).toEqual([]);
      // Newest last: the live event below the one read before. Both are looked for in one read
      // of the rows: other files' events may push either out of the shown window meanwhile.
      const older = page.getByRole('button', { name: 'Show older events' });
      await expect
        .poll(async () => {
          const rows = await page.getByRole('row').allTextContents();
          const [earlierAt, laterAt] = [earlierId, laterId].map((id) => rows.findIndex((row) => row.includes(id)));
          if (earlierAt < 0 || laterAt < 0) {
            if (await older.isEnabled()) await older.click();
            return 'not both shown';
          }
          return laterAt > earlierAt ? 'the later event below' : 'the later event above';
        }, WAIT)
        .toBe('the later event below');
    });

    it('keeps receiving events after the gateway closes the socket at token expiry: it reconnects with a renewed token', async () => {
      const page = await signIn(admin);
      const first = await storedTokens(page);
      const expiresAt = (decodeToken(first.access_token).payload as { exp: number }).exp * 1000;
      // The gateway's clock runs to LEAD_MS before the page's token expires: it admits the
      // socket, closes it (4403) when the token expires, and would refuse that token after.
      // LEAD_MS is what the page may take to open its socket on a busy machine.
      const LEAD_MS = 40_000;
      gatewayAhead = expiresAt - LEAD_MS - Date.now();
      try {
        await page.getByRole('link', { name: 'Events' }).click();
        await page.getByRole('status').getByText('Live: new events appear as they happen.').waitFor(WAIT);
        // The page's clock says so too: the next connection_init asks for the token and gets a renewed one.
        await setTokenExpiry(page, -1);
        await page
          .getByRole('status')
          .getByText('Connecting for live events…')
          .waitFor({ timeout: LEAD_MS + WAIT.timeout });
        await expect.poll(async () => (await storedTokens(page)).access_token, WAIT).not.toBe(first.access_token);
        // Admitted by a gateway for which the first token has expired (it would close with 4401,
        // which graphql-ws does not retry): the new connection_init carried the renewed token.
        // Polled rather than waited for, so that a failure says what the page shows instead.
        await expect.poll(() => page.getByRole('status').first().textContent(), WAIT).toBe('Live: new events appear as they happen.');
        await waitUntilLive(page);
      } finally {
        gatewayAhead = 0;
      }

      const email = `${unique('after-expiry-')}@example.test`;
      const id = await createUserThroughApi(email);
      await waitForRow(page, eventRow(page, 'USER_CREATED', id));
    });
  });

  it('signs out at Keycloak: the refresh token the app held no longer works', async () => {
    const user = await createKeycloakUser();
    const page = await signIn(user);
    const held = (await storedTokens(page)).refresh_token;
    // The session is alive: a refresh answers new tokens, and both they and the app's stay in that session.
    const renewed = await refresh(held);
    expect(renewed.status).toBe(200);
    const next = ((await renewed.json()) as { refresh_token: string }).refresh_token;
    expect((await keycloakAdmin<unknown[]>('GET', `/users/${user.id}/sessions`)).body).toHaveLength(1);

    // Back from Keycloak's logout: waited for as an event, since the page is on that URL already.
    // Waited for together with the click: a click that fails leaves no wait behind.
    await Promise.all([
      page.waitForEvent('framenavigated', (frame) => frame === page.mainFrame() && frame.url() === `${app.url}/`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => Object.keys(sessionStorage).filter((key) => key.startsWith('oidc.user:')))).toEqual([]);

    for (const refreshToken of [held, next]) {
      const refused = await refresh(refreshToken);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    }
    expect((await keycloakAdmin<unknown[]>('GET', `/users/${user.id}/sessions`)).body).toEqual([]);
  });

  it('renews the access token with the refresh token shortly before it expires, in the same Keycloak session', async () => {
    const user = await createKeycloakUser();
    const page = await signIn(user);
    const before = await storedTokens(page);
    // As if Keycloak's 5-minute access token had seconds left: oidc-client-ts renews it when it reads the user at start.
    await setTokenExpiry(page, 5);
    await page.reload();
    await expect.poll(async () => (await storedTokens(page)).access_token, WAIT).not.toBe(before.access_token);
    const after = await storedTokens(page);
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(decodeToken(after.access_token).payload).toMatchObject({
      sid: decodeToken(before.access_token).payload.sid,
      azp: config.keycloak.frontendClientId,
    });
    await page.getByText(`Signed in as ${user.email}`).waitFor();
  });

  it("renews an expired access token once when both of the page's queries ask for it at load: the person stays signed in", async () => {
    const user = await createKeycloakUser();
    const page = await signIn(user);
    const before = await storedTokens(page);
    // As after a laptop slept: the stored access token has expired. The home page's `me` and the
    // navigation's ask for a token together; the realm's refresh tokens are single-use, so a
    // second trade of the same one would be refused (invalid_grant) and sign the person out.
    await setTokenExpiry(page, -1);
    const trades: string[] = [];
    page.on('request', (request) => {
      if (request.url() === tokenEndpoint && new URLSearchParams(request.postData() ?? '').get('grant_type') === 'refresh_token') {
        trades.push(new URLSearchParams(request.postData()!).get('refresh_token')!);
      }
    });
    await page.reload();
    await expect.poll(async () => (await storedTokens(page)).access_token, WAIT).not.toBe(before.access_token);
    await page.getByText(`Signed in as ${user.email}`).waitFor();
    // Both queries asked before the first trade could answer: one trade served them.
    expect(trades).toEqual([before.refresh_token]);
    // The session goes on: the renewed refresh token trades again.
    expect((await refresh((await storedTokens(page)).refresh_token)).status).toBe(200);
  });

  it('switches tenants: me { currentTenant } follows the X-Tenant-ID the app sends', async () => {
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const names = [`Workshop ${randomUUID().slice(0, 6)}`, `Studio ${randomUUID().slice(0, 6)}`];
    for (const name of names) {
      await call(token, 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }', { input: { name } });
    }
    const page = await signIn(user);
    await page.getByRole('status').getByText('Working in no tenant').waitFor();
    for (const name of names) {
      await page.getByLabel('Work in tenant').selectOption({ label: name });
      await page.getByRole('status').getByText(`Working in ${name}`).waitFor();
    }
    await page.getByLabel('Work in tenant').selectOption({ label: 'No tenant' });
    await page.getByRole('status').getByText('Working in no tenant').waitFor();
  });

  it("drops an answer for the old tenant still on its way when the person switches: it cannot put back the old tenant's view", async () => {
    // Seen in CI: the navigation's `me` (EventAccess, sent at load) answered after the switch's
    // `me` and wrote `currentTenant: null` over the chosen tenant. Here that answer is held.
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const name = `Workshop ${randomUUID().slice(0, 6)}`;
    const { createTenant } = await call(token, 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }', {
      input: { name },
    });
    const page = await signIn(user);
    const eventAccess = (request: Request) => request.method() === 'POST' && request.postDataJSON()?.operationName === 'EventAccess';
    let held: Request | undefined;
    let releaseHeld!: () => void;
    const heldReleased = new Promise<void>((resolve) => (releaseHeld = resolve));
    await page.route(`${new URL(gateway.url).origin}/**`, async (route) => {
      if (held || !eventAccess(route.request())) return route.fallback();
      held = route.request();
      const answer = await route.fetch();
      await heldReleased;
      // The page has dropped the request by now: there is nobody left to answer.
      await route.fulfill({ response: answer }).catch(() => undefined);
    });
    await page.reload();
    await page.getByRole('status').getByText('Working in no tenant').waitFor();
    expect(held?.headers()['x-tenant-id']).toBeUndefined();

    // The held request is dropped, and the navigation's `me` asked again with the tenant.
    await Promise.all([
      page.waitForEvent('requestfailed', { predicate: (request) => request === held, ...WAIT }),
      page.waitForRequest((request) => eventAccess(request) && request.headers()['x-tenant-id'] === createTenant.tenant.id, WAIT),
      page.getByLabel('Work in tenant').selectOption({ label: name }),
    ]);
    releaseHeld();
    await page.getByRole('status').getByText(`Working in ${name}`).waitFor();
    // The navigation follows the same `me`: an owner working in a tenant sees its events.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).waitFor();
    // Requests the page still sends while its window closes are not this test's to answer.
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  });

  it("shows a tenant's owner the Events page only while working in that tenant, with that tenant's events only", async () => {
    const owner = await createKeycloakUser();
    const ownerToken = (await passwordGrant(owner.email, owner.password)).access_token;
    const tenantName = `Events ${randomUUID().slice(0, 6)}`;
    const { createTenant } = await call(
      ownerToken,
      'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }',
      {
        input: { name: tenantName },
      },
    );
    const tenantId: string = createTenant.tenant.id;
    const otherOwner = await createKeycloakUser();
    const otherToken = (await passwordGrant(otherOwner.email, otherOwner.password)).access_token;
    const other = await call(otherToken, 'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }', {
      input: { name: `Other ${randomUUID().slice(0, 6)}` },
    });

    const page = await signIn(owner);
    await page.getByRole('status').getByText('Working in no tenant').waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).count()).toBe(0);
    await page.goto(`${app.url}/events`);
    await page
      .getByRole('alert')
      .getByText(/Identity events are shown to administrators/)
      .waitFor(WAIT);

    await page.getByRole('link', { name: 'Home' }).click();
    await page.getByLabel('Work in tenant').selectOption({ label: tenantName });
    await page.getByRole('status').getByText(`Working in ${tenantName}`).waitFor();
    await page.getByRole('link', { name: 'Events' }).click();
    await waitUntilLive(page);
    await page.getByRole('row').filter({ hasText: tenantId }).filter({ hasText: 'TENANT_CREATED' }).waitFor(WAIT);

    const invitee = `${unique('events-invitee-')}@example.test`;
    await call(otherToken, 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token } }', {
      input: { tenantId: other.createTenant.tenant.id, email: `${unique('elsewhere-')}@example.test`, role: 'MEMBER' },
    });
    await call(ownerToken, 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token } }', {
      input: { tenantId, email: invitee, role: 'MEMBER' },
    });
    await page.getByRole('row').filter({ hasText: 'INVITATION_CREATED' }).waitFor(WAIT);
    const rows = await page.getByRole('row').allTextContents();
    expect(rows.some((row) => row.includes(other.createTenant.tenant.id))).toBe(false);
    expect(rows.filter((row) => row.includes('INVITATION_CREATED'))).toHaveLength(1);
  });

  it('accepts an invitation from its email: the link opens the app, the invitee joins, signs in and sees the tenant', async () => {
    const owner = await createKeycloakUser();
    const ownerToken = (await passwordGrant(owner.email, owner.password)).access_token;
    const tenantName = `Guild ${randomUUID().slice(0, 6)}`;
    const { createTenant } = await call(
      ownerToken,
      'mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }',
      {
        input: { name: tenantName },
      },
    );
    const invitee = `${unique('invitee-')}@example.test`;
    await call(ownerToken, 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token } }', {
      input: { tenantId: createTenant.tenant.id, email: invitee, role: 'MEMBER' },
    });
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(invitee, { subject: /invit/i });
    const link = extractLinks(mail).find((url) => url.startsWith(`${app.url}/accept-invitation?token=`));
    expect(link, extractLinks(mail).join(', ')).toBeDefined();

    const page = await newWindow();
    await page.goto(link!);
    await page.getByLabel('First name').fill('Bob');
    await page.getByLabel('Last name').fill('Byte');
    await page.getByLabel('Password').fill('Welcome-123');
    await page.getByRole('button', { name: 'Accept invitation' }).click();
    await page.getByRole('status').getByText(`You joined ${tenantName} as member.`).waitFor();
    await page.getByRole('main').getByRole('button', { name: 'Sign in' }).click();
    await signInAtKeycloak(page, invitee, 'Welcome-123');
    await page.getByText(`Signed in as ${invitee}`).waitFor();
    expect(await page.getByRole('list', { name: 'Your tenants' }).getByRole('listitem').allTextContents()).toEqual([
      `${tenantName} (MEMBER)`,
    ]);
  });
});
