import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { sql } from '../support/database.js';
import type { TestGateway } from '../support/gateway.js';
import { adminAccessToken, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';
import { TENANCY_MODES, useTenancy } from '../support/tenancy.js';

const CREATE = /* GraphQL */ `
  mutation Invite($input: CreateInvitationInput!) {
    createInvitation(input: $input) { message token invitation { id email role status expiresAt tenant { id } invitedBy { email } } }
  }
`;
const ACCEPT = /* GraphQL */ `
  mutation Accept($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) { message role redirectToKeycloak keycloakLoginHint user { id email } tenant { id name } }
  }
`;

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
    const response = await gateway.graphql(CREATE, { token: inviter.token, variables: { input: { tenantId: inviter.tenantId, email, ...extra } } });
    expect(response.errors).toBeUndefined();
    return response.data!.createInvitation as { token: string; invitation: { id: string; status: string } };
  }

  const newEmail = () => `invitee-${randomUUID().slice(0, 8)}@example.test`;

  it('createInvitation returns the secret once, stores only its hash, and emails the accept link', async () => {
    const email = newEmail();
    const { token, invitation } = await invite(inviter, email, { role: 'ADMIN' });

    expect(invitation).toMatchObject({ email, role: 'ADMIN', status: 'PENDING', tenant: { id: inviter.tenantId }, invitedBy: { email: inviter.email } });
    const [row] = await sql<{ token_hash: string }>('select token_hash from invitations where id = $1', [invitation.id]);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await sql('select * from invitations where id = $1', [invitation.id]))).not.toContain(token);
    expect(JSON.stringify(await sql('select * from audit_events where target_id = $1', [invitation.id]))).not.toContain(token);

    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /invited to join Invite Co/ });
    expect(extractLinks(mail)).toContain(`${inject('config').invitationAcceptUrl}?token=${token}`);
  });

  it('a new invitee accepting with a password gets a Keycloak account they can log in with, and the membership', async () => {
    const email = newEmail();
    const { token, invitation } = await invite(inviter, email);

    const response = await gateway.graphql(ACCEPT, { variables: { input: { token, firstName: 'New', lastName: 'Member', password: 'Welcome-123' } } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.acceptInvitation).toMatchObject({
      role: 'MEMBER',
      redirectToKeycloak: true,
      keycloakLoginHint: email,
      user: { email },
      tenant: { id: inviter.tenantId, name: 'Invite Co' },
    });
    const userId = response.data!.acceptInvitation.user.id;
    await passwordGrant(email, 'Welcome-123', inviter.realm);
    const [inKeycloak] = (await keycloakAdmin<{ id: string; emailVerified: boolean }[]>('GET', `/users?email=${email}&exact=true`, undefined, inviter.realm)).body;
    expect(inKeycloak).toMatchObject({ id: userId, emailVerified: true });
    expect(await sql('select realm from users where id = $1', [userId])).toEqual([{ realm: inviter.realm ?? null }]);
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, userId])).toEqual([{ role: 'MEMBER' }]);
    expect(await sql('select status from invitations where id = $1', [invitation.id])).toEqual([{ status: 'ACCEPTED' }]);
  });

  it('a new invitee without a password gets Keycloak’s password-setup email', async () => {
    const email = newEmail();
    const { token } = await invite(inviter, email);
    const response = await gateway.graphql(ACCEPT, { variables: { input: { token, firstName: 'No', lastName: 'Password' } } });
    expect(response.errors).toBeUndefined();
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /password|account/i });
    const link = extractLinks(mail).find((url) => url.includes('/login-actions/action-token'));
    expect(link).toContain(`/realms/${inviter.realm ?? inject('config').keycloak.realm}/`);
  });

  it('an existing user (of the tenant’s realm) joins with the invited role, without a new account', async () => {
    const existing = await existingIn(inviter);
    const { token } = await invite(inviter, existing.email, { role: 'ADMIN' });

    const response = await gateway.graphql(ACCEPT, { variables: { input: { token } } });

    expect(response.data!.acceptInvitation).toMatchObject({ role: 'ADMIN', user: { id: existing.id } });
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, existing.id])).toEqual([{ role: 'ADMIN' }]);
    expect((await keycloakAdmin<unknown[]>('GET', `/users?email=${existing.email}&exact=true`, undefined, inviter.realm)).body).toHaveLength(1);
  });

  if (mode === 'realm') it('a user of the gateway’s realm gets an account in the tenant’s realm, with their names, and the password-setup email from there', async () => {
    const elsewhere = await tenancy.signedIn();
    const { token } = await invite(inviter, elsewhere.email);

    const response = await gateway.graphql(ACCEPT, { variables: { input: { token } } });

    expect(response.errors).toBeUndefined();
    const { user } = response.data!.acceptInvitation;
    expect(user.id).not.toBe(elsewhere.id);
    expect(await sql('select realm, first_name, last_name from users where email = $1 order by realm nulls first', [elsewhere.email])).toEqual([
      { realm: null, first_name: elsewhere.firstName, last_name: elsewhere.lastName },
      { realm: inviter.realm, first_name: elsewhere.firstName, last_name: elsewhere.lastName },
    ]);
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, user.id])).toEqual([{ role: 'MEMBER' }]);
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(elsewhere.email, { subject: /password|account/i });
    expect(extractLinks(mail).find((url) => url.includes('/login-actions/action-token'))).toContain(`/realms/${inviter.realm}/`);
  });

  it('answers BAD_USER_INPUT for invalid, expired, revoked and already accepted tokens', async () => {
    const accepted = await invite(inviter, newEmail());
    await gateway.graphql(ACCEPT, { variables: { input: { token: accepted.token, firstName: 'A', lastName: 'B', password: 'Welcome-123' } } });
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
      const response = await gateway.graphql(ACCEPT, { variables: { input: { token, firstName: 'X', lastName: 'Y', password: 'Welcome-123' } } });
      expect(response.errors?.[0]?.extensions, String(message)).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { token: expect.stringMatching(message) } });
    }
    const listed = await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id status } }', {
      token: inviter.token,
      variables: { t: inviter.tenantId },
    });
    expect(listed.errors).toBeUndefined();
    const statuses = Object.fromEntries(listed.data!.invitations.map((i: { id: string; status: string }) => [i.id, i.status]));
    expect([statuses[accepted.invitation.id], statuses[revoked.invitation.id], statuses[expired.invitation.id]]).toEqual(['ACCEPTED', 'REVOKED', 'EXPIRED']);
  });

  it('accepting the same invitation twice at once yields one membership', async () => {
    const existing = await existingIn(inviter);
    const { token } = await invite(inviter, existing.email);

    const answers = await Promise.all([1, 2, 3].map(() => gateway.graphql(ACCEPT, { variables: { input: { token } } })));

    expect(answers.filter((answer) => !answer.errors)).toHaveLength(1);
    expect(await sql('select count(*)::int as n from memberships where tenant_id = $1 and user_id = $2', [inviter.tenantId, existing.id])).toEqual([{ n: 1 }]);
  });

  it('only an OWNER or ADMIN of the tenant (or ROLE_ADMIN) may invite, list or revoke', async () => {
    const [inviter, outsider] = await Promise.all([owner(), owner()]);
    const { invitation } = await invite(inviter, newEmail());

    const denied = [
      await gateway.graphql(CREATE, { token: outsider.token, variables: { input: { tenantId: inviter.tenantId, email: newEmail() } } }),
      await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id } }', { token: outsider.token, variables: { t: inviter.tenantId } }),
      await gateway.graphql('mutation($id: ID!) { revokeInvitation(id: $id) { message } }', { token: outsider.token, variables: { id: invitation.id } }),
      await gateway.graphql('query($t: ID!) { tenant(id: $t) { invitations { id } } }', { token: outsider.token, variables: { t: inviter.tenantId } }),
    ];
    for (const response of denied) expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    const asAdmin = await gateway.graphql('query($t: ID!) { invitations(tenantId: $t) { id } }', {
      token: await adminAccessToken(),
      variables: { t: inviter.tenantId },
    });
    expect(asAdmin.data!.invitations).toEqual([{ id: invitation.id }]);
  });
});
