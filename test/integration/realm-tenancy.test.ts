import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CONTROL_PLANE_CLIENT_ID } from '../../src/keycloak/tenant-realms.js';
import { provisionRealm } from '../../src/keycloak/provisioning.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { createMailbox } from '../support/mailbox.js';

const SIGNUP = /* GraphQL */ `
  mutation Signup($input: SignupInput!) {
    signup(input: $input) {
      user { id email }
      tenant { id name members { role user { id email } } }
      tokens { accessToken }
    }
  }
`;
const CREATE_TENANT =
  'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id name members { role user { id email } } } } }';
const ME = '{ me { user { id email } roles currentTenant { id name } tenants { role tenant { id } } } }';

const newEmail = () => `realm-${randomUUID().slice(0, 8)}@example.test`;

interface KeycloakUser {
  id: string;
  email: string;
  firstName: string;
  requiredActions: string[];
}

async function usersByEmail(realm: string, email: string): Promise<KeycloakUser[]> {
  return (await keycloakAdmin<KeycloakUser[]>('GET', `/users?email=${encodeURIComponent(email)}&exact=true`, undefined, realm)).body;
}

describe('realm tenancy (TENANCY_MODE=realm)', () => {
  let gateway: TestGateway;
  // Every realm a test may have made, deleted at the end so Keycloak's database stays small.
  const realms = new Set<string>();

  beforeAll(async () => {
    gateway = await startTestGateway((config) => ({ ...config, tenancyMode: 'realm' }));
  });
  afterAll(async () => {
    await gateway?.close();
    for (const realm of realms) await keycloakAdmin('DELETE', '', undefined, realm);
  });

  async function signup(accountName = `Acct ${randomUUID().slice(0, 6)}`) {
    const input = { email: newEmail(), password: 'Realm-pass-1', firstName: 'Ada', lastName: 'Lovelace', accountName };
    const response = await gateway.graphql(SIGNUP, { variables: { input } });
    expect(response.errors).toBeUndefined();
    const { user, tenant, tokens } = response.data!.signup;
    realms.add(tenant.id);
    return { input, user, tenant, tokens };
  }

  it('signup with accountName creates realm <tenant id> with client control-plane, the owner inside it, and the local records', async () => {
    const { input, user, tenant } = await signup('Analytical Engines');

    const realm = await keycloakAdmin<Record<string, unknown>>('GET', '', undefined, tenant.id);
    expect(realm.status).toBe(200);
    expect(realm.body).toMatchObject({
      realm: tenant.id,
      enabled: true,
      bruteForceProtected: true,
      passwordPolicy: expect.stringContaining('length(8)'),
    });
    const [client] = (
      await keycloakAdmin<Record<string, any>[]>('GET', `/clients?clientId=${CONTROL_PLANE_CLIENT_ID}`, undefined, tenant.id)
    ).body;
    expect(client).toMatchObject({ publicClient: true, standardFlowEnabled: true, attributes: { 'pkce.code.challenge.method': 'S256' } });
    expect((await usersByEmail(tenant.id, input.email)).map((u) => u.id)).toEqual([user.id]);
    expect(await usersByEmail(inject('config').keycloak.realm, input.email)).toEqual([]);

    expect(tenant).toMatchObject({ name: 'Analytical Engines', members: [{ role: 'OWNER', user: { id: user.id, email: input.email } }] });
    expect(await sql('select realm from tenants where id = $1', [tenant.id])).toEqual([{ realm: tenant.id }]);
    expect(await sql('select realm, email from users where id = $1', [user.id])).toEqual([{ realm: tenant.id, email: input.email }]);
    const audit = await sql('select action, status, target_id, tenant_id, details from audit_events where tenant_id = $1', [tenant.id]);
    expect(audit).toMatchObject([
      { action: 'USER_SIGNUP', status: 'SUCCEEDED', target_id: user.id, tenant_id: tenant.id, details: { realm: tenant.id } },
    ]);
    expect(JSON.stringify(audit)).not.toContain(input.password);
  });

  it('accepts a tenant realm’s token for me, with currentTenant from X-Tenant-ID, and for the tenant’s own operations', async () => {
    const { input, user, tenant, tokens } = await signup();
    expect(tokens.accessToken).toEqual(expect.any(String));
    const token = (await passwordGrant(input.email, input.password, tenant.id)).access_token;

    const me = await gateway.graphql(ME, { token, headers: { 'x-tenant-id': tenant.id } });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toEqual({
      user: { id: user.id, email: input.email },
      // A tenant realm's roles are that tenant's, never the gateway's.
      roles: [],
      currentTenant: { id: tenant.id, name: tenant.name },
      tenants: [{ role: 'OWNER', tenant: { id: tenant.id } }],
    });
    const read = await gateway.graphql('query($id: ID!) { tenant(id: $id) { id } }', { token, variables: { id: tenant.id } });
    expect(read.data).toEqual({ tenant: { id: tenant.id } });
  });

  it('signup answers "not eligible" for an email the gateway knows in any realm, and creates no realm', async () => {
    const { input } = await signup();
    const accountName = `Second ${randomUUID().slice(0, 6)}`;
    const again = await gateway.graphql(SIGNUP, { variables: { input: { ...input, accountName } } });
    expect(again.errors?.[0]).toMatchObject({ message: 'Email not eligible for signup. Please login.', extensions: { code: 'CONFLICT' } });
    // Other test files create tenants meanwhile: look for this one by its name.
    expect(await sql('select count(*)::int as count from tenants where name = $1', [accountName])).toEqual([{ count: 0 }]);
  });

  it('createTenant by an existing user creates the realm and the owner there, who gets the password-setup email', async () => {
    const creator = await createKeycloakUser({ realmRoles: ['role_user'] });
    const token = (await passwordGrant(creator.email, creator.password)).access_token;
    const response = await gateway.graphql(CREATE_TENANT, { token, variables: { name: 'Creator Co' } });
    expect(response.errors).toBeUndefined();
    const { tenant } = response.data!.createTenant;
    realms.add(tenant.id);

    const [owner] = await usersByEmail(tenant.id, creator.email);
    expect(owner).toMatchObject({ firstName: creator.firstName, requiredActions: ['UPDATE_PASSWORD'] });
    expect((await keycloakAdmin<unknown[]>('GET', `/users/${owner!.id}/credentials`, undefined, tenant.id)).body).toEqual([]);
    expect(tenant.members).toEqual([{ role: 'OWNER', user: { id: owner!.id, email: creator.email } }]);
    expect(await sql('select user_id, role from memberships where tenant_id = $1', [tenant.id])).toEqual([
      { user_id: owner!.id, role: 'OWNER' },
    ]);
    // Two accounts of one person, one per realm.
    expect(await sql('select realm from users where email = $1 order by realm nulls first', [creator.email])).toEqual([
      { realm: null },
      { realm: tenant.id },
    ]);
    expect(await sql('select action, status, target_type, actor_id from audit_events where target_id = $1', [tenant.id])).toEqual([
      { action: 'TENANT_CREATE', status: 'SUCCEEDED', target_type: 'Tenant', actor_id: creator.id },
    ]);
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(creator.email, { subject: /password|account/i });
    expect(mail.text + mail.html).toContain(`/realms/${tenant.id}/`);
  });

  it('a Keycloak failure while provisioning the realm leaves nothing local and no half-made realm', async () => {
    const proxy: KeycloakProxy = await startKeycloakProxy(inject('config').keycloak.url);
    const failing = await startTestGateway((config) => ({
      ...config,
      tenancyMode: 'realm',
      keycloak: { ...config.keycloak, url: proxy.url },
    }));
    try {
      // The realm exists by then: only its undo can remove it.
      proxy.failWhen = (request) => /^PUT \/admin\/realms\/[^/]+\/users\/profile/.test(request);
      const creator = await createKeycloakUser();
      const token = (await passwordGrant(creator.email, creator.password)).access_token;
      const response = await failing.graphql(CREATE_TENANT, { token, variables: { name: 'Doomed' } });
      expect(response.errors?.[0]?.extensions.code).toBe('UPSTREAM_UNAVAILABLE');

      const [event] = await sql<{ tenant_id: string; status: string }>(
        "select tenant_id, status from audit_events where action = 'TENANT_CREATE' and actor_id = $1",
        [creator.id],
      );
      expect(event).toMatchObject({ status: 'FAILED', tenant_id: expect.any(String) });
      realms.add(event!.tenant_id);
      // Created, then deleted by the undo.
      expect(proxy.requests).toEqual(expect.arrayContaining(['POST /admin/realms/', `DELETE /admin/realms/${event!.tenant_id}`]));
      expect((await keycloakAdmin('GET', '', undefined, event!.tenant_id)).status).toBe(404);
      expect(await sql('select 1 from tenants where id = $1', [event!.tenant_id])).toEqual([]);
      expect(await sql('select realm from users where email = $1', [creator.email])).toEqual([{ realm: null }]);
    } finally {
      await failing.close();
      await proxy.close();
    }
  });

  it('refuses a valid token from a realm the gateway has not recorded, and accepts it once the realm is recorded', async () => {
    const config = inject('config');
    const realm = randomUUID();
    realms.add(realm);
    // A realm like a tenant's, made behind the gateway's back.
    await provisionRealm({
      keycloakUrl: config.keycloak.url,
      masterAdmin: config.keycloak.masterAdmin!,
      realm,
      apiClient: { clientId: config.keycloak.apiClientId, secret: config.keycloak.apiClientSecret },
      frontendClient: { clientId: CONTROL_PLANE_CLIENT_ID, redirectUris: [], webOrigins: [] },
      smtp: config.smtp,
      bootstrapAdmin: { email: 'stranger@example.test', password: 'Stranger-pass-1' },
      catalog: config.catalog,
    });
    const token = (await passwordGrant('stranger@example.test', 'Stranger-pass-1', realm)).access_token;

    const refused = await gateway.graphql(ME, { token });
    expect(refused.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');

    // What another gateway process does when it creates a tenant; this one learns it on its next refresh.
    await sql('insert into tenants (id, name, realm, created_at) values ($1, $2, $3, now())', [realm, 'Elsewhere', realm]);
    await gateway.app.tenantRealms!.refresh();
    const accepted = await gateway.graphql(ME, { token });
    expect(accepted.errors).toBeUndefined();
    expect(accepted.data!.me).toMatchObject({ user: { email: 'stranger@example.test' }, roles: [] });
    expect(await sql('select realm from users where email = $1', ['stranger@example.test'])).toEqual([{ realm }]);
  });

  it('login with tenantId signs in to the tenant’s realm; refreshToken and logout follow the refresh token’s own realm', async () => {
    const { input, user, tenant } = await signup();
    const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { tokens { accessToken refreshToken } me { user { id } roles } } }';
    const REFRESH = 'mutation($t: String!) { refreshToken(refreshToken: $t) { tokens { accessToken refreshToken } me { user { id } } } }';
    const credentials = { username: input.email, password: input.password };

    // Not an account of the gateway's realm, and an unknown tenant: the one answer for any refusal.
    for (const extra of [{}, { tenantId: randomUUID() }]) {
      const refused = await gateway.graphql(LOGIN, { variables: { input: { ...credentials, ...extra } } });
      expect(refused.errors?.[0]).toMatchObject({ message: 'Invalid username or password', extensions: { code: 'UNAUTHENTICATED' } });
    }
    // A malformed id names no tenant and no account: refused at the edge, like any malformed id.
    const malformed = await gateway.graphql(LOGIN, { variables: { input: { ...credentials, tenantId: 'not-an-id' } } });
    expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { tenantId: expect.any(String) } });
    const login = await gateway.graphql(LOGIN, { variables: { input: { ...credentials, tenantId: tenant.id } } });
    expect(login.errors).toBeUndefined();
    expect(login.data!.login.me).toEqual({ user: { id: user.id }, roles: [] });

    const refreshed = await gateway.graphql(REFRESH, { variables: { t: login.data!.login.tokens.refreshToken } });
    expect(refreshed.errors).toBeUndefined();
    expect(refreshed.data!.refreshToken.me.user.id).toBe(user.id);
    const { accessToken, refreshToken } = refreshed.data!.refreshToken.tokens;

    const logout = await gateway.graphql('mutation($t: String!) { logout(refreshToken: $t) { message } }', {
      token: accessToken,
      variables: { t: refreshToken },
    });
    expect(logout.errors).toBeUndefined();
    const ended = await gateway.graphql(REFRESH, { variables: { t: refreshToken } });
    expect(ended.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('an administrator’s updateUser, setUserPassword, sendPasswordSetupEmail and deleteUser act in the account’s own realm', async () => {
    const { input, user, tenant } = await signup();
    const adminToken = await adminAccessToken();
    const email = newEmail();

    const updated = await gateway.graphql(
      'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { email } } }',
      {
        token: adminToken,
        variables: { id: user.id, input: { email, firstName: 'Augusta', lastName: 'King' } },
      },
    );
    expect(updated.errors).toBeUndefined();
    expect(
      (await keycloakAdmin<{ email: string; firstName: string }>('GET', `/users/${user.id}`, undefined, tenant.id)).body,
    ).toMatchObject({ email, firstName: 'Augusta' });
    expect(await sql('select email, realm from users where id = $1', [user.id])).toEqual([{ email, realm: tenant.id }]);

    // The gateway's roles are its own realm's: they cannot be granted to a tenant realm's account.
    const [{ id: roleId }] = await sql<{ id: string }>("select id from realm_roles where name = 'role_user'");
    const withRole = await gateway.graphql(
      'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { email } } }',
      {
        token: adminToken,
        variables: { id: user.id, input: { email, firstName: 'Augusta', lastName: 'King', roleIdsToAdd: [roleId] } },
      },
    );
    expect(withRole.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');

    const password = await gateway.graphql(
      'mutation($id: ID!) { setUserPassword(userId: $id, password: "Brand-new-pass-1") { message } }',
      {
        token: adminToken,
        variables: { id: user.id },
      },
    );
    expect(password.errors).toBeUndefined();
    await passwordGrant(email, 'Brand-new-pass-1', tenant.id);
    await expect(passwordGrant(email, input.password, tenant.id)).rejects.toThrow();

    const setup = await gateway.graphql('mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', {
      token: adminToken,
      variables: { id: user.id },
    });
    expect(setup.errors).toBeUndefined();
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /password|account/i });
    expect(mail.text + mail.html).toContain(`/realms/${tenant.id}/`);

    // Its only member gone, the tenant goes, and its realm with it.
    const deleted = await gateway.graphql('mutation($id: ID!) { deleteUser(id: $id) { message } }', {
      token: adminToken,
      variables: { id: user.id },
    });
    expect(deleted.errors).toBeUndefined();
    expect((await keycloakAdmin('GET', '', undefined, tenant.id)).status).toBe(404);
    expect(await sql('select 1 from users where id = $1 union all select 1 from tenants where id = $2', [user.id, tenant.id])).toEqual([]);
    expect(
      await sql("select status, details->'realmsDeleted' as realms from audit_events where action = 'USER_DELETE' and target_id = $1", [
        user.id,
      ]),
    ).toEqual([{ status: 'SUCCEEDED', realms: [tenant.id] }]);
  });
});
