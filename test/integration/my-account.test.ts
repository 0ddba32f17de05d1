import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { sql } from '../support/database.js';
import { createKeycloakUser, followEmailAction, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';
import { TENANCY_MODES, useTenancy } from '../support/tenancy.js';
import { decodeToken } from '../support/tokens.js';

const UPDATE =
  'mutation($input: UpdateProfileInput!) { updateMyProfile(input: $input) { message user { id email username firstName lastName } } }';
const DELETE = 'mutation { deleteMyAccount { message } }';

// Realm tenancy: the caller is a tenant's owner, an account of the tenant's own realm, and
// every change happens there.
describe.each(TENANCY_MODES)('my account (TENANCY_MODE=%s)', (mode) => {
  const tenancy = useTenancy(mode);

  it('updateMyProfile changes email (and so username) and names in Keycloak, then locally', async () => {
    const me = await tenancy.tenantOwner();
    const email = `renamed-${randomUUID().slice(0, 8)}@example.test`;

    const response = await tenancy.gateway.graphql(UPDATE, { token: me.token, variables: { input: { email, lastName: 'Newname' } } });

    expect(response.errors).toBeUndefined();
    expect(response.data!.updateMyProfile.user).toEqual({
      id: me.id,
      email,
      username: email,
      firstName: me.firstName,
      lastName: 'Newname',
    });
    const inKeycloak = (
      await keycloakAdmin<{ email: string; username: string; lastName: string }>('GET', `/users/${me.id}`, undefined, me.realm)
    ).body;
    expect(inKeycloak).toMatchObject({ email, username: email, lastName: 'Newname' });
    expect(await sql('select email, last_name, realm from users where id = $1', [me.id])).toEqual([
      { email, last_name: 'Newname', realm: me.realm ?? null },
    ]);
    await passwordGrant(email, me.password, me.realm);
  });

  it('H2/L2: a new email of one’s own is unverified (in a fresh token, in Keycloak, in the mirror) until Keycloak’s email to it is followed', async () => {
    // Realm tenancy: an account of a tenant's realm, whose email comes from there.
    const realm = mode === 'realm' ? (await tenancy.tenantOwner()).realm : undefined;
    const me = await tenancy.signedIn(realm);
    // Verified before: Keycloak proved the old address, not the new one.
    expect(decodeToken(me.token).payload.email_verified).toBe(true);
    const email = `moved-${randomUUID().slice(0, 8)}@example.test`;

    const response = await tenancy.gateway.graphql(
      'mutation($input: UpdateProfileInput!) { updateMyProfile(input: $input) { message user { email emailVerified } } }',
      { token: me.token, variables: { input: { email } } },
    );

    expect(response.errors).toBeUndefined();
    expect(response.data!.updateMyProfile.user).toEqual({ email, emailVerified: false });
    const fresh = await passwordGrant(email, me.password, realm);
    expect(decodeToken(fresh.access_token).payload).toMatchObject({ email, email_verified: false });
    expect((await keycloakAdmin<{ emailVerified: boolean }>('GET', `/users/${me.id}`, undefined, realm)).body.emailVerified).toBe(false);
    expect(await sql('select email_verified from users where id = $1', [me.id])).toEqual([{ email_verified: false }]);
    const mail = await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /update your account/i });
    expect(mail.text).toMatch(/Verify Email/);
    const link = extractLinks(mail).find((url) => url.includes('/login-actions/action-token'));
    expect(link).toContain(`/realms/${realm ?? inject('config').keycloak.realm}/`);
    // Names alone keep the flag and send nothing: only a new address needs proving.
    const named = await tenancy.gateway.graphql(UPDATE, { token: fresh.access_token, variables: { input: { lastName: 'Kept' } } });
    expect(named.errors).toBeUndefined();
    expect(await createMailbox(inject('mailboxUrl')).list(email)).toHaveLength(1);

    // The addressee follows Keycloak's link: now, and only now, the address is verified.
    await followEmailAction(link!);
    expect(decodeToken((await passwordGrant(email, me.password, realm)).access_token).payload).toMatchObject({
      email,
      email_verified: true,
    });
  });

  it('L2: a taken email answers CONFLICT "This email cannot be used" without naming it, known to the gateway or only to Keycloak, and changes nothing', async () => {
    const me = await tenancy.tenantOwner();
    // Known to the gateway; and known to Keycloak in the caller's realm only, so only Keycloak can refuse.
    const known = await tenancy.signedIn(me.realm);
    const onlyInKeycloak = await createKeycloakUser({ realm: me.realm });

    for (const taken of [known.email, onlyInKeycloak.email]) {
      const response = await tenancy.gateway.graphql(UPDATE, { token: me.token, variables: { input: { email: taken } } });

      expect(response.errors?.[0]).toMatchObject({ message: 'This email cannot be used', extensions: { code: 'CONFLICT' } });
      expect(JSON.stringify(response)).not.toContain(taken);
    }
    expect(await sql('select email, email_verified from users where id = $1', [me.id])).toEqual([
      { email: me.email, email_verified: false },
    ]);
    expect((await keycloakAdmin<{ email: string }>('GET', `/users/${me.id}`, undefined, me.realm)).body.email).toBe(me.email);
  });

  it('refuses an invalid email and a username other than the email with BAD_USER_INPUT', async () => {
    const me = await tenancy.signedIn();
    const response = await tenancy.gateway.graphql(UPDATE, {
      token: me.token,
      variables: { input: { email: 'nope', username: 'someone' } },
    });
    expect(response.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: { email: expect.any(String), username: expect.any(String) },
    });
  });

  it('deleteMyAccount deletes the user in Keycloak, then locally, with a tenant nobody else belongs to (and its realm)', async () => {
    const me = await tenancy.tenantOwner('Solo');

    const response = await tenancy.gateway.graphql(DELETE, { token: me.token });

    expect(response.errors).toBeUndefined();
    expect((await keycloakAdmin('GET', `/users/${me.id}`, undefined, me.realm)).status).toBe(404);
    expect(await sql('select 1 from users where id = $1', [me.id])).toEqual([]);
    expect(await sql('select 1 from tenants where id = $1', [me.tenant.id])).toEqual([]);
    expect(await sql('select action, status from audit_events where target_id = $1 and action = $2', [me.id, 'ACCOUNT_DELETE'])).toEqual([
      { action: 'ACCOUNT_DELETE', status: 'SUCCEEDED' },
    ]);
    if (mode === 'realm') {
      expect((await keycloakAdmin('GET', '', undefined, me.tenant.id)).status).toBe(404);
      // The realm is gone from the trusted ones too: its tokens, even unexpired, no longer sign anyone in.
      const after = await tenancy.gateway.graphql('{ me { user { id } } }', { token: me.token });
      expect(after.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses to delete the last owner of a tenant with other members, naming the tenant, and changes nothing', async () => {
    const name = `Shared ${randomUUID().slice(0, 6)}`;
    const owner = await tenancy.tenantOwner(name);
    const member = await tenancy.signedIn(owner.realm);
    const invitation = await tenancy.gateway.graphql(
      'mutation($t: ID!, $e: String!) { createInvitation(input: { tenantId: $t, email: $e }) { token } }',
      {
        token: owner.token,
        variables: { t: owner.tenant.id, e: member.email },
      },
    );
    const accepted = await tenancy.gateway.graphql('mutation($t: String!) { acceptInvitation(input: { token: $t }) { user { id } } }', {
      token: member.token,
      variables: { t: invitation.data!.createInvitation.token },
    });
    expect(accepted.data!.acceptInvitation.user.id).toBe(member.id);

    const response = await tenancy.gateway.graphql(DELETE, { token: owner.token });

    expect(response.errors?.[0]?.extensions.code).toBe('CONFLICT');
    expect(response.errors?.[0]?.message).toContain(name);
    expect((await keycloakAdmin('GET', `/users/${owner.id}`, undefined, owner.realm)).status).toBe(200);
    expect(await sql('select role from memberships where tenant_id = $1 and user_id = $2', [owner.tenant.id, owner.id])).toEqual([
      { role: 'OWNER' },
    ]);
  });
});
