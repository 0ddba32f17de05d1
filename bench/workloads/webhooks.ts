import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sendWebhook, signatureHeader } from '../../src/modules/webhooks/webhook-sender.js';
import { startWebhookReceiver, type ReceivedWebhook } from '../../test/support/webhook-receiver.js';
import { CREATE_ENDPOINT, DELETE_ENDPOINT } from '../../test/support/webhook-operations.js';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import { percentileOf } from '../load.js';
import type { ServerProcess } from '../processes.js';
import { met } from '../report.js';
import { seedUserEmail } from '../seed.js';
import { number, ratio } from '../stats.js';
import { benchAdminToken } from './me.js';

/** Changes committed one after another, each waited for at the receiver before the next. */
const LATENCY_SAMPLES = 200;
/** Changes committed in one transaction, then delivered to the one endpoint. */
const BURST = 1000;
/** The burst changes seeded users from this one on (workload 8's subscriber path changes the first). */
const BURST_FIRST_USER = 100;
const BASELINE_CHANNEL = 'bench_webhook_baseline';
const DESCRIPTION = 'bench webhook receiver';
const GOAL_P99_MS = 1000;

/**
 * Webhooks, end to end, through the public interface only: an endpoint created with
 * `createWebhookEndpoint`, a change committed in PostgreSQL as workload 8's subscriber path
 * commits it (an UPDATE of the mirror's users table: the outbox's triggers make the event, as
 * for any writer), and a receiver (test/support/webhook-receiver.ts) that verifies every
 * delivery with the `standardwebhooks` package. How the gateway schedules delivery is not
 * looked at, so the figures hold whatever does it.
 * - Commit to receiver: one change at a time, each waited for; the time from the committing
 *   statement's start to the verified request's arrival. Baseline: the same commit-then-POST
 *   done by hand: a NOTIFY committed to a listener in the bench, which POSTs the same signed
 *   body with the gateway's own sender (one new connection a request, as the gateway sends) to
 *   the same receiver. The floor of any delivery after commit.
 * - Deliveries per second: 1,000 changes of one user committed in one transaction; the time
 *   from its COMMIT to the receiver having all 1,000, which must arrive in commit order.
 *   Baseline: the same 1,000 signed bodies POSTed by hand, one after the other (the gateway
 *   keeps one delivery in flight per endpoint, to keep the order), to the same receiver.
 * A gateway with its jobs on must be running (bench/run.ts starts one): its delivery worker is one of them.
 */
export async function webhooksWorkload(ctx: BenchContext, gateway: ServerProcess): Promise<WorkloadResult> {
  const token = await benchAdminToken(ctx);
  const call = <T = any>(query: string, variables?: Record<string, unknown>) => graphqlData<T>(gateway.url, query, { token, variables });
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  const listener = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await listener.connect();
  const receiver = await startWebhookReceiver();
  let endpointId: string | undefined;
  try {
    const created = await call(CREATE_ENDPOINT, { input: { url: receiver.url, description: DESCRIPTION, eventTypes: ['USER_UPDATED'] } });
    endpointId = created.createWebhookEndpoint.endpoint.id as string;
    const secret = created.createWebhookEndpoint.secret as string;
    receiver.secrets = [secret];
    const [subject] = (await db.query<{ id: string }>('select id from users where email = $1', [seedUserEmail(3)])).rows;
    if (!subject) throw new Error('the bench user is not in the mirror: run the seed');

    const arrived = new Map<string, ReceivedWebhook>();
    let wake: () => void = () => {};
    receiver.onReceive = (entry) => {
      const name = entry.body.data.after?.firstName;
      if (typeof name === 'string') arrived.set(name, entry);
      wake();
    };
    const waitFor = async (name: string, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (!arrived.has(name)) {
        if (performance.now() > deadline) return undefined;
        await Promise.race([new Promise<void>((resolve) => (wake = resolve)), new Promise((resolve) => setTimeout(resolve, 100))]);
      }
      return arrived.get(name)!;
    };
    const commit = (name: string) => db.query('update users set first_name = $1 where id = $2', [name, subject.id]);

    await ctx.progress.step('webhooks: create an endpoint, and see a first change delivered', async () => {
      const name = `webhook warm-up ${Date.now()}`;
      await commit(name);
      if (!(await waitFor(name, 30_000))) throw new Error('no webhook reached the receiver within 30 s (is the gateway delivering?)');
    });
    const metricsBefore = await lagHistogram(gateway.url);

    const latencies: number[] = [];
    await ctx.progress.step(`webhooks: ${LATENCY_SAMPLES} changes, commit to receiver`, async () => {
      for (let n = 0; n < LATENCY_SAMPLES; n++) {
        const name = `Webhook ${n} ${Date.now()}`;
        const committing = performance.now();
        await commit(name);
        const entry = await waitFor(name, 60_000);
        if (!entry) throw new Error(`change ${n} was not delivered within 60 s`);
        latencies.push(entry.receivedAt - committing);
      }
    });
    const metricsAfter = await lagHistogram(gateway.url);

    // The floor: a committed NOTIFY, then the same signed body POSTed by the gateway's sender.
    const sample = [...arrived.values()].at(-1)!.body;
    const post = (name: string) => {
      const body = JSON.stringify({ ...sample, data: { ...sample.data, after: { ...sample.data.after, firstName: name } } });
      const message = { id: `msg_${randomUUID()}`, timestamp: new Date(), body };
      return sendWebhook(receiver.url, message, signatureHeader(message, [secret]), { timeoutMs: 10_000, policy: { allowPrivate: true } });
    };
    listener.on('notification', (message) => void post(message.payload ?? ''));
    await listener.query(`listen ${BASELINE_CHANNEL}`);
    const floor: number[] = [];
    await ctx.progress.step(`webhooks: ${LATENCY_SAMPLES} NOTIFYs, each POSTed by hand to the receiver (baseline)`, async () => {
      for (let n = 0; n < LATENCY_SAMPLES; n++) {
        const name = `by hand ${n} ${Date.now()}`;
        const committing = performance.now();
        await db.query('select pg_notify($1, $2)', [BASELINE_CHANNEL, name]);
        const entry = await waitFor(name, 60_000);
        if (!entry) throw new Error(`the hand POST ${n} did not arrive`);
        floor.push(entry.receivedAt - committing);
      }
    });

    // Deliveries per second: 1,000 changes in one transaction, each of another user (the
    // outbox makes one event per subject and transaction: the same user changed 1,000 times is one).
    const emails = Array.from({ length: BURST }, (_, n) => seedUserEmail(BURST_FIRST_USER + n));
    const ids = new Map(
      (await db.query<{ id: string; email: string }>('select id, email from users where email = any($1)', [emails])).rows.map((row) => [
        row.email,
        row.id,
      ]),
    );
    if (ids.size !== BURST) throw new Error(`${BURST} seeded users are needed for the burst; the mirror has ${ids.size} of them`);
    const names = Array.from({ length: BURST }, (_, n) => `burst ${String(n).padStart(4, '0')} ${Date.now()}`);
    let burstMs = 0;
    let inOrder = false;
    await ctx.progress.step(`webhooks: ${BURST} changes in one transaction, until the receiver has them all`, async () => {
      const from = receiver.received.length;
      await db.query('begin');
      for (const [n, name] of names.entries())
        await db.query('update users set first_name = $1 where id = $2', [name, ids.get(emails[n]!)]);
      const committing = performance.now();
      await db.query('commit');
      const deadline = performance.now() + 300_000;
      for (const name of names)
        if (!(await waitFor(name, deadline - performance.now())))
          throw new Error(`the ${BURST} changes were not all delivered within 5 minutes`);
      burstMs = Math.max(...names.map((name) => arrived.get(name)?.receivedAt ?? Number.POSITIVE_INFINITY)) - committing;
      const order = receiver.received
        .slice(from)
        .map((entry) => entry.body.data.after?.firstName)
        .filter((name) => names.includes(name));
      inOrder = order.length === BURST && order.every((name, i) => name === names[i]);
    });
    const byHand = names.map((name) => `hand ${name}`);
    let byHandMs = 0;
    await ctx.progress.step(`webhooks: the same ${BURST} bodies POSTed by hand, one after the other (baseline)`, async () => {
      const started = performance.now();
      for (const name of byHand) {
        const result = await post(name);
        if (!result.ok) throw new Error(`a hand POST failed: ${result.error}`);
      }
      byHandMs = performance.now() - started;
    });

    const p50 = percentileOf(latencies, 50);
    const p99 = percentileOf(latencies, 99);
    const floorP50 = percentileOf(floor, 50);
    const floorP99 = percentileOf(floor, 99);
    const rate = BURST / (burstMs / 1000);
    const floorRate = BURST / (byHandMs / 1000);
    const lag = metricsAfter && metricsBefore ? describeLag(metricsBefore, metricsAfter) : 'not read (no /metrics on the public port)';
    const workload = '8. Identity events';
    return {
      rows: [
        {
          workload,
          measure: `commit → webhook receiver p50 (${LATENCY_SAMPLES} changes, verified)`,
          gateway: `${number(p50)} ms`,
          baseline: `${number(floorP50)} ms (NOTIFY → listener → signed POST)`,
          ratio: ratio(p50 / floorP50),
          goal: '—',
          verdict: '',
        },
        {
          workload,
          measure: 'commit → webhook receiver p99',
          gateway: `${number(p99)} ms`,
          baseline: `${number(floorP99)} ms (NOTIFY → listener → signed POST)`,
          ratio: ratio(p99 / floorP99),
          goal: `≤ ${number(GOAL_P99_MS)} ms`,
          verdict: met(p99 <= GOAL_P99_MS, `${number(p99)} ms at p99`),
        },
        {
          workload,
          measure: `webhook deliveries/s to one endpoint (${BURST} changes in one transaction, commit → last arrival)`,
          gateway: `${number(rate)} /s (${number(burstMs / 1000)} s)`,
          baseline: `${number(floorRate)} /s (${number(byHandMs / 1000)} s: the same bodies POSTed by hand, one at a time)`,
          ratio: ratio(rate / floorRate),
          goal: 'in commit order',
          verdict: met(inOrder, inOrder ? `all ${BURST} in commit order` : `not in commit order`),
        },
      ],
      notes: [
        `Workload 8, webhooks: one endpoint made with \`createWebhookEndpoint\` (event type USER_UPDATED) for a receiver in the bench process (test/support/webhook-receiver.ts) that verifies every request with the \`standardwebhooks\` package and answers 204; ${receiver.unverified} requests failed verification. Changes are committed as for the subscriber path (an autocommit UPDATE of one seeded user's first name; the time runs from the statement's start to the verified request's arrival, both clocks in the bench process). The baseline commits a NOTIFY instead and its listener, in the bench, POSTs the same signed body with the gateway's own sender (src/modules/webhooks/webhook-sender.ts: a new connection a request, as the gateway sends): every delivery after commit pays at least that. The burst: ${BURST} UPDATEs in one transaction, each of another seeded user (the outbox makes one event per subject and transaction), timed from its COMMIT to the last arrival; its baseline POSTs the same ${BURST} bodies one after the other, since the gateway keeps one delivery in flight per endpoint to keep their order. The gateway runs its jobs (the delivery worker among them; the reconciler's full comparison an hour away, WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true for the loopback receiver). The gateway's own histogram iam_webhook_delivery_lag_seconds over the ${LATENCY_SAMPLES} changes (event time to 2xx, its buckets): ${lag}.`,
      ],
    };
  } finally {
    receiver.onReceive = undefined;
    if (endpointId) await call(DELETE_ENDPOINT, { id: endpointId }).catch(() => undefined);
    await receiver.close();
    await listener.end();
    await db.end();
  }
}

interface Histogram {
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

/** The gateway's iam_webhook_delivery_lag_seconds, read from its /metrics; undefined when it serves none there. */
async function lagHistogram(url: string): Promise<Histogram | undefined> {
  const response = await fetch(new URL('/metrics', url)).catch(() => undefined);
  if (!response?.ok) return undefined;
  const text = await response.text();
  const buckets = new Map<string, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const bucket = /^iam_webhook_delivery_lag_seconds_bucket\{le="([^"]+)"\} (\S+)/.exec(line);
    if (bucket) buckets.set(bucket[1]!, Number(bucket[2]));
    else if (line.startsWith('iam_webhook_delivery_lag_seconds_sum ')) sum = Number(line.split(' ')[1]);
    else if (line.startsWith('iam_webhook_delivery_lag_seconds_count ')) count = Number(line.split(' ')[1]);
  }
  return { buckets, sum, count };
}

/** The deliveries between two readings: their mean, and the buckets their p50 and p99 fall in. */
function describeLag(before: Histogram, after: Histogram): string {
  const count = after.count - before.count;
  if (count <= 0) return 'no deliveries counted';
  const within = (fraction: number) => {
    for (const [le, cumulative] of after.buckets) {
      if (cumulative - (before.buckets.get(le) ?? 0) >= fraction * count)
        return le === '+Inf' ? 'above the last bucket' : `≤ ${number(Number(le) * 1000)} ms`;
    }
    return '?';
  };
  return `${count} deliveries, mean ${number(((after.sum - before.sum) / count) * 1000)} ms, p50 ${within(0.5)}, p99 ${within(0.99)}`;
}
