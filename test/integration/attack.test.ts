import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { createUserThroughGateway, realmRoleIds } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { SIGN_IN_OR_GIVE_NAMES } from '../../src/modules/invitations/invitation.service.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';

// Holes an attacker-reviewer found in the trust work of issue 10, each kept shut by its test.
let gateway: TestGateway;
let adminToken: string;
let managerToken: string;
let roleIds: Record<string, string>;

beforeAll(async () => {
  gateway = await startTestGateway();
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = (await passwordGrant(admin.email, admin.password)).access_token;
  const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
  managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
  roleIds = await realmRoleIds();
});
afterAll(() => gateway?.close());

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;

describe('one spelling per id', () => {
  it('ATTACK: a user manager cannot delete, edit or reset an administrator by spelling their id in upper case', async () => {
    const victim = await createUserThroughGateway(gateway, adminToken, { roleIds: [roleIds.role_admin!] });
    const upper = victim.id.toUpperCase();
    const attempts = {
      setUserPassword: ['mutation($id: ID!) { setUserPassword(userId: $id, password: "Taken-over-1x") { message } }', { id: upper }],
      updateUser: [
        'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }',
        { id: upper, input: { email: victim.email, firstName: 'G', lastName: 'edited-by-um' } },
      ],
      sendPasswordSetupEmail: ['mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }', { id: upper }],
      deleteUser: ['mutation($id: ID!) { deleteUser(id: $id) { message } }', { id: upper }],
    } as const;
    for (const [operation, [query, variables]] of Object.entries(attempts)) {
      const response = await gateway.graphql(query, { token: managerToken, variables });
      // Refused at the edge, before any rule, limit or write: the id is not one the gateway hands out.
      expect(codeOf(response), operation).toBe('BAD_USER_INPUT');
    }
    expect(await sql('select id from users where id = $1', [victim.id]), 'the administrator is still mirrored').toHaveLength(1);
    expect(await sql('select id from deleted_users where id = $1', [victim.id]), 'nor recorded as deleted').toHaveLength(0);
    const me = await gateway.graphql('{ me { user { id } roles } }', {
      token: (await passwordGrant(victim.email, 'Str0ng-password')).access_token,
    });
    expect(me.errors).toBeUndefined();
    expect(me.data!.me.roles).toContain('role_admin');
  });
});

describe('acceptInvitation and the caller it acts for', () => {
  const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
  const INVITE = 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token } }';
  const ACCEPT = 'mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { role user { id email } } }';

  /** A tenant of a fresh owner, and a way to invite addresses to it. */
  async function tenantInviting() {
    const owner = await createKeycloakUser();
    const token = (await passwordGrant(owner.email, owner.password)).access_token;
    const created = await gateway.graphql(CREATE_TENANT, { token, variables: { name: `Attack ${owner.lastName}` } });
    const tenantId = created.data!.createTenant.tenant.id as string;
    return async (email: string, role = 'MEMBER') => {
      const response = await gateway.graphql(INVITE, { token, variables: { input: { tenantId, email, role } } });
      expect(response.errors).toBeUndefined();
      return response.data!.createInvitation.token as string;
    };
  }

  it("ATTACK: a deleted user's old token does not make acceptInvitation create an account for their address again", async () => {
    const invite = await tenantInviting();
    const gone = await createKeycloakUser();
    const goneToken = (await passwordGrant(gone.email, gone.password)).access_token;
    const me = await gateway.graphql('{ me { user { id } } }', { token: goneToken });
    const deleted = await gateway.graphql('mutation($id: ID!) { deleteUser(id: $id) { message } }', {
      token: adminToken,
      variables: { id: me.data!.me.user.id },
    });
    expect(deleted.errors).toBeUndefined();
    const invitation = await invite(gone.email);

    // Without names, the token would have lent its own: it speaks for nobody now, as on every other operation.
    const response = await gateway.graphql(ACCEPT, { token: goneToken, variables: { input: { token: invitation } } });
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(await sql('select id from users where email = $1', [gone.email])).toHaveLength(0);
  });

  it('ATTACK: an account Keycloak has and the mirror has not seen yet accepts its invitation signed in, and an anonymous acceptance for such an address answers as for any account', async () => {
    const invite = await tenantInviting();
    // Made in Keycloak's console, never seen by the gateway.
    const invitee = await createKeycloakUser();
    const inviteeToken = (await passwordGrant(invitee.email, invitee.password)).access_token;
    const joined = await gateway.graphql(ACCEPT, {
      token: inviteeToken,
      variables: { input: { token: await invite(invitee.email, 'ADMIN') } },
    });
    expect(joined.errors).toBeUndefined();
    expect(joined.data!.acceptInvitation).toMatchObject({ role: 'ADMIN', user: { id: invitee.id, email: invitee.email } });

    const unseen = await createKeycloakUser();
    const anonymous = await gateway.graphql(ACCEPT, {
      variables: { input: { token: await invite(unseen.email), firstName: 'Mallory', lastName: 'Probe', password: 'Attacker-chosen-1x' } },
    });
    expect(anonymous.errors?.[0]).toMatchObject({ message: SIGN_IN_OR_GIVE_NAMES, extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('what an error message carries', () => {
  it('ATTACK: a variable that fails coercion is named in the error, never echoed: a password sent with a stray field, a date or an enum value does not come back', async () => {
    const password = 'Echo-me-not-7q; at "input.x"';
    const attempts = [
      [
        'mutation($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }',
        { input: { username: 'nobody@example.test', password, extra: 1 } },
      ],
      [
        'mutation($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }',
        { input: { username: 'nobody@example.test', password: 12345678 } },
      ],
      ['mutation($r: String!) { refreshToken(refreshToken: $r) { tokens { accessToken } } }', { r: ['a-refresh-token-in-a-list'] }],
      ['query($f: AuditEventFilter) { auditEvents(filter: $f) { totalCount } }', { f: { since: 'Echo-me-not-as-a-date' } }],
      [
        'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { message } }',
        { input: { tenantId: randomUUID(), email: 'x@example.test', role: 'Echo-me-not-as-a-role' } },
      ],
    ] as const;
    for (const [query, variables] of attempts) {
      const response = await gateway.graphql(query, { variables });
      expect(response.status).toBe(400);
      expect(codeOf(response)).toBe('BAD_USER_INPUT');
      const text = JSON.stringify(response.errors);
      expect(text).toMatch(/Variable \\"\$(input|r|f)\\" got an invalid value/);
      for (const secret of ['Echo-me-not', '12345678', 'a-refresh-token-in-a-list']) expect(text).not.toContain(secret);
    }
  });
});

describe('Idempotency-Key and revoked access', () => {
  it("ATTACK: a disabled user's old token gets no stored answer replayed under its Idempotency-Key", async () => {
    const person = await createKeycloakUser();
    const token = (await passwordGrant(person.email, person.password)).access_token;
    const request = { token, variables: { name: `Replayed ${person.lastName}` }, headers: { 'idempotency-key': `attack-${person.email}` } };
    const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
    const first = await gateway.graphql(CREATE_TENANT, request);
    expect(first.errors, JSON.stringify(first.errors)).toBeUndefined();
    const [{ id }] = await sql<{ id: string }>('select id from users where email = $1', [person.email]);
    const disabled = await gateway.graphql(
      'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { enabled } } }',
      {
        token: adminToken,
        variables: { id, input: { email: person.email, firstName: person.firstName, lastName: person.lastName, enabled: false } },
      },
    );
    expect(disabled.data!.updateUser.user.enabled).toBe(false);

    const repeat = await gateway.graphql(CREATE_TENANT, request);
    expect(codeOf(repeat)).toBe('UNAUTHENTICATED');
    expect(repeat.data?.createTenant ?? null).toBeNull();
  });
});
