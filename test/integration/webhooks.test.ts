import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { type GraphQLResponse, startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant, renewedToken } from '../support/keycloak.js';
import { captureLog, type CapturedLog } from '../support/log-capture.js';
import {
  CREATE_ENDPOINT,
  type Delivery,
  DELETE_ENDPOINT,
  ENDPOINTS,
  FakeClock,
  HOUR,
  REDELIVER,
  ROTATE,
  typesFor,
  UPDATE_ENDPOINT,
  WebhookAdmin,
} from '../support/webhooks.js';

// Webhooks through the gateway's API, over the shared realm and database. The delivery
// faults (an endpoint down, slow, killed mid-send, failing for days) are in
// test/chaos/webhook-delivery.test.ts, on backends of their own.
const UPDATE_USER = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';
const DELETE_USER = 'mutation($id: ID!) { deleteUser(id: $id) { message } }';

const clock = new FakeClock();
let gateway: TestGateway;
let logs: CapturedLog;
let adminToken: () => Promise<string>;
let hooks: WebhookAdmin;

beforeAll(async () => {
  logs = captureLog('debug');
  gateway = await startTestGateway((config) => config, { log: logs.log, webhookClock: clock.now });
  const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = renewedToken(admin.email, admin.password);
  hooks = new WebhookAdmin(gateway, adminToken);
});
afterEach(() => hooks.cleanUp());
afterAll(() => gateway?.close());

const admin = <T = Record<string, any>>(query: string, variables?: Record<string, unknown>) => hooks.graphql<T>(query, variables);
const receiverWithEndpoint = (input?: Record<string, unknown>) => hooks.receiverWithEndpoint(input);
const createUser = () => hooks.createUser();
const deliverUntil = (done: () => boolean) => hooks.deliverUntil(done);

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
    let userId = '';
    try {
      userId = await createUser();
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
    const created = accepted.find((entry) => entry.body.type === 'USER_CREATED' && entry.body.data.subjectId === userId)!;
    expect(created.body.data).toMatchObject({ origin: 'GATEWAY', subjectType: 'User', before: null });
    expect(created.body.data.after).toMatchObject({ firstName: 'Hook' });
    // Every event reached the receiver once per webhook-id, in commit order.
    expect(isAscending(await positions(accepted.map((entry) => entry.body.data.id)))).toBe(true);
    // The log of deliveries agrees: newest first, each SUCCEEDED with the receiver's status. (Other
    // test files write events meanwhile, which this endpoint receives too: the user's are compared.)
    const theirs = accepted.filter((entry) => entry.body.data.subjectId === userId);
    const deliveries = (await hooks.deliveriesOf(endpointId, 200)).filter((delivery) => delivery.event.subjectId === userId);
    expect(deliveries.map((delivery) => delivery.id).toReversed()).toEqual(theirs.map((entry) => entry.id));
    expect(deliveries.map((delivery) => delivery.event).toReversed()).toEqual(
      theirs.map(({ body }) => ({ id: body.data.id, type: body.type, subjectId: body.data.subjectId })),
    );
    expect(deliveries.every((d) => d.status === 'SUCCEEDED' && d.responseStatus === 204 && d.attempts === 1)).toBe(true);
  });

  it('page the delivery log newest first with cursors', async () => {
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const users = [await createUser(), await createUser(), await createUser()];
    await deliverUntil(() => users.every((id) => typesFor(receiver.accepted(), id).length === 1));
    // Page by two to the end. Other test files may add deliveries meanwhile (at the top: newest
    // first), which paging forward from a cursor does not see.
    const paged: Delivery[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const response: GraphQLResponse<Record<string, any>> = await admin(ENDPOINTS, { first: 2, after });
      const { edges, pageInfo }: { edges: { node: Delivery }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } =
        response.data!.webhookEndpoints.find((endpoint: { id: string }) => endpoint.id === endpointId).deliveries;
      expect(edges.length).toBe(pageInfo.hasNextPage ? 2 : edges.length);
      paged.push(...edges.map((edge) => edge.node));
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(new Set(paged.map((delivery) => delivery.id)).size).toBe(paged.length);
    // The whole log, in the order the pages gave it; the users' deliveries newest first.
    const stored = await sql<{ id: string }>('select id from webhook_deliveries where endpoint_id = $1 order by event_at desc, id desc', [
      endpointId,
    ]);
    const pagedIds = paged.map((delivery) => delivery.id);
    expect(stored.map((row) => row.id).filter((id) => pagedIds.includes(id))).toEqual(pagedIds);
    expect(pagedIds).toEqual(expect.arrayContaining(receiver.accepted().map((entry) => entry.id)));
    expect(paged.filter((delivery) => users.includes(delivery.event.subjectId)).map((delivery) => delivery.event.subjectId)).toEqual(
      users.toReversed(),
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

    clock.advance(25 * HOUR);
    const after = await createUser();
    await deliverUntil(() => typesFor(receiver.accepted(), after).length === 1);
    const late = receiver.accepted().find((entry) => entry.body.data.subjectId === after)!;
    expect(late.signatures).toHaveLength(1);
    expect(late.verifiedBy).toEqual([1]);
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
    const noDelivery = await admin(REDELIVER, { id: '00000000-0000-4000-8000-000000000000' });
    expect(noDelivery.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await sql('select id from webhook_endpoints')).toEqual(before);
  });
});

describe('webhooks in production (no private addresses)', () => {
  let production: TestGateway;
  beforeAll(async () => {
    production = await startTestGateway((config) => ({ ...config, webhooks: { ...config.webhooks, allowPrivateAddresses: false } }));
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

  it.each([
    ['an IP address', '127.0.0.1'],
    // The production gateway's connection resolves the name, and refuses what it resolves to.
    ['a name', 'localhost'],
  ])('refuses at delivery an endpoint at %s that is not public, checked on the connection itself', async (_form, host) => {
    // Saved where private addresses are allowed (a development gateway), delivered by a production one.
    const { receiver, endpointId } = await receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    await admin(UPDATE_ENDPOINT, { id: endpointId, input: { url: receiver.url.replace('127.0.0.1', host) } });
    await createUser();
    await expect
      .poll(
        async () => {
          await production.app.webhooks.runOnce();
          // The head of the endpoint's queue is attempted (and refused); what waits behind it is not.
          const attempted = await sql<{ last_error: string }>(
            'select distinct last_error from webhook_deliveries where endpoint_id = $1 and last_error is not null',
            [endpointId],
          );
          return attempted.map((row) => row.last_error);
        },
        { timeout: 20_000, interval: 50 },
      )
      .toEqual(['refused: the host resolves to a non-public address (loopback)']);
    expect(receiver.received).toEqual([]);
  });
});
