import { createPublicKey, randomUUID } from 'node:crypto';
import KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import { and, chain, or, race } from 'graphql-shield';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PERMISSIONS } from '../../src/permissions.js';
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, JWKS_TIMEOUT_MS } from '../../src/auth/token-verifier.js';
import { frontendClient, provisionRealm } from '../../src/keycloak/provisioning.js';
import { buildPublicSchema } from '../../src/schema.js';
import { aliasedQuery, BIGGEST_LISTING, deepQuery, minimalOperation } from '../support/documents.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant, type TokenSet } from '../support/keycloak.js';
import {
  accessClaims,
  decodeToken,
  directGrantClient,
  encodeToken,
  grant,
  newRsaKey,
  serveJwks,
  signHs256,
  signRs256,
  type JsonObject,
  type SigningKey,
  type TokenParts,
} from '../support/tokens.js';

// Every way we know to get past token verification, tried against the real Keycloak
// through the gateway over HTTP. Each must answer exactly as a call without any token
// does: UNAUTHENTICATED, never INTERNAL_SERVER_ERROR, and quickly.
const config = inject('config');
const { url: keycloakUrl, realm, apiClientId, masterAdmin } = config.keycloak;
if (!masterAdmin) throw new Error('the attack suite needs KEYCLOAK_ADMIN_USERNAME/PASSWORD');
const ME = '{ me { user { id } } }';
// Well under the key-set fetch timeout: an answer that waited on Keycloak cannot be this fast,
// while a loaded machine has room (1 s was seen exceeded under CI load).
const FAST_MS = JWKS_TIMEOUT_MS / 2;

let gateway: TestGateway;
let anonymousAnswer: unknown;
/** Tokens Keycloak issued to a user with role_user, and the parts of its access token. */
let genuine: TokenSet;
let parts: TokenParts;
/** The realm's public key that signed them. */
let realmKey: JWK;

beforeAll(async () => {
  gateway = await startTestGateway();
  const user = await createKeycloakUser({ realmRoles: ['role_user'] });
  genuine = await passwordGrant(user.email, user.password);
  parts = decodeToken(genuine.access_token);
  realmKey = (await keySetOf(realm)).find((key) => key.kid === parts.header.kid)!;
  anonymousAnswer = comparable(await gateway.graphql(ME));
});
afterAll(() => gateway?.close());

/** Without the timestamps, which differ from one answer to the next. */
function comparable(response: GraphQLResponse): unknown {
  const errors = response.errors?.map(({ extensions, ...error }) => {
    const { timestamp: _, ...rest } = extensions as typeof extensions & { timestamp?: string };
    return { ...error, extensions: rest };
  });
  return { ...response, errors };
}

async function timed<T>(call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await call();
  expect(performance.now() - started, 'answered quickly').toBeLessThan(FAST_MS);
  return result;
}

/** The gateway answers `token` as it answers no token at all, so the caller learns nothing. */
async function expectLikeNoToken(token: string, through: TestGateway = gateway) {
  expect(comparable(await timed(() => through.graphql(ME, { token })))).toEqual(anonymousAnswer);
}

async function keySetOf(realmName: string): Promise<JWK[]> {
  const response = await fetch(`${keycloakUrl}/realms/${realmName}/protocol/openid-connect/certs`);
  return ((await response.json()) as { keys: JWK[] }).keys;
}

describe('a forged or misused token answers like no token at all', () => {
  /** The genuine claims, signed by `key` under `header`. */
  const forgeWith = (header: JsonObject, key: SigningKey) => signRs256(header, parts.payload, key.privateKey);

  it('without a token, the answer every attack must match: UNAUTHENTICATED, HTTP 200', () => {
    expect(anonymousAnswer).toEqual({
      status: 200,
      data: null,
      errors: [expect.objectContaining({ path: ['me'], extensions: { code: 'UNAUTHENTICATED', status: 401 } })],
    });
  });

  it('the genuine token itself is accepted, so the refusals below are the attacks’ doing', async () => {
    const response = await gateway.graphql(ME, { token: genuine.access_token });
    expect(response.errors).toBeUndefined();
  });

  it('alg: none, with the genuine claims and kid', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      await expectLikeNoToken(encodeToken({ header: { ...parts.header, alg }, payload: parts.payload }));
    }
  });

  it('HS256 keyed with the realm’s public key as PEM', async () => {
    const pem = createPublicKey({ key: realmKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    await expectLikeNoToken(signHs256(parts.header, parts.payload, pem));
  });

  it('HS256 keyed with the realm’s public key as JWK', async () => {
    await expectLikeNoToken(signHs256(parts.header, parts.payload, JSON.stringify(realmKey)));
  });

  it('the genuine claims signed by another RSA key under the real kid', async () => {
    await expectLikeNoToken(forgeWith(parts.header, newRsaKey(realmKey.kid)));
  });

  it('an embedded jwk header carrying the key that signed it', async () => {
    const attacker = newRsaKey();
    await expectLikeNoToken(forgeWith({ kid: attacker.kid, jwk: attacker.jwk }, attacker));
    await expectLikeNoToken(forgeWith({ kid: realmKey.kid, jwk: attacker.jwk }, attacker));
  });

  it.each(['jku', 'x5u'])('a %s header pointing at a server of the attacker, which is never asked', async (parameter) => {
    const attacker = newRsaKey();
    const host = await serveJwks([attacker.jwk]);
    try {
      await expectLikeNoToken(forgeWith({ kid: attacker.kid, [parameter]: `${host.url}/keys` }, attacker));
      expect(host.requests).toBe(0);
    } finally {
      await host.close();
    }
  });

  it('a path in kid, with HS256 keyed by the empty file it names', async () => {
    for (const kid of ['../../../../../../dev/null', '/etc/passwd', '..%2f..%2fdev%2fnull']) {
      await expectLikeNoToken(signHs256({ kid }, parts.payload, ''));
    }
  });

  it('SQL in kid', async () => {
    const attacker = newRsaKey();
    for (const kid of ["' OR '1'='1", "x'; DROP TABLE users; --"]) await expectLikeNoToken(forgeWith({ kid }, attacker));
  });

  it('a tampered payload: role_admin added, the genuine signature kept', async () => {
    const elevated = { ...parts.payload, realm_access: { roles: ['role_admin', 'priv_user_management'] } };
    await expectLikeNoToken(encodeToken({ ...parts, payload: elevated }));
  });

  it('an ID token presented as an access token', async () => {
    expect(genuine.id_token).toBeDefined();
    await expectLikeNoToken(genuine.id_token!);
  });

  it('a refresh token presented as an access token', async () => {
    await expectLikeNoToken(genuine.refresh_token);
  });

  it('a genuine token of a client whose tokens do not name the API in aud', async () => {
    const client = await directGrantClient({ audience: false });
    const user = await createKeycloakUser();
    const token = (await grant(realm, client, user.email, user.password)).access_token;
    expect(decodeToken(token).payload.aud ?? []).not.toContain(apiClientId);
    await expectLikeNoToken(token);
  });

  it('I4: a genuine token of another client of the realm, one that names the API in aud', async () => {
    const client = await directGrantClient({ audience: true });
    const user = await createKeycloakUser();
    const token = (await grant(realm, client, user.email, user.password)).access_token;
    expect(decodeToken(token).payload).toMatchObject({ aud: expect.arrayContaining([apiClientId]), azp: client.clientId });
    await expectLikeNoToken(token);
  });

  it('malformed tokens', async () => {
    const [header, payload] = genuine.access_token.split('.');
    for (const token of ['not-a-jwt', 'a.b.c', '..', `${header}.${payload}`, `${header}.${payload}.`, `${header}.%%%.sig`, 'e30.e30.e30']) {
      await expectLikeNoToken(token);
    }
  });

  it('a token just under the size of all request headers', async () => {
    await expectLikeNoToken(`${genuine.access_token}${'A'.repeat(14_000)}`);
  });

  it('a 100 KB token is refused by the HTTP server before anything reads it', async () => {
    const response = await timed(() =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${'A'.repeat(100 * 1024)}` },
        body: JSON.stringify({ query: ME }),
      }),
    );
    expect(response.status).toBe(431);
  });

  it('a genuine token past its expiry and the clock tolerance', async () => {
    // The token Keycloak issued, judged by a gateway whose clock the test moves: no waiting for it to expire.
    const lastAccepted = ((parts.payload.exp as number) + DEFAULT_CLOCK_TOLERANCE_SECONDS) * 1000 - 1;
    let now = lastAccepted;
    const later = await startTestGateway(undefined, { now: () => now });
    try {
      const before = await later.graphql(ME, { token: genuine.access_token });
      expect(before.errors, 'the token is good until exp plus the clock tolerance').toBeUndefined();
      now = lastAccepted + 1;
      await expectLikeNoToken(genuine.access_token, later);
    } finally {
      await later.close();
    }
  });
});

describe('another realm of the same Keycloak', () => {
  // A realm set up like ours, down to the API client's id and its audience mapper, with a
  // key of the test's own that Keycloak publishes: the test signs any claims it likes
  // with a key the realm vouches for.
  const otherRealm = `attack-${randomUUID().slice(0, 8)}`;
  const otherAdmin = { email: `admin-${otherRealm}@example.test`, password: `Pw-${randomUUID()}-9a` };
  const otherApiClient = { clientId: apiClientId, secret: randomUUID() };
  const published = newRsaKey();
  let publishedKid: string;
  const master = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName: 'master' });
  let trustingOther: TestGateway;
  let otherIssuer: string;
  let otherAdminId: string;

  beforeAll(async () => {
    await master.auth({ grantType: 'password', clientId: 'admin-cli', ...masterAdmin });
    await provisionRealm({
      keycloakUrl,
      masterAdmin,
      realm: otherRealm,
      apiClient: otherApiClient,
      frontendClient: frontendClient(config.keycloak.frontendClientId, config.keycloak),
      smtp: config.smtp,
      bootstrapAdmin: otherAdmin,
      catalog: config.catalog,
    });
    publishedKid = await publishKey(otherRealm, published);
    otherIssuer = `${config.keycloak.publicUrl}/realms/${otherRealm}`;
    // A person of that realm: the gateway looks up whoever a token names.
    [{ id: otherAdminId }] = (await master.users.find({ realm: otherRealm, username: otherAdmin.email, exact: true })) as [{ id: string }];
    trustingOther = await startTestGateway((base) => ({
      ...base,
      keycloak: { ...base.keycloak, realm: otherRealm, apiClientSecret: otherApiClient.secret },
    }));
  });
  afterAll(async () => {
    await trustingOther?.close();
    await master.realms.del({ realm: otherRealm }, { catchNotFound: true });
  });

  /**
   * Adds `key` to the realm as a passive key: published for verification, never used to
   * sign. Returns the kid Keycloak gave it.
   */
  async function publishKey(realmName: string, key: SigningKey): Promise<string> {
    const admin = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName });
    admin.registerTokenProvider(master);
    const { id: parentId } = (await admin.realms.findOne({ realm: realmName }))!;
    await admin.components.create({
      name: 'attack-suite-key',
      providerId: 'rsa',
      providerType: 'org.keycloak.keys.KeyProvider',
      parentId,
      config: { privateKey: [key.pem], priority: ['0'], enabled: ['true'], active: ['false'], algorithm: ['RS256'] },
    });
    return (await keySetOf(realmName)).find((jwk) => jwk.n === key.jwk.n)!.kid!;
  }

  const signedByRealm = (overrides: JsonObject = {}) =>
    signRs256({ typ: 'JWT', kid: publishedKid }, accessClaims(otherIssuer, apiClientId, overrides), published.privateKey);

  it('a genuine token of that realm’s administrator, for an API client of the same name', async () => {
    const token = (await grant(otherRealm, otherApiClient, otherAdmin.email, otherAdmin.password)).access_token;
    expect(decodeToken(token).payload).toMatchObject({ aud: expect.arrayContaining([apiClientId]), typ: 'Bearer' });
    await expectLikeNoToken(token);
  });

  it('a token signed with a key the realm publishes is accepted by a gateway trusting that realm', async () => {
    const response = await trustingOther.graphql(ME, { token: signedByRealm({ sub: otherAdminId }) });
    expect(response.errors).toBeUndefined();
  });

  it('a token with nbf in the future, signed with a key the realm publishes', async () => {
    const inAMinute = Math.floor(Date.now() / 1000) + DEFAULT_CLOCK_TOLERANCE_SECONDS + 60;
    await expectLikeNoToken(signedByRealm({ nbf: inAMinute }), trustingOther);
  });

  it('a token with a wrong issuer, signed with a key the realm publishes', async () => {
    await expectLikeNoToken(signedByRealm({ iss: `http://attacker.example/realms/${otherRealm}` }), trustingOther);
    await expectLikeNoToken(signedByRealm({ iss: `${config.keycloak.publicUrl}/realms/${realm}` }), trustingOther);
  });

  it('a token without aud, signed with a key the realm publishes', async () => {
    await expectLikeNoToken(signedByRealm({ aud: undefined }), trustingOther);
  });
});

// graphql-shield does not export its rule classes: and(), chain(), or() and race() make instances of them.
const All = [and().constructor, chain().constructor];
const Any = [or().constructor, race().constructor];
type Rule = { name?: string; getRules?: () => Rule[] };

/** Whether the rule refuses every anonymous caller. */
function needsSignIn(rule: Rule): boolean {
  if (All.some((kind) => rule instanceof kind)) return rule.getRules!().some(needsSignIn);
  if (Any.some((kind) => rule instanceof kind)) return rule.getRules!().every(needsSignIn);
  return rule.name === 'isAuthenticated';
}

/** Whether signing in is all the rule asks, abuse limits aside: a caller without roles passes it. */
function signInSuffices(rule: Rule): boolean {
  if (All.some((kind) => rule instanceof kind))
    return rule.getRules!().every((part) => signInSuffices(part) || part.name?.startsWith('rateLimited:'));
  if (Any.some((kind) => rule instanceof kind)) return rule.getRules!().some(signInSuffices);
  return rule.name === 'isAuthenticated';
}

/** Every operation of the permission table that is not public, ready to call. */
const schema = await buildPublicSchema();
// Subscriptions are refused over HTTP before any rule; their tokens are judged when the socket
// opens, which test/integration/subscriptions.test.ts attacks (4401 without a valid one).
const protectedOperations = Object.entries(PERMISSIONS)
  .filter(([rootType]) => rootType !== 'Subscription')
  .flatMap(([rootType, fields]) =>
    Object.entries(fields as Record<string, Rule>)
      .filter(([, rule]) => needsSignIn(rule))
      .map(([field, rule]) => ({
        name: `${rootType}.${field}`,
        field,
        // Calling what signing in alone allows could change things (deleteMyAccount): only the rest.
        needsMoreThanSignIn: !signInSuffices(rule),
        ...minimalOperation(schema, rootType as 'Query' | 'Mutation', field),
      })),
  );

describe('operations the caller may not call', () => {
  let roleless: string;
  beforeAll(async () => {
    const user = await createKeycloakUser();
    roleless = (await passwordGrant(user.email, user.password)).access_token;
    // The first request of a person the gateway has not seen looks them up in Keycloak: not timed below.
    expect((await gateway.graphql(ME, { token: roleless })).errors).toBeUndefined();
  });

  async function expectRefused(operation: (typeof protectedOperations)[number], code: string, token?: string) {
    const response = await timed(() => gateway.graphql(operation.document, { variables: operation.variables, token }));
    expect(response.status).toBe(200);
    // A nullable field answers null in `data`; a non-null one nulls `data` itself.
    expect(response.data?.[operation.field] ?? null).toBeNull();
    expect(response.errors?.map((error) => error.extensions.code)).toEqual([code]);
  }

  it.each(protectedOperations.map((operation) => [operation.name, operation] as const))(
    '%s answers UNAUTHENTICATED to an anonymous caller',
    (_name, operation) => expectRefused(operation, 'UNAUTHENTICATED'),
  );

  it.each(
    protectedOperations.filter((operation) => operation.needsMoreThanSignIn).map((operation) => [operation.name, operation] as const),
  )('%s answers FORBIDDEN to a signed-in user without roles', (_name, operation) => expectRefused(operation, 'FORBIDDEN', roleless));
});

describe('documents built to exhaust the gateway', () => {
  async function expectBadUserInput(document: string) {
    const response = await timed(() => gateway.graphql(document));
    expect(response.status).toBe(400);
    expect(response.errors?.map((error) => error.extensions)).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', status: 400 })]);
  }

  it('a query 20 levels deep answers BAD_USER_INPUT', () => expectBadUserInput(deepQuery(20)));

  it('a query with 200 aliases answers BAD_USER_INPUT', () => expectBadUserInput(aliasedQuery(200)));

  it('the biggest listing clients send still answers', async () => {
    // Not the bootstrap admin: Keycloak refuses concurrent logins of one user, and other files log it in.
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const { access_token: token } = await passwordGrant(admin.email, admin.password);
    // Not timed: it reads a page of every test file's users, and its speed is the bench's business.
    const response = await gateway.graphql(BIGGEST_LISTING, { token });
    expect(response.errors).toBeUndefined();
    expect(response.data!.users.edges.length).toBeGreaterThan(0);
  });
});
