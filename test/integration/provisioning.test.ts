import { randomUUID } from 'node:crypto';
import KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import { decodeJwt, type JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createKeycloakAdmin } from '../../src/keycloak/admin-client.js';
import { loadConfig } from '../../src/config.js';
import {
  BUILT_IN_CLIENTS,
  ENROLMENT_ACTIONS,
  frontendClient,
  EVENTS_RETENTION_SECONDS,
  OTP_FORM,
  PASSWORD_POLICY,
  provisionRealm,
  type RealmProvisioningOptions,
  type RealmProvisioningResult,
} from '../../src/keycloak/provisioning.js';
import { API_SERVICE_ACCOUNT_ROLES, DEFAULT_CATALOG } from '../../src/keycloak/realm-catalog.js';
import { authorizationRequest } from '../support/keycloak.js';

// Provisions throwaway probe-* realms in the real Keycloak and reads the outcome back
// through Keycloak's own admin API and token endpoint.
const config = inject('config');
const { url: keycloakUrl, masterAdmin } = config.keycloak;
if (!masterAdmin) throw new Error('the provisioning tests need KEYCLOAK_ADMIN_USERNAME/PASSWORD');

const PRIVILEGE_NAMES = DEFAULT_CATALOG.privileges.map((privilege) => privilege.name);
const NOTHING_BEYOND_CATALOG = { roles: [], privileges: [], grants: {} };

const master = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName: 'master' });
const probeRealms: string[] = [];

// The client does not renew its token, which lives 60 s in the master realm: sign in again
// before each test (and each group's set-up), and before cleaning up, however long the file takes on a loaded machine.
const signIn = () => master.auth({ grantType: 'password', clientId: 'admin-cli', ...masterAdmin });
beforeAll(signIn);
beforeEach(signIn);
// A realm is missing when a filter skipped the tests that create it.
afterAll(async () => {
  await signIn();
  await Promise.all(probeRealms.map((realm) => master.realms.del({ realm }, { catchNotFound: true })));
});

type ProbeOptions = RealmProvisioningOptions & Required<Pick<RealmProvisioningOptions, 'bootstrapAdmin'>>;
type ProvisioningRun = RealmProvisioningResult & { lines: string[] };

function probeOptions(): ProbeOptions {
  const realm = `probe-${randomUUID().slice(0, 8)}`;
  probeRealms.push(realm);
  return {
    keycloakUrl,
    masterAdmin: masterAdmin!,
    realm,
    apiClient: { clientId: config.keycloak.apiClientId, secret: randomUUID() },
    frontendClient: {
      clientId: config.keycloak.frontendClientId,
      redirectUris: ['http://localhost:5173/callback'],
      webOrigins: ['http://localhost:5173'],
    },
    smtp: { host: 'smtp.probe.test', port: 2525, from: 'no-reply@probe.test', tls: 'none' },
    bootstrapAdmin: { email: `admin@${realm}.test`, password: 'Probe-Passw0rd' },
    catalog: DEFAULT_CATALOG,
  };
}

async function provision(options: RealmProvisioningOptions): Promise<ProvisioningRun> {
  const lines: string[] = [];
  const result = await provisionRealm({ ...options, log: (line) => lines.push(line) });
  return { ...result, lines };
}

async function requestToken(realm: string, parameters: Record<string, string>): Promise<Response> {
  return fetch(`${keycloakUrl}/realms/${realm}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams(parameters),
  });
}

async function accessTokenClaims(realm: string, parameters: Record<string, string>): Promise<JWTPayload> {
  const response = await requestToken(realm, parameters);
  const body = (await response.json()) as { access_token: string };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return decodeJwt(body.access_token);
}

function passwordGrantThroughApiClient(options: RealmProvisioningOptions, username: string, password: string) {
  return {
    grant_type: 'password',
    client_id: options.apiClient.clientId,
    client_secret: options.apiClient.secret,
    username,
    password,
  };
}

async function findClient(realm: string, clientId: string) {
  const [client] = await master.clients.find({ realm, clientId });
  return client!;
}

async function serviceAccountRoleNames(realm: string, clientId: string): Promise<string[]> {
  const serviceAccount = await master.clients.getServiceAccountUser({ realm, id: (await findClient(realm, clientId)).id! });
  const realmManagement = await findClient(realm, 'realm-management');
  const roles = await master.users.listClientRoleMappings({ realm, id: serviceAccount.id!, clientUniqueId: realmManagement.id! });
  return roles.map((role) => role.name!);
}

async function compositeNames(realm: string, roleName: string): Promise<string[]> {
  const role = await master.roles.findOneByName({ realm, name: roleName });
  return (await master.roles.getCompositeRolesForRealm({ realm, id: role!.id! })).map((composite) => composite.name!);
}

async function audienceMappers(realm: string, clientId: string) {
  const client = await findClient(realm, clientId);
  const mappers = await master.clients.listProtocolMappers({ realm, id: client.id! });
  return mappers.filter((mapper) => mapper.protocolMapper === 'oidc-audience-mapper');
}

async function adminEventCount(realm: string): Promise<number> {
  return (await master.realms.findAdminEvents({ realm, max: 10_000 })).length;
}

describe('provisionRealm on a new realm, run twice', () => {
  const options = probeOptions();
  const { realm, apiClient, frontendClient } = options;
  let first: ProvisioningRun;
  let second: ProvisioningRun;
  let adminEventsBetweenRuns: number;

  beforeAll(async () => {
    first = await provision(options);
    adminEventsBetweenRuns = await adminEventCount(realm);
    second = await provision(options);
  });

  it('creates the realm on the first run, and the second run changes nothing', async () => {
    expect(first.realmCreated).toBe(true);
    expect(first.lines).toContain(`created realm ${realm}`);
    expect(second).toEqual({ realmCreated: false, notInCatalog: NOTHING_BEYOND_CATALOG, lines: [] });
    expect(await adminEventCount(realm)).toBe(adminEventsBetweenRuns);
  });

  it('turns on brute-force detection, the password policy, SMTP and admin events', async () => {
    const settings = await master.realms.findOne({ realm });
    expect(settings).toMatchObject({
      enabled: true,
      bruteForceProtected: true,
      failureFactor: 5,
      registrationEmailAsUsername: true,
      loginWithEmailAllowed: true,
      duplicateEmailsAllowed: false,
      passwordPolicy: PASSWORD_POLICY,
      adminEventsEnabled: true,
      adminEventsDetailsEnabled: true,
      smtpServer: { host: 'smtp.probe.test', port: '2525', from: 'no-reply@probe.test', auth: 'false' },
    });
  });

  it('L6: refuses password grants through admin-cli, account and account-console', async () => {
    const { email, password } = options.bootstrapAdmin;
    for (const clientId of BUILT_IN_CLIENTS) {
      expect(await findClient(realm, clientId), clientId).toMatchObject({ directAccessGrantsEnabled: false });
      const refused = await requestToken(realm, { grant_type: 'password', client_id: clientId, username: email, password });
      expect(refused.status, clientId).toBe(400);
      expect(await refused.json(), clientId).toMatchObject({ error: 'unauthorized_client' });
    }
  });

  it('L6: records login events (a failed login among them) and admin events, each kept for a limited time', async () => {
    expect(await master.realms.findOne({ realm })).toMatchObject({
      eventsEnabled: true,
      eventsExpiration: EVENTS_RETENTION_SECONDS,
      adminEventsEnabled: true,
      attributes: expect.objectContaining({ adminEventsExpiration: String(EVENTS_RETENTION_SECONDS) }),
    });
    const wrong = await requestToken(realm, passwordGrantThroughApiClient(options, options.bootstrapAdmin.email, 'Wrong-passw0rd'));
    expect(wrong.status).toBe(400);
    await expect.poll(async () => (await master.realms.findEvents({ realm, type: 'LOGIN_ERROR', max: 10 })).length).toBeGreaterThan(0);
  });

  /** A user of the probe realm with a password, created in Keycloak directly. */
  async function probeUser(): Promise<{ id: string; email: string; password: string }> {
    const email = `user1-${randomUUID().slice(0, 8)}@${realm}.test`;
    const password = `Pw-${randomUUID().slice(0, 8)}-9a`;
    const { id } = await master.users.create({
      realm,
      username: email,
      email,
      enabled: true,
      emailVerified: true,
      firstName: 'Probe',
      lastName: 'User',
      credentials: [{ type: 'password', value: password, temporary: false }],
    });
    return { id, email, password };
  }

  it('I2: the password policy caps the length and refuses the email address and the last three passwords', async () => {
    const user = await probeUser();
    const setPassword = (value: string) =>
      master.users.resetPassword({ realm, id: user.id, credential: { type: 'password', value, temporary: false } }).then(
        () => 'accepted',
        (error: { responseData?: unknown }) => JSON.stringify(error.responseData ?? 'refused'),
      );
    expect(await setPassword(`Aa1${'x'.repeat(126)}`)).toMatch(/invalidPasswordMaxLength/);
    // The address itself, passing every other rule (an upper-case letter, a digit).
    expect(await setPassword(`${user.email[0]!.toUpperCase()}${user.email.slice(1)}`)).toMatch(/invalidPasswordNotEmail/);
    for (const value of ['History-1a', 'History-2a']) expect(await setPassword(value)).toBe('accepted');
    // The original password and the two set since: the last three.
    expect(await setPassword('History-1a')).toMatch(/invalidPasswordHistory/);
    expect(await setPassword(user.password)).toMatch(/invalidPasswordHistory/);
    expect(await setPassword(`Aa1${'x'.repeat(125)}`)).toBe('accepted');
  });

  it('M3: rotates refresh tokens, each usable once', async () => {
    expect(await master.realms.findOne({ realm })).toMatchObject({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 });
    const user = await probeUser();
    const signedIn = await requestToken(realm, passwordGrantThroughApiClient(options, user.email, user.password));
    const { refresh_token: first } = (await signedIn.json()) as { refresh_token: string };
    const refresh = (refreshToken: string) =>
      requestToken(realm, {
        grant_type: 'refresh_token',
        client_id: apiClient.clientId,
        client_secret: apiClient.secret,
        refresh_token: refreshToken,
      });
    expect((await refresh(first)).status).toBe(200);
    const reused = await refresh(first);
    expect(reused.status).toBe(400);
    expect(await reused.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('M3: grants no offline token: offline_access is neither a default role nor a scope of the frontend or API client', async () => {
    const defaultRole = (await master.realms.findOne({ realm }))!.defaultRole!;
    expect(await compositeNames(realm, defaultRole.name!)).not.toContain('offline_access');
    for (const clientId of [frontendClient.clientId, apiClient.clientId]) {
      const client = await findClient(realm, clientId);
      const scopes = [
        ...(await master.clients.listOptionalClientScopes({ realm, id: client.id! })),
        ...(await master.clients.listDefaultClientScopes({ realm, id: client.id! })),
      ];
      expect(
        scopes.map((scope) => scope.name),
        clientId,
      ).not.toContain('offline_access');
    }
    const user = await probeUser();
    const asked = await requestToken(realm, {
      ...passwordGrantThroughApiClient(options, user.email, user.password),
      scope: 'openid offline_access',
    });
    const body = (await asked.json()) as { refresh_token?: string; error?: string };
    // Keycloak either refuses the scope or leaves it out: never an offline token.
    if (asked.status === 200) expect(decodeJwt(body.refresh_token!).typ).not.toBe('Offline');
    else expect(body.error).toBeDefined();
  });

  it('makes the API client confidential, its service account holding exactly the needed realm-management roles', async () => {
    const client = await findClient(realm, apiClient.clientId);
    expect(client).toMatchObject({
      publicClient: false,
      clientAuthenticatorType: 'client-secret',
      secret: apiClient.secret,
      serviceAccountsEnabled: true,
      directAccessGrantsEnabled: true,
      standardFlowEnabled: false,
      implicitFlowEnabled: false,
    });
    expect((await serviceAccountRoleNames(realm, apiClient.clientId)).toSorted()).toEqual(API_SERVICE_ACCOUNT_ROLES.toSorted());
  });

  it('names the API client in the aud of client-credentials tokens', async () => {
    const claims = await accessTokenClaims(realm, {
      grant_type: 'client_credentials',
      client_id: apiClient.clientId,
      client_secret: apiClient.secret,
    });
    expect(claims.aud).toContain(apiClient.clientId);
  });

  it('makes the frontend client public, with PKCE S256, no direct grants, and the API audience', async () => {
    const client = await findClient(realm, frontendClient.clientId);
    expect(client).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      redirectUris: frontendClient.redirectUris,
      webOrigins: frontendClient.webOrigins,
      attributes: expect.objectContaining({ 'pkce.code.challenge.method': 'S256' }),
    });
    const mappers = await audienceMappers(realm, frontendClient.clientId);
    expect(mappers).toHaveLength(1);
    expect(mappers[0]!.config).toMatchObject({ 'included.client.audience': apiClient.clientId, 'access.token.claim': 'true' });
    const refused = await requestToken(realm, {
      grant_type: 'password',
      client_id: frontendClient.clientId,
      username: options.bootstrapAdmin.email,
      password: options.bootstrapAdmin.password,
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  it('creates the privileges and roles, role_admin composed of every privilege', async () => {
    for (const entry of [...DEFAULT_CATALOG.privileges, ...DEFAULT_CATALOG.roles]) {
      const role = await master.roles.findOneByName({ realm, name: entry.name });
      expect(role, entry.name).toMatchObject({ name: entry.name, description: entry.description });
    }
    expect((await compositeNames(realm, 'role_admin')).toSorted()).toEqual(PRIVILEGE_NAMES.toSorted());
  });

  it('lets the bootstrap admin log in through the API client, with role_admin and every privilege', async () => {
    const { email, password } = options.bootstrapAdmin;
    const claims = await accessTokenClaims(realm, passwordGrantThroughApiClient(options, email, password));
    expect(claims).toMatchObject({ typ: 'Bearer', email, email_verified: true });
    expect(claims.aud).toContain(apiClient.clientId);
    expect((claims.realm_access as { roles: string[] }).roles).toEqual(expect.arrayContaining(['role_admin', ...PRIVILEGE_NAMES]));
  });

  it('gives the gateway admin client, with the API client credentials, the right to list users', async () => {
    const { client } = createKeycloakAdmin({
      url: keycloakUrl,
      realm,
      clientId: apiClient.clientId,
      clientSecret: apiClient.secret,
    });
    const users = await client.users.find({ briefRepresentation: true });
    expect(users.map((user) => user.email)).toContain(options.bootstrapAdmin.email);
  });
});

describe('provisionRealm on a realm that drifted', () => {
  const options = probeOptions();
  const { realm, apiClient, frontendClient, bootstrapAdmin } = options;
  const changedPassword = 'Changed-Passw0rd';
  let repair: ProvisioningRun;
  let bootstrapAdminId: string;

  beforeAll(async () => {
    await provision(options);
    const admin = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName: realm });
    admin.registerTokenProvider(master);

    await admin.realms.update(
      { realm },
      // Keycloak 26.7 refuses SMTP settings without a valid sender address.
      { bruteForceProtected: false, smtpServer: { host: 'elsewhere.test', port: '25', from: 'someone@elsewhere.test' } },
    );
    const api = await findClient(realm, apiClient.clientId);
    await admin.clients.update({ id: api.id! }, { secret: 'drifted-secret', directAccessGrantsEnabled: false });
    const realmManagement = await findClient(realm, 'realm-management');
    const serviceAccount = await admin.clients.getServiceAccountUser({ id: api.id! });
    const realmManagementRoles = await admin.clients.listRoles({ id: realmManagement.id! });
    const byName = (name: string) => {
      const role = realmManagementRoles.find((r) => r.name === name)!;
      return { id: role.id!, name: role.name! };
    };
    const mapping = { id: serviceAccount.id!, clientUniqueId: realmManagement.id! };
    await admin.users.addClientRoleMappings({ ...mapping, roles: [byName('manage-clients')] });
    await admin.users.delClientRoleMappings({ ...mapping, roles: [byName('view-events')] });

    const frontend = await findClient(realm, frontendClient.clientId);
    await admin.clients.update({ id: frontend.id! }, { redirectUris: ['http://evil.test/*'], directAccessGrantsEnabled: true });
    const [frontendAudience] = await audienceMappers(realm, frontendClient.clientId);
    await admin.clients.delProtocolMapper({ id: frontend.id!, mapperId: frontendAudience!.id! });
    const [offlineScope] = await admin.clientScopes.find().then((scopes) => scopes.filter((scope) => scope.name === 'offline_access'));
    await admin.clients.addOptionalClientScope({ id: frontend.id!, clientScopeId: offlineScope!.id! });
    const adminCli = await findClient(realm, 'admin-cli');
    await admin.clients.update({ id: adminCli.id! }, { directAccessGrantsEnabled: true });

    const realmRole = (name: string) => admin.roles.findOneByName({ name }).then((role) => role!);
    const roleAdmin = await realmRole('role_admin');
    await admin.roles.delCompositeRoles({ id: roleAdmin.id! }, [await realmRole('priv_code_review')]);
    const roleManager = await realmRole('role_manager');
    await admin.roles.createComposite({ roleId: roleManager.id! }, [await realmRole('priv_view_reports')]);
    await admin.roles.updateByName({ name: 'role_manager' }, { ...roleManager, description: 'Team lead' });
    const userManagement = await realmRole('priv_user_management');
    await admin.roles.updateByName({ name: 'priv_user_management' }, { ...userManagement, description: 'changed' });

    const [user] = await admin.users.find({ username: bootstrapAdmin.email, exact: true });
    bootstrapAdminId = user!.id!;
    await admin.users.delRealmRoleMappings({ id: user!.id!, roles: [{ id: roleAdmin.id!, name: roleAdmin.name! }] });
    await admin.users.resetPassword({ id: user!.id!, credential: { type: 'password', value: changedPassword, temporary: false } });

    repair = await provision(options);
  });

  it('reports each repair in one line, and what a role holds beyond the catalog', () => {
    expect(repair).toEqual({
      realmCreated: false,
      notInCatalog: { roles: [], privileges: [], grants: { role_manager: ['priv_view_reports'] } },
      lines: [
        `updated realm ${realm}: bruteForceProtected, smtpServer`,
        `updated client ${apiClient.clientId}: secret, directAccessGrantsEnabled`,
        `granted view-events to the service account of client ${apiClient.clientId}`,
        `revoked manage-clients from the service account of client ${apiClient.clientId}`,
        `updated client ${frontendClient.clientId}: directAccessGrantsEnabled, redirectUris`,
        `created protocol mapper api-audience of client ${frontendClient.clientId}`,
        `removed the optional scope offline_access from client ${frontendClient.clientId}`,
        'updated client admin-cli: directAccessGrantsEnabled',
        'updated role priv_user_management: description',
        'added priv_code_review to role role_admin',
        'updated role role_manager: description',
        `granted role_admin to the bootstrap admin (user ${bootstrapAdminId})`,
      ],
    });
  });

  it('restores the realm settings and both clients', async () => {
    expect(await master.realms.findOne({ realm })).toMatchObject({
      bruteForceProtected: true,
      smtpServer: { host: 'smtp.probe.test', port: '2525', from: 'no-reply@probe.test' },
    });
    expect(await findClient(realm, apiClient.clientId)).toMatchObject({ secret: apiClient.secret, directAccessGrantsEnabled: true });
    expect((await serviceAccountRoleNames(realm, apiClient.clientId)).toSorted()).toEqual(API_SERVICE_ACCOUNT_ROLES.toSorted());
    expect(await findClient(realm, frontendClient.clientId)).toMatchObject({
      redirectUris: frontendClient.redirectUris,
      directAccessGrantsEnabled: false,
    });
    expect(await audienceMappers(realm, frontendClient.clientId)).toHaveLength(1);
    expect(await findClient(realm, 'admin-cli')).toMatchObject({ directAccessGrantsEnabled: false });
  });

  it('puts back what the catalog declares and keeps what administrators added to roles', async () => {
    const described = (name: string) =>
      [...DEFAULT_CATALOG.privileges, ...DEFAULT_CATALOG.roles].find((entry) => entry.name === name)!.description;
    expect((await compositeNames(realm, 'role_admin')).toSorted()).toEqual(PRIVILEGE_NAMES.toSorted());
    expect(await compositeNames(realm, 'role_manager')).toEqual(['priv_view_reports']);
    for (const name of ['role_manager', 'priv_user_management']) {
      expect(await master.roles.findOneByName({ realm, name }), name).toMatchObject({ description: described(name) });
    }
  });

  it('gives the bootstrap admin role_admin back without resetting the password', async () => {
    const refused = await requestToken(realm, passwordGrantThroughApiClient(options, bootstrapAdmin.email, bootstrapAdmin.password));
    // Keycloak 26.7 answers a wrong password with 400 invalid_grant, not 401.
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
    const claims = await accessTokenClaims(realm, passwordGrantThroughApiClient(options, bootstrapAdmin.email, changedPassword));
    expect((claims.realm_access as { roles: string[] }).roles).toContain('role_admin');
  });
});

describe('SMTP credentials, which Keycloak never shows back', () => {
  const options = probeOptions();
  const { realm } = options;
  const credentials = { user: 'apikey', password: `Smtp-${randomUUID()}` };
  const withSmtp = (smtp: Partial<RealmProvisioningOptions['smtp']>): RealmProvisioningOptions => ({
    ...options,
    smtp: { ...options.smtp, ...smtp },
  });
  const smtpServer = async () => (await master.realms.findOne({ realm }))!.smtpServer as Record<string, string>;

  beforeAll(async () => {
    await provision(withSmtp({ credentials, tls: 'starttls', port: 587 }));
  });

  it('writes AUTH and STARTTLS into the realm, the password masked on every read', async () => {
    expect(await smtpServer()).toMatchObject({
      host: 'smtp.probe.test',
      port: '587',
      auth: 'true',
      user: 'apikey',
      password: '**********',
      starttls: 'true',
      ssl: 'false',
    });
    expect(JSON.stringify(await master.realms.findOne({ realm }))).not.toContain(credentials.password);
  });

  it('an unchanged password is not written again, though Keycloak answers with a mask', async () => {
    const events = await adminEventCount(realm);
    expect((await provision(withSmtp({ credentials, tls: 'starttls', port: 587 }))).lines).toEqual([]);
    expect(await adminEventCount(realm)).toBe(events);
  });

  it('a new password is written once, then left alone', async () => {
    const rotated = { ...credentials, password: `Smtp-${randomUUID()}` };
    expect((await provision(withSmtp({ credentials: rotated, tls: 'starttls', port: 587 }))).lines).toEqual([
      `updated realm ${realm}: smtpServer`,
    ]);
    expect((await provision(withSmtp({ credentials: rotated, tls: 'starttls', port: 587 }))).lines).toEqual([]);
  });

  it('implicit TLS sets ssl, and removing the credentials removes user, password and digest', async () => {
    await provision(withSmtp({ credentials, tls: 'implicit', port: 465 }));
    expect(await smtpServer()).toMatchObject({ port: '465', auth: 'true', ssl: 'true', starttls: 'false', password: '**********' });

    expect((await provision(withSmtp({ credentials: undefined, tls: 'none' }))).lines).toEqual([`updated realm ${realm}: smtpServer`]);
    expect(await smtpServer()).toEqual({
      host: 'smtp.probe.test',
      port: '2525',
      from: 'no-reply@probe.test',
      auth: 'false',
      ssl: 'false',
      starttls: 'false',
    });
    expect((await provision(withSmtp({ credentials: undefined, tls: 'none' }))).lines).toEqual([]);
  });
});

describe('the frontend client, from FRONTEND_URLS', () => {
  // A deployment's configuration: two frontends, one of them under a path.
  const deployment = loadConfig({
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
    KEYCLOAK_URL: keycloakUrl,
    KEYCLOAK_API_CLIENT_SECRET: 'unused',
    FRONTEND_URLS: 'http://localhost:5173, https://app.example.com/portal/',
  });
  const options = { ...probeOptions(), frontendClient: frontendClient(config.keycloak.frontendClientId, deployment.keycloak) };
  const { realm } = options;
  const clientId = options.frontendClient.clientId;
  const expected = {
    redirectUris: ['http://localhost:5173/callback', 'https://app.example.com/portal/callback'],
    webOrigins: ['http://localhost:5173', 'https://app.example.com'],
    postLogoutRedirectUris: 'http://localhost:5173/##https://app.example.com/portal/',
  };
  const frontendSettings = async () => {
    const client = await findClient(realm, clientId);
    return {
      redirectUris: client.redirectUris?.toSorted(),
      webOrigins: client.webOrigins?.toSorted(),
      postLogoutRedirectUris: client.attributes?.['post.logout.redirect.uris'],
    };
  };
  const authorize = (redirectUri: string) => authorizationRequest(clientId, redirectUri, realm);
  const signOut = (postLogoutRedirectUri: string) =>
    fetch(
      `${keycloakUrl}/realms/${realm}/protocol/openid-connect/logout?${new URLSearchParams({
        client_id: clientId,
        post_logout_redirect_uri: postLogoutRedirectUri,
      })}`,
      { redirect: 'manual' },
    );
  let second: ProvisioningRun;

  beforeAll(async () => {
    await provision(options);
    second = await provision(options);
  });

  it("sets each frontend's callback, origin and home page as the client's redirect URI, web origin and post-logout URI, exactly", async () => {
    expect(await frontendSettings()).toEqual(expected);
    expect(second.lines).toEqual([]);
  });

  it('lets Keycloak send the browser to those pages only, after sign-in and after sign-out', async () => {
    for (const callback of expected.redirectUris) expect((await authorize(callback)).status, callback).toBe(200);
    for (const elsewhere of ['http://localhost:5173/other', 'https://app.example.com/callback', 'http://localhost:3000/callback']) {
      const refused = await authorize(elsewhere);
      expect(refused.status, elsewhere).toBe(400);
      expect(await refused.text(), elsewhere).toMatch(/redirect_uri/i);
    }
    // Without a session to end, Keycloak sends the browser straight on.
    for (const home of ['http://localhost:5173/', 'https://app.example.com/portal/']) {
      const response = await signOut(home);
      expect([response.status, response.headers.get('location')], home).toEqual([302, home]);
    }
    for (const elsewhere of ['https://evil.example/', 'http://localhost:5173/callback/../../x', 'https://app.example.com/']) {
      expect((await signOut(elsewhere)).status, elsewhere).toBe(400);
    }
  });

  it("reverts an edit made in Keycloak's console at the next provisioning", async () => {
    const admin = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName: realm });
    admin.registerTokenProvider(master);
    const client = await findClient(realm, clientId);
    await admin.clients.update(
      { id: client.id! },
      {
        redirectUris: [...client.redirectUris!, 'https://evil.example/*'],
        webOrigins: ['*'],
        attributes: { 'post.logout.redirect.uris': '+' },
      },
    );
    expect(await frontendSettings()).not.toEqual(expected);

    const repair = await provision(options);

    expect(repair.lines).toEqual([`updated client ${clientId}: redirectUris, webOrigins, attributes`]);
    expect(await frontendSettings()).toEqual(expected);
    expect((await findClient(realm, clientId)).attributes).toMatchObject({ 'pkce.code.challenge.method': 'S256' });
  });
});

describe('provisionRealm run twice at once on a new realm', () => {
  it('succeeds in both runs, one of them creating the realm, and leaves one audience mapper per client', async () => {
    const options = probeOptions();
    const results = await Promise.all([provisionRealm(options), provisionRealm(options)]);

    expect(results.map((result) => result.realmCreated).toSorted()).toEqual([false, true]);
    expect(await audienceMappers(options.realm, options.apiClient.clientId)).toHaveLength(1);
    expect(await audienceMappers(options.realm, options.frontendClient.clientId)).toHaveLength(1);
    expect((await provision(options)).lines).toEqual([]);
  });
});

describe('provisionRealm and second factors', () => {
  const options = probeOptions();
  const { realm } = options;
  const requiredAction = (alias: string) => master.authenticationManagement.getRequiredActionForAlias({ realm, alias });
  let first: ProvisioningRun;

  beforeAll(async () => {
    first = await provision(options);
  });

  it('registers and enables the required actions that enrol an OTP device or a passkey', async () => {
    for (const alias of ENROLMENT_ACTIONS) {
      expect(await requiredAction(alias), alias).toMatchObject({ alias, enabled: true });
    }
  });

  it("keeps Keycloak's browser flow, which asks a user with an OTP device for a code, and reports nothing about it", async () => {
    const settings = await master.realms.findOne({ realm });
    const executions = await master.authenticationManagement.getExecutions({ realm, flow: settings!.browserFlow! });
    const otp = executions.findIndex((execution) => execution.providerId === OTP_FORM);
    expect(otp, 'an OTP form in the browser flow').toBeGreaterThan(0);
    expect(executions[otp]!.requirement).not.toBe('DISABLED');
    // Its sub-flow runs when the user has configured a second factor.
    const subFlow = executions.slice(0, otp).findLast((execution) => execution.level === executions[otp]!.level! - 1)!;
    expect(subFlow).toMatchObject({ authenticationFlow: true, requirement: 'CONDITIONAL' });
    expect(executions.slice(0, otp).some((execution) => execution.providerId === 'conditional-user-configured')).toBe(true);
    expect(first.lines.filter((line) => line.includes('OTP'))).toEqual([]);
  });

  it('puts back an enrolment action an operator disabled or deleted, and a further run changes nothing', async () => {
    const totp = await requiredAction('CONFIGURE_TOTP');
    await master.authenticationManagement.updateRequiredAction({ realm, alias: 'CONFIGURE_TOTP' }, { ...totp, enabled: false });
    await master.authenticationManagement.deleteRequiredAction({ realm, alias: 'webauthn-register' });

    const repair = await provision(options);

    expect(repair.lines).toEqual(['enabled the required action CONFIGURE_TOTP', 'registered the required action webauthn-register']);
    for (const alias of ENROLMENT_ACTIONS) {
      expect(await requiredAction(alias), alias).toMatchObject({ alias, enabled: true });
    }
    expect((await provision(options)).lines).toEqual([]);
  });

  it('reports a browser flow that asks for no OTP code, and leaves the flow to the operator', async () => {
    const executions = await master.authenticationManagement.getExecutions({ realm, flow: 'browser' });
    const otp = executions.find((execution) => execution.providerId === OTP_FORM)!;
    await master.authenticationManagement.updateExecution({ realm, flow: 'browser' }, { ...otp, requirement: 'DISABLED' });

    expect((await provision(options)).lines).toEqual([
      'the browser flow browser asks for no OTP code: OTP devices users enrol are not asked for at sign-in',
    ]);
    const after = await master.authenticationManagement.getExecutions({ realm, flow: 'browser' });
    expect(after.find((execution) => execution.providerId === OTP_FORM)).toMatchObject({ requirement: 'DISABLED' });
  });
});
