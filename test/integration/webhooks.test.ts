import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant, renewedToken } from '../support/keycloak.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../support/webhook-receiver.js';

const CREATE_ENDPOINT = /* GraphQL */ `
  mutation Create($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { message secret endpoint { id url description eventTypes enabled createdAt } }
  }
`;
const UPDATE_ENDPOINT = /* GraphQL */ `
  mutation Update($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { secret endpoint { id url eventTypes enabled } }
  }
`;
const ROTATE = 'mutation Rotate($id: ID!) { rotateWebhookSecret(id: $id) { message secret endpoint { id } } }';
const DELETE_ENDPOINT = 'mutation Delete($id: ID!) { deleteWebhookEndpoint(id: $id) { message } }';
const REDELIVER = 'mutation Redeliver($id: ID!) { redeliverWebhook(deliveryId: $id) { message delivery { id status attempts } } }';
const ENDPOINTS = /* GraphQL */ `
  query Endpoints($first: Int, $after: String) {
    webhookEndpoints {
      id url enabled eventTypes
      deliveries(first: $first, after: $after) {
        edges { cursor node { id status attempts lastAttemptAt nextAttemptAt responseStatus } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;
const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const UPDATE_USER = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';
const DELETE_USER = 'mutation($id: ID!) { deleteUser(id: $id) { message } }';

interface Delivery {
  id: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  responseStatus: number | null;
}

/** The delivery clock of the test gateway: real time plus what the test moved it by. */
let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);
const advance = (ms: number) => {
  offsetMs += ms;
};
const HOUR = 3600_000;

let gateway: TestGateway;
let logs: CapturedLog;
let adminToken: () => Promise<string>;
const receivers: WebhookReceiver[] = [];
const endpoints: string[] = [];

beforeAll(async () => {
  logs = captureLog('debug');
  gateway = await startTestGateway((config) => ({ ...config, webhooks: { ...config.webhooks, timeoutSeconds: 2 } }), {
    log: logs.log,
    webhookClock: clock,
  });
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
});

afterEach(async () => {
  // An endpoint left behind would keep receiving (and failing) in the tests after it.
  for (const id of endpoints.splice(0)) await gateway.graphql(DELETE_ENDPOINT, { token: await adminToken(), variables: { id } });
  for (const receiver of receivers.splice(0)) await receiver.close();
});

afterAll(() => gateway?.close());

async function admin<T = Record<string, any>>(query: string, variables?: Record<string, unknown>) {
  const response = await gateway.graphql<T>(query, { token: await adminToken(), variables });
  return response;
}

/** A receiver, and an endpoint of its URL whose secret it verifies with. */
async function receiverWithEndpoint(input: Record<string, unknown> = {}) {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const created = await admin(CREATE_ENDPOINT, { input: { url: receiver.url, description: 'test receiver', ...input } });
  expect(created.errors).toBeUndefined();
  const { endpoint, secret } = created.data!.createWebhookEndpoint;
  endpoints.push(endpoint.id);
  receiver.secrets = [secret];
  return { receiver, endpointId: endpoint.id as string, secret: secret as string };
}

async function createUser(): Promise<string> {
  const response = await admin(CREATE_USER, {
    input: { email: `${unique('hooked-')}@example.test`, firstName: 'Hook', lastName: 'Ed', password: 'Str0ng-password' },
  });
  expect(response.errors).toBeUndefined();
  return response.data!.createUser.user.id;
}

/** Runs the delivery worker (as its wake-ups would) until `done` holds. */
async function deliverUntil(done: () => boolean, timeout = 20_000): Promise<void> {
  await expect
    .poll(
      async () => {
        await gateway.app.webhooks.runOnce();
        return done();
      },
      { timeout, interval: 50 },
    )
    .toBe(true);
}

/** What a receiver accepted of one subject's events, as (type) in arrival order. */
const typesFor = (received: ReceivedWebhook[], subjectId: string) =>
  received.filter((entry) => entry.body.data.subjectId === subjectId).map((entry) => entry.body.type);

async function deliveriesOf(endpointId: string, first = 50): Promise<Delivery[]> {
  const response = await admin(ENDPOINTS, { first });
  const endpoint = response.data!.webhookEndpoints.find((candidate: { id: string }) => candidate.id === endpointId);
  return endpoint.deliveries.edges.map((edge: { node: Delivery }) => edge.node);
}

/** The outbox positions of events, by id: their commit order. */
async function positions(eventIds: string[]): Promise<number[]> {
  const rows = await sql<{ id: string; position: string }>('select id, position::text from identity_events where id = any($1)', [eventIds]);
  const byId = new Map(rows.map((row) => [row.id, Number(row.position)]));
  return eventIds.map((id) => byId.get(id)!);
}

const isAscending = (values: number[]) => values.every((value, index) => index === 0 || values[index - 1]! < value);

describe('webhooks', () => {
  it('deliver a user created, updated and deleted through the gateway, signed, in commit order', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint();
    // Woken by the outbox's NOTIFY, as in production: no run is asked for.
    gateway.app.webhooks.start();
    try {
      const userId = await createUser();
      expect((await admin(UPDATE_USER, { id: userId, input: { firstName: 'Renamed' } })).errors).toBeUndefined();
      expect((await admin(DELETE_USER, { id: userId })).errors).toBeUndefined();

      await expect
        .poll(
          () => typesFor(receiver.accepted(), userId).filter((type) => ['USER_CREATED', 'USER_UPDATED', 'USER_DELETED'].includes(type)),
          {
            timeout: 20_000,
            interval: 50,
          },
        )
        .toEqual(['USER_CREATED', 'USER_UPDATED', 'USER_DELETED']);
    } finally {
      await gateway.app.webhooks.stop();
    }
    expect(receiver.unverified).toBe(0);
    const accepted = receiver.accepted();
    const created = accepted.find((entry) => entry.body.type === 'USER_CREATED' && entry.body.data.subjectId)!;
    expect(created.body.data).toMatchObject({ origin: 'GATEWAY', subjectType: 'User', before: null });
    expect(created.body.data.after).toMatchObject({ firstName: 'Hook' });
    // Every event reached the receiver once per webhook-id, in commit order.
    expect(isAscending(await positions(accepted.map((entry) => entry.body.data.id)))).toBe(true);
    // The log of deliveries agrees: newest first, each SUCCEEDED with the receiver's status.
    const deliveries = await deliveriesOf(endpointId);
    expect(deliveries.map((delivery) => delivery.id).toReversed()).toEqual(accepted.map((entry) => entry.id));
    expect(deliveries.every((d) => d.status === 'SUCCEEDED' && d.responseStatus === 204 && d.attempts === 1)).toBe(true);
  });

  it('page the delivery log newest first with cursors', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const users = [await createUser(), await createUser(), await createUser()];
    await deliverUntil(() => users.every((id) => typesFor(receiver.accepted(), id).length === 1));
    const first = await admin(ENDPOINTS, { first: 2 });
    const mine = first.data!.webhookEndpoints.find((endpoint: { id: string }) => endpoint.id === endpointId);
    expect(mine.eventTypes).toEqual(['USER_CREATED']);
    expect(mine.deliveries.edges).toHaveLength(2);
    expect(mine.deliveries.pageInfo.hasNextPage).toBe(true);
    const next = await admin(ENDPOINTS, { first: 2, after: mine.deliveries.pageInfo.endCursor });
    const rest = next.data!.webhookEndpoints.find((endpoint: { id: string }) => endpoint.id === endpointId).deliveries;
    expect(rest.edges).toHaveLength(1);
    const pagedIds = [...mine.deliveries.edges, ...rest.edges].map((edge: { node: { id: string } }) => edge.node.id);
    expect(pagedIds).toEqual(
      receiver
        .accepted()
        .map((entry) => entry.id)
        .toReversed(),
    );
  });

  it('sign with the new and the previous secret for 24 hours after a rotation, then with the new one alone', async () => {
    const { receiver, endpointId, secret: oldSecret } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const rotated = await admin(ROTATE, { id: endpointId });
    expect(rotated.errors).toBeUndefined();
    const newSecret = rotated.data!.rotateWebhookSecret.secret as string;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    // Receiver 0 still has the old secret, receiver 1 the new one: both verify each delivery.
    receiver.secrets = [oldSecret, newSecret];
    const during = await createUser();
    await deliverUntil(() => typesFor(receiver.accepted(), during).length === 1);
    const overlap = receiver.accepted().find((entry) => entry.body.data.subjectId === during)!;
    expect(overlap.signatures).toHaveLength(2);
    expect(overlap.signatures.every((signature) => signature.startsWith('v1,'))).toBe(true);
    expect(overlap.verifiedBy).toEqual([0, 1]);

    advance(25 * HOUR);
    const after = await createUser();
    await deliverUntil(() => typesFor(receiver.accepted(), after).length === 1);
    const late = receiver.accepted().find((entry) => entry.body.data.subjectId === after)!;
    expect(late.signatures).toHaveLength(1);
    expect(late.verifiedBy).toEqual([1]);
  });

  it('keep an endpoint that is down for hours waiting, in order, and deliver everything once it is back', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 500;
    const users = [await createUser(), await createUser(), await createUser()];
    // The first event is attempted and fails; the others wait behind it.
    await deliverUntil(() => receiver.received.length >= 1);
    await deliverUntil(() => true);
    expect(receiver.received.map((entry) => entry.body.data.subjectId)).toEqual([users[0]]);
    let deliveries = await deliveriesOf(endpointId);
    expect(deliveries.map((d) => [d.status, d.attempts, d.responseStatus])).toEqual([
      ['PENDING', 0, null],
      ['PENDING', 0, null],
      ['PENDING', 1, 500],
    ]);
    const retryAt = new Date(deliveries[2]!.nextAttemptAt!).getTime();
    expect(retryAt).toBeGreaterThan(clock().getTime());

    // Nothing is attempted again before its time.
    await gateway.app.webhooks.runOnce();
    expect(receiver.received).toHaveLength(1);

    // Hours pass: it answers 500, then refuses connections; each retry is of the first event.
    for (let hour = 0; hour < 6; hour++) {
      if (hour === 3) await receiver.down();
      advance(HOUR);
      await gateway.app.webhooks.runOnce();
    }
    deliveries = await deliveriesOf(endpointId);
    expect(deliveries[2]!.attempts).toBeGreaterThan(3);
    expect(deliveries[2]!.status).toBe('PENDING');
    expect(receiver.received.every((entry) => entry.body.data.subjectId === users[0])).toBe(true);

    // Back: once its wait is over, every event arrives, in order, none lost.
    await receiver.reopen();
    receiver.behaviour = 200;
    advance(7 * HOUR);
    await deliverUntil(() => users.every((id) => typesFor(receiver.accepted(), id).length === 1));
    expect(receiver.accepted().map((entry) => entry.body.data.subjectId)).toEqual(users);
    deliveries = await deliveriesOf(endpointId);
    expect(deliveries.every((d) => d.status === 'SUCCEEDED' && d.nextAttemptAt === null)).toBe(true);
  });

  it('count an answer slower than the timeout as a failure and retry it; the receiver drops the repeat by webhook-id', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 'hold';
    const userId = await createUser();
    // The attempt waits for the 2-second timeout of this gateway, then counts as failed.
    await deliverUntil(() => receiver.received.length === 1);
    await expect.poll(async () => (await deliveriesOf(endpointId))[0]?.attempts, { timeout: 10_000, interval: 100 }).toBe(1);
    const [failed] = await deliveriesOf(endpointId);
    expect(failed).toMatchObject({ status: 'PENDING', responseStatus: null });
    const failure = await sql<{ last_error: string }>('select last_error from webhook_deliveries where id = $1', [failed!.id]);
    expect(failure[0]!.last_error).toBe('no answer within 2 s');
    // The slow answer finally comes, too late to count.
    receiver.release(200);
    receiver.behaviour = 200;
    advance(HOUR);
    await deliverUntil(() => receiver.accepted().length === 1);
    // The same webhook-id arrived twice: the receiver keeps one.
    expect(receiver.received.map((entry) => entry.id)).toEqual([failed!.id, failed!.id]);
    expect(typesFor(receiver.accepted(), userId)).toEqual(['USER_CREATED']);
    expect((await deliveriesOf(endpointId))[0]).toMatchObject({ status: 'SUCCEEDED', attempts: 2, responseStatus: 200 });
  });

  it('redeliver a delivery now, with the same webhook-id, which the receiver can drop', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const userId = await createUser();
    await deliverUntil(() => receiver.accepted().length === 1);
    const [delivered] = await deliveriesOf(endpointId);
    const redelivered = await admin(REDELIVER, { id: delivered!.id });
    expect(redelivered.errors).toBeUndefined();
    expect(redelivered.data!.redeliverWebhook.delivery).toEqual({ id: delivered!.id, status: 'PENDING', attempts: 1 });
    await deliverUntil(() => receiver.received.length === 2);
    expect(receiver.received.map((entry) => entry.id)).toEqual([delivered!.id, delivered!.id]);
    expect(typesFor(receiver.accepted(), userId)).toEqual(['USER_CREATED']);
    expect((await deliveriesOf(endpointId))[0]).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });

    const unknown = await admin(REDELIVER, { id: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
  });

  it('disable an endpoint whose deliveries fail for 3 days, say so in the audit trail, and resume in order when enabled again', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 503;
    const users = [await createUser(), await createUser()];
    await deliverUntil(() => receiver.received.length >= 1);
    for (let step = 0; step < 40; step++) {
      advance(7 * HOUR);
      await gateway.app.webhooks.runOnce();
      const [row] = await sql<{ enabled: boolean }>('select enabled from webhook_endpoints where id = $1', [endpointId]);
      if (!row!.enabled) break;
    }
    const endpoint = (await admin(ENDPOINTS)).data!.webhookEndpoints.find((e: { id: string }) => e.id === endpointId);
    expect(endpoint.enabled).toBe(false);
    const deliveries = await deliveriesOf(endpointId);
    expect(deliveries.map((d) => d.status)).toEqual(['PENDING', 'FAILED']);
    expect(deliveries[1]!.attempts).toBeGreaterThan(10);
    // Every attempt was of the first event: the second waited behind it.
    expect(new Set(receiver.received.map((entry) => entry.body.data.subjectId))).toEqual(new Set([users[0]]));

    const audit = await admin(
      `query($filter: AuditEventFilter) { auditEvents(first: 5, filter: $filter) { edges { node { action actorId targetId status details } } } }`,
      { filter: { targetId: endpointId, action: 'WEBHOOK_ENDPOINT_DISABLE' } },
    );
    const [disabled] = audit.data!.auditEvents.edges.map((edge: { node: unknown }) => edge.node);
    expect(disabled).toMatchObject({ action: 'WEBHOOK_ENDPOINT_DISABLE', actorId: null, targetId: endpointId, status: 'SUCCEEDED' });
    expect(disabled.details.reason).toMatch(/every delivery attempt failed for 72 hours/);

    // A failed delivery of a disabled endpoint is not redelivered until the endpoint is on again.
    const refused = await admin(REDELIVER, { id: deliveries[1]!.id });
    expect(refused.errors?.[0]?.extensions.code).toBe('CONFLICT');

    receiver.behaviour = 204;
    const enabled = await admin(UPDATE_ENDPOINT, { id: endpointId, input: { enabled: true } });
    expect(enabled.data!.updateWebhookEndpoint.endpoint.enabled).toBe(true);
    expect((await admin(REDELIVER, { id: deliveries[1]!.id })).errors).toBeUndefined();
    await deliverUntil(() => users.every((id) => typesFor(receiver.accepted(), id).length === 1));
    // The waiting one first (it was queued before), then the redelivered one.
    expect(receiver.accepted().map((entry) => entry.body.data.subjectId)).toEqual([users[1], users[0]]);
  });

  it('keep signing secrets out of every table, the audit trail and the logs', async () => {
    const { receiver, endpointId, secret } = await receiverWithEndpoint();
    const rotated = (await admin(ROTATE, { id: endpointId })).data!.rotateWebhookSecret.secret as string;
    receiver.secrets = [secret, rotated];
    const userId = await createUser();
    await deliverUntil(() => typesFor(receiver.accepted(), userId).includes('USER_CREATED'));
    const secrets = [secret, rotated].flatMap((value) => [value, value.slice('whsec_'.length), value.slice(6, 30)]);
    for (const table of ['webhook_endpoints', 'webhook_deliveries', 'audit_events', 'idempotency_keys']) {
      const rows = await sql<{ row: string }>(`select t::text as row from ${table} t`);
      for (const { row } of rows) for (const value of secrets) expect(row).not.toContain(value);
    }
    // The stored form is sealed, and the columns hold nothing else of it.
    const [stored] = await sql<{ sealed_secret: string; sealed_previous_secret: string }>(
      'select sealed_secret, sealed_previous_secret from webhook_endpoints where id = $1',
      [endpointId],
    );
    expect(stored!.sealed_secret).toMatch(/^v1\./);
    expect(stored!.sealed_previous_secret).toMatch(/^v1\./);
    const logText = JSON.stringify(logs.lines);
    for (const value of secrets) expect(logText).not.toContain(value);
    // The receiver's URL path can be a credential of its own: the audit trail keeps the origin only.
    const [audit] = await sql<{ details: Record<string, unknown> }>(
      `select details from audit_events where target_id = $1 and action = 'WEBHOOK_ENDPOINT_CREATE'`,
      [endpointId],
    );
    expect(audit!.details).toEqual({ origin: new URL(receiver.url).origin, eventTypes: [] });
  });

  it('refuse callers without ROLE_ADMIN', async () => {
    const { endpointId } = await receiverWithEndpoint();
    for (const realmRoles of [['role_user'], ['role_manager', 'priv_user_management']]) {
      const user = await createKeycloakUser({ realmRoles });
      const token = (await passwordGrant(user.email, user.password)).access_token;
      const calls: [string, Record<string, unknown>][] = [
        ['{ webhookEndpoints { id } }', {}],
        [CREATE_ENDPOINT, { input: { url: 'https://example.com/hook' } }],
        [UPDATE_ENDPOINT, { id: endpointId, input: { enabled: false } }],
        [DELETE_ENDPOINT, { id: endpointId }],
        [ROTATE, { id: endpointId }],
        [REDELIVER, { id: endpointId }],
      ];
      for (const [query, variables] of calls) {
        const response = await gateway.graphql(query, { token, variables });
        expect(response.errors?.[0]?.extensions.code, query).toBe('FORBIDDEN');
      }
      const node = await gateway.graphql('query($id: ID!) { node(id: $id) { id } }', { token, variables: { id: endpointId } });
      expect(node.data?.node).toBeNull();
    }
    const [row] = await sql<{ enabled: boolean }>('select enabled from webhook_endpoints where id = $1', [endpointId]);
    expect(row!.enabled).toBe(true);
    const asAdmin = await admin('query($id: ID!) { node(id: $id) { id ... on WebhookEndpoint { url } } }', { id: endpointId });
    expect(asAdmin.data!.node.id).toBe(endpointId);
  });

  it('answer bad input with field errors and change nothing', async () => {
    const before = await sql('select id from webhook_endpoints');
    const bad = await admin(CREATE_ENDPOINT, {
      input: { url: 'ftp://example.com/x', eventTypes: ['not a type'], description: 'x'.repeat(501) },
    });
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fieldErrors: {
        url: 'must be an http or https URL',
        eventTypes: 'must be event type names such as USER_CREATED',
        description: 'must be at most 500 characters',
      },
    });
    const missing = await admin(UPDATE_ENDPOINT, { id: '00000000-0000-4000-8000-000000000000', input: { enabled: false } });
    expect(missing.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await sql('select id from webhook_endpoints')).toEqual(before);
  });
});

describe('webhooks in production (no private addresses)', () => {
  let production: TestGateway;
  beforeAll(async () => {
    production = await startTestGateway((config) => ({ ...config, webhooks: { ...config.webhooks, allowPrivateAddresses: false } }), {
      webhookClock: clock,
    });
  });
  afterAll(() => production?.close());

  it.each([
    'http://127.0.0.1:8080/hook',
    'http://localhost/hook',
    'http://[::1]/hook',
    'http://2130706433/hook',
    'http://0177.0.0.1/hook',
    'http://0x7f.1/hook',
    'http://10.1.2.3/hook',
    'http://172.16.0.1/hook',
    'http://192.168.0.10/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[fe80::1]/hook',
    'http://[fd00::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[::ffff:a01:203]/hook',
    'http://0.0.0.0/hook',
    'http://224.0.0.1/hook',
    'http://[ff02::1]/hook',
  ])('refuses an endpoint at %s', async (url) => {
    const response = await production.graphql(CREATE_ENDPOINT, { token: await adminToken(), variables: { input: { url } } });
    expect(response.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions.fieldErrors?.url).toMatch(
      /^must be a public address: the host resolves to a non-public address/,
    );
    expect(await sql('select id from webhook_endpoints where url = $1', [new URL(url).href])).toEqual([]);
  });

  it('refuses at delivery an endpoint whose address is not public, checked on the connection itself', async () => {
    // Saved where private addresses are allowed (a development gateway), delivered by a production one.
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    await createUser();
    await expect
      .poll(
        async () => {
          await production.app.webhooks.runOnce();
          return (
            await sql<{ last_error: string | null }>('select last_error from webhook_deliveries where endpoint_id = $1', [endpointId])
          )[0]?.last_error;
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe('refused: the host resolves to a non-public address (loopback)');
    expect(receiver.received).toEqual([]);
  });
});
