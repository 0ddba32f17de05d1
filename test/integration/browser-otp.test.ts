import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, privateWindow } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, renewedToken } from '../support/keycloak.js';
import { type LoginPageOutcome, signInAtLoginPage } from '../support/login-page.js';

// An OTP device from end to end, on Keycloak's own pages in a real browser: required by an
// administrator through the gateway, enrolled at sign-in, asked for at the next sign-in,
// listed and removed through the gateway, and enrolled anew at the sign-in after.

/** Keycloak's default OTP policy in a realm (TOTP, SHA-1, 6 digits), whose codes change every 30 seconds. */
const PERIOD_SECONDS = 30;

const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const REQUIRE = /* GraphQL */ `
  mutation($userId: ID!, $actions: [RequiredAction!]!, $sendEmail: Boolean) {
    requireUserActions(userId: $userId, actions: $actions, sendEmail: $sendEmail) { message }
  }
`;
const CREDENTIALS = 'query($id: ID!) { user(id: $id) { credentials { id type label } } }';
const REMOVE =
  'mutation($userId: ID!, $credentialId: ID!) { removeUserCredential(userId: $userId, credentialId: $credentialId) { message } }';

/** The code of an OTP device `steps` time steps after the one `at` falls in. */
const codeAt = (secret: string, at: Date, steps = 0) =>
  generate({ secret, period: PERIOD_SECONDS, epoch: Math.floor(at.getTime() / 1000) + steps * PERIOD_SECONDS });

describe('an OTP device, enrolled, used and removed on Keycloak’s pages in a browser', { timeout: 180_000 }, () => {
  let gateway: TestGateway;
  let browser: Browser;
  let adminToken: () => Promise<string>;

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startTestGateway(), launchBrowser()]);
    // An administrator of this file's own: Keycloak rejects concurrent logins of one account (keycloak/keycloak#48272).
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    adminToken = renewedToken(admin.email, admin.password);
  });
  afterAll(async () => {
    await Promise.all([browser?.close(), gateway?.close()]);
  });

  /** One sign-in in a private window of its own: no earlier sign-in's cookies help it. */
  async function signIn(
    credentials: { email: string; password: string },
    afterPassword: (page: Page) => Promise<void>,
  ): Promise<LoginPageOutcome> {
    const context: BrowserContext = await privateWindow(browser);
    try {
      return await signInAtLoginPage(context, credentials, { afterPassword });
    } finally {
      await context.close();
    }
  }

  /**
   * Keycloak's OTP setup page: its text key (behind "Unable to scan?") read as a person would
   * type it into an authenticator app, and the app's current code submitted with a device name.
   * Answers the key.
   */
  async function enrol(page: Page, deviceName: string): Promise<{ secret: string }> {
    await page.getByRole('link', { name: 'Unable to scan?' }).click();
    const secret = ((await page.locator('#kc-totp-secret-key').textContent()) ?? '').replace(/\s+/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    await page.locator('#totp').fill(await codeAt(secret, new Date()));
    await page.locator('#userLabel').fill(deviceName);
    await page.getByRole('button', { name: 'Submit' }).click();
    return { secret };
  }

  /** The gateway's answer with an administrator's token; fails the test on any error. */
  async function asAdmin(query: string, variables: Record<string, unknown>) {
    const response = await gateway.graphql(query, { token: await adminToken(), variables });
    expect(response.errors).toBeUndefined();
    return response.data!;
  }

  /** Ends the browser session as a frontend does when its user signs out: the refresh token at Keycloak's logout endpoint. */
  async function signOut(outcome: LoginPageOutcome): Promise<void> {
    if (!outcome.signedIn) throw new Error('not signed in');
    const { url, realm, frontendClientId } = inject('config').keycloak;
    const response = await fetch(`${url}/realms/${realm}/protocol/openid-connect/logout`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: frontendClientId, refresh_token: outcome.tokens.refresh_token }),
    });
    expect(response.status).toBe(204);
  }

  const sessionsOf = async (id: string) => (await keycloakAdmin<unknown[]>('GET', `/users/${id}/sessions`)).body;

  it('CONFIGURE_TOTP makes the next sign-in enrol a device, later sign-ins ask for its code, and removing it has the user enrol again', async () => {
    const account = { email: `otp-${randomUUID().slice(0, 8)}@example.test`, password: `Pw-${randomUUID().slice(0, 8)}-9a` };
    const { createUser } = await asAdmin(CREATE_USER, {
      input: { email: account.email, firstName: 'Hedy', lastName: 'Lamarr', password: account.password },
    });
    const userId: string = createUser.user.id;
    await asAdmin(REQUIRE, { userId, actions: ['CONFIGURE_TOTP'], sendEmail: false });

    // First sign-in: after the password, Keycloak's OTP setup page.
    let device: { secret: string } | undefined;
    const enrolled = await signIn(account, async (page) => {
      device = await enrol(page, 'Hedy’s phone');
    });
    expect(enrolled).toMatchObject({ signedIn: true });
    await signOut(enrolled);
    expect(await sessionsOf(userId)).toEqual([]);

    // Second sign-in: the password, then a code. Keycloak takes each code once, and accepts the
    // codes of the time steps on either side of its clock's: the code of the step after now is
    // one the enrolment did not use, taken at once, with no wait for the clock to move on.
    const { secret } = device!;
    const again = await signIn(account, async (page) => {
      await page.locator('#otp').fill(await codeAt(secret, new Date(), 1));
      await page.getByRole('button', { name: 'Sign In' }).click();
    });
    expect(again).toMatchObject({ signedIn: true });
    await signOut(again);

    // An administrator lists the user's credentials and removes the device.
    const listed = (await asAdmin(CREDENTIALS, { id: userId })).user.credentials as { id: string; type: string; label: string | null }[];
    expect(listed.map(({ type, label }) => ({ type, label }))).toEqual([
      { type: 'password', label: null },
      { type: 'otp', label: 'Hedy’s phone' },
    ]);
    const otp = listed.find((credential) => credential.type === 'otp')!;
    await asAdmin(REMOVE, { userId, credentialId: otp.id });

    // The next sign-in asks for a new device, which a new key sets up.
    let newDevice: { secret: string } | undefined;
    const reenrolled = await signIn(account, async (page) => {
      newDevice = await enrol(page, 'Hedy’s new phone');
    });
    expect(reenrolled).toMatchObject({ signedIn: true });
    expect(newDevice!.secret).not.toBe(secret);
    const after = (await asAdmin(CREDENTIALS, { id: userId })).user.credentials as { id: string; type: string; label: string | null }[];
    expect(after.map(({ type, label }) => ({ type, label }))).toEqual([
      { type: 'password', label: null },
      { type: 'otp', label: 'Hedy’s new phone' },
    ]);
    expect(after.find((credential) => credential.type === 'otp')!.id).not.toBe(otp.id);
  });
});
