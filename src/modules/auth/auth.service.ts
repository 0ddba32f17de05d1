import { decodeJwt } from 'jose';
import { AppError } from '../../errors.js';
import type { Principal, TokenVerifier } from '../../auth/token-verifier.js';
import type { Logger } from '../../logger.js';
import type { UserRecord } from '../users/user.type.js';
import { checkLogin, type LoginInput } from './auth.input.js';
import { INVALID_CREDENTIALS, INVALID_REFRESH_TOKEN, type KeycloakSessions, type TokenSet } from '../../keycloak/sessions.js';

export interface AuthServiceDependencies {
  /** Sessions in the gateway's own realm. */
  sessions: KeycloakSessions;
  /** Realm tenancy only: sessions in the tenant realms. */
  tenantRealms?: TenantSessions;
  verifier: TokenVerifier;
  /** The local record of a user, if the mirror has one. */
  findUser: (id: string) => Promise<UserRecord | null>;
  log: Logger;
}

/** Where realm tenancy's sessions live: a tenant's realm, named by login's tenantId or by a refresh token's issuer. */
export interface TenantSessions {
  /** The realm of a tenant: null when it has none (the gateway's own), undefined when there is no such tenant. */
  realmOfTenant(tenantId: string): Promise<string | null | undefined>;
  /** The known realm (the gateway's own or a tenant's) a token's issuer names; undefined for any other. */
  realmOfIssuer(issuer: string | undefined): string | undefined;
  /** Sessions in a realm realmOfTenant or realmOfIssuer answered (the gateway's own included). */
  sessionsIn(realm: string): KeycloakSessions;
}

/** A session Keycloak opened and the gateway accepted. */
export interface SignedIn {
  tokens: TokenSet;
  /** Who the access token names, verified like any bearer token. */
  principal: Principal;
}

export const ACCOUNT_NOT_ACTIVE = 'This account is not active. Contact your administrator.';

/** Signing in and out through Keycloak. Keycloak checks credentials; the gateway never sees a hash. */
export class AuthService {
  constructor(private readonly deps: AuthServiceDependencies) {}

  /**
   * Signs in to the gateway's realm, or with `tenantId` in realm tenancy to that tenant's
   * realm. An unknown tenant gets the same answer as wrong credentials.
   */
  async login(input: LoginInput): Promise<SignedIn> {
    checkLogin(input);
    const sessions = await this.loginSessions(input.tenantId);
    const tokens = await sessions.passwordGrant(input.username.trim(), input.password);
    return this.accept(tokens, sessions);
  }

  /** Renewed in the realm that issued the refresh token. */
  async refresh(refreshToken: string): Promise<SignedIn> {
    const sessions = this.sessionsOfToken(refreshToken);
    return this.accept(await sessions.refreshGrant(refreshToken), sessions);
  }

  /** Ends the caller's session at Keycloak: the refresh token stops working at once. */
  async logout(caller: Principal, refreshToken: string): Promise<void> {
    // Keycloak checks the token's signature; the gateway checks it is the caller's, so
    // nobody ends another user's session with a token they came across.
    if (subjectOf(refreshToken) !== caller.userId) throw new AppError('UNAUTHENTICATED', INVALID_REFRESH_TOKEN);
    const { tenantRealms } = this.deps;
    if (tenantRealms && tenantRealms.realmOfIssuer(issuerOf(refreshToken)) !== caller.realm) {
      throw new AppError('UNAUTHENTICATED', INVALID_REFRESH_TOKEN);
    }
    await this.sessionsOfToken(refreshToken).logout(refreshToken);
  }

  private async loginSessions(tenantId: string | null | undefined): Promise<KeycloakSessions> {
    const { tenantRealms } = this.deps;
    // Shared tenancy: every tenant's members sign in to the gateway's realm.
    if (!tenantId || !tenantRealms) return this.deps.sessions;
    const realm = await tenantRealms.realmOfTenant(tenantId);
    if (realm === undefined) throw new AppError('UNAUTHENTICATED', INVALID_CREDENTIALS);
    return realm === null ? this.deps.sessions : tenantRealms.sessionsIn(realm);
  }

  private sessionsOfToken(refreshToken: string): KeycloakSessions {
    const { tenantRealms } = this.deps;
    if (!tenantRealms) return this.deps.sessions;
    const realm = tenantRealms.realmOfIssuer(issuerOf(refreshToken));
    if (!realm) throw new AppError('UNAUTHENTICATED', INVALID_REFRESH_TOKEN);
    return tenantRealms.sessionsIn(realm);
  }

  /**
   * Keycloak vouched for the tokens, but they are verified like any other before the
   * gateway relies on them; and a user disabled locally gets none. Whenever the caller
   * gets no tokens, the session is ended, so no usable refresh token stays behind.
   */
  private async accept(tokens: TokenSet, sessions: KeycloakSessions): Promise<SignedIn> {
    try {
      const principal = await this.deps.verifier.verify(tokens.accessToken).catch(() => {
        // Not the caller's fault: Keycloak issued the token a moment ago. Logged and masked.
        throw new Error('An access token Keycloak just issued did not verify: check KEYCLOAK_PUBLIC_URL and the audience mapper');
      });
      const known = await this.deps.findUser(principal.userId);
      if (known && !known.enabled) throw new AppError('FORBIDDEN', ACCOUNT_NOT_ACTIVE);
      return { tokens, principal };
    } catch (error) {
      await sessions.logout(tokens.refreshToken).catch((logoutError: unknown) => {
        // The refresh token never left the gateway; the session only lingers until it expires.
        this.deps.log.warn({ err: logoutError }, 'could not end a refused session at Keycloak');
      });
      throw error;
    }
  }
}

function subjectOf(token: string): string | undefined {
  try {
    return decodeJwt(token).sub;
  } catch {
    return undefined;
  }
}

function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}
