import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { refusingWrites, sql } from '../support/database.js';
import type { TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, keycloakAdmin } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';
import { TENANCY_MODES, useTenancy } from '../support/tenancy.js';

const SIGNUP = /* GraphQL */ `
  mutation Signup($input: SignupInput!) {
    signup(input: $input) {
      message
      user { id email firstName enabled emailVerified }
      tenant { id name members { role user { email } } }
      tokens { accessToken refreshToken expiresIn tokenType }
    }
  }
`;
const REGISTER = /* GraphQL */ `
  mutation Register($input: RegisterUserInput!) {
    registerUser(input: $input) { message user { id email syncStatus roles { name } } }
  }
`;

const newEmail = () => `onboard-${randomUUID().slice(0, 8)}@example.test`;

async function keycloakUser(email: string, realm?: string) {
  const [user] = (
    await keycloakAdmin<{ id: string; enabled: boolean; emailVerified: boolean; requiredActions: string[] }[]>(
      'GET',
      `/users?email=${encodeURIComponent(email)}&exact=true`,
      undefined,
      realm,
    )
  ).body;
  return user;
}

/** Follows Keycloak's action link as a browser would, far enough to see its password form; `realm`: the realm it must be from. */
async function openActionLink(email: string, subject: RegExp, realm = inject('config').keycloak.realm) {
  const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject });
  const link = extractLinks(mail).find((url) => url.includes('/login-actions/action-token'));
  expect(link, 'an action-token link in the email').toBeDefined();
  expect(link!.startsWith(`${inject('config').keycloak.publicUrl}/realms/${realm}/`)).toBe(true);
  const page = await fetch(link!, { redirect: 'follow' });
  return { status: page.status, html: await page.text() };
}

// Realm tenancy: sign-up with an account name, password emails and the permission check
// also run for accounts of a tenant's own realm.
describe.each(TENANCY_MODES)('onboarding (TENANCY_MODE=%s)', (mode) => {
  const tenancy = useTenancy(mode);
  const gateway = { graphql: (...args: Parameters<TestGateway['graphql']>) => tenancy.gateway.graphql(...args) };
  let adminToken: string;
  beforeAll(async () => {
    adminToken = await adminAccessToken();
  });

  const signupInput = (overrides: Record<string, unknown> = {}) => ({
    email: newEmail(),
    password: 'Sign-up-pass1',
    firstName: 'Grace',
    lastName: 'Hopper',
    ...overrides,
  });

  it('signup whose local write fails answers an error with no tokens, and leaves no user in Keycloak (COMPENSATED)', async () => {
    const input = signupInput();
    // PostgreSQL refuses this one user's row: a local failure after Keycloak created the user.
    const response = await refusingWrites('insert', 'users', 'email', input.email, () => gateway.graphql(SIGNUP, { variables: { input } }));

    expect(response.errors?.[0]?.extensions.code).toBe('INTERNAL_SERVER_ERROR');
    expect(response.data?.signup ?? null).toBeNull();
    expect(await keycloakUser(input.email)).toBeUndefined();
    expect(await sql('select 1 from users where email = $1', [input.email])).toEqual([]);
    expect(await sql(`select status from audit_events where action = 'USER_SIGNUP' and details->>'email' = $1`, [input.email])).toEqual([
      { status: 'COMPENSATED' },
    ]);
  });

  it('signup creates the Keycloak user and the local record, and returns tokens that work at once', async () => {
    const input = signupInput();
    const response = await gateway.graphql(SIGNUP, { variables: { input } });

    expect(response.errors).toBeUndefined();
    const { user, tenant, tokens } = response.data!.signup;
    expect(user).toMatchObject({ email: input.email, firstName: 'Grace', enabled: true, emailVerified: false });
    expect(tenant).toBeNull();
    expect(tokens).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number) });
    expect(await keycloakUser(input.email)).toMatchObject({ id: user.id, enabled: true });
    expect(await sql('select email, sync_status from users where id = $1', [user.id])).toEqual([
      { email: input.email, sync_status: 'SYNCED' },
    ]);
    const me = await gateway.graphql('{ me { user { id } } }', { token: tokens.accessToken });
    expect(me.data!.me.user.id).toBe(user.id);
    const audit = await sql<{ action: string; status: string; actor_id: string | null }>(
      'select action, status, actor_id, details from audit_events where target_id = $1',
      [user.id],
    );
    expect(audit).toMatchObject([{ action: 'USER_SIGNUP', status: 'SUCCEEDED', actor_id: null }]);
    expect(JSON.stringify(audit)).not.toContain(input.password);
  });

  it('signup with accountName also creates a tenant owned by the new user', async () => {
    const input = signupInput({ accountName: 'Hopper & Co' });
    const response = await gateway.graphql(SIGNUP, { variables: { input } });
    expect(response.errors).toBeUndefined();
    const { user, tenant, tokens } = response.data!.signup;
    if (mode === 'realm') tenancy.track(tenant.id);
    expect(tenant).toMatchObject({ name: 'Hopper & Co', members: [{ role: 'OWNER', user: { email: input.email } }] });
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [tenant.id, user.id])).toEqual([
      { role: 'OWNER' },
    ]);
    // Realm tenancy: the owner's account, and so the tokens, are the tenant realm's.
    const realm = mode === 'realm' ? tenant.id : null;
    expect(await sql('select realm from users where id = $1', [user.id])).toEqual([{ realm }]);
    expect(await keycloakUser(input.email, realm ?? undefined)).toMatchObject({ id: user.id });
    const me = await gateway.graphql('{ me { user { id } } }', { token: tokens.accessToken });
    expect(me.data!.me.user.id).toBe(user.id);
  });

  it('answers "Email not eligible for signup. Please login." for a known email, locally or only in Keycloak, and changes nothing', async () => {
    const first = signupInput();
    await gateway.graphql(SIGNUP, { variables: { input: first } });
    const onlyInKeycloak = await createKeycloakUser();
    for (const email of [first.email.toUpperCase(), onlyInKeycloak.email]) {
      const response = await gateway.graphql(SIGNUP, { variables: { input: signupInput({ email, accountName: 'Dup' }) } });
      expect(response.errors?.[0]).toMatchObject({
        message: 'Email not eligible for signup. Please login.',
        extensions: { code: 'CONFLICT', status: 409 },
      });
    }
    expect(await sql('select 1 from users where email = $1', [onlyInKeycloak.email])).toEqual([]);
    expect(await sql("select 1 from tenants where name = 'Dup'")).toEqual([]);
  });

  it('signup refuses a weak password and a different username with BAD_USER_INPUT naming the fields', async () => {
    const input = signupInput({ password: 'weak', username: 'someone-else' });
    const response = await gateway.graphql(SIGNUP, { variables: { input } });
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: { password: expect.stringContaining('at least 8'), username: expect.any(String) },
    });
    expect(await keycloakUser(input.email)).toBeUndefined();
  });

  it('registerUser creates a user without a password and Keycloak emails a live password-setup link', async () => {
    const [{ id: roleId }] = await sql<{ id: string }>("select id from realm_roles where name = 'role_user'");
    const email = newEmail();
    const response = await gateway.graphql(REGISTER, {
      token: adminToken,
      variables: { input: { email, firstName: 'Alan', lastName: 'Turing', roleIds: [roleId] } },
    });

    expect(response.errors).toBeUndefined();
    expect(response.data!.registerUser.user).toMatchObject({ email, syncStatus: 'SYNCED', roles: [{ name: 'role_user' }] });
    const inKeycloak = await keycloakUser(email);
    expect(inKeycloak.requiredActions).toEqual(['UPDATE_PASSWORD']);
    const credentials = (await keycloakAdmin<unknown[]>('GET', `/users/${inKeycloak.id}/credentials`)).body;
    expect(credentials).toEqual([]);
    const page = await openActionLink(email, /password|account/i);
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/password-new|Update password|update your password/i);
    expect(await sql('select action, status from audit_events where target_id = $1', [inKeycloak.id])).toEqual([
      { action: 'USER_REGISTER', status: 'SUCCEEDED' },
    ]);
  });

  it('sendPasswordSetupEmail sends the email again (from the realm the account lives in), and answers NOT_FOUND for an unknown user', async () => {
    let userId: string;
    let email: string;
    let realm: string | undefined;
    if (mode === 'realm') {
      // createTenant's owner: an account of the new tenant realm without a password.
      const creator = await tenancy.signedIn();
      const created = await gateway.graphql(
        'mutation { createTenant(input: { name: "Setup Co" }) { tenant { id members { user { id email } } } } }',
        {
          token: creator.token,
        },
      );
      expect(created.errors).toBeUndefined();
      const { tenant } = created.data!.createTenant;
      tenancy.track(tenant.id);
      ({ id: userId, email } = tenant.members[0].user);
      realm = tenant.id;
    } else {
      email = newEmail();
      const registered = await gateway.graphql(REGISTER, {
        token: adminToken,
        variables: { input: { email, firstName: 'Ada', lastName: 'Byron' } },
      });
      userId = registered.data!.registerUser.user.id;
    }
    await createMailbox(inject('mailboxUrl')).waitFor(email);
    const before = (await createMailbox(inject('mailboxUrl')).list(email)).length;

    const response = await gateway.graphql('mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', {
      token: adminToken,
      variables: { id: userId },
    });
    expect(response.errors).toBeUndefined();
    await expect.poll(async () => (await createMailbox(inject('mailboxUrl')).list(email)).length).toBe(before + 1);
    const [newest] = await createMailbox(inject('mailboxUrl')).list(email);
    expect(extractLinks(newest!).find((url) => url.includes('/login-actions/action-token'))).toContain(
      `/realms/${realm ?? inject('config').keycloak.realm}/`,
    );

    const unknown = await gateway.graphql('mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', {
      token: adminToken,
      variables: { id: randomUUID() },
    });
    expect(unknown.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
  });

  it('resetPassword answers the same for known and unknown emails, and mails only the known one (realm tenancy: in the named tenant’s realm)', async () => {
    // Realm tenancy: a tenant owner's account is in the tenant realm, and resetPassword names the tenant.
    const known = mode === 'realm' ? await tenancy.tenantOwner() : { ...signupInput(), tenant: undefined, realm: undefined };
    if (mode === 'shared') await gateway.graphql(SIGNUP, { variables: { input: known } });
    const unknown = newEmail();
    const mutation = 'mutation($email: String!, $tenantId: ID) { resetPassword(email: $email, tenantId: $tenantId) { message } }';
    const tenantId = known.tenant?.id ?? null;

    const forKnown = await gateway.graphql(mutation, { variables: { email: known.email, tenantId } });
    const forUnknown = await gateway.graphql(mutation, { variables: { email: unknown, tenantId } });
    const forUnknownTenant = await gateway.graphql(mutation, { variables: { email: known.email, tenantId: randomUUID() } });

    expect(forKnown.data).toEqual(forUnknown.data);
    expect(forKnown.data).toEqual(forUnknownTenant.data);
    expect(forKnown.data!.resetPassword.message).toBe('If a user with this email exists, a password reset email has been sent.');
    const page = await openActionLink(known.email, /password|account/i, known.realm);
    expect(page.status).toBe(200);
    expect(await createMailbox(inject('mailboxUrl')).list(unknown)).toEqual([]);
  });

  it('registerUser is FORBIDDEN for a plain user (realm tenancy: also for role_admin of a tenant realm)', async () => {
    const callers = [await tenancy.signedIn(undefined, { realmRoles: ['role_user'] })];
    // A tenant realm's roles are that tenant's own, never the gateway's.
    if (mode === 'realm') callers.push(await tenancy.signedIn((await tenancy.tenantOwner()).realm, { realmRoles: ['role_admin'] }));
    for (const { token } of callers) {
      const response = await gateway.graphql(REGISTER, {
        token,
        variables: { input: { email: newEmail(), firstName: 'A', lastName: 'B' } },
      });
      expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    }
  });
});
