import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import type { BenchContext, WorkloadResult } from '../context.js';
import type { ServerProcess } from '../processes.js';
import { percentileOf } from '../load.js';
import { met } from '../report.js';
import { seedUserEmail } from '../seed.js';
import { number, ratio } from '../stats.js';
import { benchAdminToken } from './me.js';

/** Changes committed one after another, each waited for at the subscriber before the next. */
const LATENCY_SAMPLES = 200;
const FAN_OUT_SUBSCRIBERS = 1000;
const FAN_OUT_EVENTS = 20;
const SUBSCRIBE = 'subscription($filter: EventFilter) { identityEvents(filter: $filter) { id subjectId after } }';
const BASELINE_CHANNEL = 'bench_baseline';

/**
 * Identity events, end to end: a change committed in PostgreSQL (the mirror's own table, as
 * any writer changes it) reaches a graphql-ws subscriber of the gateway through the outbox's
 * triggers, the relay that numbers it, the process's reader and the subscription's rule.
 * - Commit to subscriber: one subscriber, changes committed one at a time; the time from the
 *   committing statement's start to the event's arrival. Baseline: PostgreSQL's own NOTIFY from a commit to
 *   a LISTENing connection, the floor any "after commit" delivery stands on.
 * - Fan-out: 1,000 subscribers on one gateway process, one change; the time until the last of
 *   them has it. Baseline: a bare WebSocket server sending one message to 1,000 sockets.
 */
export async function eventsWorkload(ctx: BenchContext, gateway: ServerProcess, bareSockets: ServerProcess): Promise<WorkloadResult> {
  const token = await benchAdminToken(ctx);
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  const clients: Client[] = [];
  const connect = () => {
    const client = createClient({
      url: gateway.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: false,
    });
    clients.push(client);
    return client;
  };
  try {
    const [subject] = (await db.query<{ id: string }>('select id from users where email = $1', [seedUserEmail(1)])).rows;
    if (!subject) throw new Error('the bench user is not in the mirror: run the seed');

    // Commit to subscriber.
    const arrived = new Map<string, number>();
    let wake: () => void = () => {};
    const waitFor = async (firstName: string) => {
      while (!arrived.has(firstName)) await new Promise<void>((resolve) => (wake = resolve));
      return arrived.get(firstName)!;
    };
    const client = connect();
    client.subscribe<{ identityEvents: { after: { firstName?: string } | null } }>(
      { query: SUBSCRIBE, variables: { filter: { subjectId: subject.id, types: ['USER_UPDATED'] } } },
      {
        next: (result) => {
          const name = result.data?.identityEvents.after?.firstName;
          if (name) arrived.set(name, performance.now());
          wake();
        },
        error: (error) => {
          throw new Error(`the subscription failed: ${JSON.stringify(error)}`);
        },
        complete: () => {},
      },
    );
    // Subscribed once a change arrives.
    await ctx.progress.step('events: subscribe, and see a first change arrive', async () => {
      for (let attempt = 0; attempt < 100 && arrived.size === 0; attempt++) {
        const name = `warm-up ${attempt} ${Date.now()}`;
        await db.query('update users set first_name = $1 where id = $2', [name, subject.id]);
        await Promise.race([waitFor(name), new Promise((resolve) => setTimeout(resolve, 100))]);
      }
      if (arrived.size === 0) throw new Error('no event reached the subscriber');
    });
    const latencies: number[] = [];
    await ctx.progress.step(`events: ${LATENCY_SAMPLES} changes, commit to subscriber`, async () => {
      for (let n = 0; n < LATENCY_SAMPLES; n++) {
        const name = `Bench ${n} ${Date.now()}`;
        const committing = performance.now();
        await db.query('update users set first_name = $1 where id = $2', [name, subject.id]);
        latencies.push((await waitFor(name)) - committing);
      }
    });

    // The floor: NOTIFY from a commit to a listener.
    const listener = new pg.Client({ connectionString: ctx.config.databaseUrl });
    await listener.connect();
    const notified = new Map<string, number>();
    let notify: () => void = () => {};
    listener.on('notification', (message) => {
      notified.set(message.payload ?? '', performance.now());
      notify();
    });
    await listener.query(`listen ${BASELINE_CHANNEL}`);
    const floor: number[] = [];
    await ctx.progress.step(`events: ${LATENCY_SAMPLES} NOTIFYs, commit to listener (baseline)`, async () => {
      for (let n = 0; n < LATENCY_SAMPLES; n++) {
        const payload = `n${n}`;
        const committing = performance.now();
        await db.query('select pg_notify($1, $2)', [BASELINE_CHANNEL, payload]);
        while (!notified.has(payload)) await new Promise<void>((resolve) => (notify = resolve));
        floor.push(notified.get(payload)! - committing);
      }
    });
    await listener.end();

    // Fan-out.
    const fanOut: number[] = [];
    const fanOutFloor: number[] = [];
    await ctx.progress.step(`events: ${FAN_OUT_SUBSCRIBERS} subscribers, ${FAN_OUT_EVENTS} changes (fan-out)`, async () => {
      const received = new Map<string, number[]>();
      let progressed: () => void = () => {};
      for (let i = 0; i < FAN_OUT_SUBSCRIBERS; i++) {
        connect().subscribe<{ identityEvents: { after: { firstName?: string } | null } }>(
          { query: SUBSCRIBE, variables: { filter: { subjectId: subject.id, types: ['USER_UPDATED'] } } },
          {
            next: (result) => {
              const name = result.data?.identityEvents.after?.firstName;
              if (!name) return;
              const times = received.get(name) ?? [];
              times.push(performance.now());
              received.set(name, times);
              progressed();
            },
            error: () => {},
            complete: () => {},
          },
        );
      }
      // Every subscriber has a warm-up change before the measured ones.
      const allHave = async (name: string, timeoutMs: number) => {
        const deadline = performance.now() + timeoutMs;
        while ((received.get(name)?.length ?? 0) < FAN_OUT_SUBSCRIBERS) {
          if (performance.now() > deadline) return false;
          await Promise.race([new Promise<void>((resolve) => (progressed = resolve)), new Promise((resolve) => setTimeout(resolve, 200))]);
        }
        return true;
      };
      let ready = false;
      for (let attempt = 0; attempt < 50 && !ready; attempt++) {
        const name = `fan-out warm-up ${attempt} ${Date.now()}`;
        await db.query('update users set first_name = $1 where id = $2', [name, subject.id]);
        ready = await allHave(name, 2000);
      }
      if (!ready) throw new Error(`not every one of ${FAN_OUT_SUBSCRIBERS} subscribers received the warm-up change`);
      for (let n = 0; n < FAN_OUT_EVENTS; n++) {
        const name = `fan-out ${n} ${Date.now()}`;
        const committing = performance.now();
        await db.query('update users set first_name = $1 where id = $2', [name, subject.id]);
        if (!(await allHave(name, 10_000))) throw new Error('a fan-out change did not reach every subscriber within 10 s');
        fanOut.push(Math.max(...received.get(name)!) - committing);
      }
      await Promise.all(clients.splice(0).map((c) => c.dispose()));

      // The floor: the same number of plain sockets, one message each.
      const sockets = await Promise.all(
        Array.from(
          { length: FAN_OUT_SUBSCRIBERS },
          () =>
            new Promise<WebSocket>((resolve, reject) => {
              const socket = new WebSocket(bareSockets.url);
              socket.once('open', () => resolve(socket));
              socket.once('error', reject);
            }),
        ),
      );
      const got = new Map<string, number[]>();
      for (const socket of sockets) {
        socket.on('message', (data) => {
          const key = String(data);
          const times = got.get(key) ?? [];
          times.push(performance.now());
          got.set(key, times);
          progressed();
        });
      }
      for (let n = 0; n < FAN_OUT_EVENTS; n++) {
        const key = `m${n}`;
        const sent = performance.now();
        await bareSockets.command(`broadcast ${key}`);
        while ((got.get(key)?.length ?? 0) < FAN_OUT_SUBSCRIBERS) await new Promise<void>((resolve) => (progressed = resolve));
        fanOutFloor.push(Math.max(...got.get(key)!) - sent);
      }
      for (const socket of sockets) socket.close();
    });

    const p50 = percentileOf(latencies, 50);
    const p99 = percentileOf(latencies, 99);
    const floorP50 = percentileOf(floor, 50);
    const floorP99 = percentileOf(floor, 99);
    const fanP50 = percentileOf(fanOut, 50);
    const fanP99 = percentileOf(fanOut, 99);
    const fanFloorP99 = percentileOf(fanOutFloor, 99);
    const workload = '8. Identity events';
    return {
      rows: [
        {
          workload,
          measure: `commit → subscriber p50 (${LATENCY_SAMPLES} changes)`,
          gateway: `${number(p50)} ms`,
          baseline: `${number(floorP50)} ms (NOTIFY → listener)`,
          ratio: ratio(p50 / floorP50),
          goal: '—',
          verdict: '',
        },
        {
          workload,
          measure: 'commit → subscriber p99',
          gateway: `${number(p99)} ms`,
          baseline: `${number(floorP99)} ms (NOTIFY → listener)`,
          ratio: ratio(p99 / floorP99),
          goal: '≤ 200 ms',
          verdict: met(p99 <= 200, `${number(p99)} ms at p99`),
        },
        {
          workload,
          measure: `fan-out: ${FAN_OUT_SUBSCRIBERS} subscribers, commit → last one, p50 / p99 (${FAN_OUT_EVENTS} changes)`,
          gateway: `${number(fanP50)} / ${number(fanP99)} ms`,
          baseline: `${number(fanFloorP99)} ms p99 (bare ws broadcast)`,
          ratio: ratio(fanP99 / fanFloorP99),
          goal: '≤ 500 ms at p99',
          verdict: met(fanP99 <= 500, `${number(fanP99)} ms at p99`),
        },
      ],
      notes: [
        `Workload 8: changes are committed straight to the mirror's users table (the outbox's triggers make the event, as for any writer), one at a time, each waited for at the subscriber; the time runs from the committing statement's start (an autocommit UPDATE, or for the baseline a NOTIFY) to the event's arrival, both clocks in the bench process. The subscribers connect over graphql-ws as ROLE_ADMIN with a filter on the changed user. The fan-out's subscribers all run in the bench process, beside the gateway's.`,
      ],
    };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await db.end();
  }
}
