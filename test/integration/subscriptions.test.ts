import { randomUUID } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { subscribed, type Watch, watch as watchEvents } from '../support/subscriptions.js';

// identityEvents over graphql-ws, end to end: a real gateway (two of them, sharing PostgreSQL
// as two replicas would), real tokens from Keycloak, real writes through the gateway.

const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`;
const UPDATE_USER = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';
const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
const INVITE = `mutation($tenantId: ID!, $email: String!) {
  createInvitation(input: { tenantId: $tenantId, email: $email, role: MEMBER }) { invitation { id } }
}`;

let gateway: TestGateway;
/** A second replica: a subscriber here sees what the first one writes. */
let replica: TestGateway;
let admin: { id: string; token: string };
const clients: Client[] = [];

beforeAll(async () => {
  [gateway, replica] = await Promise.all([startTestGateway(), startTestGateway()]);
  const user = await createKeycloakUser({ realmRoles: ['role_admin'] });
  const tokens = await passwordGrant(user.email, user.password);
  admin = { id: user.id, token: tokens.access_token };
  // The administrator's mirror record exists before any test counts events.
  expect((await gateway.graphql('{ me { id } }', { token: admin.token })).errors).toBeUndefined();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.dispose()));
});
afterAll(async () => {
  await Promise.all([gateway?.close(), replica?.close()]);
});

function watch(target: TestGateway, token: string | null, variables: Record<string, unknown> = {}, query?: string): Watch {
  const subscription = watchEvents(target, token, variables, query);
  clients.push(subscription.client);
  return subscription;
}

/** The errors of a start the gateway refused: answered once and completed, the connection left open. */
async function refusedStart(subscription: Watch) {
  const errors = await subscription.until(() => subscription.completed && subscription.errors, 'the refusal');
  expect(subscription.events).toEqual([]);
  expect(subscription.closed).toBeNull();
  return errors;
}

async function asAdmin<T = Record<string, any>>(query: string, variables: Record<string, unknown>, target = gateway): Promise<T> {
  const response = await target.graphql<T>(query, { token: admin.token, variables });
  expect(response.errors, query).toBeUndefined();
  return response.data!;
}

const newUser = () => ({ email: `sub-${randomUUID()}@example.com`, firstName: 'Sub', lastName: 'Scriber', password: `Pw-${randomUUID()}` });

describe('identityEvents', () => {
  it('streams a change made through another replica to an administrator, after commit, with its origin and actor', async () => {
    const subscriber = await subscribed(replica, () =>
      watch(replica, admin.token, { filter: { types: ['USER_CREATED', 'USER_UPDATED'] } }),
    );
    const input = newUser();
    const { createUser } = await asAdmin(CREATE_USER, { input });
    const userId: string = createUser.user.id;
    await asAdmin(UPDATE_USER, { id: userId, input: { firstName: 'Renamed' } });

    const mine = await subscriber.until(() => {
      const events = subscriber.events.filter((event) => event.subjectId === userId);
      return events.length >= 2 && events;
    }, 'the created and updated events');
    expect(mine.map((event) => event.type)).toEqual(['USER_CREATED', 'USER_UPDATED']);
    expect(mine.every((event) => event.origin === 'GATEWAY' && event.actorId === admin.id)).toBe(true);
    expect(mine[0]!.after).toMatchObject({ email: input.email });
    expect(mine[1]!.after).toMatchObject({ firstName: 'Renamed' });
    expect(subscriber.errors).toEqual([]);
  });

  it('leaves nothing behind when the client goes: its subscriber leaves the stream', async () => {
    const before = gateway.app.liveEvents.subscribers;
    const subscriber = await subscribed(gateway, () => watch(gateway, admin.token));
    await subscriber.client.dispose();
    await vi.waitFor(() => expect(gateway.app.liveEvents.subscribers).toBe(before), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(gateway.app.subscriptions.connections).toBe(0), { timeout: 10_000, interval: 20 });
  });

  it('refuses a connection without a token, or with one that does not verify (4401)', async () => {
    for (const token of [null, 'not-a-token']) {
      const refused = watch(gateway, token);
      const closed = await refused.until(() => refused.closed, 'the close');
      expect(closed.code).toBe(4401);
    }
  });

  it('refuses a signed-in user who is neither ROLE_ADMIN nor a tenant admin, and streams nothing to them', async () => {
    const person = await createKeycloakUser();
    const { access_token } = await passwordGrant(person.email, person.password);
    const refused = watch(gateway, access_token);
    // Refused when it subscribes, before any event: not event by event (which would close the connection).
    const [error] = await refusedStart(refused);
    expect(error!.extensions?.code).toBe('FORBIDDEN');
  });

  it("streams a tenant's own events to its OWNER, and refuses them another tenant's", async () => {
    const owner = await createKeycloakUser();
    const { access_token: ownerToken } = await passwordGrant(owner.email, owner.password);
    const created = await gateway.graphql<{ createTenant: { tenant: { id: string } } }>(CREATE_TENANT, {
      token: ownerToken,
      variables: { name: `Sub ${randomUUID()}` },
    });
    const tenantId = created.data!.createTenant.tenant.id;
    const other = (await asAdmin<{ createTenant: { tenant: { id: string } } }>(CREATE_TENANT, { name: `Other ${randomUUID()}` }))
      .createTenant.tenant.id;

    const refused = watch(gateway, ownerToken, { filter: { tenantId: other } });
    const withoutTenant = watch(gateway, ownerToken, {});
    for (const subscription of [refused, withoutTenant]) {
      const [error] = await refusedStart(subscription);
      expect(error!.extensions?.code).toBe('FORBIDDEN');
    }

    const own = await subscribed(gateway, () => watch(gateway, ownerToken, { filter: { tenantId } }));
    await asAdmin(INVITE, { tenantId: other, email: `x-${randomUUID()}@example.com` });
    const invitee = `y-${randomUUID()}@example.com`;
    await gateway.graphql(INVITE, { token: ownerToken, variables: { tenantId, email: invitee } });
    const invited = await own.until(() => own.events.find((event) => event.type === 'INVITATION_CREATED'), 'the invitation');
    expect(invited.tenantId).toBe(tenantId);
    expect(own.events.every((event) => event.tenantId === tenantId)).toBe(true);
    expect(JSON.stringify(invited.after)).not.toMatch(/token/i);
  });

  it('closes the connection (4403) as soon as the subscriber is disabled', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const { access_token } = await passwordGrant(user.email, user.password);
    const subscriber = await subscribed(gateway, () => watch(gateway, access_token));
    await asAdmin(UPDATE_USER, { id: user.id, input: { enabled: false } });
    const closed = await subscriber.until(() => subscriber.closed, 'the close');
    expect(closed.code).toBe(4403);
  });

  it('asks the rule again for each event: an administrator who loses ROLE_ADMIN is refused the next one, and the connection ends', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const { access_token } = await passwordGrant(user.email, user.password);
    const subscriber = await subscribed(gateway, () => watch(gateway, access_token, { filter: { types: ['USER_CREATED'] } }));
    const before = await asAdmin(CREATE_USER, { input: newUser() });
    await subscriber.until(() => subscriber.events.some((event) => event.subjectId === before.createUser.user.id), 'the first event');

    const roleAdmin = (await asAdmin<{ roles: { id: string; name: string }[] }>('{ roles { id name } }', {})).roles.find(
      (role) => role.name === 'role_admin',
    )!;
    await asAdmin(UPDATE_USER, { id: user.id, input: { roleIdsToRemove: [roleAdmin.id] } });
    const after = await asAdmin(CREATE_USER, { input: newUser() });
    const closed = await subscriber.until(() => subscriber.closed, 'the close');
    expect(closed.code).toBe(4403);
    expect(subscriber.errors.map((error) => error.extensions?.code)).toContain('FORBIDDEN');
    expect(subscriber.events.some((event) => event.subjectId === after.createUser.user.id)).toBe(false);
  });

  it('closes the connection when the token expires', async () => {
    const user = await createKeycloakUser({ realmRoles: ['role_admin'] });
    const { access_token } = await passwordGrant(user.email, user.password);
    const { exp } = JSON.parse(Buffer.from(access_token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    // A gateway whose clock reads a second before the token's expiry.
    const late = await startTestGateway(undefined, { now: () => exp * 1000 - 1000 });
    try {
      const subscriber = watch(late, access_token);
      const closed = await subscriber.until(() => subscriber.closed, 'the close');
      expect(closed).toEqual({ code: 4403, reason: 'Token expired' });
    } finally {
      await late.close();
    }
  });

  it('serves only subscriptions: a query or a mutation over the socket is refused', async () => {
    const query = watch(gateway, admin.token, {}, '{ me { id } }');
    const [error] = await refusedStart(query);
    expect(error!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error!.message).toMatch(/over HTTP/);
  });
});
