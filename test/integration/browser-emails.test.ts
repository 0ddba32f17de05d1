import { randomUUID } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, privateWindow } from '../support/browser.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken } from '../support/keycloak.js';
import { type LoginPageOutcome, setPasswordFromEmailLink, signInAtLoginPage } from '../support/login-page.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';

// Keycloak's own pages in a real browser: the links of the emails it sends for the gateway,
// the password forms behind them, and its login page as a frontend sends users to it.

const newEmail = () => `browser-${randomUUID().slice(0, 8)}@example.test`;
const newPassword = () => `Pw-${randomUUID().slice(0, 8)}-9a`;

// Each password Keycloak hashes, and each of its pages, takes seconds on a loaded machine.
describe("the password emails, followed through Keycloak's pages in a browser", { timeout: 120_000 }, () => {
  let gateway: TestGateway;
  let browser: Browser;
  const mailbox = createMailbox(inject('mailboxUrl'));

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startTestGateway(), launchBrowser()]);
  });
  afterAll(async () => {
    await Promise.all([browser?.close(), gateway?.close()]);
  });

  /** Each step in its own private window, so that no session of an earlier step signs anyone in. */
  async function inPrivateWindow<T>(step: (context: Awaited<ReturnType<typeof privateWindow>>) => Promise<T>): Promise<T> {
    const context = await privateWindow(browser);
    try {
      return await step(context);
    } finally {
      await context.close();
    }
  }

  const signIn = (email: string, password: string) => inPrivateWindow((context) => signInAtLoginPage(context, { email, password }));

  /** The action link of the newest email Keycloak sent to `email`, on Keycloak's public address. */
  async function actionLinkSentTo(email: string): Promise<string> {
    const link = extractLinks(await mailbox.waitFor(email)).find((url) => url.includes('/login-actions/action-token'));
    expect(link, 'an action link in the email').toBeDefined();
    expect(link!.startsWith(`${inject('config').keycloak.publicUrl}/realms/${inject('config').keycloak.realm}/`)).toBe(true);
    return link!;
  }

  /** The gateway's `me` with the access token the code was exchanged for. */
  async function meOf(outcome: LoginPageOutcome) {
    expect(outcome).toMatchObject({ signedIn: true });
    if (!outcome.signedIn) throw new Error('not signed in');
    const response = await gateway.graphql('{ me { user { id email } } }', { token: outcome.tokens.access_token });
    expect(response.errors).toBeUndefined();
    return response.data!.me.user as { id: string; email: string };
  }

  it('forgot password: the reset link sets a new password on Keycloak’s page; the login page then takes the new one and refuses the old', async () => {
    const email = newEmail();
    const oldPassword = newPassword();
    const signedUp = await gateway.graphql(
      'mutation($input: SignupInput!) { signup(input: $input) { user { id } tokens { accessToken } } }',
      {
        variables: { input: { email, password: oldPassword, firstName: 'Rosalind', lastName: 'Franklin' } },
      },
    );
    expect(signedUp.errors).toBeUndefined();
    const userId = signedUp.data!.signup.user.id;
    // Signing up signs in with the old password: its refusal afterwards is the reset's doing.
    expect(signedUp.data!.signup.tokens.accessToken).toEqual(expect.any(String));

    const asked = await gateway.graphql('mutation($email: String!) { resetPassword(email: $email) { message } }', { variables: { email } });
    expect(asked.errors).toBeUndefined();
    const password = newPassword();
    await inPrivateWindow(async (context) => setPasswordFromEmailLink(context, await actionLinkSentTo(email), password));

    expect(await meOf(await signIn(email, password))).toEqual({ id: userId, email });
    expect(await signIn(email, oldPassword)).toEqual({ signedIn: false, error: 'Invalid username or password.', callbacks: [] });
  });

  it('setup email: a user registered without a password sets one from the email, then signs in at the login page', async () => {
    const email = newEmail();
    const registered = await gateway.graphql('mutation($input: RegisterUserInput!) { registerUser(input: $input) { user { id } } }', {
      token: await adminAccessToken(),
      variables: { input: { email, firstName: 'Katherine', lastName: 'Johnson' } },
    });
    expect(registered.errors).toBeUndefined();
    const userId = registered.data!.registerUser.user.id;
    const password = newPassword();

    await inPrivateWindow(async (context) => setPasswordFromEmailLink(context, await actionLinkSentTo(email), password));

    expect(await meOf(await signIn(email, password))).toEqual({ id: userId, email });
  });
});
