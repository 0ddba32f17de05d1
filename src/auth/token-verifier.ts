import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { unauthenticated } from '../errors.js';
import { PRIVILEGE_PREFIX, ROLE_PREFIX } from '../keycloak/realm-catalog.js';

/** Who is calling, as stated by a verified Keycloak access token. */
export interface Principal {
  /**
   * `person`: a user who signed in. `client`: a client's service account (client
   * credentials), which acts for a program: it is never mirrored as a user and may call
   * nothing that needs a person (src/permissions.ts).
   */
  kind: 'person' | 'client';
  /** The client the token was issued to (`azp`), one of the accepted ones. */
  clientId: string;
  userId: string;
  realm: string;
  /** The tenant realm the token comes from (realm tenancy); null for the gateway's own realm. */
  tenantRealm: string | null;
  username: string;
  email: string;
  emailVerified: boolean;
  firstName: string;
  lastName: string;
  /** Effective realm roles named role_* (composites already expanded by Keycloak). */
  roles: string[];
  /** Effective privileges (priv_*), reached through roles and groups. */
  privileges: string[];
  /** When Keycloak issued the token (its claims are Keycloak's word as of then), in seconds since the epoch. */
  issuedAt: number;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** Keycloak's session the token belongs to (`sid`), if it names one: to tell tokens of ended sessions apart (src/modules/sessions/sessions-end.ts). */
  sessionId?: string | null;
}

export interface TokenVerifierOptions {
  /** Where the gateway fetches each realm's keys. */
  keycloakUrl: string;
  /** The base of the issuer Keycloak writes into tokens. */
  issuerBaseUrl: string;
  /** Realms whose tokens are accepted. Read on each verification, so realms can be added at run time. */
  trustedRealms: () => readonly string[];
  /**
   * The gateway's own realm, the only one whose realm roles count. A tenant realm's roles
   * belong to that tenant: read as gateway-wide roles, a tenant realm's role_admin would
   * administer every tenant and user.
   */
  homeRealm: string;
  /** The API client id that access tokens must name in `aud`. */
  audience: string;
  /**
   * The clients of a realm whose tokens are accepted (`azp`): any other client of the
   * realm that names the API in `aud` (an audience mapper added in the console) is refused.
   */
  authorizedParties: (realm: string) => readonly string[];
  /** Applies alike to `exp`, `nbf` and `iat`, and to tokens found in the cache. */
  clockToleranceSeconds?: number;
  /** Minimum time between two JWKS fetches for one realm (an unknown `kid` triggers one). */
  jwksCooldownMs?: number;
  /** Verified tokens kept to skip repeated signature checks; 0 disables the cache. */
  cacheSize?: number;
  /** Told of every cache lookup, found or not (the metrics' hit rate). */
  onCacheLookup?: (hit: boolean) => void;
  /**
   * The time tokens are judged by (`exp`, `nbf`, `iat`, and the cache), in milliseconds since
   * the epoch: the system clock unless a test moves one of its own.
   */
  now?: () => number;
}

export interface TokenVerifier {
  /** Verifies a bearer access token; throws UNAUTHENTICATED for anything wrong with it. */
  verify(token: string): Promise<Principal>;
}

// Keycloak signs with RS256 by default; pinning it rules out `none` and HMAC confusion.
const ALGORITHMS = ['RS256'];
// A Keycloak RS256 access token is a few kilobytes; anything far larger is not one.
const MAX_TOKEN_LENGTH = 16 * 1024;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
// Known keys are refetched this often, in the background, to drop keys Keycloak removed.
export const JWKS_REFRESH_MS = 10 * 60_000;
// The longest any verification may wait for Keycloak's key set.
export const JWKS_TIMEOUT_MS = 5_000;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keySets = new Map<string, JWTVerifyGetKey>();
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  const now = options.now ?? (() => Date.now());
  // Seconds since the epoch, as jose counts them.
  const nowSeconds = () => Math.floor(now() / 1000);
  const cache = new VerifiedTokenCache(options.cacheSize ?? 10_000, tolerance, nowSeconds);
  const issuerPrefix = `${options.issuerBaseUrl}/realms/`;

  function keySetFor(realm: string) {
    let keySet = keySets.get(realm);
    if (!keySet) {
      keySet = realmKeySet(
        new URL(`${options.keycloakUrl}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/certs`),
        options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
      );
      keySets.set(realm, keySet);
    }
    return keySet;
  }

  async function verifyUncached(token: string): Promise<Principal> {
    // The issuer picks the realm's key set; it is only trusted after the signature check below.
    const claimedIssuer = decodeJwt(token).iss ?? '';
    const realm = claimedIssuer.startsWith(issuerPrefix) ? claimedIssuer.slice(issuerPrefix.length) : undefined;
    if (!realm || !options.trustedRealms().includes(realm)) throw unauthenticated();

    const { payload } = await jwtVerify(token, keySetFor(realm), {
      issuer: claimedIssuer,
      audience: options.audience,
      algorithms: ALGORITHMS,
      clockTolerance: tolerance,
      currentDate: new Date(now()),
      requiredClaims: ['exp', 'sub', 'azp'],
    });
    // Keycloak marks access tokens `typ: Bearer`; ID and refresh tokens must not pass as them.
    if (payload.typ !== 'Bearer') throw unauthenticated();
    // jose checks `iat` only against a maximum age: a token "issued" in the future would
    // outlive its real lifetime in every check that compares with `iat`.
    if (typeof payload.iat === 'number' && payload.iat > nowSeconds() + tolerance) throw unauthenticated();
    if (typeof payload.azp !== 'string' || !options.authorizedParties(realm).includes(payload.azp)) throw unauthenticated();
    return principalFrom(payload, realm, realm === options.homeRealm);
  }

  return {
    async verify(token) {
      if (!token || token.length > MAX_TOKEN_LENGTH) throw unauthenticated();
      const cached = cache.get(token);
      // A realm can stop being trusted while its tokens sit in the cache.
      const hit = cached !== undefined && options.trustedRealms().includes(cached.realm);
      options.onCacheLookup?.(hit);
      if (hit) return cached;
      let principal: Principal;
      try {
        principal = await verifyUncached(token);
      } catch {
        // Whatever went wrong (signature, claims, malformed input, JWKS unreachable), the
        // caller learns only that the token was not accepted.
        throw unauthenticated();
      }
      cache.set(token, principal);
      return principal;
    },
  };
}

/**
 * A realm's signing keys. jose fetches them on first use and again when a token names an
 * unknown `kid`, at most once per cooldown, so forged `kid`s cannot make the gateway
 * hammer Keycloak. Known keys are refreshed in the background, off every request's path:
 * a token signed by a known key never waits for Keycloak, and still verifies while
 * Keycloak is down.
 */
function realmKeySet(url: URL, cooldownMs: number): JWTVerifyGetKey {
  // With a finite cacheMaxAge, jose would hold a request for the refetch once the keys are
  // old, and refuse every token while Keycloak is unreachable.
  const remote = createRemoteJWKSet(url, { cooldownDuration: cooldownMs, cacheMaxAge: Infinity, timeoutDuration: JWKS_TIMEOUT_MS });
  let refreshAt = Date.now() + JWKS_REFRESH_MS;
  return (header, token) => {
    if (Date.now() >= refreshAt) {
      refreshAt = Date.now() + JWKS_REFRESH_MS;
      // A failed refresh keeps the keys jose has and is retried after the cooldown.
      remote.reload().catch(() => {
        refreshAt = Date.now() + cooldownMs;
      });
    }
    return remote(header, token);
  };
}

const SERVICE_ACCOUNT_PREFIX = 'service-account-';

/**
 * Keycloak writes a service account's username as `service-account-<client id>`, and its
 * `service_account` client scope adds a `client_id` claim (Keycloak 26; such a token also
 * has no `sid`, as no one signed in). Either mark is enough: a client taken for a person
 * would be mirrored as a user, the reverse only refuses that token.
 */
function isServiceAccount(payload: JWTPayload): boolean {
  const username = payload.preferred_username;
  return typeof payload.client_id === 'string' || (typeof username === 'string' && username.startsWith(SERVICE_ACCOUNT_PREFIX));
}

function principalFrom(payload: JWTPayload, realm: string, home: boolean): Principal {
  const client = isServiceAccount(payload);
  // A service account's realm roles are the client's grants, never a person's.
  const realmRoles = home && !client ? readRealmRoles(payload) : [];
  const text = (claim: string) => (typeof payload[claim] === 'string' ? (payload[claim] as string) : '');
  return {
    kind: client ? 'client' : 'person',
    clientId: payload.azp as string,
    userId: payload.sub!,
    realm,
    tenantRealm: home ? null : realm,
    username: text('preferred_username'),
    email: text('email').toLowerCase(),
    emailVerified: payload.email_verified === true,
    firstName: text('given_name'),
    lastName: text('family_name'),
    roles: realmRoles.filter((role) => role.startsWith(ROLE_PREFIX)).sort(),
    privileges: realmRoles.filter((role) => role.startsWith(PRIVILEGE_PREFIX)).sort(),
    issuedAt: payload.iat ?? 0,
    expiresAt: payload.exp!,
    sessionId: text('sid') || null,
  };
}

function readRealmRoles(payload: JWTPayload): string[] {
  const access = payload.realm_access as { roles?: unknown } | undefined;
  return Array.isArray(access?.roles) ? access.roles.filter((role): role is string => typeof role === 'string') : [];
}

/**
 * Verified principals keyed by the whole token, each kept until its token expires, the
 * oldest dropped first when full. A signature check costs tens of microseconds; a map
 * lookup costs nothing. A token leaves the cache at the very second jose would start
 * refusing it (`exp` plus the clock tolerance), so whether it was cached never changes
 * the answer.
 */
class VerifiedTokenCache {
  private readonly entries = new Map<string, Principal>();
  constructor(
    private readonly capacity: number,
    private readonly toleranceSeconds: number,
    private readonly nowSeconds: () => number,
  ) {}

  get(token: string): Principal | undefined {
    const principal = this.entries.get(token);
    if (!principal) return undefined;
    if (principal.expiresAt + this.toleranceSeconds <= this.nowSeconds()) {
      this.entries.delete(token);
      return undefined;
    }
    return principal;
  }

  set(token: string, principal: Principal): void {
    if (this.capacity === 0) return;
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, principal);
  }
}
