import { setTimeout as delay } from 'node:timers/promises';
import { PgBoss, type SendOptions } from 'pg-boss';
import type { Logger } from '../logger.js';

/**
 * The gateway's job engine: pg-boss, one instance per process, on the gateway's own database
 * in a schema of its own (`pgboss`) that it creates and migrates itself at start.
 *
 * Why pg-boss rather than graphile-worker, or the lease table and timers we had:
 * - per-job heartbeats: a process that dies mid-run stops heartbeating and the job is handed
 *   to another process within HEARTBEAT_SECONDS + SUPERVISE_SECONDS, where graphile-worker
 *   waits out a 4-hour stale lock;
 * - queue policies say "one run at a time across processes" declaratively: `stately` keeps
 *   at most one job queued and one active (per singletonKey), so a run asked for during a run
 *   is queued once, never twice, and never overlaps it;
 * - LISTEN/NOTIFY wake-ups (`useListenNotify`, queue `notify`) for work that must start at
 *   once (webhook delivery), with polling kept as the fallback;
 * - it owns its schema and migrates it itself, and can enqueue inside a transaction of ours
 *   (`send(..., { db })`). The relay does not need that: it queues a delivery run after its
 *   commit, and one lost between the two (the process dies) is caught by the next run queued
 *   for retries, WEBHOOK_POLL_SECONDS later at most.
 */
export interface JobEngine {
  /** Starts pg-boss once (later calls wait for the same start), then applies the registrations. */
  start(): Promise<void>;
  /**
   * A job run at most once at a time across every process of the fleet, `intervalSeconds`
   * after the end of the last run (whichever process ran it), the first one `firstDelaySeconds`
   * after the first process starts it. Takes effect when the engine starts (at once if it has).
   */
  periodic(name: string, timing: { intervalSeconds: number; firstDelaySeconds: number }, run: () => Promise<unknown>): void;
  /**
   * Registers work to do once the engine runs (queues, workers): at once if it does already.
   * A setup uses the `boss` it is given, not `send` (which waits for the setups to finish).
   */
  register(setup: (boss: PgBoss) => Promise<void>): void;
  /** Sends a job once the engine runs; null when the queue's policy kept it out (one is queued already). */
  send(queue: string, data: object | null, options?: SendOptions): Promise<string | null>;
  /** Stops the workers of `queue`, waiting for its runs under way. */
  offWork(queue: string): Promise<void>;
  /** Stops every worker, waits for the runs under way (bounded), and closes pg-boss's connections. */
  stop(): Promise<void>;
}

/**
 * Queues a run of `name` at `startAfter` (a date, or seconds from now). A queue whose policy
 * keeps one waiting run (per `singletonKey`) refuses a second one: a waiting run due later than
 * `bringForwardPast` is then brought forward to `startAfter`, so that the sooner time holds.
 */
export async function queueRun(
  boss: PgBoss,
  name: string,
  { startAfter, singletonKey, bringForwardPast }: { startAfter: Date | number; singletonKey?: string; bringForwardPast: Date },
): Promise<void> {
  if ((await boss.send(name, null, { startAfter, ...(singletonKey && { singletonKey }) })) !== null) return;
  const waiting = await boss.findJobs(name, { queued: true, ...(singletonKey && { key: singletonKey }) });
  for (const job of waiting) {
    if (job.state === 'created' && job.startAfter.getTime() > bringForwardPast.getTime()) {
      await boss.update(name, undefined, { id: job.id, startAfter });
    }
  }
}

/**
 * How often a worker proves a job is still being worked on; a job without proof for this long
 * is failed and retried elsewhere. pg-boss's floor is 10.
 */
export const HEARTBEAT_SECONDS = 10;
/**
 * How often the supervisor (in every process with `supervise`) looks for jobs whose heartbeat
 * stopped: with HEARTBEAT_SECONDS, a killed process frees its job within about 15 s.
 */
const SUPERVISE_SECONDS = 5;
/** How long stopping waits for runs under way before closing the connections under them. */
const STOP_TIMEOUT_MS = 20_000;
/**
 * A periodic job never exhausts its retries: a run that fails is logged and the next one
 * scheduled by the handler itself; retries only happen when a process died mid-run.
 */
const PERIODIC_RETRIES = 1_000_000;
/** Starting is tried this many times, about 8 hours (pg-boss waits up to 30 s between tries). */
const START_ATTEMPTS = 1000;
/** The longest wait between two tries of a setup (a queue, a worker) that failed. */
const SETUP_RETRY_MAX_MS = 30_000;

export function createJobEngine(deps: {
  databaseUrl: string;
  log: Logger;
  /**
   * Whether this process runs jobs: it then watches for stalled ones and listens for new ones.
   * One that does not only queues work for the others, on fewer connections.
   */
  runsJobs: boolean;
}): JobEngine {
  const log = deps.log.child({ component: 'job-engine' });
  const boss = new PgBoss({
    connectionString: deps.databaseUrl,
    schema: 'pgboss',
    application_name: 'iam-gateway jobs',
    // PostgreSQL's connections are shared by every process: few, as queries here are short.
    max: deps.runsJobs ? 3 : 2,
    supervise: deps.runsJobs,
    superviseIntervalSeconds: SUPERVISE_SECONDS,
    monitorIntervalSeconds: SUPERVISE_SECONDS,
    // No cron schedules: periodic jobs schedule their next run themselves, to the second.
    schedule: false,
    useListenNotify: deps.runsJobs,
  });
  boss.on('error', (error) => log.warn({ err: error }, 'the job engine reported an error; it retries on its own'));

  const setups: ((boss: PgBoss) => Promise<void>)[] = [];
  let starting: Promise<void> | undefined;
  /** pg-boss has started: only from then on may it have workers to take off. */
  let running = false;
  let stopping: Promise<void> | undefined;

  const stopped = new AbortController();

  /** Runs a setup until it succeeds (PostgreSQL may be away for a while): setups are idempotent. */
  const apply = async (setup: (boss: PgBoss) => Promise<void>) => {
    for (let attempt = 1; !stopped.signal.aborted; attempt++) {
      try {
        await setup(boss);
        return;
      } catch (error) {
        if (stopped.signal.aborted) return;
        log.warn({ err: error, attempt }, 'a background job could not be set up; trying again');
        await delay(Math.min(1000 * 2 ** (attempt - 1), SETUP_RETRY_MAX_MS), undefined, { signal: stopped.signal }).catch(() => {});
      }
    }
  };

  const start = (): Promise<void> => {
    starting ??= (async () => {
      // A process may start while PostgreSQL is away, or lose it while starting: pg-boss tries
      // again, waits doubling up to 30 s, until stop.
      await boss.start({ attempts: START_ATTEMPTS });
      running = true;
      for (const setup of setups) await apply(setup);
    })();
    return starting;
  };

  const register = (setup: (boss: PgBoss) => Promise<void>) => {
    setups.push(setup);
    if (starting)
      void starting.then(
        () => apply(setup),
        () => {},
      );
  };

  return {
    start,
    register,
    periodic(name, timing, run) {
      const next = (delaySeconds: number) => boss.send(name, null, { startAfter: Math.max(0, Math.round(delaySeconds)) });
      let working = false;
      register(async () => {
        await boss.createQueue(name, {
          policy: 'stately',
          heartbeatSeconds: HEARTBEAT_SECONDS,
          retryLimit: PERIODIC_RETRIES,
          retryDelay: 1,
          // A run may be long (a full comparison of a large realm); a dead process is found by
          // its heartbeat, not by this.
          expireInSeconds: 4 * 3600,
          deleteAfterSeconds: 3600,
        });
        if (!working) {
          await boss.work(name, { pollingIntervalSeconds: Math.min(2, Math.max(0.5, timing.intervalSeconds / 2)) }, async () => {
            try {
              await run();
            } catch (error) {
              log.warn({ err: error, job: name }, 'background job run failed; it runs again at its next interval');
            }
            // Queued while this one is active: the stately policy takes it (one queued, one
            // active); the first runs' sends of other processes find the slot taken.
            await next(timing.intervalSeconds);
          });
          working = true;
        }
        // The slot may be taken by a run due later than this process's whole interval (one
        // queued by a process configured with a longer interval, or before a restart with a
        // shorter one): that run is brought forward, so that the shortest interval holds.
        await queueRun(boss, name, {
          startAfter: Math.max(0, Math.round(timing.firstDelaySeconds)),
          bringForwardPast: new Date(Date.now() + timing.intervalSeconds * 1000),
        });
      });
    },
    async send(queue, data, options) {
      if (stopping) return null;
      await start();
      return boss.send(queue, data, options);
    },
    async offWork(queue) {
      // Not while pg-boss is still starting: a start that PostgreSQL keeps refusing retries for
      // hours, and waiting for it here held a gateway's stop for as long (a chaos test's close).
      // A worker registered once it starts is stopped with the engine.
      if (!running) return;
      await boss.offWork(queue, { wait: true });
    },
    stop() {
      stopping ??= (async () => {
        stopped.abort();
        if (!starting) return;
        // pg-boss's own stop ends a start that waits between attempts, and waits for an attempt
        // under way; waiting for `starting` first would wait out every retry.
        await boss.stop({ graceful: true, timeout: STOP_TIMEOUT_MS });
        await starting.catch(() => {});
      })();
      return stopping;
    },
  };
}
