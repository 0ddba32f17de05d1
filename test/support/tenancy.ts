import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Config, TenancyMode } from '../../src/config.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, type TestUser } from './keycloak.js';

/**
 * The seed flows run once per tenancy mode (issue 5: "both modes run the same integration
 * suite"): `describe.each(TENANCY_MODES)` and, inside, `useTenancy(mode)` for a gateway in
 * that mode and helpers that make tenants and their people the way the mode does.
 */
export const TENANCY_MODES: readonly TenancyMode[] = ['shared', 'realm'];

/** A tenant's owner, signed in: in realm tenancy an account of the tenant's own realm. */
export interface TenantOwner extends TestUser {
  token: string;
  refreshToken: string;
  tenant: { id: string; name: string };
  /** The realm the owner's account lives in: the tenant's in realm tenancy, else undefined (the test realm). */
  realm: string | undefined;
}

export interface Tenancy {
  mode: TenancyMode;
  /** The gateway in this mode (set once beforeAll ran). */
  readonly gateway: TestGateway;
  /** A tenant realm a test made some other way, deleted after the file. */
  track(realm: string): void;
  /** Signs up with `accountName`: a new tenant and its OWNER, with tokens. */
  tenantOwner(name?: string): Promise<TenantOwner>;
  /** An existing account of `realm` (the test realm when undefined), known to the gateway and signed in. */
  signedIn(realm?: string, options?: { realmRoles?: string[] }): Promise<TestUser & { token: string }>;
}

const SIGNUP = /* GraphQL */ `
  mutation Signup($input: SignupInput!) {
    signup(input: $input) { user { id } tenant { id name } tokens { accessToken refreshToken } }
  }
`;

/** `configure`: the test gateway's configuration beyond the mode (Config in, Config out). */
export function useTenancy(mode: TenancyMode, configure: (config: Config) => Config = (config) => config): Tenancy {
  let gateway: TestGateway | undefined;
  const realms = new Set<string>();

  beforeAll(async () => {
    gateway = await startTestGateway((config) =>
      configure({
        ...config,
        tenancyMode: mode,
        // Each test signs its owners up: the per-address limit is not what these files test.
        rateLimits: { ...config.rateLimits, signup: { ...config.rateLimits.signup, perIp: { max: 1000, windowSeconds: 3600 } } },
      }),
    );
  });
  afterAll(async () => {
    await gateway?.close();
    // Keycloak's database stays small: every tenant realm these tests made goes (gone already is fine).
    await Promise.all([...realms].map((realm) => keycloakAdmin('DELETE', '', undefined, realm)));
  });

  const tenancy: Tenancy = {
    mode,
    get gateway() {
      if (!gateway) throw new Error('the gateway starts in beforeAll');
      return gateway;
    },
    track(realm) {
      realms.add(realm);
    },
    async tenantOwner(name = `Acme ${randomUUID().slice(0, 6)}`) {
      const suffix = randomUUID().slice(0, 8);
      const input = {
        email: `owner-${suffix}@example.test`,
        password: `Pw-${randomUUID()}-9a`,
        firstName: 'Owner',
        lastName: `User ${suffix}`,
        accountName: name,
      };
      const response = await tenancy.gateway.graphql(SIGNUP, { variables: { input } });
      expect(response.errors).toBeUndefined();
      const { user, tenant, tokens } = response.data!.signup;
      if (mode === 'realm') realms.add(tenant.id);
      const { accountName: _, ...person } = input;
      return {
        ...person,
        id: user.id,
        token: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        tenant,
        realm: mode === 'realm' ? (tenant.id as string) : undefined,
      };
    },
    async signedIn(realm, options = {}) {
      const user = await createKeycloakUser({ ...options, realm });
      const token = (await passwordGrant(user.email, user.password, realm)).access_token;
      // Mirrored on first sight, as any caller is.
      const me = await tenancy.gateway.graphql('{ me { user { id } } }', { token });
      expect(me.errors).toBeUndefined();
      return { ...user, token };
    },
  };
  return tenancy;
}
