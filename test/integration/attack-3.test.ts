import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant, renewedToken } from '../support/keycloak.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { watch } from '../support/subscriptions.js';
import { useTenancy } from '../support/tenancy.js';
import { CREATE_ENDPOINT, WebhookAdmin } from '../support/webhooks.js';

// A third attacker-reviewer's probes of the identity-event features: webhooks, the events
// query, the identityEvents subscription and what the outbox keeps. Each test is named after
// what it tried; those that found a hole (ATTACK3-n) were seen failing before the fix, the
// others are the probes that held, kept as guards.
const ME = '{ me { id } }';
const EVENTS =
  'query($filter: EventFilter, $after: String) { events(first: 200, after: $after, filter: $filter) { edges { cursor node { id type tenantId subjectId before after } } } }';
const SUBSCRIBE = 'subscription($filter: EventFilter) { identityEvents(filter: $filter) { id type tenantId } }';
const CREATE_INVITATION = 'mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { token invitation { id } } }';

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;

let gateway: TestGateway;
let logs: CapturedLog;
let adminToken: () => Promise<string>;

beforeAll(async () => {
  logs = captureLog('info');
  gateway = await startTestGateway((config) => config, { log: logs.log });
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
  expect((await gateway.graphql(ME, { token: await adminToken() })).errors).toBeUndefined();
});
afterAll(() => gateway?.close());

/** A graphql-ws connection of `token`'s caller: how it closed, and what its one subscription (if any) received. */
function socketOf(target: TestGateway, token: string, subscription?: { variables: Record<string, unknown> }) {
  const state = watch(target, token, subscription?.variables, subscription ? SUBSCRIBE : null);
  return { state, dispose: () => state.client.dispose() };
}

describe('webhook addresses in production (no private addresses)', () => {
  let production: TestGateway;
  beforeAll(async () => {
    production = await startTestGateway((config) => ({ ...config, webhooks: { ...config.webhooks, allowPrivateAddresses: false } }));
  });
  afterAll(() => production?.close());

  it.each([
    // The URL parser writes [::127.0.0.1] as [::7f00:1]: an IPv4-compatible IPv6 address
    // (::/96, deprecated by RFC 4291), which IPv6-in-IPv4 tunnels and translators deliver to
    // the IPv4 address it carries. ipaddr.js calls it plain unicast.
    'http://[::127.0.0.1]/hook',
    'http://[::7f00:1]/hook',
    'http://[::169.254.169.254]/latest/meta-data',
    'http://[::10.0.0.1]/hook',
    // Nor is anything outside 2000::/3, the only IPv6 block allocated for global unicast.
    'http://[4000::1]/hook',
  ])('ATTACK3-1: refuses an endpoint at %s, an IPv6 address outside global unicast', async (url) => {
    const response = await production.graphql(CREATE_ENDPOINT, { token: await adminToken(), variables: { input: { url } } });
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions.fieldErrors?.url).toMatch(
      /^must be a public address: the host resolves to a non-public address/,
    );
    expect(await sql('select id from webhook_endpoints where url = $1', [new URL(url).href])).toEqual([]);
  });

  it('guard: a public IPv6 address is still accepted', async () => {
    const response = await production.graphql(CREATE_ENDPOINT, {
      token: await adminToken(),
      variables: { input: { url: 'https://[2606:4700:4700::1111]/hook', eventTypes: ['NO_SUCH_EVENT'] } },
    });
    expect(response.errors).toBeUndefined();
    const id = response.data!.createWebhookEndpoint.endpoint.id as string;
    await production.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { message } }', {
      token: await adminToken(),
      variables: { id },
    });
  });
});

describe('bad input to the identity-event features', () => {
  it('guard: malformed ids, cursors, page sizes and URLs answer a typed error, never INTERNAL_SERVER_ERROR', async () => {
    const token = await adminToken();
    const cursor = (parts: unknown) => Buffer.from(JSON.stringify(parts)).toString('base64url');
    const calls: [string, Record<string, unknown>, string][] = [
      [EVENTS, { after: 'garbage' }, 'BAD_USER_INPUT'],
      [EVENTS, { after: cursor(['IdentityEvent', 1e300]) }, 'BAD_USER_INPUT'],
      [EVENTS, { after: cursor(['IdentityEvent', -1]) }, 'BAD_USER_INPUT'],
      [EVENTS, { after: cursor(['AuditEvent', 1]) }, 'BAD_USER_INPUT'],
      [EVENTS, { filter: { tenantId: 'not-a-uuid' } }, 'BAD_USER_INPUT'],
      ['{ events(first: 0) { edges { cursor } } }', {}, 'BAD_USER_INPUT'],
      ['{ events(first: 201) { edges { cursor } } }', {}, 'BAD_USER_INPUT'],
      ['{ webhookEndpoints { deliveries(first: -1) { edges { cursor } } } }', {}, 'BAD_USER_INPUT'],
      ['{ webhookEndpoints { deliveries(after: "garbage") { edges { cursor } } } }', {}, 'BAD_USER_INPUT'],
      [CREATE_ENDPOINT, { input: { url: 'https://example.com:99999/hook' } }, 'BAD_USER_INPUT'],
      [CREATE_ENDPOINT, { input: { url: 'http://[fe80::1%25eth0]/hook' } }, 'BAD_USER_INPUT'],
      [CREATE_ENDPOINT, { input: { url: `https://example.com/${'x'.repeat(3000)}` } }, 'BAD_USER_INPUT'],
      [CREATE_ENDPOINT, { input: { url: 'https://example.com/\u0000' } }, 'BAD_USER_INPUT'],
      ['mutation { updateWebhookEndpoint(id: "x", input: { enabled: false }) { message } }', {}, 'BAD_USER_INPUT'],
      ['mutation { redeliverWebhook(deliveryId: "../x") { message } }', {}, 'BAD_USER_INPUT'],
      ['mutation { rotateWebhookSecret(id: "00000000-0000-0000-0000-000000000000") { message } }', {}, 'NOT_FOUND'],
    ];
    // An endpoint, so that its deliveries' arguments are read.
    const created = await gateway.graphql(CREATE_ENDPOINT, {
      token,
      variables: { input: { url: 'https://example.com/hook', eventTypes: ['NO_SUCH_EVENT'] } },
    });
    expect(created.errors).toBeUndefined();
    try {
      const answers = [];
      for (const [query, variables] of calls) answers.push(codeOf(await gateway.graphql(query, { token, variables })));
      expect(answers.map((code, i) => `${i} ${code}`)).toEqual(calls.map(([, , code], i) => `${i} ${code}`));
    } finally {
      await gateway.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { message } }', {
        token,
        variables: { id: created.data!.createWebhookEndpoint.endpoint.id },
      });
    }
  });
});

describe('webhook deliveries', () => {
  let hooks: WebhookAdmin;
  const servers: Server[] = [];
  beforeAll(() => {
    hooks = new WebhookAdmin(gateway, adminToken);
  });
  afterEach(async () => {
    await hooks.cleanUp();
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  /** A bare HTTP server on loopback answering every request with `answer`; what it received. */
  async function server(answer: (response: import('node:http').ServerResponse) => void) {
    const received: { headers: Record<string, unknown>; body: string }[] = [];
    const listening = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        answer(response);
      });
    });
    servers.push(listening);
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}/hook`, received };
  }

  it('guard: a redirect is not followed, and neither a huge answer nor its headers reach the delivery log', async () => {
    const elsewhere = await server((response) => response.writeHead(204).end());
    const redirecting = await server((response) =>
      response.writeHead(307, { location: elsewhere.url, 'x-injected': 'x'.repeat(4000) }).end('<html>'.repeat(200_000)),
    );
    const created = await hooks.graphql(CREATE_ENDPOINT, { input: { url: redirecting.url, eventTypes: ['USER_CREATED'] } });
    expect(created.errors).toBeUndefined();
    const endpointId = created.data!.createWebhookEndpoint.endpoint.id as string;
    await hooks.createUser();
    await hooks.deliverUntil(() => redirecting.received.length > 0);
    expect(elsewhere.received).toEqual([]);
    const [delivery] = await sql<{ status: string; response_status: number; last_error: string }>(
      'select status, response_status, last_error from webhook_deliveries where endpoint_id = $1 and attempts > 0',
      [endpointId],
    );
    expect(delivery).toEqual({ status: 'PENDING', response_status: 307, last_error: 'answered HTTP 307' });
    // What a delivery sends: the Standard Webhooks headers, and no credential of the gateway's.
    const headers = Object.keys(redirecting.received[0]!.headers).sort();
    expect(headers).toEqual(
      ['connection', 'content-length', 'content-type', 'host', 'user-agent', 'webhook-id', 'webhook-signature', 'webhook-timestamp'].sort(),
    );
    await hooks.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { message } }', { id: endpointId });
  });
});

describe('identityEvents connections', () => {
  it('ATTACK3-2: one account cannot hold more sockets open than SUBSCRIPTION_CONNECTIONS_PER_ACCOUNT', async () => {
    // A plain user, who may subscribe to nothing, opening sockets in a loop: each one admitted
    // is held by the process (and re-admitted on every change of the account) until it closes.
    const plain = await createKeycloakUser();
    const token = (await passwordGrant(plain.email, plain.password)).access_token;
    expect(codeOf(await gateway.graphql(ME, { token }))).toBeUndefined();
    const sockets = Array.from({ length: gateway.app.config.http.subscriptionConnectionsPerAccount }, () => socketOf(gateway, token));
    try {
      await vi.waitFor(() => expect(sockets.every((socket) => socket.state.acknowledged)).toBe(true), { timeout: 20_000, interval: 20 });
      const extra = socketOf(gateway, token);
      sockets.push(extra);
      await vi.waitFor(() => expect(extra.state.closed).not.toBeNull(), { timeout: 10_000, interval: 20 });
      expect(extra.state.acknowledged).toBe(false);
      expect(extra.state.closed).toEqual(expect.objectContaining({ code: 1013 }));
      // The connections already open are left alone, and another account is not counted against this one.
      expect(sockets.slice(0, -1).every((socket) => socket.state.closed === null)).toBe(true);
      const other = await createKeycloakUser();
      const another = socketOf(gateway, (await passwordGrant(other.email, other.password)).access_token);
      sockets.push(another);
      await vi.waitFor(() => expect(another.state.acknowledged).toBe(true), { timeout: 10_000, interval: 20 });
    } finally {
      await Promise.all(sockets.map((socket) => socket.dispose()));
    }
  });
});

describe('identityEvents connection_init and messages', () => {
  /** A raw graphql-ws socket: sends `messages` once open, and answers how it closed and what came back. */
  async function rawSocket(messages: (string | Buffer)[]) {
    const socket = new WebSocket(gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const received: string[] = [];
    socket.on('message', (data) => received.push(String(data)));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    for (const message of messages) socket.send(message);
    const code = await new Promise<number>((resolve) => socket.once('close', (closed) => resolve(closed)));
    return { code, received };
  }

  it('guard: a connection_init without a usable token, malformed or oversized, and a subscribe before it, are closed with nothing answered', async () => {
    const plain = await createKeycloakUser();
    const token = (await passwordGrant(plain.email, plain.password)).access_token;
    const init = (payload: unknown) => JSON.stringify({ type: 'connection_init', payload });
    const subscribe = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIBE } });
    const cases: [string, (string | Buffer)[], number][] = [
      ['no payload', [init(undefined)], 4401],
      ['a number for the token', [init({ authorization: 42 })], 4401],
      ['an array for the tenant', [init({ authorization: `Bearer ${token}`, 'x-tenant-id': ['a'] })], 4401],
      ['a forged token', [init({ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' })], 4401],
      ['not JSON', ['{"type":"connection_init",'], 4400],
      ['a payload over 64 KiB', [init({ authorization: `Bearer ${'x'.repeat(70_000)}` })], 1009],
      ['subscribe before connection_init', [subscribe], 4401],
    ];
    for (const [name, messages, code] of cases) {
      const closed = await rawSocket(messages);
      expect({ name, code: closed.code, received: closed.received }).toEqual({ name, code, received: [] });
    }
  });
});

describe('identityEvents socket errors', () => {
  it("ATTACK3-4: an anonymous client's oversized frame writes no stack trace to the process's standard error, but one line to the gateway's log", async () => {
    // graphql-ws (use/ws) answers any error of a socket with console.error and its stack: any
    // client, before signing in, wrote as many unstructured lines as it opened sockets, beside
    // (and unlike) the JSON lines operators collect and filter.
    const written = vi.spyOn(console, 'error');
    try {
      const socket = new WebSocket(gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send(Buffer.alloc(70_000, 'x'));
      expect(await new Promise<number>((resolve) => socket.once('close', resolve))).toBe(1009);
      await vi.waitFor(() => expect(logs.lines.some((line) => line.msg === 'a subscription connection failed')).toBe(true), {
        timeout: 10_000,
        interval: 20,
      });
      expect(written).not.toHaveBeenCalled();
    } finally {
      written.mockRestore();
    }
  });
});

describe('what the outbox keeps', () => {
  const GROUP_SIZE = 300;

  it("ATTACK3-3: one user joining or leaving a big group writes an event of the change, not two copies of the group's member list", async () => {
    // Each GROUP_MEMBERS_CHANGED held the whole list before and after: with N members, adding
    // N more one at a time wrote O(N²) bytes to identity_events, and POSTed each copy to every
    // webhook endpoint and subscriber. A group mirrored from Keycloak with GROUP_SIZE members:
    const hooks = new WebhookAdmin(gateway, adminToken);
    const created = await hooks.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      input: { groupName: `big-${Date.now()}` },
    });
    expect(created.errors).toBeUndefined();
    const groupId = created.data!.createGroup.group.id as string;
    const members = await sql<{ id: string }>(
      `with made as (
         insert into users (id, username, email, first_name, last_name, attributes, created_at, updated_at)
         select id, 'big-' || id, 'big-' || id || '@example.test', 'Big', 'Group', '{}', now(), now()
         from (select gen_random_uuid() as id from generate_series(1, $2::int)) ids returning id)
       insert into user_groups (user_id, group_id) select id, $1 from made returning user_id as id`,
      [groupId, GROUP_SIZE],
    );
    try {
      const userId = await hooks.createUser();
      const GROUP_USERS = 'mutation($id: ID!, $input: UpdateGroupUsersInput!) { updateGroupUsers(id: $id, input: $input) { message } }';
      for (const input of [{ userIdsToAdd: [userId] }, { userIdsToRemove: [userId] }]) {
        const changed = await hooks.graphql(GROUP_USERS, { id: groupId, input });
        expect(changed.errors).toBeUndefined();
      }
      const events = await hooks.graphql<{ events: { edges: { node: { before: unknown; after: unknown } }[] } }>(EVENTS, {
        filter: { subjectId: groupId, types: ['GROUP_MEMBERS_CHANGED'] },
      });
      expect(events.errors).toBeUndefined();
      const [joined, left] = events.data!.events.edges.slice(-2).map(({ node: { before, after } }) => ({ before, after }));
      // What changed, and the group's size: nothing that grows with the group.
      expect(joined).toEqual({
        before: { memberCount: GROUP_SIZE },
        after: { memberCount: GROUP_SIZE + 1, addedMemberIds: [userId], removedMemberIds: [] },
      });
      expect(left).toEqual({
        before: { memberCount: GROUP_SIZE + 1 },
        after: { memberCount: GROUP_SIZE, addedMemberIds: [], removedMemberIds: [userId] },
      });
      const [{ largest }] = (await sql<{ largest: number }>(
        `select max(octet_length(before::text) + octet_length(after::text)) as largest from identity_events
         where subject_id = $1 and type = 'GROUP_MEMBERS_CHANGED' and position > (select min(position) from identity_events where subject_id = $2)`,
        [groupId, userId],
      )) as [{ largest: number }];
      expect(largest).toBeLessThan(1000);
    } finally {
      await sql('delete from users where id = any($1)', [members.map((member) => member.id)]);
      await hooks.graphql('mutation($id: ID!) { deleteGroup(id: $id) { message } }', { id: groupId });
    }
  });
});

describe("a tenant's events", () => {
  const tenancy = useTenancy('shared');

  it("guard: a tenant's OWNER reads no other tenant's events, by filter, forged cursor, node(id:) or subscription; a MEMBER reads none", async () => {
    const owner = await tenancy.tenantOwner();
    const other = await tenancy.tenantOwner();
    const { gateway: tenantGateway } = tenancy;
    const ask = (token: string, variables: Record<string, unknown>) => tenantGateway.graphql(EVENTS, { token, variables });

    expect(codeOf(await ask(owner.token, {}))).toBe('FORBIDDEN');
    expect(codeOf(await ask(owner.token, { filter: { tenantId: other.tenant.id } }))).toBe('FORBIDDEN');
    expect(codeOf(await ask(owner.token, { filter: { subjectId: other.id } }))).toBe('FORBIDDEN');
    // A cursor from the administrator's unfiltered reading, or a forged one at 0: still the owner's tenant only.
    const all = await ask(await adminToken(), {});
    expect(all.errors).toBeUndefined();
    const forged = Buffer.from(JSON.stringify(['IdentityEvent', 0])).toString('base64url');
    for (const after of [forged, all.data!.events.edges[0]?.cursor ?? forged]) {
      const page = await ask(owner.token, { filter: { tenantId: owner.tenant.id }, after });
      expect(page.errors).toBeUndefined();
      const tenants = new Set(page.data!.events.edges.map((edge: { node: { tenantId: string } }) => edge.node.tenantId));
      expect([...tenants]).toEqual([owner.tenant.id]);
    }
    // The other tenant's events by id read as missing.
    const theirs = await ask(other.token, { filter: { tenantId: other.tenant.id } });
    const theirId = theirs.data!.events.edges[0].node.id as string;
    const node = await tenantGateway.graphql('query($id: ID!) { node(id: $id) { id } }', {
      token: owner.token,
      variables: { id: theirId },
    });
    expect(node.data?.node).toBeNull();
    // A MEMBER of the tenant reads none of its events.
    const member = await tenancy.signedIn();
    const invitation = await tenantGateway.graphql(CREATE_INVITATION, {
      token: owner.token,
      variables: { input: { tenantId: owner.tenant.id, email: member.email, role: 'MEMBER' } },
    });
    expect(invitation.errors).toBeUndefined();
    const accepted = await tenantGateway.graphql('mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { role } }', {
      token: member.token,
      variables: { input: { token: invitation.data!.createInvitation.token } },
    });
    expect(accepted.errors).toBeUndefined();
    expect(codeOf(await ask(member.token, { filter: { tenantId: owner.tenant.id } }))).toBe('FORBIDDEN');
    // Over the socket: another tenant's id is refused before anything streams.
    const watch = socketOf(tenantGateway, owner.token, { variables: { filter: { tenantId: other.tenant.id } } });
    try {
      await vi.waitFor(() => expect(watch.state.completed).toBe(true), { timeout: 10_000, interval: 20 });
      expect(watch.state.errors.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
      expect(watch.state.events).toEqual([]);
    } finally {
      await watch.dispose();
    }
  });

  it('guard: a tenant ADMIN who loses the tenant while subscribed is sent none of its later events, and the socket closes (4403)', async () => {
    const owner = await tenancy.tenantOwner();
    const { gateway: tenantGateway } = tenancy;
    const admin = await tenancy.signedIn();
    const invited = await tenantGateway.graphql(CREATE_INVITATION, {
      token: owner.token,
      variables: { input: { tenantId: owner.tenant.id, email: admin.email, role: 'ADMIN' } },
    });
    expect(invited.errors).toBeUndefined();
    const accepted = await tenantGateway.graphql('mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { role } }', {
      token: admin.token,
      variables: { input: { token: invited.data!.createInvitation.token } },
    });
    expect(accepted.errors).toBeUndefined();
    const before = tenantGateway.app.liveEvents.subscribers;
    const watch = socketOf(tenantGateway, admin.token, {
      variables: { filter: { tenantId: owner.tenant.id, types: ['INVITATION_CREATED'] } },
    });
    try {
      await vi.waitFor(() => expect(tenantGateway.app.liveEvents.subscribers).toBeGreaterThan(before), { timeout: 10_000, interval: 20 });
      // While an ADMIN, an invitation of the tenant reaches them.
      const first = await tenantGateway.graphql(CREATE_INVITATION, {
        token: owner.token,
        variables: { input: { tenantId: owner.tenant.id, email: `first-${admin.id.slice(0, 8)}@example.test`, role: 'MEMBER' } },
      });
      expect(first.errors).toBeUndefined();
      await vi.waitFor(() => expect(watch.state.events).toHaveLength(1), { timeout: 10_000, interval: 20 });
      // The membership goes (no mutation removes one yet: as an operator would, in the mirror).
      await sql('delete from memberships where tenant_id = $1 and user_id = $2', [owner.tenant.id, admin.id]);
      const second = await tenantGateway.graphql(CREATE_INVITATION, {
        token: owner.token,
        variables: { input: { tenantId: owner.tenant.id, email: `second-${admin.id.slice(0, 8)}@example.test`, role: 'MEMBER' } },
      });
      expect(second.errors).toBeUndefined();
      await vi.waitFor(() => expect(watch.state.closed?.code).toBe(4403), { timeout: 10_000, interval: 20 });
      expect(watch.state.events).toHaveLength(1);
      expect(watch.state.errors.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    } finally {
      await watch.dispose();
    }
  });

  it('guard: no identity event holds an invitation secret, nor its hash', async () => {
    const owner = await tenancy.tenantOwner();
    const created = await tenancy.gateway.graphql(CREATE_INVITATION, {
      token: owner.token,
      variables: { input: { tenantId: owner.tenant.id, email: `invitee-${owner.id.slice(0, 8)}@example.test`, role: 'ADMIN' } },
    });
    expect(created.errors).toBeUndefined();
    const { token, invitation } = created.data!.createInvitation as { token: string; invitation: { id: string } };
    const [stored] = await sql<{ token_hash: string }>('select token_hash from invitations where id = $1', [invitation.id]);
    const secrets = [token, stored!.token_hash, createHash('sha256').update(token).digest('hex')];
    const rows = await sql<{ type: string; row: string }>(
      "select type, concat(t.before::text, ' ', t.after::text) as row from identity_events t where subject_id = $1",
      [invitation.id],
    );
    expect(rows.map((row) => row.type)).toContain('INVITATION_CREATED');
    for (const { row } of rows) for (const secret of secrets) expect(row).not.toContain(secret);
  });
});
