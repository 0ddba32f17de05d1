import { createHash, randomBytes } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { inject } from 'vitest';
import { authorizationUrl, exchangeCode, type TokenSet } from './keycloak.js';

/**
 * Where a sign-in at Keycloak's login page ended: sent back to the frontend with a code,
 * exchanged for tokens; or kept on the login page with the error it shows, and with every
 * callback the browser was sent to (none).
 */
export type LoginPageOutcome = { signedIn: true; tokens: TokenSet } | { signedIn: false; error: string; callbacks: string[] };

/**
 * Signs in as a frontend's user does: the browser goes to the frontend client's
 * authorization URL (code flow with PKCE), fills Keycloak's login page and submits it.
 * The frontend's callback page (the first configured redirect URI) is answered by the
 * browser itself, as no frontend runs beside the tests; the code it receives is exchanged
 * with the verifier at the token endpoint.
 *
 * `afterPassword` goes through the pages Keycloak shows after the password (a one-time
 * code, a required action) up to submitting the last of them; the sign-in must then reach
 * the callback, within the page's timeout.
 */
export async function signInAtLoginPage(
  context: BrowserContext,
  credentials: { email: string; password: string },
  { afterPassword }: { afterPassword?: (page: Page) => Promise<void> } = {},
): Promise<LoginPageOutcome> {
  const { frontendClientId, frontendRedirectUris } = inject('config').keycloak;
  const [redirectUri] = frontendRedirectUris;
  if (!redirectUri) throw new Error('the frontend client has no redirect URI');
  const verifier = randomBytes(48).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const isCallback = (url: URL) => `${url.origin}${url.pathname}` === redirectUri;

  const page = await context.newPage();
  try {
    const callbacks: string[] = [];
    await page.route(isCallback, (route) => {
      callbacks.push(route.request().url());
      return route.fulfill({ contentType: 'text/html', body: '<title>callback</title>' });
    });
    await page.goto(authorizationUrl(frontendClientId, redirectUri, { state, codeChallenge: sha256(verifier) }));
    await page.getByLabel('Email', { exact: true }).fill(credentials.email);
    await page.getByLabel('Password', { exact: true }).fill(credentials.password);
    await page.getByRole('button', { name: 'Sign In' }).click();
    if (afterPassword) {
      await afterPassword(page);
      await page.waitForURL(isCallback);
    }
    // Keycloak answers the form with a redirect to the callback, or with its login page again.
    await page.waitForURL((url) => isCallback(url) || url.pathname.includes('/login-actions/'));
    const landed = new URL(page.url());
    if (!isCallback(landed)) {
      return { signedIn: false, error: (await page.locator('.kc-feedback-text').first().textContent())?.trim() ?? '', callbacks };
    }
    const code = landed.searchParams.get('code');
    if (!code || landed.searchParams.get('state') !== state)
      throw new Error(`Keycloak sent the browser back without a code for this request: ${landed.search}`);
    return { signedIn: true, tokens: await exchangeCode(frontendClientId, { code, redirectUri, verifier }) };
  } finally {
    await page.close();
  }
}

/**
 * Sets a password from one of Keycloak's action emails (a reset or a set-up link): the link's
 * page asks to proceed, the next page asks for the new password twice. Resolves once
 * Keycloak says the account is updated.
 */
export async function setPasswordFromEmailLink(context: BrowserContext, link: string, password: string): Promise<void> {
  const page = await context.newPage();
  try {
    await page.goto(link);
    await page.getByRole('link', { name: /click here to proceed/i }).click();
    await page.locator('#password-new').fill(password);
    await page.locator('#password-confirm').fill(password);
    await page.locator('input[type=submit], button[type=submit]').click();
    await page.getByText('Your account has been updated.').waitFor();
  } finally {
    await page.close();
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
