import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { PgBoss } from 'pg-boss';
import type { WebhooksConfig } from '../../config.js';
import { listenToChannel, type ChannelListener } from '../../db/channel-listener.js';
import { HEARTBEAT_SECONDS, type JobEngine, queueRun } from '../../jobs/job-engine.js';
import { Journal } from '../../journal/journal.js';
import type { Logger } from '../../logger.js';
import type { Resolver } from './address-policy.js';
import type { EventFeed, FeedEvent } from './webhook.events.js';
import type { SecretBox } from './webhook-secrets.js';
import { sendWebhook, signatureHeader, type AttemptResult } from './webhook-sender.js';
import { originOf } from './webhook.service.js';
import { DELIVERIES_CHANNEL, DeliveryStatements, WebhooksQueries, type AttemptOutcome, type ClaimedDelivery } from './webhooks.queries.js';

/** The job engine's queue of delivery runs, and its two keys: a run now, and the next poll. */
const DELIVERY_QUEUE = 'webhook-delivery';
const WAKE = 'wake';
const DUE = 'due';
/** The soonest a run queues the next poll (pollAgain). */
const MIN_POLL_MS = 1000;
/** Events read from the outbox per endpoint and statement. */
const FAN_OUT_BATCH = 500;
/** The first retry waits about this long; each next one twice as long, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 6 * 3600_000;

/**
 * The wait before attempt `attempt + 1`, after `attempt` failed ones: exponential (5 s, 10 s,
 * 20 s ... up to 6 h) with jitter, half of it random, so that endpoints that failed together
 * are not retried together. Over the 3-day retry period that is about 25 attempts.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface DispatchRun {
  /** Deliveries queued from new events. */
  queued: number;
  /** Attempts made, and how many of them succeeded. */
  attempted: number;
  succeeded: number;
}

export interface WebhookDispatcher {
  /** Queues deliveries of new events, then makes every attempt due now, until none is left. */
  runOnce(): Promise<DispatchRun>;
  /** Runs deliveries as jobs of the engine, woken by new events and redeliveries, polling for retries, until stop. */
  start(): void;
  /** Queues a delivery run now (the relay calls it when events got positions); nothing before start. */
  wake(): void;
  /** Stops this process's delivery worker; waits for the run under way. */
  stop(): Promise<void>;
  /** Stops, and closes the delivery connections. */
  close(): Promise<void>;
}

export interface DispatcherDependencies {
  databaseUrl: string;
  em: EntityManager;
  feed: EventFeed;
  box: SecretBox;
  config: WebhooksConfig;
  /** The delivery clock: when attempts are due (tests move it instead of waiting). */
  now: () => Date;
  /** Resolves endpoint hosts at delivery (the system's DNS unless a test gives another). */
  resolve?: Resolver;
  log: Logger;
  /** Where background runs are queued (src/jobs/job-engine.ts). */
  engine: JobEngine;
  /** Told of each attempt (the metrics); for a delivered one, how long after its event. */
  onAttempt?: (attempt: { delivered: boolean; lagSeconds?: number }) => void;
}

/**
 * Delivers identity events to webhook endpoints, at least once, in order per endpoint.
 *
 * Every process may run it: work is claimed in PostgreSQL only. Queueing locks the endpoints
 * (FOR UPDATE SKIP LOCKED) while it reads the outbox after each one's position and writes the
 * deliveries. An attempt claims the delivery at the head of its endpoint's queue, FOR UPDATE
 * SKIP LOCKED, and holds that row lock in a transaction for the length of the HTTP attempt;
 * the attempt's outcome is written in the same transaction. So:
 * - one delivery per endpoint is in flight (a later one is not at the head while an earlier
 *   is pending, retrying included), whichever process makes it;
 * - a process that dies mid-send loses its connection, PostgreSQL rolls the claim back, and
 *   the delivery is due again for any other process at once: no lease to wait out. The
 *   receiver may then see it twice, with the same webhook-id (at least once).
 * Those transactions run on a small pool of the dispatcher's own, so that requests never wait
 * for a connection behind a slow endpoint.
 *
 * After a failed attempt the delivery waits (backoffMs). When it has failed for
 * `retryHours` since its first attempt (3 days: with order kept, the endpoint took no
 * delivery at all in that time), it is FAILED and its endpoint disabled, journalled as
 * WEBHOOK_ENDPOINT_DISABLE: the deliveries behind it wait, PENDING, until an administrator
 * turns the endpoint on again.
 */
export function createWebhookDispatcher(deps: DispatcherDependencies): WebhookDispatcher {
  const { config, feed, box, now } = deps;
  const log = deps.log.child({ component: 'webhooks' });
  const pool = new pg.Pool({
    connectionString: deps.databaseUrl,
    max: config.concurrency + 1,
    application_name: 'iam-gateway webhook delivery',
  });
  pool.on('error', (error) => log.warn({ err: error }, 'a webhook delivery connection failed'));
  const journal = new Journal(deps.em.fork(), log);
  const inFlight = new Set<string>();

  const fanOut = async (): Promise<number> => {
    let queued = 0;
    await deps.em.fork().transactional(async (em) => {
      const queries = new WebhooksQueries(em);
      for (const endpoint of await queries.lockEndpointsForFanOut()) {
        let position = endpoint.eventPosition;
        for (;;) {
          const events = await feed.after(em, position, FAN_OUT_BATCH);
          if (events.length === 0) break;
          position = events.at(-1)!.position;
          const wanted = events.filter((event) => endpoint.eventTypes.length === 0 || endpoint.eventTypes.includes(event.type));
          await queries.queue(endpoint.id, wanted, position, now());
          queued += wanted.length;
          if (events.length < FAN_OUT_BATCH) break;
        }
      }
    });
    return queued;
  };

  /** Claims and makes one due attempt; false when nothing is due (or everything due is claimed elsewhere). */
  const attemptOne = async (run: DispatchRun): Promise<boolean> => {
    const client = await pool.connect();
    let claimed: ClaimedDelivery | undefined;
    try {
      await client.query('begin');
      const statements = new DeliveryStatements(client);
      claimed = await statements.claimNext(now(), [...inFlight]);
      if (!claimed) {
        await client.query('rollback');
        return false;
      }
      inFlight.add(claimed.endpointId);
      const outcome = await attempt(statements, claimed);
      run.attempted++;
      if (outcome.status === 'SUCCEEDED') run.succeeded++;
      if (outcome.status === 'FAILED') await disableEndpoint(claimed, outcome);
      await statements.record(claimed, outcome);
      await client.query('commit');
      return true;
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      if (claimed) inFlight.delete(claimed.endpointId);
      client.release();
    }
  };

  const attempt = async (statements: DeliveryStatements, delivery: ClaimedDelivery): Promise<AttemptOutcome> => {
    const endpoint = await statements.endpoint(delivery.endpointId);
    const [event] = await feed.byIds(deps.em.fork(), [delivery.eventId]);
    const started = now();
    let result: AttemptResult;
    if (!endpoint || !event) {
      result = { ok: false, error: endpoint ? 'the event is no longer kept' : 'the endpoint is gone' };
    } else {
      const secrets = [box.open(endpoint.sealedSecret, endpoint.id)];
      if (endpoint.sealedPreviousSecret && endpoint.previousSecretUntil && endpoint.previousSecretUntil > started) {
        secrets.push(box.open(endpoint.sealedPreviousSecret, endpoint.id));
      }
      const usable = secrets.filter((secret): secret is string => secret !== undefined);
      if (usable.length === 0) {
        log.error(
          { endpointId: endpoint.id },
          "a webhook endpoint's signing secret cannot be decrypted: WEBHOOK_SECRET_KEY (or KEYCLOAK_API_CLIENT_SECRET) changed since it was made; rotate its secret",
        );
        result = { ok: false, error: 'the signing secret cannot be decrypted with the server key' };
      } else {
        // The timestamp is the real time of signing, whatever the delivery clock says: receivers
        // check it against their own clock to refuse replays.
        const message = { id: delivery.id, timestamp: new Date(), body: bodyOf(event) };
        result = await sendWebhook(endpoint.url, message, signatureHeader(message, usable), {
          timeoutMs: config.timeoutSeconds * 1000,
          policy: { allowPrivate: config.allowPrivateAddresses },
          resolve: deps.resolve,
        });
        if (!result.ok) {
          log.info(
            { endpointId: endpoint.id, origin: originOf(endpoint.url), deliveryId: delivery.id, error: result.error },
            'webhook attempt failed',
          );
        }
      }
    }
    const at = now();
    deps.onAttempt?.({ delivered: result.ok, lagSeconds: event && (Date.now() - event.occurredAt.getTime()) / 1000 });
    if (result.ok) return { status: 'SUCCEEDED', now: at, nextAttemptAt: null, responseStatus: result.status ?? null, error: null };
    const firstAttemptAt = delivery.firstAttemptAt ?? at;
    const exhausted = at.getTime() - firstAttemptAt.getTime() >= config.retryHours * 3600_000;
    return {
      status: exhausted ? 'FAILED' : 'PENDING',
      now: at,
      nextAttemptAt: exhausted ? null : new Date(at.getTime() + backoffMs(delivery.attempts + 1)),
      responseStatus: result.status ?? null,
      error: result.error ?? null,
    };
  };

  const disableEndpoint = async (delivery: ClaimedDelivery, outcome: AttemptOutcome) => {
    const [endpoint] = await new WebhooksQueries(deps.em.fork()).findByIds([delivery.endpointId]);
    const reason = `every delivery attempt failed for ${config.retryHours} hours (last: ${outcome.error ?? 'failed'})`;
    await journal.writeLocal(
      {
        action: 'WEBHOOK_ENDPOINT_DISABLE',
        targetType: 'WebhookEndpoint',
        targetId: delivery.endpointId,
        actorId: null,
        details: {
          reason,
          origin: endpoint ? originOf(endpoint.url) : undefined,
          deliveryId: delivery.id,
          eventId: delivery.eventId,
          attempts: delivery.attempts + 1,
          failingSince: (delivery.firstAttemptAt ?? outcome.now).toISOString(),
        },
      },
      (em) => new WebhooksQueries(em).disable(delivery.endpointId, reason, outcome.now),
    );
    log.warn(
      { endpointId: delivery.endpointId, origin: endpoint && originOf(endpoint.url) },
      'webhook endpoint disabled after sustained failure',
    );
  };

  const runOnce = async (): Promise<DispatchRun> => {
    const run: DispatchRun = { queued: await fanOut(), attempted: 0, succeeded: 0 };
    // Each worker takes the next due delivery until none is left. Events committed meanwhile
    // are another run's (a wake-up queues it, and it starts beside this one): an endpoint slow
    // to answer holds up its own deliveries only.
    const worker = async () => {
      while (await attemptOne(run));
    };
    await Promise.all(Array.from({ length: config.concurrency }, worker));
    return run;
  };

  // Background: runs are jobs of the engine's DELIVERY_QUEUE. A wake-up queues one to run at
  // once (WAKE); every run ends by queueing the next poll (DUE) for the earliest retry, or
  // pollSeconds from now. The queue's policy is `short`: at most one job queued per key across
  // the fleet (wake-ups during a run queue one more, not one each), any number running: runs
  // may overlap, in one process or several, because order and one-in-flight per endpoint are
  // the claims' (above), not the scheduler's. A process killed mid-run loses its claims with
  // its connection (the deliveries are due again at once), and its job, heartbeat lost, is
  // retried elsewhere within about 15 s.
  let started = false;

  // From any process, running deliveries or not: the relay of one that does not wakes the others.
  const wake = () => {
    deps.engine
      .send(DELIVERY_QUEUE, null, { singletonKey: WAKE })
      .catch((error: unknown) => log.warn({ err: error }, 'could not queue a webhook delivery run; the next poll runs it'));
  };
  const nextDue = async () => {
    const client = await pool.connect();
    try {
      return await new DeliveryStatements(client).nextDue();
    } finally {
      client.release();
    }
  };
  const pollAgain = async (boss: PgBoss) => {
    const pollMs = config.pollSeconds * 1000;
    const due = await nextDue().catch(() => undefined);
    // At least a second: a head still due when a run ends is being attempted by another worker
    // (it stays pending, with its old time, until that attempt ends), and a run at once would
    // find it held again, and again, for the attempt's whole length.
    const delayMs = due ? Math.min(pollMs, Math.max(MIN_POLL_MS, due.getTime() - now().getTime())) : pollMs;
    // A poll already waiting for later is brought forward: a retry is not held until the poll a
    // quiet run queued.
    const startAfter = new Date(Date.now() + delayMs);
    await queueRun(boss, DELIVERY_QUEUE, { startAfter, singletonKey: DUE, bringForwardPast: startAfter });
  };

  // The queue exists for every process, whether it delivers or only wakes those that do.
  deps.engine.register(async (boss) => {
    await boss.createQueue(DELIVERY_QUEUE, {
      policy: 'short',
      notify: true,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      retryLimit: 1_000_000,
      retryDelay: 1,
      // A run goes on while deliveries are due: long behind slow endpoints; a dead process is
      // found by its heartbeat.
      expireInSeconds: 4 * 3600,
      deleteAfterSeconds: 3600,
    });
  });
  let working = false;
  const work = async (boss: PgBoss) => {
    if (!started) return;
    // Two at once: a wake-up's run starts while one waits on a slow endpoint (they share the pool).
    if (!working)
      await boss.work(DELIVERY_QUEUE, { localConcurrency: 2, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1 }, async () => {
        try {
          await runOnce();
        } catch (error) {
          log.warn({ err: error }, 'webhook delivery run failed; it runs again at the next poll');
        }
        await pollAgain(boss);
      });
    working = true;
    await pollAgain(boss);
  };

  let listener: ChannelListener | undefined;
  const stop = async () => {
    if (!started) return;
    started = false;
    await listener?.close();
    listener = undefined;
    await deps.engine.offWork(DELIVERY_QUEUE);
    working = false;
  };

  return {
    runOnce,
    wake,
    start() {
      if (started) return;
      started = true;
      // Redeliveries and endpoints turned on again are announced on DELIVERIES_CHANNEL; new
      // events by the relay (wake).
      listener = listenToChannel({
        databaseUrl: deps.databaseUrl,
        channel: DELIVERIES_CHANNEL,
        onMessage: wake,
        // Announcements missed while not listening are caught up at once.
        onListening: (listening) => listening && wake(),
        log,
      });
      deps.engine.register(work);
      deps.engine
        .start()
        .catch((error: unknown) => log.error({ err: error }, 'the job engine did not start; webhooks are not delivered by this process'));
      wake();
    },
    stop,
    async close() {
      await stop();
      await pool.end();
    },
  };
}

/** The request body: the Standard Webhooks envelope (type, timestamp, data) around the event. */
export function bodyOf(event: FeedEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt.toISOString(), data: event.data });
}
