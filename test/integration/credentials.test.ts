import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createServices, serviceDependencies } from '../../src/services.js';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, renewedToken } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';

// User.credentials, removeUserCredential and requireUserActions against the real Keycloak:
// what the gateway answers, and what Keycloak, the mailbox and the audit trail hold after.

const CREDENTIALS = 'query($id: ID!) { user(id: $id) { id credentials { id type label createdAt } } }';
const REMOVE =
  'mutation($userId: ID!, $credentialId: ID!) { removeUserCredential(userId: $userId, credentialId: $credentialId) { message } }';
const REQUIRE = /* GraphQL */ `
  mutation($userId: ID!, $actions: [RequiredAction!]!, $sendEmail: Boolean) {
    requireUserActions(userId: $userId, actions: $actions, sendEmail: $sendEmail) { message timestamp }
  }
`;

interface KeycloakCredential {
  id: string;
  type: string;
  userLabel?: string;
}

/** The secret every OTP device made here holds: Keycloak hashes the codes from its UTF-8 bytes. */
const OTP_SECRET = 'an-otp-secret-20char';

/** An OTP device as Keycloak imports one: its secret in secretData, its settings in credentialData. */
const otpDevice = (label: string) => ({
  type: 'otp',
  userLabel: label,
  secretData: JSON.stringify({ value: OTP_SECRET }),
  credentialData: JSON.stringify({ subType: 'totp', digits: 6, counter: 0, period: 30, algorithm: 'HmacSHA1' }),
});

/** Signs in with the password and a code of the user's OTP device (Keycloak's direct grant asks for both), opening a session. */
async function signInWithOtp(email: string, password: string): Promise<void> {
  const { url, realm, apiClientId, apiClientSecret } = inject('config').keycloak;
  const response = await fetch(`${url}/realms/${realm}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: apiClientId,
      client_secret: apiClientSecret,
      username: email,
      password,
      otp: await generate({ secret: new TextEncoder().encode(OTP_SECRET) }),
    }),
  });
  if (!response.ok) throw new Error(`signing in with a code failed: ${response.status} ${await response.text()}`);
}

const sessionsOf = async (id: string) => (await keycloakAdmin<unknown[]>('GET', `/users/${id}/sessions`)).body;

const keycloakCredentials = async (id: string) => (await keycloakAdmin<KeycloakCredential[]>('GET', `/users/${id}/credentials`)).body;
const requiredActionsOf = async (id: string) =>
  (await keycloakAdmin<{ requiredActions: string[] }>('GET', `/users/${id}`)).body.requiredActions;

const auditOf = (targetId: string, action: string) =>
  sql<{ status: string; actor_id: string | null; details: Record<string, unknown> }>(
    'select status, actor_id, details from audit_events where target_id = $1 and action = $2 order by at',
    [targetId, action],
  );

describe('credentials and required actions', () => {
  let gateway: TestGateway;
  let admin: { id: string; token: () => Promise<string> };
  let userManager: { id: string; token: () => Promise<string> };
  const mailbox = createMailbox(inject('mailboxUrl'));

  /**
   * A user made in Keycloak's console with a password, and OTP devices when asked, holding
   * `roles`; mirrored as the reconciler does it.
   */
  async function userInKeycloak(options: { roles?: string[]; otpDevices?: string[] } = {}) {
    const email = `cred-${randomUUID().slice(0, 8)}@example.test`;
    const password = `Pw-${randomUUID()}-9a`;
    const created = await keycloakAdmin('POST', '/users', {
      username: email,
      email,
      firstName: 'Ada',
      lastName: 'Lovelace',
      enabled: true,
      emailVerified: true,
      credentials: [{ type: 'password', value: password, temporary: false }, ...(options.otpDevices ?? []).map(otpDevice)],
    });
    if (created.status !== 201) throw new Error(`creating a Keycloak user failed: ${created.status}`);
    const id = created.location!.split('/').at(-1)!;
    if (options.roles?.length) {
      const roles = await Promise.all(options.roles.map(async (name) => (await keycloakAdmin('GET', `/roles/${name}`)).body));
      await keycloakAdmin('POST', `/users/${id}/role-mappings/realm`, roles);
    }
    // What the reconciler does for a user made in the console: the mirror learns it, with its roles.
    const { app } = gateway;
    const services = createServices(app.orm.em.fork(), serviceDependencies(app.config, app.keycloak.client), app.log);
    if (!(await services.userMirror.mirrorFromKeycloak(id, null))) throw new Error(`the mirror did not take user ${id}`);
    return { id, email, password };
  }

  beforeAll(async () => {
    gateway = await startTestGateway();
    // Accounts of this file's own: Keycloak rejects concurrent logins of one account (keycloak/keycloak#48272).
    const [adminAccount, managerAccount] = await Promise.all([
      createKeycloakUser({ realmRoles: ['role_admin'] }),
      createKeycloakUser({ realmRoles: ['role_user', 'priv_user_management'] }),
    ]);
    admin = { id: adminAccount.id, token: renewedToken(adminAccount.email, adminAccount.password) };
    userManager = { id: managerAccount.id, token: renewedToken(managerAccount.email, managerAccount.password) };
    // Both signed in once, so that the gateway knows them (admission mirrors them on first sight).
    for (const account of [admin, userManager]) {
      const me = await gateway.graphql('{ me { id } }', { token: await account.token() });
      expect(me.errors).toBeUndefined();
    }
  });
  afterAll(() => gateway?.close());

  describe('User.credentials', () => {
    it("lists a user's password and OTP devices as Keycloak has them, and nothing of their secrets", async () => {
      const user = await userInKeycloak({ otpDevices: ['Phone'] });
      const inKeycloak = await keycloakCredentials(user.id);

      const response = await gateway.graphql(CREDENTIALS, { token: await admin.token(), variables: { id: user.id } });

      expect(response.errors).toBeUndefined();
      const listed = response.data!.user.credentials as { id: string; type: string; label: string | null; createdAt: string }[];
      expect(listed.map(({ id, type, label }) => ({ id, type, label }))).toEqual([
        { id: inKeycloak.find((c) => c.type === 'password')!.id, type: 'password', label: null },
        { id: inKeycloak.find((c) => c.type === 'otp')!.id, type: 'otp', label: 'Phone' },
      ]);
      for (const { createdAt } of listed) expect(Date.now() - Date.parse(createdAt)).toBeLessThan(10 * 60_000);
      // Whatever the client asks for, the answer carries no secret: the type has no such field.
      const everything = await gateway.graphql(
        'query($id: ID!) { user(id: $id) { credentials { id type label createdAt secretData credentialData value } } }',
        { token: await admin.token(), variables: { id: user.id } },
      );
      expect(everything.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT', 'BAD_USER_INPUT']);
      expect(everything.errors![0]!.message).toContain('Cannot query field "secretData" on type "Credential"');
      expect(everything.data).toBeUndefined();
      expect(JSON.stringify(response)).not.toMatch(/secretData|credentialData|"value"|HmacSHA1|argon2|hashIterations/);
    });

    it('answers several users in one request, each with its own credentials', async () => {
      const [first, second] = [await userInKeycloak({ otpDevices: ['One'] }), await userInKeycloak()];
      const response = await gateway.graphql(
        'query($a: ID!, $b: ID!) { a: user(id: $a) { credentials { type } } b: user(id: $b) { credentials { type } } again: user(id: $a) { credentials { label } } }',
        { token: await admin.token(), variables: { a: first.id, b: second.id } },
      );
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({
        a: { credentials: [{ type: 'password' }, { type: 'otp' }] },
        b: { credentials: [{ type: 'password' }] },
        again: { credentials: [{ label: null }, { label: 'One' }] },
      });
    });

    it("shows a user manager the credentials of a user within reach, never an administrator's (FORBIDDEN)", async () => {
      const [colleague, boss] = [
        await userInKeycloak({ roles: ['role_user'] }),
        await userInKeycloak({ roles: ['role_admin'], otpDevices: ['Key'] }),
      ];

      const mine = await gateway.graphql(CREDENTIALS, { token: await userManager.token(), variables: { id: colleague.id } });
      expect(mine.errors).toBeUndefined();
      expect(mine.data!.user.credentials).toHaveLength(1);

      const theirs = await gateway.graphql(CREDENTIALS, { token: await userManager.token(), variables: { id: boss.id } });
      expect(theirs.errors?.map((error) => [error.extensions.code, error.path?.join('.')])).toEqual([['FORBIDDEN', 'user.credentials']]);
      expect(JSON.stringify(theirs)).not.toContain('Key');
    });

    it('is refused to a user reading their own record: credentials are for user managers', async () => {
      const plain = await createKeycloakUser({ realmRoles: ['role_user'] });
      const token = (await passwordGrant(plain.email, plain.password)).access_token;
      const response = await gateway.graphql('{ me { user { id credentials { type } } } }', { token });
      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
    });
  });

  describe('removeUserCredential', () => {
    it('removes an OTP device, asks the user to enrol again, ends their sessions, and audits the type, never the secret', async () => {
      const user = await userInKeycloak({ otpDevices: ['Phone'] });
      const otp = (await keycloakCredentials(user.id)).find((credential) => credential.type === 'otp')!;
      await signInWithOtp(user.email, user.password);
      expect(await sessionsOf(user.id)).toHaveLength(1);

      const response = await gateway.graphql(REMOVE, { token: await admin.token(), variables: { userId: user.id, credentialId: otp.id } });

      expect(response.errors).toBeUndefined();
      expect(response.data!.removeUserCredential.message).toBe(
        `The otp credential of ${user.email} was removed and their sessions ended; ${user.email} enrols a new one at the next sign-in`,
      );
      expect((await keycloakCredentials(user.id)).map((credential) => credential.type)).toEqual(['password']);
      expect(await requiredActionsOf(user.id)).toEqual(['CONFIGURE_TOTP']);
      expect(await sessionsOf(user.id)).toEqual([]);
      const audit = await auditOf(user.id, 'USER_CREDENTIAL_REMOVE');
      expect(audit).toEqual([
        {
          status: 'SUCCEEDED',
          actor_id: admin.id,
          details: { email: user.email, credentialId: otp.id, credentialType: 'otp', requiredAction: 'CONFIGURE_TOTP' },
        },
      ]);
    });

    it('refuses the password with BAD_USER_INPUT saying what to use instead, and Keycloak keeps it', async () => {
      const user = await userInKeycloak();
      const [password] = await keycloakCredentials(user.id);

      const response = await gateway.graphql(REMOVE, {
        token: await admin.token(),
        variables: { userId: user.id, credentialId: password!.id },
      });

      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
      expect(response.errors![0]!.message).toContain('use setUserPassword or requireUserActions');
      expect(response.errors![0]!.extensions.fieldErrors).toEqual({ credentialId: 'is the password' });
      expect(await keycloakCredentials(user.id)).toEqual([password]);
      expect(await requiredActionsOf(user.id)).toEqual([]);
      expect(await auditOf(user.id, 'USER_CREDENTIAL_REMOVE')).toEqual([]);
    });

    it("answers NOT_FOUND for a credential the user does not have, another user's included, and removes nothing", async () => {
      const [user, other] = [await userInKeycloak({ otpDevices: ['Mine'] }), await userInKeycloak({ otpDevices: ['Theirs'] })];
      const othersOtp = (await keycloakCredentials(other.id)).find((credential) => credential.type === 'otp')!;

      for (const credentialId of [othersOtp.id, randomUUID()]) {
        const response = await gateway.graphql(REMOVE, { token: await admin.token(), variables: { userId: user.id, credentialId } });
        expect(
          response.errors?.map((error) => error.extensions.code),
          credentialId,
        ).toEqual(['NOT_FOUND']);
      }
      expect(await keycloakCredentials(other.id)).toHaveLength(2);
      expect(await keycloakCredentials(user.id)).toHaveLength(2);
    });

    it('refuses a user manager the OTP device of an administrator (FORBIDDEN), and the administrator keeps it', async () => {
      const boss = await userInKeycloak({ roles: ['role_admin'], otpDevices: ['Phone'] });
      const before = await keycloakCredentials(boss.id);
      const otp = before.find((credential) => credential.type === 'otp')!;

      const response = await gateway.graphql(REMOVE, {
        token: await userManager.token(),
        variables: { userId: boss.id, credentialId: otp.id },
      });

      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      expect(await keycloakCredentials(boss.id)).toEqual(before);
      expect(await requiredActionsOf(boss.id)).toEqual([]);
      expect(await auditOf(boss.id, 'USER_CREDENTIAL_REMOVE')).toEqual([]);
    });

    it('lets a user manager remove the OTP device of a user within reach', async () => {
      const colleague = await userInKeycloak({ roles: ['role_user'], otpDevices: ['Phone'] });
      const otp = (await keycloakCredentials(colleague.id)).find((credential) => credential.type === 'otp')!;

      const response = await gateway.graphql(REMOVE, {
        token: await userManager.token(),
        variables: { userId: colleague.id, credentialId: otp.id },
      });

      expect(response.errors).toBeUndefined();
      expect((await keycloakCredentials(colleague.id)).map((credential) => credential.type)).toEqual(['password']);
      expect(await auditOf(colleague.id, 'USER_CREDENTIAL_REMOVE')).toMatchObject([{ status: 'SUCCEEDED', actor_id: userManager.id }]);
    });
  });

  describe('requireUserActions', () => {
    it('adds the actions to those the user has in Keycloak, emails a link to do them, and audits the call', async () => {
      const user = await userInKeycloak();
      await keycloakAdmin('PUT', `/users/${user.id}`, { requiredActions: ['UPDATE_PROFILE'] });

      const response = await gateway.graphql(REQUIRE, {
        token: await admin.token(),
        variables: { userId: user.id, actions: ['CONFIGURE_TOTP', 'UPDATE_PROFILE', 'WEBAUTHN_REGISTER'] },
      });

      expect(response.errors).toBeUndefined();
      expect(response.data!.requireUserActions.message).toBe(
        `${user.email} must CONFIGURE_TOTP, UPDATE_PROFILE, WEBAUTHN_REGISTER at the next sign-in; an email with a link is on its way`,
      );
      expect((await requiredActionsOf(user.id)).toSorted()).toEqual(['CONFIGURE_TOTP', 'UPDATE_PROFILE', 'webauthn-register']);
      const email = await mailbox.waitFor(user.email);
      const link = extractLinks(email).find((url) => url.includes('/login-actions/action-token'));
      expect(link, 'an action link in the email').toBeDefined();
      expect(await auditOf(user.id, 'USER_REQUIRE_ACTIONS')).toEqual([
        {
          status: 'SUCCEEDED',
          actor_id: admin.id,
          details: { email: user.email, actions: ['CONFIGURE_TOTP', 'UPDATE_PROFILE', 'WEBAUTHN_REGISTER'], sendEmail: true },
        },
      ]);
    });

    it('with sendEmail false, adds the actions and sends nothing', async () => {
      const user = await userInKeycloak();

      const response = await gateway.graphql(REQUIRE, {
        token: await admin.token(),
        variables: { userId: user.id, actions: ['VERIFY_EMAIL', 'UPDATE_PASSWORD'], sendEmail: false },
      });

      expect(response.errors).toBeUndefined();
      expect(response.data!.requireUserActions.message).toBe(`${user.email} must VERIFY_EMAIL, UPDATE_PASSWORD at the next sign-in`);
      expect((await requiredActionsOf(user.id)).toSorted()).toEqual(['UPDATE_PASSWORD', 'VERIFY_EMAIL']);
      // A call that emails, afterwards: once its email is in, the mailbox holds that one only.
      const emailed = await gateway.graphql(REQUIRE, {
        token: await admin.token(),
        variables: { userId: user.id, actions: ['UPDATE_PROFILE'] },
      });
      expect(emailed.errors).toBeUndefined();
      await mailbox.waitFor(user.email);
      expect(await mailbox.list(user.email)).toHaveLength(1);
      expect(await auditOf(user.id, 'USER_REQUIRE_ACTIONS')).toMatchObject([
        { status: 'SUCCEEDED', details: { sendEmail: false } },
        { status: 'SUCCEEDED', details: { sendEmail: true } },
      ]);
    });

    it('refuses an empty list with BAD_USER_INPUT and changes nothing', async () => {
      const user = await userInKeycloak();
      const response = await gateway.graphql(REQUIRE, { token: await admin.token(), variables: { userId: user.id, actions: [] } });
      expect(response.errors?.map((error) => [error.extensions.code, error.extensions.fieldErrors])).toEqual([
        ['BAD_USER_INPUT', { actions: 'must name at least one action' }],
      ]);
      expect(await requiredActionsOf(user.id)).toEqual([]);
      expect(await auditOf(user.id, 'USER_REQUIRE_ACTIONS')).toEqual([]);
    });

    it('refuses a user manager on an administrator (FORBIDDEN): nothing is required of the administrator, nothing is sent', async () => {
      const boss = await userInKeycloak({ roles: ['role_admin'] });

      const response = await gateway.graphql(REQUIRE, {
        token: await userManager.token(),
        variables: { userId: boss.id, actions: ['UPDATE_PASSWORD'] },
      });

      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['FORBIDDEN']);
      expect(await requiredActionsOf(boss.id)).toEqual([]);
      expect(await mailbox.list(boss.email)).toEqual([]);
      expect(await auditOf(boss.id, 'USER_REQUIRE_ACTIONS')).toEqual([]);
    });

    it('answers BAD_USER_INPUT for a disabled user Keycloak will not email, and takes the added actions back', async () => {
      const user = await userInKeycloak();
      await keycloakAdmin('PUT', `/users/${user.id}`, { enabled: false });

      const response = await gateway.graphql(REQUIRE, {
        token: await admin.token(),
        variables: { userId: user.id, actions: ['CONFIGURE_TOTP'] },
      });

      expect(response.errors?.map((error) => error.extensions.code)).toEqual(['BAD_USER_INPUT']);
      expect(await requiredActionsOf(user.id)).toEqual([]);
      expect(await auditOf(user.id, 'USER_REQUIRE_ACTIONS')).toMatchObject([{ status: 'FAILED' }]);
    });
  });
});
