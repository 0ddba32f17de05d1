import { createPublicKey } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  accessClaims,
  decodeToken,
  encodeToken,
  newRsaKey,
  serveJwks,
  signHs256,
  signRs256,
  type JsonObject,
  type JwksServer,
  type SigningKey,
} from '../../test/support/tokens.js';
import { unauthenticated } from '../errors.js';
import {
  createTokenVerifier,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_JWKS_COOLDOWN_MS,
  JWKS_REFRESH_MS,
  JWKS_TIMEOUT_MS,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './token-verifier.js';

// The verifier against a key set served on loopback by the test: every claim rule, the
// key-set policy and the cache, each checked with tokens signed exactly as needed.
const REALM = 'unit';
const AUDIENCE = 'iam-gateway';
const FRONTEND = 'iam-frontend';
const trusted = newRsaKey();
// Another key, published nowhere, under the trusted key’s kid.
const attacker = newRsaKey(trusted.kid);
let jwks: JwksServer;
let issuer: string;

beforeAll(async () => {
  jwks = await serveJwks([trusted.jwk]);
  issuer = `${jwks.url}/realms/${REALM}`;
});
afterAll(() => jwks.close());
afterEach(() => {
  vi.useRealTimers();
  Object.assign(jwks, { keys: [trusted.jwk], hanging: false, requests: 0 });
});

function verifier(options: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  return createTokenVerifier({
    keycloakUrl: jwks.url,
    issuerBaseUrl: jwks.url,
    trustedRealms: () => [REALM],
    homeRealm: REALM,
    audience: AUDIENCE,
    authorizedParties: () => [AUDIENCE, FRONTEND],
    ...options,
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const claims = (overrides: JsonObject = {}) => accessClaims(issuer, AUDIENCE, overrides);
const signed = (overrides: JsonObject = {}, key: SigningKey = trusted) =>
  signRs256({ typ: 'JWT', kid: key.kid }, claims(overrides), key.privateKey);
const travel = (ms: number) => vi.setSystemTime(Date.now() + ms);

/** A clock only the test moves: the verifier's `now`. */
function fakeClock(start = Date.parse('2026-12-01T12:00:00Z')) {
  let time = start;
  return {
    now: () => time,
    seconds: () => Math.floor(time / 1000),
    set: (ms: number) => void (time = ms),
    advance: (ms: number) => void (time += ms),
  };
}

async function expectRefused(verify: TokenVerifier, token: string) {
  // One answer for every failure, so a caller learns nothing about why.
  await expect(verify.verify(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: unauthenticated().message });
}

describe('token verification', () => {
  it('accepts a Keycloak access token and reads the principal from its claims', async () => {
    const token = signed({
      sub: 'user-1',
      preferred_username: 'Ann@Example.test',
      email: 'Ann@Example.test',
      email_verified: true,
      given_name: 'Ann',
      family_name: 'Lee',
      sid: 'session-1',
      realm_access: { roles: ['priv_view_reports', 'role_user', 'offline_access', 'default-roles-unit', 42] },
    });
    await expect(verifier().verify(token)).resolves.toEqual({
      kind: 'person',
      clientId: AUDIENCE,
      userId: 'user-1',
      realm: REALM,
      tenantRealm: null,
      username: 'Ann@Example.test',
      email: 'ann@example.test',
      emailVerified: true,
      firstName: 'Ann',
      lastName: 'Lee',
      roles: ['role_user'],
      privileges: ['priv_view_reports'],
      issuedAt: decodeToken(token).payload.iat,
      expiresAt: decodeToken(token).payload.exp,
      sessionId: 'session-1',
    });
  });

  it('gives a token from a tenant realm no gateway roles: they belong to that tenant', async () => {
    const verify = verifier({ trustedRealms: () => [REALM, 'tenant-1'], homeRealm: 'tenant-1' });
    await expect(verify.verify(signed({ realm_access: { roles: ['role_admin', 'priv_user_management'] } }))).resolves.toMatchObject({
      realm: REALM,
      tenantRealm: REALM,
      roles: [],
      privileges: [],
    });
  });

  it('accepts `aud` as a single string naming the API', async () => {
    await expect(verifier().verify(signed({ aud: AUDIENCE }))).resolves.toMatchObject({ realm: REALM });
  });

  it('accepts `exp` and `nbf` within the clock tolerance', async () => {
    const skew = DEFAULT_CLOCK_TOLERANCE_SECONDS - 5;
    await expect(verifier().verify(signed({ exp: nowSeconds() - skew }))).resolves.toBeDefined();
    await expect(verifier().verify(signed({ nbf: nowSeconds() + skew }))).resolves.toBeDefined();
  });

  const publicPem = createPublicKey(trusted.privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const refused: Record<string, () => string> = {
    'alg none': () => encodeToken({ header: { alg: 'none', typ: 'JWT', kid: trusted.kid }, payload: claims() }),
    'HS256 keyed with the public key as PEM': () => signHs256({ kid: trusted.kid }, claims(), publicPem),
    'HS256 keyed with the public key as JWK': () => signHs256({ kid: trusted.kid }, claims(), JSON.stringify(trusted.jwk)),
    'HS256 with an empty key and a path in kid': () => signHs256({ kid: '../../../../dev/null' }, claims(), ''),
    'another key reusing the trusted kid': () => signed({}, attacker),
    'another key embedded as a jwk header': () => signRs256({ kid: attacker.kid, jwk: attacker.jwk }, claims(), attacker.privateKey),
    'SQL in kid': () => signRs256({ kid: "' OR 1=1 --" }, claims(), attacker.privateKey),
    'expired beyond the tolerance': () => signed({ exp: nowSeconds() - DEFAULT_CLOCK_TOLERANCE_SECONDS - 5 }),
    'nbf beyond the tolerance': () => signed({ nbf: nowSeconds() + DEFAULT_CLOCK_TOLERANCE_SECONDS + 5 }),
    'an issuer naming an untrusted realm': () => signed({ iss: `${jwks.url}/realms/master` }),
    'the trusted realm at another host': () => signed({ iss: `http://evil.example/realms/${REALM}` }),
    'an issuer that only starts like the trusted one': () => signed({ iss: `${issuer}/../master` }),
    'no aud': () => signed({ aud: undefined }),
    'an aud without the API': () => signed({ aud: ['account', 'other-client'] }),
    'an ID token': () => signed({ typ: 'ID', aud: AUDIENCE }),
    'a refresh token': () => signed({ typ: 'Refresh' }),
    'no typ': () => signed({ typ: undefined }),
    'no sub': () => signed({ sub: undefined }),
    'no exp': () => signed({ exp: undefined }),
    'no azp': () => signed({ azp: undefined }),
    'a payload changed after signing': () => {
      const { header, payload, signature } = decodeToken(signed());
      return encodeToken({ header, payload: { ...payload, realm_access: { roles: ['role_admin'] } }, signature });
    },
    'a signature from another token': () => {
      const { header, payload } = decodeToken(signed());
      return encodeToken({ header, payload, signature: decodeToken(signed({ sub: 'someone-else' })).signature });
    },
    garbage: () => 'not-a-jwt',
    'empty parts': () => '..',
    'a header that is not JSON': () => `${Buffer.from('{"alg":').toString('base64url')}.e30.c2ln`,
    'more than 16 KB': () => signed({ padding: 'x'.repeat(16 * 1024) }),
  };

  it.each(Object.entries(refused))('refuses %s, with UNAUTHENTICATED and nothing more', async (_name, token) => {
    await expectRefused(verifier(), token());
  });

  it('I4: refuses an iat in the future beyond the clock tolerance, and accepts one within it', async () => {
    const clock = fakeClock();
    const verify = verifier({ now: clock.now });
    const at = clock.seconds();
    await expectRefused(verify, signed({ iat: at + DEFAULT_CLOCK_TOLERANCE_SECONDS + 1, exp: at + 300 }));
    await expectRefused(verify, signed({ iat: at + 86_400, exp: at + 90_000 }));
    await expect(verify.verify(signed({ iat: at + DEFAULT_CLOCK_TOLERANCE_SECONDS, exp: at + 300 }))).resolves.toBeDefined();
  });

  it('I4: accepts only the configured clients (azp), per realm', async () => {
    const verify = verifier({ authorizedParties: (realm) => (realm === REALM ? [AUDIENCE, FRONTEND] : []) });
    await expect(verify.verify(signed({ azp: FRONTEND }))).resolves.toMatchObject({ clientId: FRONTEND });
    // Another client of the realm, given an audience mapper for the API in the console.
    await expectRefused(verify, signed({ azp: 'direct-grant-tool' }));
    await expectRefused(verify, signed({ azp: ['iam-gateway'] }));
    await expectRefused(verifier({ authorizedParties: () => [] }), signed());
  });

  it("I4: takes a service account's token (client credentials) for a client, never a person, and gives it no roles", async () => {
    // As Keycloak 26 writes them: no sid, the client's id in client_id, a reserved username.
    const serviceAccount = {
      preferred_username: `service-account-${AUDIENCE}`,
      client_id: AUDIENCE,
      email: undefined,
      realm_access: { roles: ['role_admin', 'priv_user_management'] },
    };
    await expect(verifier().verify(signed(serviceAccount))).resolves.toMatchObject({
      kind: 'client',
      clientId: AUDIENCE,
      roles: [],
      privileges: [],
    });
    // Either mark is enough.
    await expect(verifier().verify(signed({ ...serviceAccount, client_id: undefined }))).resolves.toMatchObject({ kind: 'client' });
    await expect(verifier().verify(signed({ ...serviceAccount, preferred_username: 'robot@example.test' }))).resolves.toMatchObject({
      kind: 'client',
    });
    await expect(verifier().verify(signed())).resolves.toMatchObject({ kind: 'person' });
  });

  it('never fetches keys for an algorithm it does not allow, nor from a jku or x5u header', async () => {
    const attackerHost = await serveJwks([attacker.jwk]);
    try {
      const verify = verifier();
      await expectRefused(verify, refused['alg none']());
      await expectRefused(verify, refused['HS256 keyed with the public key as PEM']());
      expect(jwks.requests).toBe(0);
      const newKid = newRsaKey();
      const pointing = { kid: newKid.kid, jku: `${attackerHost.url}/jwks.json`, x5u: `${attackerHost.url}/cert.pem` };
      await expectRefused(verify, signRs256(pointing, claims(), newKid.privateKey));
      expect(attackerHost.requests).toBe(0);
    } finally {
      await attackerHost.close();
    }
  });
});

describe('the realm key set', () => {
  it('is fetched once for any number of tokens', async () => {
    const verify = verifier();
    for (let i = 0; i < 10; i++) await verify.verify(signed());
    expect(jwks.requests).toBe(1);
  });

  it('is refetched once for an unknown kid, and not again within the cooldown', async () => {
    const verify = verifier();
    await verify.verify(signed());
    const unknown = newRsaKey();
    await expectRefused(verify, signed({}, unknown));
    expect(jwks.requests, 'still cooling down from the first fetch').toBe(1);

    travel(DEFAULT_JWKS_COOLDOWN_MS + 1000);
    for (let i = 0; i < 5; i++) await expectRefused(verify, signed({}, newRsaKey()));
    expect(jwks.requests).toBe(2);
  });

  it('accepts a key Keycloak rotated in, from its first token after the cooldown', async () => {
    const verify = verifier();
    await verify.verify(signed());
    const rotated = newRsaKey();
    jwks.keys = [trusted.jwk, rotated.jwk];
    travel(DEFAULT_JWKS_COOLDOWN_MS + 1000);
    await expect(verify.verify(signed({}, rotated))).resolves.toBeDefined();
  });

  it('keeps verifying with the keys it has, without waiting, while Keycloak does not answer', async () => {
    const verify = verifier();
    await verify.verify(signed());
    jwks.hanging = true;
    travel(JWKS_REFRESH_MS + 1000);
    const started = performance.now();
    await expect(verify.verify(signed())).resolves.toBeDefined();
    expect(performance.now() - started, 'no wait on the key set').toBeLessThan(JWKS_TIMEOUT_MS / 2);
    await vi.waitFor(() => expect(jwks.requests, 'a background refresh was attempted').toBe(2));
  });

  it('drops a key Keycloak removed, at the background refresh after its age', async () => {
    const verify = verifier();
    await verify.verify(signed());
    const rotated = newRsaKey();
    jwks.keys = [rotated.jwk];
    travel(JWKS_REFRESH_MS + 1000);
    await verify.verify(signed());
    await vi.waitFor(() => expect(jwks.requests).toBe(2));
    await expect.poll(() => verify.verify(signed()).catch((error: unknown) => error)).toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(verify.verify(signed({}, rotated))).resolves.toBeDefined();
  });

  it('refuses every token, quickly, while the keys were never fetched', async () => {
    const verify = verifier({ keycloakUrl: 'http://127.0.0.1:9' });
    await expectRefused(verify, signed());
  });
});

describe('the verified-token cache', () => {
  it('refuses a forged token that copies a cached token’s header and payload', async () => {
    const verify = verifier();
    const genuine = signed();
    await verify.verify(genuine);
    const { header, payload } = decodeToken(genuine);
    await expectRefused(verify, signRs256(header, payload, attacker.privateKey));
    await expectRefused(verify, encodeToken({ header: { ...header, alg: 'none' }, payload }));
    await expect(verify.verify(genuine)).resolves.toMatchObject({ userId: payload.sub });
  });

  it('keeps nothing of a refused token', async () => {
    const verify = verifier();
    const token = signed();
    const { header, payload } = decodeToken(token);
    await expectRefused(verify, signRs256(header, payload, attacker.privateKey));
    await expect(verify.verify(token)).resolves.toMatchObject({ userId: payload.sub });
  });

  it('stops answering for a token once it expired', async () => {
    const clock = fakeClock();
    const verify = verifier({ now: clock.now });
    const token = signed({ iat: clock.seconds(), exp: clock.seconds() + 60 });
    await verify.verify(token);
    clock.advance((60 + DEFAULT_CLOCK_TOLERANCE_SECONDS + 1) * 1000);
    await expectRefused(verify, token);
  });

  it('I4: refuses a cached token at the same instant as an uncached one: exp plus the clock tolerance', async () => {
    const clock = fakeClock();
    const exp = clock.seconds() + 60;
    const token = signed({ iat: clock.seconds(), exp });
    const cachedBy = verifier({ now: clock.now });
    const uncached = verifier({ now: clock.now, cacheSize: 0 });
    await cachedBy.verify(token);
    // The last second in which both accept the token, then the first in which both refuse it.
    clock.set((exp + DEFAULT_CLOCK_TOLERANCE_SECONDS - 1) * 1000 + 999);
    await expect(cachedBy.verify(token)).resolves.toBeDefined();
    await expect(uncached.verify(token)).resolves.toBeDefined();
    clock.set((exp + DEFAULT_CLOCK_TOLERANCE_SECONDS) * 1000);
    await expectRefused(cachedBy, token);
    await expectRefused(uncached, token);
  });

  it('judges tokens by the clock it is given, not the system clock', async () => {
    // A token that expired an hour ago by the system clock, to a verifier whose clock is two hours behind.
    const clock = fakeClock(Date.now() - 2 * 3_600_000);
    const token = signed({ iat: clock.seconds(), exp: nowSeconds() - 3_600 });
    await expect(verifier({ now: clock.now }).verify(token)).resolves.toBeDefined();
    await expectRefused(verifier(), token);
    // And one valid by the system clock, to a verifier whose clock has moved past its expiry.
    const fresh = signed();
    clock.set(Date.now() + 2 * 3_600_000);
    await expectRefused(verifier({ now: clock.now }), fresh);
    await expect(verifier().verify(fresh)).resolves.toBeDefined();
  });

  it('stops answering for a realm that is no longer trusted', async () => {
    let realms = [REALM];
    const verify = verifier({ trustedRealms: () => realms });
    const token = signed();
    await verify.verify(token);
    realms = [];
    await expectRefused(verify, token);
  });
});
