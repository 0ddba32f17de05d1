import { createHmac, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { expect, inject } from 'vitest';
import { keycloakAdmin, type TestUser, type TokenSet } from './keycloak.js';

// Tokens for the verification and attack tests: forged by hand, byte by byte, the way an
// attacker would (no library that might refuse to produce a malformed or dangerous
// token), or real ones from Keycloak clients set up for the purpose.

export type JsonObject = Record<string, unknown>;

export interface TokenParts {
  header: JsonObject;
  payload: JsonObject;
  /** base64url, as it stands in the token. */
  signature: string;
}

const encode = (part: JsonObject) => Buffer.from(JSON.stringify(part)).toString('base64url');

export function decodeToken(token: string): TokenParts {
  const [header, payload, signature = ''] = token.split('.');
  const decode = (part = '') => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as JsonObject;
  return { header: decode(header), payload: decode(payload), signature };
}

/** The compact form of the given parts; the signature is taken as is (empty by default). */
export function encodeToken({ header, payload, signature = '' }: Omit<TokenParts, 'signature'> & { signature?: string }): string {
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

export function signRs256(header: JsonObject, payload: JsonObject, privateKey: KeyObject): string {
  const input = `${encode({ ...header, alg: 'RS256' })}.${encode(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** HS256 with any bytes as the secret: a public key's PEM or JWK text, or nothing at all. */
export function signHs256(header: JsonObject, payload: JsonObject, secret: string | Buffer): string {
  const input = `${encode({ ...header, alg: 'HS256' })}.${encode(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** The public half as a JWKS entry. */
  jwk: JWK;
  /** The private key as PKCS#8 PEM, the form Keycloak's `rsa` key provider imports. */
  pem: string;
}

export function newRsaKey(kid: string = randomUUID()): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' },
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Access-token claims as Keycloak writes them, valid for an hour from now unless overridden. */
export function accessClaims(issuer: string, audience: string, overrides: JsonObject = {}): JsonObject {
  const now = Math.floor(Date.now() / 1000);
  const sub = randomUUID();
  return {
    iss: issuer,
    aud: [audience, 'account'],
    // Keycloak names the client the token was issued to; here, the API client's own login.
    azp: audience,
    sub,
    typ: 'Bearer',
    iat: now,
    exp: now + 3600,
    preferred_username: `${sub}@example.test`,
    email: `${sub}@example.test`,
    realm_access: { roles: ['role_user'] },
    ...overrides,
  };
}

export interface JwksServer {
  /** Base URL; every path answers with the key set. */
  url: string;
  /** Served at every request; replace it to rotate keys. */
  keys: JWK[];
  /** Accept requests and never answer them, like a Keycloak that has gone away. */
  hanging: boolean;
  /** Requests received so far. */
  requests: number;
  close(): Promise<void>;
}

/**
 * A key set on loopback that counts what it is asked: a JWKS the verifier trusts in unit
 * tests, or an attacker's host named by a `jku` or `x5u` header.
 */
export async function serveJwks(keys: JWK[] = []): Promise<JwksServer> {
  const server = createServer((_request, response) => {
    jwks.requests++;
    if (jwks.hanging) return;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: jwks.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwks: JwksServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys,
    hanging: false,
    requests: 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return jwks;
}

/**
 * A confidential client of the test realm with direct grants, whose access tokens name
 * the API in `aud` or not, and live as long as asked (the realm's lifespan otherwise).
 */
export async function directGrantClient(options: { audience: boolean; accessTokenLifespanSeconds?: number }) {
  const { apiClientId } = inject('config').keycloak;
  const client = { clientId: `direct-grant-${randomUUID().slice(0, 8)}`, secret: randomUUID() };
  const created = await keycloakAdmin('POST', '/clients', {
    ...client,
    protocol: 'openid-connect',
    publicClient: false,
    directAccessGrantsEnabled: true,
    standardFlowEnabled: false,
    attributes: options.accessTokenLifespanSeconds ? { 'access.token.lifespan': String(options.accessTokenLifespanSeconds) } : {},
    protocolMappers: options.audience
      ? [
          {
            name: 'api-audience',
            protocol: 'openid-connect',
            protocolMapper: 'oidc-audience-mapper',
            config: { 'included.client.audience': apiClientId, 'access.token.claim': 'true' },
          },
        ]
      : [],
  });
  if (created.status !== 201) throw new Error(`creating client ${client.clientId} failed: ${created.status}`);
  return client;
}

/** Tokens from Keycloak's token endpoint, through any confidential client of any realm. */
export async function grant(realm: string, client: { clientId: string; secret: string }, username: string, password: string) {
  const response = await fetch(`${inject('config').keycloak.url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: client.clientId, client_secret: client.secret, username, password }),
  });
  if (!response.ok) throw new Error(`password grant in ${realm} failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as TokenSet;
}

/**
 * An offline session of `user`, made as an administrator would in the console: the gateway's
 * clients cannot ask for offline tokens (provisioning takes the offline_access scope and the
 * default role away), so the role is granted and a client of the realm asks for the scope.
 * Answers the offline refresh token and the client that holds it.
 */
export async function offlineGrant(user: TestUser): Promise<{ client: { clientId: string; secret: string }; refreshToken: string }> {
  const role = (await keycloakAdmin<{ id: string; name: string }>('GET', '/roles/offline_access')).body;
  await keycloakAdmin('POST', `/users/${user.id}/role-mappings/realm`, [role]);
  const client = await directGrantClient({ audience: true });
  const { realm, url } = inject('config').keycloak;
  const response = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: client.clientId,
      client_secret: client.secret,
      username: user.email,
      password: user.password,
      scope: 'openid offline_access',
    }),
  });
  const { refresh_token } = (await response.json()) as TokenSet;
  expect(decodeToken(refresh_token).payload.typ, 'an offline token').toBe('Offline');
  return { client, refreshToken: refresh_token };
}

/** Keycloak's answer to a refresh, through the client that issued the token (the gateway's API client unless said). */
export async function refreshAtKeycloak(refreshToken: string, client?: { clientId: string; secret: string }) {
  const { realm, url, apiClientId, apiClientSecret } = inject('config').keycloak;
  const { clientId, secret } = client ?? { clientId: apiClientId, secret: apiClientSecret };
  const response = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, client_secret: secret, refresh_token: refreshToken }),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; refresh_token?: string } };
}
