import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type IsolatedBackends, isolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, renewedToken } from '../support/keycloak.js';
import { useTenancy } from '../support/tenancy.js';
import { DELETE_ENDPOINT, REDELIVER, WebhookAdmin } from '../support/webhooks.js';

// A fourth attacker-reviewer's probes of what came in on 2026-12-05: background work on
// pg-boss (webhook delivery runs, the outbox sweep, the periodic jobs) and the events query
// read backward (last, before). Each test is named after what it tried; those that found a
// hole (ATTACK4-n) were seen failing before the fix, the others are the probes that held,
// kept as guards.
const EVENTS_BACKWARD =
  'query($filter: EventFilter, $last: Int, $before: String, $first: Int, $after: String) { events(last: $last, before: $before, first: $first, after: $after, filter: $filter) { edges { cursor node { id tenantId } } pageInfo { hasNextPage hasPreviousPage startCursor } } }';

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;
const cursor = (parts: unknown) => Buffer.from(JSON.stringify(parts)).toString('base64url');

// Webhooks and jobs on a realm and a database of their own: a gateway with its jobs on (admin
// events every 2 s, the full comparison) would mirror, or remove, what other files arrange in
// the shared ones, and another file's delivery run would take this file's held attempt.
let backends: IsolatedBackends;
let adminToken: () => Promise<string>;

beforeAll(async () => {
  backends = await isolatedBackends('attack4');
  const admin = inject('config').bootstrapAdmin!;
  adminToken = renewedToken(admin.email, admin.password, backends.realm);
});
afterAll(() => backends?.close());

describe('background work on pg-boss', () => {
  let gateway: TestGateway;
  let hooks: WebhookAdmin;
  beforeAll(async () => {
    // A gateway that runs the jobs, as production does: deliveries run as pg-boss jobs.
    gateway = await startTestGateway(() => ({ ...backends.config, jobs: { ...backends.config.jobs, enabled: true } }));
    hooks = new WebhookAdmin(gateway, adminToken);
  });
  afterAll(async () => {
    await hooks?.cleanUp();
    await gateway?.close();
  });

  it('guard: no caller input reaches a job: fixed queue names and keys, no payload, and no secret anywhere in pgboss', async () => {
    const { receiver, secret } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const userId = await hooks.createUser();
    await expect.poll(() => receiver.received.filter((entry) => entry.body.data.subjectId === userId).length, { timeout: 30_000 }).toBe(1);

    const jobs = await backends.sql<{ name: string; singleton_key: string | null; data: unknown; output: unknown }>(
      'select name, singleton_key, data, output from pgboss.job',
    );
    expect(jobs.length).toBeGreaterThan(0);
    const queues = new Set(['webhook-delivery', 'outbox-sweep', 'user-sync', 'reconciler', 'admin-events', 'idempotency-purge']);
    for (const job of jobs) {
      expect(queues.has(job.name), job.name).toBe(true);
      expect([null, 'wake', 'due']).toContain(job.singleton_key);
      expect(job.data).toBeNull();
    }
    // Every table of the schema, as text: neither the signing secret nor its key material.
    const key = secret.replace(/^whsec_/, '');
    const tables = await backends.sql<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'pgboss'",
    );
    for (const { table_name } of tables) {
      const [row] = await backends.sql<{ text: string | null }>(`select string_agg(t::text, '\n') as text from pgboss.${table_name} t`);
      expect(row?.text ?? '').not.toContain(key);
    }
  });

  it('guard: every queue deletes finished jobs within a day, and keeps a queued one at most its retention', async () => {
    const queues = await backends.sql<{ name: string; deletion_seconds: number; retention_seconds: number; policy: string }>(
      'select name, deletion_seconds, retention_seconds, policy from pgboss.queue order by name',
    );
    expect(queues.map((queue) => queue.name)).toEqual(
      expect.arrayContaining(['webhook-delivery', 'outbox-sweep', 'user-sync', 'reconciler', 'admin-events', 'idempotency-purge']),
    );
    for (const queue of queues) {
      expect(queue.deletion_seconds, queue.name).toBeGreaterThan(0);
      expect(queue.deletion_seconds, queue.name).toBeLessThanOrEqual(24 * 3600);
      // One queued job per key at most (stately or short): what waits is bounded by the policy, not by callers.
      expect(['stately', 'short'], queue.name).toContain(queue.policy);
    }
  });

  it('guard: a flood of redeliverWebhook queues one delivery run at a time, and every redelivery is made', async () => {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    const userId = await hooks.createUser();
    await expect.poll(() => receiver.received.filter((entry) => entry.body.data.subjectId === userId).length, { timeout: 30_000 }).toBe(1);
    const [delivery] = await hooks.deliveriesOf(endpointId);
    const flood = 30;
    const answers = await Promise.all(Array.from({ length: flood }, () => hooks.graphql(REDELIVER, { id: delivery!.id })));
    // Each is made, or refused while another (or an attempt) has the delivery: never a fault.
    expect(answers.map(codeOf).filter((code) => code !== undefined && code !== 'CONFLICT')).toEqual([]);
    expect(answers.filter((answer) => answer.errors === undefined).length).toBeGreaterThan(0);
    // Never more than one delivery run waiting per key (the wake-up and the next poll), however many asked.
    const [waiting] = await backends.sql<{ count: number }>(
      "select count(*)::int as count from pgboss.job where name = 'webhook-delivery' and state in ('created', 'retry')",
    );
    expect(waiting!.count).toBeLessThanOrEqual(2);
    // The redelivery is made (at least once more), by the runs the wake-ups queued.
    await expect
      .poll(() => receiver.received.filter((entry) => entry.body.data.subjectId === userId).length, { timeout: 30_000 })
      .toBeGreaterThan(1);
  });
});

describe('a delivery attempt under way', () => {
  let gateway: TestGateway;
  let hooks: WebhookAdmin;
  beforeAll(async () => {
    // Attempts run when the test says (runOnce), and last as long as the receiver holds them.
    gateway = await startTestGateway(() => ({ ...backends.config, webhooks: { ...backends.config.webhooks, timeoutSeconds: 120 } }));
    hooks = new WebhookAdmin(gateway, adminToken);
  });
  // A test's endpoints go with it: its receiver would hold the next test's runs.
  afterEach(() => hooks.cleanUp());
  afterAll(() => gateway?.close());

  /** An endpoint whose first delivery is being attempted, its receiver holding the request unanswered. */
  async function attemptHeld() {
    const { receiver, endpointId } = await hooks.receiverWithEndpoint({ eventTypes: ['USER_CREATED'] });
    receiver.behaviour = 'hold';
    const userId = await hooks.createUser();
    // Its event numbered, so that the run below queues and attempts its delivery.
    await expect
      .poll(
        async () => (await backends.sql('select 1 from identity_events where subject_id = $1 and position is not null', [userId])).length,
        {
          timeout: 20_000,
        },
      )
      .toBeGreaterThan(0);
    const state = { ended: false };
    const attempt = gateway.app.webhooks.runOnce().finally(() => (state.ended = true));
    await expect.poll(() => receiver.holding, { timeout: 20_000 }).toBe(1);
    const [delivery] = await backends.sql<{ id: string }>('select id from webhook_deliveries where endpoint_id = $1', [endpointId]);
    return {
      endpointId,
      deliveryId: delivery!.id,
      state,
      /** Answers the held request and waits for the attempt to end. */
      release: async () => {
        receiver.release(204);
        await attempt;
      },
    };
  }

  /** Sends `count` copies of a call at once; checks that another request is answered meanwhile, while the attempt still waits. */
  async function beside(held: Awaited<ReturnType<typeof attemptHeld>>, count: number, call: () => Promise<{ errors?: unknown }>) {
    // More calls than the request pool has connections (10).
    const calls = Promise.all(Array.from({ length: count }, call));
    const other = await hooks.graphql('{ webhookEndpoints { id } }');
    expect(other.errors).toBeUndefined();
    expect(held.state.ended).toBe(false);
    const answers = await calls;
    expect(held.state.ended).toBe(false);
    return answers as { errors?: { extensions: { code: string } }[] }[];
  }

  it("ATTACK4-1: redeliverWebhook of a delivery being attempted answers CONFLICT at once, instead of holding a request connection for the attempt's length (ten of them stalled the whole gateway)", async () => {
    const held = await attemptHeld();
    try {
      const answers = await beside(held, 12, () => hooks.graphql(REDELIVER, { id: held.deliveryId }));
      expect(answers.map(codeOf)).toEqual(Array(12).fill('CONFLICT'));
    } finally {
      await held.release();
    }
    // Once the attempt has ended, the delivery is redelivered as asked.
    const again = await hooks.graphql(REDELIVER, { id: held.deliveryId });
    expect(again.errors).toBeUndefined();
    expect(again.data!.redeliverWebhook.delivery.status).toBe('PENDING');
  });

  it('ATTACK4-2: deleteWebhookEndpoint of an endpoint being delivered to answers CONFLICT at once, instead of waiting for the attempt on a request connection (ten of them stalled the whole gateway)', async () => {
    const held = await attemptHeld();
    try {
      const answers = await beside(held, 12, () => hooks.graphql(DELETE_ENDPOINT, { id: held.endpointId }));
      expect(answers.map(codeOf)).toEqual(Array(12).fill('CONFLICT'));
    } finally {
      await held.release();
    }
    const again = await hooks.graphql(DELETE_ENDPOINT, { id: held.endpointId });
    expect(again.errors).toBeUndefined();
    expect(await backends.sql('select id from webhook_endpoints where id = $1', [held.endpointId])).toEqual([]);
  });
});

describe('events read backward, by a tenant', () => {
  const tenancy = useTenancy('shared');
  // The tenants live in the shared realm: so does the administrator whose cursor is tried.
  let realmAdminToken: () => Promise<string>;
  beforeAll(async () => {
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    realmAdminToken = renewedToken(admin.email, admin.password);
  });

  it("guard: last/before give a tenant's OWNER its own tenant's events only, whatever the cursor; bad paging is BAD_USER_INPUT", async () => {
    const owner = await tenancy.tenantOwner();
    const other = await tenancy.tenantOwner();
    const { gateway } = tenancy;
    const ask = (token: string, variables: Record<string, unknown>) => gateway.graphql(EVENTS_BACKWARD, { token, variables });
    const mine = { tenantId: owner.tenant.id };

    expect(codeOf(await ask(owner.token, { last: 5 }))).toBe('FORBIDDEN');
    expect(codeOf(await ask(owner.token, { last: 5, filter: { tenantId: other.tenant.id } }))).toBe('FORBIDDEN');
    // An empty tenant id names no tenant (the filter would drop it): refused, not read as no filter.
    expect(codeOf(await ask(owner.token, { last: 5, filter: { tenantId: '' } }))).toMatch(/^(FORBIDDEN|BAD_USER_INPUT)$/);

    // The other tenant's newest cursor, the administrator's, forged ones at 0, 1 and the largest safe position.
    const theirs = await ask(other.token, { last: 1, filter: { tenantId: other.tenant.id } });
    const all = await ask(await realmAdminToken(), { last: 1 });
    expect(theirs.errors).toBeUndefined();
    expect(all.errors).toBeUndefined();
    const befores = [
      theirs.data!.events.pageInfo.startCursor,
      all.data!.events.pageInfo.startCursor,
      cursor(['IdentityEvent', 0]),
      cursor(['IdentityEvent', 1]),
      cursor(['IdentityEvent', Number.MAX_SAFE_INTEGER]),
      null,
    ];
    for (const before of befores) {
      const page = await ask(owner.token, { last: 200, before, filter: mine });
      expect(page.errors, String(before)).toBeUndefined();
      const tenants = new Set(page.data!.events.edges.map((edge: { node: { tenantId: string } }) => edge.node.tenantId));
      expect(
        [...tenants].filter((tenant) => tenant !== owner.tenant.id),
        String(before),
      ).toEqual([]);
    }
    // Its own tenant's events are there, read backward from the largest position as from none.
    const newest = await ask(owner.token, { last: 200, filter: mine });
    const fromTop = await ask(owner.token, { last: 200, before: cursor(['IdentityEvent', Number.MAX_SAFE_INTEGER]), filter: mine });
    expect(newest.data!.events.edges.length).toBeGreaterThan(0);
    expect(fromTop.data!.events.edges).toEqual(newest.data!.events.edges);

    const bad: Record<string, unknown>[] = [
      { last: 0 },
      { last: -1 },
      { last: 201 },
      { last: 2_147_483_647 },
      { last: 5, first: 5 },
      { last: 5, after: cursor(['IdentityEvent', 1]) },
      { first: 5, before: cursor(['IdentityEvent', 1]) },
      { last: 5, before: 'garbage' },
      { last: 5, before: cursor(['IdentityEvent', -1]) },
      { last: 5, before: cursor(['IdentityEvent', 1.5]) },
      { last: 5, before: cursor(['IdentityEvent', 2 ** 53]) },
      { last: 5, before: cursor(['AuditEvent', 1]) },
      { last: 5, before: cursor(['IdentityEvent', '1']) },
    ];
    const answers = [];
    for (const variables of bad) answers.push(codeOf(await ask(owner.token, { ...variables, filter: mine })));
    expect(answers.map((code, i) => `${i} ${code}`)).toEqual(bad.map((_, i) => `${i} BAD_USER_INPUT`));
    // The administrator's malformed tenant id read backward: typed too.
    expect(codeOf(await ask(await realmAdminToken(), { last: 5, filter: { tenantId: 'not-a-uuid' } }))).toBe('BAD_USER_INPUT');
  });
});
