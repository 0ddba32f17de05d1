import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { adminAccessToken, createKeycloakUser, followEmailAction, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';
import { TENANCY_MODES, useTenancy } from '../support/tenancy.js';
import { decodeToken } from '../support/tokens.js';

const CREATE = /* GraphQL */ `
  mutation Invite($input: CreateInvitationInput!) {
    createInvitation(input: $input) { message token invitation { id email role status expiresAt tenant { id } invitedBy { email } } }
  }
`;
const ACCEPT = /* GraphQL */ `
  mutation Accept($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) { message role redirectToKeycloak keycloakLoginHint user { id email emailVerified } tenant { id name } }
  }
`;
/** Keycloak's execute-actions email (the gateway's own invitation says neither word). */
const KEYCLOAK_ACTIONS = /update your account/i;

/** An error answer without its timestamp, to compare two answers whole. */
const answerOf = (response: GraphQLResponse) => ({
  data: response.data,
  errors: response.errors?.map(({ message, extensions: { code, status, fieldErrors } }) => ({ message, code, status, fieldErrors })),
});

// Realm tenancy: the inviter owns a tenant with its own realm, and invitees' accounts are made (or found) there.
describe.each(TENANCY_MODES)('invitations (TENANCY_MODE=%s)', (mode) => {
  const tenancy = useTenancy(mode);
  const gateway = { graphql: (...args: Parameters<TestGateway['graphql']>) => tenancy.gateway.graphql(...args) };

  async function owner() {
    const signedUp = await tenancy.tenantOwner('Invite Co');
    return { ...signedUp, tenantId: signedUp.tenant.id };
  }

  // One inviter's tenant for the tests that only add to it (each a new realm in realm tenancy).
  let inviter: Awaited<ReturnType<typeof owner>>;
  beforeAll(async () => {
    inviter = await owner();
  });

  /** An account of the inviter's realm the gateway already knows. */
  const existingIn = (inviter: { realm: string | undefined }) => tenancy.signedIn(inviter.realm);

  async function invite(inviter: { token: string; tenantId: string }, email: string, extra: Record<string, unknown> = {}) {
    const response = await gateway.graphql(CREATE, {
      token: inviter.token,
      variables: { input: { tenantId: inviter.tenantId, email, ...extra } },
    });
    expect(response.errors).toBeUndefined();
    return response.data!.createInvitation as { token: string; invitation: { id: string; status: string } };
  }

  const newEmail = () => `invitee-${randomUUID().slice(0, 8)}@example.test`;

  it('createInvitation returns the secret once, stores only its hash, and emails the accept link', async () => {
    const email = newEmail();
    const { token, invitation } = await invite(inviter, email, { role: 'ADMIN' });

    expect(invitation).toMatchObject({
      email,
      role: 'ADMIN',
      status: 'PENDING',
      tenant: { id: inviter.tenantId },
      invitedBy: { email: inviter.email },
    });
    const [row] = await sql<{ token_hash: string }>('select token_hash from invitations where id = $1', [invitation.id]);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await sql('select * from invitations where id = $1', [invitation.id]))).not.toContain(token);
    expect(JSON.stringify(await sql('select * from audit_events where target_id = $1', [invitation.id]))).not.toContain(token);

    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /invit/i });
    expect(mail.text).toContain('Invite Co');
    expect(extractLinks(mail)).toEqual([`${inject('config').invitationAcceptUrl}?token=${token}`]);
  });

  it('H2: a new invitee accepting with a password gets an unverified account they can log in with, the membership, and Keycloak’s email to verify the address', async () => {
    const email = newEmail();
    const { token, invitation } = await invite(inviter, email);

    const response = await gateway.graphql(ACCEPT, {
      variables: { input: { token, firstName: 'New', lastName: 'Member', password: 'Welcome-123' } },
    });

    expect(response.errors).toBeUndefined();
    expect(response.data!.acceptInvitation).toMatchObject({
      role: 'MEMBER',
      redirectToKeycloak: true,
      keycloakLoginHint: email,
      user: { email, emailVerified: false },
      tenant: { id: inviter.tenantId, name: 'Invite Co' },
    });
    const userId = response.data!.acceptInvitation.user.id;
    // Holding the token proves nothing about the address: not verified, in the token nor in Keycloak.
    const tokens = await passwordGrant(email, 'Welcome-123', inviter.realm);
    expect(decodeToken(tokens.access_token).payload).toMatchObject({ email, email_verified: false });
    const [inKeycloak] = (
      await keycloakAdmin<{ id: string; emailVerified: boolean }[]>('GET', `/users?email=${email}&exact=true`, undefined, inviter.realm)
    ).body;
    expect(inKeycloak).toMatchObject({ id: userId, emailVerified: false });
    expect(await sql('select realm, email_verified from users where id = $1', [userId])).toEqual([
      { realm: inviter.realm ?? null, email_verified: false },
    ]);
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, userId])).toEqual([
      { role: 'MEMBER' },
    ]);
    expect(await sql('select status from invitations where id = $1', [invitation.id])).toEqual([{ status: 'ACCEPTED' }]);
    // Keycloak's own email proves it, from the realm the account lives in; the password is the invitee's already.
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: KEYCLOAK_ACTIONS });
    expect(mail.text).toMatch(/Verify Email/);
    expect(mail.text).not.toMatch(/Update Password/);
    const link = extractLinks(mail).find((url) => url.includes('/login-actions/action-token'));
    expect(link).toContain(`/realms/${inviter.realm ?? inject('config').keycloak.realm}/`);
    await followEmailAction(link!);
    expect(decodeToken((await passwordGrant(email, 'Welcome-123', inviter.realm)).access_token).payload).toMatchObject({
      email_verified: true,
    });
  });

  it('H2: a new invitee without a password gets an unverified account and one email from Keycloak to verify the address and set a password', async () => {
    const email = newEmail();
    const { token } = await invite(inviter, email);
    const response = await gateway.graphql(ACCEPT, { variables: { input: { token, firstName: 'No', lastName: 'Password' } } });
    expect(response.errors).toBeUndefined();
    expect(response.data!.acceptInvitation.user).toMatchObject({ email, emailVerified: false });
    const [inKeycloak] = (
      await keycloakAdmin<{ emailVerified: boolean }[]>('GET', `/users?email=${email}&exact=true`, undefined, inviter.realm)
    ).body;
    expect(inKeycloak).toMatchObject({ emailVerified: false });
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: KEYCLOAK_ACTIONS });
    expect(mail.text).toMatch(/Verify Email/);
    expect(mail.text).toMatch(/Update Password/);
    const link = extractLinks(mail).find((url) => url.includes('/login-actions/action-token'));
    expect(link).toContain(`/realms/${inviter.realm ?? inject('config').keycloak.realm}/`);
  });

  it('H4: an existing account (of the tenant’s realm) signed in as itself joins with the invited role, without a new account, and gets its own record', async () => {
    const existing = await existingIn(inviter);
    const { token } = await invite(inviter, existing.email, { role: 'ADMIN' });

    const response = await gateway.graphql(ACCEPT, { token: existing.token, variables: { input: { token } } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.acceptInvitation).toMatchObject({ role: 'ADMIN', user: { id: existing.id, email: existing.email } });
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, existing.id])).toEqual([
      { role: 'ADMIN' },
    ]);
    expect(
      (await keycloakAdmin<unknown[]>('GET', `/users?email=${existing.email}&exact=true`, undefined, inviter.realm)).body,
    ).toHaveLength(1);
  });

  if (mode === 'realm')
    it('H4: a user of the gateway’s realm signed in there gets an unverified account in the tenant’s realm, with their names, and Keycloak’s email from there', async () => {
      const elsewhere = await tenancy.signedIn();
      const { token } = await invite(inviter, elsewhere.email);
      // Anonymous and without names, the answer is the one for an address nobody has: the other realm's account is not told.
      const anonymous = await gateway.graphql(ACCEPT, { variables: { input: { token } } });
      const unknown = await gateway.graphql(ACCEPT, { variables: { input: { token: (await invite(inviter, newEmail())).token } } });
      expect(anonymous.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
      expect(answerOf(anonymous)).toEqual(answerOf(unknown));

      const response = await gateway.graphql(ACCEPT, { token: elsewhere.token, variables: { input: { token } } });

      expect(response.errors).toBeUndefined();
      const { user } = response.data!.acceptInvitation;
      expect(user.id).not.toBe(elsewhere.id);
      expect(user.emailVerified).toBe(false);
      expect(
        await sql('select realm, first_name, last_name from users where email = $1 order by realm nulls first', [elsewhere.email]),
      ).toEqual([
        { realm: null, first_name: elsewhere.firstName, last_name: elsewhere.lastName },
        { realm: inviter.realm, first_name: elsewhere.firstName, last_name: elsewhere.lastName },
      ]);
      expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, user.id])).toEqual([
        { role: 'MEMBER' },
      ]);
      const mail = await createMailbox(inject('mailboxUrl')).waitFor(elsewhere.email, { subject: KEYCLOAK_ACTIONS });
      expect(mail.text).toMatch(/Verify Email/);
      expect(extractLinks(mail).find((url) => url.includes('/login-actions/action-token'))).toContain(`/realms/${inviter.realm}/`);
    });

  it('answers BAD_USER_INPUT for invalid, expired, revoked and already accepted tokens', async () => {
    const accepted = await invite(inviter, newEmail());
    await gateway.graphql(ACCEPT, {
      variables: { input: { token: accepted.token, firstName: 'A', lastName: 'B', password: 'Welcome-123' } },
    });
    const revoked = await invite(inviter, newEmail());
    const revoke = await gateway.graphql('mutation($id: ID!) { revokeInvitation(id: $id) { message } }', {
      token: inviter.token,
      variables: { id: revoked.invitation.id },
    });
    expect(revoke.errors).toBeUndefined();
    const expired = await invite(inviter, newEmail());
    await sql("update invitations set expires_at = now() - interval '1 minute' where id = $1", [expired.invitation.id]);

    const cases: [string, RegExp][] = [
      ['not-a-real-token', /invalid/],
      [expired.token, /expired/],
      [revoked.token, /revoked/],
      [accepted.token, /already been accepted/],
    ];
    for (const [token, message] of cases) {
      const response = await gateway.graphql(ACCEPT, {
        variables: { input: { token, firstName: 'X', lastName: 'Y', password: 'Welcome-123' } },
      });
      expect(response.errors?.[0]?.extensions, String(message)).toMatchObject({
        code: 'BAD_USER_INPUT',
        fieldErrors: { token: expect.stringMatching(message) },
      });
    }
    const listed = await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id status } }', {
      token: inviter.token,
      variables: { t: inviter.tenantId },
    });
    expect(listed.errors).toBeUndefined();
    const statuses = Object.fromEntries(listed.data!.invitations.map((i: { id: string; status: string }) => [i.id, i.status]));
    expect([statuses[accepted.invitation.id], statuses[revoked.invitation.id], statuses[expired.invitation.id]]).toEqual([
      'ACCEPTED',
      'REVOKED',
      'EXPIRED',
    ]);
  });

  it('accepting the same invitation twice at once yields one membership', async () => {
    const existing = await existingIn(inviter);
    const { token } = await invite(inviter, existing.email);

    const answers = await Promise.all(
      [1, 2, 3].map(() => gateway.graphql(ACCEPT, { token: existing.token, variables: { input: { token } } })),
    );

    expect(answers.filter((answer) => !answer.errors)).toHaveLength(1);
    expect(
      await sql('select count(*)::int as n from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, existing.id]),
    ).toEqual([{ n: 1 }]);
  });

  it('only an OWNER or ADMIN of the tenant (or ROLE_ADMIN) may invite, list or revoke', async () => {
    const [inviter, outsider] = await Promise.all([owner(), owner()]);
    const { invitation } = await invite(inviter, newEmail());

    const denied = [
      await gateway.graphql(CREATE, { token: outsider.token, variables: { input: { tenantId: inviter.tenantId, email: newEmail() } } }),
      await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id } }', {
        token: outsider.token,
        variables: { t: inviter.tenantId },
      }),
      await gateway.graphql('mutation($id: ID!) { revokeInvitation(id: $id) { message } }', {
        token: outsider.token,
        variables: { id: invitation.id },
      }),
      await gateway.graphql('query($t: ID!) { tenant(id: $t) { invitations { id } } }', {
        token: outsider.token,
        variables: { t: inviter.tenantId },
      }),
    ];
    for (const response of denied) expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    const asAdmin = await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id } }', {
      token: await adminAccessToken(),
      variables: { t: inviter.tenantId },
    });
    expect(asAdmin.data!.invitations).toEqual([{ id: invitation.id }]);
  });
  it('H4: an anonymous acceptance of an invitation to an existing account answers exactly like one without names for a new address, and adds nothing', async () => {
    const existing = await existingIn(inviter);
    // OWNER: without the account's own sign-in, the inviter cannot make it an owner (and so block its deletion).
    const toExisting = await invite(inviter, existing.email, { role: 'OWNER' });
    const toNew = await invite(inviter, newEmail());

    const withoutNames = await gateway.graphql(ACCEPT, { variables: { input: { token: toExisting.token } } });
    const withNames = await gateway.graphql(ACCEPT, {
      variables: { input: { token: toExisting.token, firstName: 'Mallory', lastName: 'Mallet', password: 'Attacker-chosen-1' } },
    });
    const newWithoutNames = await gateway.graphql(ACCEPT, { variables: { input: { token: toNew.token } } });

    expect(newWithoutNames.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(answerOf(withoutNames)).toEqual(answerOf(newWithoutNames));
    expect(answerOf(withNames)).toEqual(answerOf(newWithoutNames));
    expect(JSON.stringify([withoutNames, withNames])).not.toContain(existing.id);
    expect(JSON.stringify([withoutNames, withNames])).not.toContain(existing.email);
    expect(await sql('select 1 from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, existing.id])).toEqual([]);
    expect(await sql('select status from invitations where id = $1', [toExisting.invitation.id])).toEqual([{ status: 'PENDING' }]);
    expect(
      (await keycloakAdmin<unknown[]>('GET', `/users?email=${existing.email}&exact=true`, undefined, inviter.realm)).body,
    ).toHaveLength(1);
    await expect(passwordGrant(existing.email, 'Attacker-chosen-1', inviter.realm)).rejects.toThrow(/invalid_grant/);
  });

  it('H4: a caller signed in as another account, the inviter included, cannot accept an invitation to an existing account', async () => {
    const [existing, other] = await Promise.all([existingIn(inviter), existingIn(inviter)]);
    const { token, invitation } = await invite(inviter, existing.email);
    const unknown = await gateway.graphql(ACCEPT, { variables: { input: { token: (await invite(inviter, newEmail())).token } } });

    for (const caller of [other, inviter]) {
      const response = await gateway.graphql(ACCEPT, { token: caller.token, variables: { input: { token } } });
      expect(answerOf(response)).toEqual(answerOf(unknown));
    }
    expect(
      await sql('select user_id from memberships where tenant_id = $1 and user_id in ($2, $3)', [inviter.tenantId, existing.id, other.id]),
    ).toEqual([]);
    expect(await sql('select status from invitations where id = $1', [invitation.id])).toEqual([{ status: 'PENDING' }]);
  });

  it('L4: a tenant ADMIN may invite members and admins but not an OWNER; an OWNER and ROLE_ADMIN may', async () => {
    const admin = await existingIn(inviter);
    const made = await gateway.graphql(ACCEPT, {
      token: admin.token,
      variables: { input: { token: (await invite(inviter, admin.email, { role: 'ADMIN' })).token } },
    });
    expect(made.errors).toBeUndefined();
    const byAdmin = (role: string, email = newEmail()) =>
      gateway.graphql(CREATE, { token: admin.token, variables: { input: { tenantId: inviter.tenantId, email, role } } });

    const ownerEmail = newEmail();
    const refused = await byAdmin('OWNER', ownerEmail);
    expect(refused.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(await sql('select 1 from invitations where email = $1', [ownerEmail])).toEqual([]);
    for (const role of ['MEMBER', 'ADMIN']) expect((await byAdmin(role)).errors, role).toBeUndefined();
    expect((await invite(inviter, newEmail(), { role: 'OWNER' })).invitation.status).toBe('PENDING');
    const byRoleAdmin = await gateway.graphql(CREATE, {
      token: await adminAccessToken(),
      variables: { input: { tenantId: inviter.tenantId, email: newEmail(), role: 'OWNER' } },
    });
    expect(byRoleAdmin.errors).toBeUndefined();
  });
});

// M4: a tenant cannot become a relay of unlimited email with its own text.
describe('invitation abuse limits', () => {
  const MAX_PENDING = 2;
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway((config) => ({ ...config, invitations: { ...config.invitations, maxPendingPerTenant: MAX_PENDING } }));
  });
  afterAll(() => gateway?.close());

  const newEmail = () => `capped-${randomUUID().slice(0, 8)}@example.test`;
  const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';

  async function signedIn() {
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    expect((await gateway.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
    return { ...user, token };
  }

  async function owner(name = `Capped ${randomUUID().slice(0, 6)}`) {
    const user = await signedIn();
    const created = await gateway.graphql(CREATE_TENANT, { token: user.token, variables: { name } });
    expect(created.errors).toBeUndefined();
    return { ...user, tenantId: created.data!.createTenant.tenant.id as string };
  }

  const create = (inviter: { token: string; tenantId: string }, email = newEmail()) =>
    gateway.graphql(CREATE, { token: inviter.token, variables: { input: { tenantId: inviter.tenantId, email } } });

  it('M4: createInvitation answers CONFLICT once a tenant has the configured number of pending invitations; revoked, accepted and expired ones make room', async () => {
    const inviter = await owner();
    const [first, second] = [await create(inviter), await create(inviter)];
    expect([first.errors, second.errors]).toEqual([undefined, undefined]);

    const email = newEmail();
    const refused = await create(inviter, email);
    expect(refused.errors?.[0]).toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: expect.stringContaining(`${MAX_PENDING} pending`),
    });
    expect(await sql('select 1 from invitations where email = $1', [email])).toEqual([]);
    expect(await createMailbox(inject('mailboxUrl')).list(email)).toEqual([]);
    // Another tenant has its own count.
    expect((await create(await owner())).errors).toBeUndefined();

    const revoked = await gateway.graphql('mutation($id: ID!) { revokeInvitation(id: $id) { message } }', {
      token: inviter.token,
      variables: { id: first.data!.createInvitation.invitation.id },
    });
    expect(revoked.errors).toBeUndefined();
    const third = await create(inviter);
    expect(third.errors).toBeUndefined();
    expect((await create(inviter)).errors?.[0]?.extensions.code).toBe('CONFLICT');

    await sql("update invitations set expires_at = now() - interval '1 minute' where id = $1", [
      second.data!.createInvitation.invitation.id,
    ]);
    expect((await create(inviter)).errors).toBeUndefined();
    const accepted = await gateway.graphql(ACCEPT, {
      variables: { input: { token: third.data!.createInvitation.token, firstName: 'Ann', lastName: 'Accepted', password: 'Welcome-123' } },
    });
    expect(accepted.errors).toBeUndefined();
    expect((await create(inviter)).errors).toBeUndefined();
  });

  it('M4: invitations created at once never exceed the cap', async () => {
    const inviter = await owner();
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(inviter)));
    expect(answers.filter((answer) => !answer.errors)).toHaveLength(MAX_PENDING);
    expect(answers.filter((answer) => answer.errors?.[0]?.extensions.code === 'CONFLICT')).toHaveLength(6 - MAX_PENDING);
    expect(await sql("select count(*)::int as n from invitations where tenant_id = $1 and status = 'PENDING'", [inviter.tenantId])).toEqual(
      [{ n: MAX_PENDING }],
    );
  });

  it('M4: tenant names that could be links (a URL, a domain, an address) are refused at creation and sign-up; plain names are kept', async () => {
    const creator = await signedIn();
    for (const name of [
      'Sign in at http://evil.example/login',
      'Visit evil.example today',
      'Write to ceo@evil.example',
      'www.evil.example',
      'Acme.io',
    ]) {
      const response = await gateway.graphql(CREATE_TENANT, { token: creator.token, variables: { name } });
      expect(response.errors?.[0]?.extensions, name).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { name: expect.any(String) } });
      expect(await sql('select 1 from tenants where name = $1', [name])).toEqual([]);
    }
    for (const name of ['Acme & Co. (Berlin)', 'O’Brien - Sales, Inc.', 'Société Générale 2']) {
      const response = await gateway.graphql(CREATE_TENANT, { token: creator.token, variables: { name } });
      expect(response.errors, name).toBeUndefined();
    }
    const signup = await gateway.graphql('mutation($input: SignupInput!) { signup(input: $input) { user { id } } }', {
      variables: {
        input: { email: newEmail(), password: 'Welcome-123', firstName: 'Eve', lastName: 'Spam', accountName: 'Prizes at evil.example' },
      },
    });
    expect(signup.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { accountName: expect.any(String) } });
  });

  it('M4: the invitation email keeps the tenant name out of the subject, and leaves out a name that could be a link', async () => {
    const inviter = await owner('Plain Name Co');
    const mailbox = createMailbox(inject('mailboxUrl'));
    const plain = newEmail();
    expect((await create(inviter, plain)).errors).toBeUndefined();
    const mail = await mailbox.waitFor(plain, { subject: /invit/i });
    expect(mail.subject).not.toContain('Plain Name Co');
    expect(mail.text).toContain('Plain Name Co');

    // A tenant named before names were restricted.
    await sql("update tenants set name = 'Sign in at http://evil.example/login' where id = $1", [inviter.tenantId]);
    const email = newEmail();
    const created = await create(inviter, email);
    expect(created.errors).toBeUndefined();
    const legacy = await mailbox.waitFor(email, { subject: /invit/i });
    expect(`${legacy.subject}\n${legacy.text}\n${legacy.html}`).not.toContain('evil');
    expect(extractLinks(legacy)).toEqual([`${inject('config').invitationAcceptUrl}?token=${created.data!.createInvitation.token}`]);
  });
});
