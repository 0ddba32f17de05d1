import { ErrorResponse, type User, UserManager } from 'oidc-client-ts';
import { useEffect, useState } from 'react';
import { settings } from './settings';
import { setCurrentTenantId } from './tenant';

/**
 * Sign-in through Keycloak's pages: the authorization-code flow with PKCE, as the public
 * frontend client. Keycloak sends the browser back to /callback and, after sign-out, to /
 * (the client's exact redirect and post-logout URIs, made from FRONTEND_URLS). Tokens live in
 * sessionStorage (oidc-client-ts's default): gone with the tab, never in a cookie.
 */
export const userManager = new UserManager({
  authority: settings.oidcAuthority,
  client_id: settings.oidcClientId,
  redirect_uri: `${window.location.origin}/callback`,
  post_logout_redirect_uri: `${window.location.origin}/`,
  response_type: 'code',
  scope: 'openid',
  // Renewed by renew() below, not by the library's own timer: see there.
  automaticSilentRenew: false,
});

/**
 * A refresh token Keycloak refuses (invalid_grant) means the session is over: signed out
 * elsewhere, ended by an administrator, the account disabled. The page shows the person signed
 * out. Any other failure (Keycloak unreachable) keeps the tokens for the next try.
 */
async function forgetEndedSession(error: unknown): Promise<null> {
  if (error instanceof ErrorResponse && error.error === 'invalid_grant') await userManager.removeUser();
  return null;
}

let renewal: Promise<User | null> | undefined;

/**
 * Trades the refresh token for new tokens at Keycloak's token endpoint (Keycloak answers CORS
 * for the client's web origins); callers at the same moment share one trade. The realm's
 * refresh tokens are single-use: a second trade with the same one, say by the two queries a
 * page sends at load with an expired token, is refused (invalid_grant) and would sign the
 * person out. oidc-client-ts does not join concurrent renewals itself.
 */
function renew(): Promise<User | null> {
  renewal ??= userManager
    .signinSilent()
    .catch(forgetEndedSession)
    .finally(() => {
      renewal = undefined;
    });
  return renewal;
}
// A minute before the access token expires (oidc-client-ts's default notification time).
userManager.events.addAccessTokenExpiring(() => void renew());

/** What the page returns to after signing in (the invitation page sends its invitee back to it). */
interface SignInState {
  returnTo?: string;
}

export function signIn(options: { loginHint?: string; returnTo?: string } = {}): Promise<void> {
  const state: SignInState = { returnTo: options.returnTo };
  return userManager.signinRedirect({ login_hint: options.loginHint, state });
}

/** Finishes the sign-in on /callback; answers the page to go to. */
export async function completeSignIn(): Promise<string> {
  const user = await userManager.signinRedirectCallback();
  // Another person may have used this tab: start outside any tenant.
  setCurrentTenantId(null);
  return (user.state as SignInState | undefined)?.returnTo ?? '/';
}

/** Ends the Keycloak session (its refresh token stops working) and comes back to /. */
export function signOut(): Promise<void> {
  setCurrentTenantId(null);
  return userManager.signoutRedirect();
}

/**
 * The access token for the next request: the stored one while it is valid, else one from the
 * refresh token (when automatic renewal has not run, say after the laptop slept); null when
 * signed out or the session has ended.
 */
export async function currentAccessToken(): Promise<string | null> {
  const user = await userManager.getUser();
  if (!user) return null;
  if (!user.expired) return user.access_token;
  const renewed = await renew();
  return renewed?.access_token ?? null;
}

/**
 * The signed-in user's tokens, kept up to date as they are loaded, renewed and removed;
 * undefined while reading storage. An expired access token still counts as signed in: the
 * refresh token renews it.
 */
export function useOidcUser(): User | null | undefined {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  useEffect(() => {
    let current = true;
    void userManager.getUser().then((stored) => current && setUser(stored));
    const loaded = (next: User) => setUser(next);
    const unloaded = () => setUser(null);
    userManager.events.addUserLoaded(loaded);
    userManager.events.addUserUnloaded(unloaded);
    userManager.events.addUserSignedOut(unloaded);
    return () => {
      current = false;
      userManager.events.removeUserLoaded(loaded);
      userManager.events.removeUserUnloaded(unloaded);
      userManager.events.removeUserSignedOut(unloaded);
    };
  }, []);
  return user;
}
