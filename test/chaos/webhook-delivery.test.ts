import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DeliveryStatements } from '../../src/modules/webhooks/webhooks.queries.js';
import type { Config } from '../../src/config.js';
import { buildGateway, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { renewedToken } from '../support/keycloak.js';
import type { WebhookReceiver } from '../support/webhook-receiver.js';
import { type Delivery, FakeClock, HOUR, REDELIVER, typesFor, UPDATE_ENDPOINT, WebhookAdmin } from '../support/webhooks.js';

// Webhook delivery under faults, on a realm and a database of its own: nothing but these
// tests' endpoints and events, and no other test's gateway process delivering them. The
// gateway here delivers on a fake clock (FakeClock), moved past each retry's wait rather
// than waited for. Each test ends with the same check: every event committed for the
// endpoint reached its receiver at least once, verified, in commit order, none lost.
const clock = new FakeClock();
let backends: IsolatedBackends;
let gateway: TestGateway;
let hooks: WebhookAdmin;
const processes: GatewayProcess[] = [];

beforeAll(async () => {
  // Compiled here, under the hook's time limit, not inside the first test that starts a process.
  await buildGateway();
  backends = await isolatedBackends('chaos_webhooks');
  gateway = await startTestGateway(() => ({ ...backends.config, webhooks: { ...backends.config.webhooks, timeoutSeconds: 2 } }), {
    webhookClock: clock.now,
  });
  const admin = inject('config').bootstrapAdmin!;
  hooks = new WebhookAdmin(gateway, renewedToken(admin.email, admin.password, backends.realm));
  // The administrator's first call mirrors them (an event of its own): numbered before any
  // endpoint exists, it is delivered to none, and each endpoint sees only its test's users.
  await hooks.graphql('{ me { user { id } } }');
  await vi.waitFor(
    async () => {
      await gateway.app.outbox.relayNow();
      const waiting = await backends.sql('select id from identity_events where position is null');
      if (waiting.length > 0) throw new Error(`${waiting.length} events wait for their position`);
    },
    { timeout: 20_000, interval: 50 },
  );
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((child) => child.kill()));
  await hooks.cleanUp();
});
afterAll(async () => {
  await gateway?.close();
  await backends?.close();
});

/**
 * Every USER_CREATED event committed since the endpoint was made reached the receiver, as the
 * receiver counts (2xx, each webhook-id once, signature verified), in commit order.
 */
async function expectEveryEventDelivered(receiver: WebhookReceiver, endpointId: string, users: string[]) {
  const committed = await backends.sql<{ id: string; subject_id: string }>(
    `select e.id, e.subject_id from identity_events e
      where e.type = 'USER_CREATED' and e.position > (select min(d.event_position) - 1 from webhook_deliveries d where d.endpoint_id = $1)
      order by e.position`,
    [endpointId],
  );
  expect(committed.map((event) => event.subject_id)).toEqual(users);
  expect(receiver.accepted().map((entry) => entry.body.data.id)).toEqual(committed.map((event) => event.id));
  expect(receiver.unverified).toBe(0);
}

/** A second gateway, delivering in the background as production does; killed after the test. */
async function deliveringProcess(webhooks: Partial<Config['webhooks']>): Promise<GatewayProcess> {
  const worker = await startGatewayProcess({
    ...backends.config,
    jobs: { ...backends.config.jobs, enabled: true },
    webhooks: { ...backends.config.webhooks, ...webhooks },
  });
  processes.push(worker);
  return worker;
}

/** Delivery runs queued so far, in any state: each is a pg-boss job of the delivery queue. */
async function deliveryRuns(): Promise<number> {
  const [row] = await backends.sql<{ runs: number }>("select count(*)::int as runs from pgboss.job where name = 'webhook-delivery'");
  return row!.runs;
}

describe('chaos: webhook delivery', () => {
  it('an endpoint down for hours (500, then refusing connections) and back: every event delivered, in order, none lost', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 500;
    const users = [await hooks.createUser(), await hooks.createUser(), await hooks.createUser()];
    // The first event is attempted and fails; the others, queued as the outbox numbers them, wait behind it.
    let deliveries: Delivery[] = [];
    await hooks.deliverUntil(() => receiver.received.length === 1);
    await expect
      .poll(
        async () => {
          await gateway.app.webhooks.runOnce();
          deliveries = await hooks.deliveriesOf(endpointId);
          return deliveries.length;
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe(3);
    expect(deliveries.map((d) => [d.status, d.attempts, d.responseStatus])).toEqual([
      ['PENDING', 0, null],
      ['PENDING', 0, null],
      ['PENDING', 1, 500],
    ]);
    expect(new Date(deliveries[2]!.nextAttemptAt!).getTime()).toBeGreaterThan(clock.now().getTime());
    // Nothing is attempted again before its time.
    await gateway.app.webhooks.runOnce();
    expect(receiver.received).toHaveLength(1);

    // Hours pass: it answers 500, then refuses connections; every retry is of the first event.
    for (let hour = 0; hour < 6; hour++) {
      if (hour === 3) await receiver.down();
      clock.advance(HOUR);
      await gateway.app.webhooks.runOnce();
    }
    deliveries = await hooks.deliveriesOf(endpointId);
    expect(deliveries[2]).toMatchObject({ status: 'PENDING', responseStatus: null });
    expect(deliveries[2]!.attempts).toBeGreaterThanOrEqual(5);
    expect(deliveries.slice(0, 2).map((d) => d.attempts)).toEqual([0, 0]);
    expect(new Set(receiver.received.map((entry) => entry.body.data.subjectId))).toEqual(new Set([users[0]]));

    // Back: once its wait is over, every event arrives, in order.
    await receiver.reopen();
    receiver.behaviour = 200;
    clock.advance(7 * HOUR);
    await hooks.deliverUntil(() => receiver.accepted().length === 3);
    await expectEveryEventDelivered(receiver, endpointId, users);
    deliveries = await hooks.deliveriesOf(endpointId);
    expect(deliveries.every((d) => d.status === 'SUCCEEDED' && d.nextAttemptAt === null && d.responseStatus === 200)).toBe(true);
  });

  it('an answer slower than the timeout counts as a failure and is retried; the receiver drops the repeat by webhook-id', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 'hold';
    const userId = await hooks.createUser();
    // The attempt waits for this gateway's 2-second timeout, then counts as failed.
    await hooks.deliverUntil(() => receiver.received.length === 1);
    await expect.poll(async () => (await hooks.deliveriesOf(endpointId))[0]?.attempts, { timeout: 10_000, interval: 100 }).toBe(1);
    const [failed] = await hooks.deliveriesOf(endpointId);
    expect(failed).toMatchObject({ status: 'PENDING', responseStatus: null });
    const [row] = await backends.sql<{ last_error: string }>('select last_error from webhook_deliveries where id = $1', [failed!.id]);
    expect(row!.last_error).toBe('no answer within 2 s');
    // The slow answer comes at last, too late to count.
    receiver.release(200);
    receiver.behaviour = 200;
    clock.advance(HOUR);
    await hooks.deliverUntil(() => receiver.accepted().length === 1);
    // The same webhook-id arrived twice: the receiver keeps one.
    expect(receiver.received.map((entry) => entry.id)).toEqual([failed!.id, failed!.id]);
    expect(typesFor(receiver.accepted(), userId)).toEqual(['USER_CREATED']);
    expect((await hooks.deliveriesOf(endpointId))[0]).toMatchObject({ status: 'SUCCEEDED', attempts: 2, responseStatus: 200 });
    await expectEveryEventDelivered(receiver, endpointId, [userId]);
  });

  it('a redelivery carries the same webhook-id, and the receiver drops the duplicate', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const userId = await hooks.createUser();
    await hooks.deliverUntil(() => receiver.accepted().length === 1);
    const [delivered] = await hooks.deliveriesOf(endpointId);
    const redelivered = await hooks.graphql(REDELIVER, { id: delivered!.id });
    expect(redelivered.errors).toBeUndefined();
    expect(redelivered.data!.redeliverWebhook.delivery).toEqual({ id: delivered!.id, status: 'PENDING', attempts: 1 });
    await hooks.deliverUntil(() => receiver.received.length === 2);
    expect(receiver.received.map((entry) => entry.id)).toEqual([delivered!.id, delivered!.id]);
    expect(typesFor(receiver.accepted(), userId)).toEqual(['USER_CREATED']);
    expect((await hooks.deliveriesOf(endpointId))[0]).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    await expectEveryEventDelivered(receiver, endpointId, [userId]);
  });

  it('a delivery worker killed mid-send: another process delivers the event', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 'hold';
    // A second gateway, delivering in the background (this one only when the test asks).
    const worker = await deliveringProcess({ timeoutSeconds: 60 });
    const userId = await hooks.createUser();
    // The worker sends; the receiver holds the request: the delivery is in flight, claimed.
    await expect.poll(() => receiver.holding, { timeout: 20_000, interval: 50 }).toBe(1);
    await gateway.app.webhooks.runOnce();
    expect(receiver.received).toHaveLength(1);

    await worker.kill();
    receiver.behaviour = 204;
    // Its claim went with its connection: this process takes the delivery over at once.
    await hooks.deliverUntil(() => receiver.accepted().length === 1);
    receiver.release();
    const deliveryId = receiver.received[0]!.id;
    expect(receiver.received.map((entry) => entry.id)).toEqual([deliveryId, deliveryId]);
    // The killed attempt left no record; the one that reached the receiver did.
    expect((await hooks.deliveriesOf(endpointId))[0]).toMatchObject({
      id: deliveryId,
      status: 'SUCCEEDED',
      attempts: 1,
      responseStatus: 204,
    });
    await expectEveryEventDelivered(receiver, endpointId, [userId]);
  });

  it('an endpoint waiting out a retry with deliveries queued behind it: each retry runs when due, not at the next poll, and the delivery queue waits for it instead of running without pause', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 503;
    // Polling every minute: each retry below comes when it is due, not at a poll. The queue
    // used to keep the first waiting poll and drop the retry's earlier one.
    await deliveringProcess({ pollSeconds: 60 });
    const users = [await hooks.createUser(), await hooks.createUser(), await hooks.createUser()];
    // The first attempt fails, then its first retry; the second retry is due 5–10 s later, and
    // the two behind it wait for it.
    await expect.poll(() => receiver.received.length, { timeout: 40_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    const runsBefore = await deliveryRuns();
    await expect.poll(() => receiver.received.length, { timeout: 40_000, interval: 50 }).toBeGreaterThanOrEqual(3);
    // Runs queued while the head waited up to 10 s: its retry's, and a wake-up or two. The queue
    // used to take the waiting deliveries' own (past) times for the next due one and run without
    // pause: 613 runs in the same wait.
    expect((await deliveryRuns()) - runsBefore).toBeLessThanOrEqual(5);
    expect(new Set(receiver.received.map((entry) => entry.body.data.subjectId))).toEqual(new Set([users[0]]));

    receiver.behaviour = 204;
    await expect.poll(() => receiver.accepted().length, { timeout: 30_000, interval: 50 }).toBe(3);
    await expectEveryEventDelivered(receiver, endpointId, users);
  }, 150_000);

  it('an attempt under way, with deliveries queued behind it: the delivery queue waits for it instead of running without pause', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 'hold';
    await deliveringProcess({ timeoutSeconds: 5 });
    const users = [await hooks.createUser(), await hooks.createUser()];
    await expect.poll(() => receiver.holding, { timeout: 20_000, interval: 50 }).toBe(1);
    const runsBefore = await deliveryRuns();
    // The attempt ends when the worker gives up on the held answer, 5 s later.
    await expect
      .poll(async () => (await hooks.deliveriesOf(endpointId)).some((delivery) => delivery.attempts > 0), { timeout: 30_000, interval: 50 })
      .toBe(true);
    // One poll a second at most while the head was held. A run used to find the head still due
    // (pending, its old time) and queue the next run at once, for the attempt's whole length.
    expect((await deliveryRuns()) - runsBefore).toBeLessThanOrEqual(10);

    receiver.release();
    receiver.behaviour = 204;
    await expect.poll(() => receiver.accepted().length, { timeout: 40_000, interval: 50 }).toBe(2);
    await expectEveryEventDelivered(receiver, endpointId, users);
  }, 150_000);

  it('a head another process attempted after this claim took its snapshot is not sent again before its retry', async () => {
    const endpointId = randomUUID();
    await backends.sql(
      "insert into webhook_endpoints (id, url, sealed_secret, created_at, updated_at) values ($1, 'http://127.0.0.1:9/', 'sealed', now(), now())",
      [endpointId],
    );
    await backends.sql(
      `insert into webhook_deliveries (id, endpoint_id, event_id, event_position, event_at, next_attempt_at, created_at)
       select gen_random_uuid(), $1, gen_random_uuid(), g, now(), now(), now() from generate_series(1, 2) g`,
      [endpointId],
    );
    const [first, second] = [new pg.Client(backends.config.databaseUrl), new pg.Client(backends.config.databaseUrl)];
    await Promise.all([first.connect(), second.connect()]);
    try {
      await first.query('begin');
      const head = await new DeliveryStatements(first).claimNext(new Date(), []);
      expect(head).toBeDefined();
      // The second process's claim, paused between its snapshot and its lock: declared as a
      // cursor (the snapshot), fetched later (the lock), so the window is as wide as the test needs.
      let declared!: () => void;
      const snapshotTaken = new Promise<void>((resolve) => (declared = resolve));
      let fetch!: () => void;
      const lockNow = new Promise<void>((resolve) => (fetch = resolve));
      const paused = {
        async query(text: string, params: unknown[]) {
          await second.query(`declare claim cursor for ${text}`, params);
          declared();
          await lockNow;
          return second.query('fetch 1 from claim');
        },
      };
      await second.query('begin');
      const claiming = new DeliveryStatements(paused as unknown as pg.ClientBase).claimNext(new Date(), []);
      await snapshotTaken;
      // Meanwhile the first process's attempt fails, its retry a minute away, and commits.
      const now = new Date();
      await new DeliveryStatements(first).record(head!, {
        status: 'PENDING',
        now,
        nextAttemptAt: new Date(now.getTime() + 60_000),
        responseStatus: 503,
        error: 'answered HTTP 503',
      });
      await first.query('commit');
      fetch();
      // The head is not due any more, and the one behind it is not the head: nothing to claim.
      expect(await claiming).toBeUndefined();
      await second.query('rollback');
    } finally {
      await Promise.all([first.end(), second.end()]);
      await backends.sql('delete from webhook_deliveries where endpoint_id = $1', [endpointId]);
      await backends.sql('delete from webhook_endpoints where id = $1', [endpointId]);
    }
  });

  it('deliveries failing for 3 days disable the endpoint and say so in the audit trail; enabled again, it resumes in order', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 503;
    const users = [await hooks.createUser(), await hooks.createUser()];
    await hooks.deliverUntil(() => receiver.received.length === 1);
    for (let step = 0; step < 40; step++) {
      clock.advance(7 * HOUR);
      await gateway.app.webhooks.runOnce();
      const [row] = await backends.sql<{ enabled: boolean }>('select enabled from webhook_endpoints where id = $1', [endpointId]);
      if (!row!.enabled) break;
    }
    const deliveries = await hooks.deliveriesOf(endpointId);
    expect(deliveries.map((d) => d.status)).toEqual(['PENDING', 'FAILED']);
    expect(deliveries[1]!.attempts).toBeGreaterThan(10);
    // Every attempt was of the first event: the second waited behind it.
    expect(new Set(receiver.received.map((entry) => entry.body.data.subjectId))).toEqual(new Set([users[0]]));

    const audit = await hooks.graphql(
      `query($filter: AuditEventFilter) {
         auditEvents(first: 5, filter: $filter) { edges { node { action actorId targetType targetId status details } } }
         webhookEndpoints { id enabled }
       }`,
      { filter: { targetId: endpointId, action: 'WEBHOOK_ENDPOINT_DISABLE' } },
    );
    expect(audit.data!.webhookEndpoints.find((e: { id: string }) => e.id === endpointId).enabled).toBe(false);
    const [disabled] = audit.data!.auditEvents.edges.map((edge: { node: unknown }) => edge.node);
    expect(disabled).toMatchObject({
      action: 'WEBHOOK_ENDPOINT_DISABLE',
      actorId: null,
      targetType: 'WebhookEndpoint',
      targetId: endpointId,
      status: 'SUCCEEDED',
    });
    expect(disabled.details.reason).toMatch(/^every delivery attempt failed for 72 hours \(last: answered HTTP 503\)$/);

    // A failed delivery of a disabled endpoint is not redelivered until the endpoint is on again.
    const refused = await hooks.graphql(REDELIVER, { id: deliveries[1]!.id });
    expect(refused.errors?.[0]?.extensions.code).toBe('CONFLICT');

    receiver.behaviour = 204;
    const enabled = await hooks.graphql(UPDATE_ENDPOINT, { id: endpointId, input: { enabled: true } });
    expect(enabled.data!.updateWebhookEndpoint.endpoint.enabled).toBe(true);
    expect((await hooks.graphql(REDELIVER, { id: deliveries[1]!.id })).errors).toBeUndefined();
    await hooks.deliverUntil(() => receiver.accepted().length === 2);
    // The waiting one first (it was queued before), then the failed one, redelivered at the queue's end.
    expect(receiver.accepted().map((entry) => entry.body.data.subjectId)).toEqual([users[1], users[0]]);
  });
});
