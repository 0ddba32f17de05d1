import { type StateStore, type User, UserManager, WebStorageStateStore } from 'oidc-client-ts';

/** What the gateway tells the IDE about signing in (GET /ide/settings.json, made from its configuration). */
export interface IdeSettings {
  /** The realm's issuer URL; the endpoints come from its discovery document. */
  authority: string;
  /** The public frontend client, signed in with the authorization-code flow and PKCE. */
  clientId: string;
  /** Where Keycloak sends the browser back with the code: the gateway's /callback. Null when sign-in is unavailable. */
  redirectUri: string | null;
  /** Where Keycloak sends the browser after sign-out; null: the IDE only forgets the tokens and revokes the refresh token. */
  postLogoutRedirectUri: string | null;
  /** Why sign-in is unavailable, when it is. */
  signInUnavailable?: string;
}

const REMEMBER_KEY = 'iam-gateway.ide.remember';
/** How long before its expiry an access token is renewed. */
const RENEW_BEFORE_SECONDS = 60;
const RENEW_LOCK = 'iam-gateway.ide.renew';
const USER_KEY_PREFIX = 'iam-gateway.ide.user.';

/**
 * Where the signed-in user (its tokens) is kept: in this page's memory, or in localStorage
 * once the person ticks "Remember me on this device". Memory rather than sessionStorage by
 * default: sessionStorage outlives the page (a reload, a restored or duplicated tab), so
 * tokens would stay behind that nobody chose to keep. In memory they end with the page,
 * and signing in again is one click while Keycloak's own session lasts.
 */
export class TokenStore implements StateStore {
  private readonly memory = new Map<string, string>();

  constructor(private readonly device: Storage) {}

  get remembered(): boolean {
    return this.device.getItem(REMEMBER_KEY) === 'true';
  }

  /** Moves what is kept to the device or back into memory, so that the choice applies at once. */
  remember(on: boolean): void {
    if (on === this.remembered) return;
    if (on) {
      for (const [key, value] of this.memory) this.device.setItem(USER_KEY_PREFIX + key, value);
      this.memory.clear();
      this.device.setItem(REMEMBER_KEY, 'true');
    } else {
      for (const key of this.deviceKeys()) {
        this.memory.set(key, this.device.getItem(USER_KEY_PREFIX + key) ?? '');
        this.device.removeItem(USER_KEY_PREFIX + key);
      }
      this.device.removeItem(REMEMBER_KEY);
    }
  }

  async set(key: string, value: string): Promise<void> {
    if (this.remembered) this.device.setItem(USER_KEY_PREFIX + key, value);
    else this.memory.set(key, value);
  }

  async get(key: string): Promise<string | null> {
    return this.remembered ? this.device.getItem(USER_KEY_PREFIX + key) : (this.memory.get(key) ?? null);
  }

  async remove(key: string): Promise<string | null> {
    const value = await this.get(key);
    if (this.remembered) this.device.removeItem(USER_KEY_PREFIX + key);
    else this.memory.delete(key);
    return value;
  }

  async getAllKeys(): Promise<string[]> {
    return this.remembered ? this.deviceKeys() : [...this.memory.keys()];
  }

  private deviceKeys(): string[] {
    return Object.keys(this.device)
      .filter((key) => key.startsWith(USER_KEY_PREFIX))
      .map((key) => key.slice(USER_KEY_PREFIX.length));
  }
}

/** What the page shows: who is signed in and until when their access token holds, or why nobody is. */
export type SessionState = { user: User } | { user: null; message?: string };

/**
 * Sign-in with Keycloak through oidc-client-ts: the authorization-code flow with PKCE
 * (the code verifier and state wait in sessionStorage, this tab only, for the way back),
 * and the access token renewed with the refresh token a minute before it expires.
 */
export class Session {
  private readonly manager: UserManager | undefined;

  constructor(
    private readonly settings: IdeSettings,
    readonly tokens: TokenStore,
    private readonly show: (state: SessionState) => void,
  ) {
    if (!settings.redirectUri) return;
    this.manager = new UserManager({
      authority: settings.authority,
      client_id: settings.clientId,
      redirect_uri: settings.redirectUri,
      post_logout_redirect_uri: settings.postLogoutRedirectUri ?? undefined,
      response_type: 'code',
      scope: 'openid',
      userStore: tokens,
      stateStore: new WebStorageStateStore({ store: window.sessionStorage, prefix: 'iam-gateway.ide.signin.' }),
      // Renewed here (renew()), not by the library, so that tabs sharing tokens take turns.
      automaticSilentRenew: false,
      accessTokenExpiringNotificationTimeInSeconds: RENEW_BEFORE_SECONDS,
      // Session monitoring loads Keycloak in an iframe; renewal by refresh token needs none.
      monitorSession: false,
      loadUserInfo: false,
    });
    this.manager.events.addUserLoaded((user) => this.show({ user }));
    this.manager.events.addUserUnloaded(() => this.show({ user: null }));
    this.manager.events.addAccessTokenExpiring(() => void this.renew());
    // Remembered, the tokens are shared by the IDE's tabs: one tab's renewal or sign-out shows in the others.
    window.addEventListener('storage', (event) => {
      if (event.storageArea === window.localStorage && event.key?.startsWith(USER_KEY_PREFIX)) void this.reload();
    });
  }

  private async reload(): Promise<void> {
    const user = (await this.manager?.getUser()) ?? null;
    this.show(user && !user.expired ? { user } : { user: null });
  }

  /** Finishes a sign-in when Keycloak has just sent the browser back, else picks up a remembered user. */
  async start(): Promise<void> {
    const manager = this.manager;
    if (!manager) return this.show({ user: null, message: this.settings.signInUnavailable });
    const here = new URL(window.location.href);
    if (here.pathname === new URL(this.settings.redirectUri!).pathname) {
      // The code and state leave the address bar (and the history) whatever the outcome.
      window.history.replaceState(null, '', '/graphql');
      try {
        await manager.signinRedirectCallback(here.href);
      } catch (error) {
        return this.show({ user: null, message: `Sign-in failed: ${(error as Error).message}` });
      }
      return;
    }
    const user = await manager.getUser();
    if (!user) return this.show({ user: null });
    if (!user.expired) return this.show({ user });
    // Remembered, but the access token expired while no page was open: try the refresh token.
    await this.renew();
  }

  signIn(): Promise<void> {
    return this.manager!.signinRedirect();
  }

  /** Ends Keycloak's session too, so that the next sign-in asks for the password again. */
  async signOut(): Promise<void> {
    const manager = this.manager!;
    if (this.settings.postLogoutRedirectUri) return manager.signoutRedirect();
    await manager.revokeTokens(['refresh_token']).catch(() => undefined);
    await manager.removeUser();
  }

  /** The access token to send, renewed first when it has expired; undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    const user = await this.manager?.getUser();
    if (!user) return undefined;
    if (!user.expired) return user.access_token;
    return (await this.renew())?.access_token;
  }

  /**
   * Keycloak takes each refresh token once, and remembered tokens are shared by the IDE's
   * tabs, due for renewal at the same moment: the tabs take turns (a Web Lock, where the page
   * is a secure context such as localhost), and a tab that finds the tokens renewed by
   * another uses those.
   */
  private async renew(): Promise<User | undefined> {
    const renewOnce = async (): Promise<User | undefined> => {
      const manager = this.manager!;
      const stored = await manager.getUser();
      if (stored && !stored.expired && (stored.expires_in ?? 0) > RENEW_BEFORE_SECONDS) {
        this.show({ user: stored });
        return stored;
      }
      try {
        return (await manager.signinSilent()) ?? undefined;
      } catch (error) {
        // The refresh token no longer works: Keycloak's session ended or was revoked.
        await manager.removeUser();
        this.show({ user: null, message: `Signed out: ${(error as Error).message}` });
        return undefined;
      }
    };
    return 'locks' in navigator ? navigator.locks.request(RENEW_LOCK, renewOnce) : renewOnce();
  }
}
