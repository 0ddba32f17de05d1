import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { WebhooksConfig } from '../../config.js';
import { listenToChannel, type ChannelListener } from '../../db/channel-listener.js';
import { Journal } from '../../journal/journal.js';
import type { Logger } from '../../logger.js';
import type { Resolver } from './address-policy.js';
import type { EventFeed, FeedEvent } from './webhook.events.js';
import type { SecretBox } from './webhook-secrets.js';
import { sendWebhook, signatureHeader, type AttemptResult } from './webhook-sender.js';
import { originOf } from './webhook.service.js';
import { DELIVERIES_CHANNEL, DeliveryStatements, WebhooksQueries, type AttemptOutcome, type ClaimedDelivery } from './webhooks.queries.js';

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
  /** Listens for new events and redeliveries, and polls for retries, until stop. */
  start(): void;
  /** Stops listening and polling; waits for the run under way. */
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

  // Set by a wake-up: events may have been committed since the last queueing.
  let fresh = false;

  const runOnce = async (): Promise<DispatchRun> => {
    fresh = false;
    const run: DispatchRun = { queued: await fanOut(), attempted: 0, succeeded: 0 };
    let refill: Promise<void> | undefined;
    // Each worker takes the next due delivery until none is left. Events committed meanwhile
    // are queued by the first worker to run out (the others wait for it), so that an endpoint
    // slow to answer holds up its own deliveries only, not the run's other workers.
    const worker = async () => {
      for (;;) {
        if (await attemptOne(run)) continue;
        if (!fresh) return;
        refill ??= (async () => {
          fresh = false;
          run.queued += await fanOut();
        })().finally(() => {
          refill = undefined;
        });
        await refill;
      }
    };
    await Promise.all(Array.from({ length: config.concurrency }, worker));
    return run;
  };

  // Background: a run at a time; a wake-up during a run asks for another right after it.
  let stopped = true;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let listeners: ChannelListener[] = [];

  const schedule = (delayMs: number) => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(wake, Math.max(0, delayMs));
  };
  const wake = () => {
    if (stopped) return;
    fresh = true;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await runOnce();
        } catch (error) {
          log.warn({ err: error }, 'webhook delivery run failed; it runs again at the next poll');
        }
      } while (again && !stopped);
      const pollMs = config.pollSeconds * 1000;
      const due = await nextDue().catch(() => undefined);
      schedule(due ? Math.min(pollMs, due.getTime() - now().getTime()) : pollMs);
    })().finally(() => {
      running = undefined;
    });
  };
  const nextDue = async () => {
    const client = await pool.connect();
    try {
      return await new DeliveryStatements(client).nextDue();
    } finally {
      client.release();
    }
  };

  const stop = async () => {
    stopped = true;
    clearTimeout(timer);
    await Promise.all(listeners.map((listener) => listener.close()));
    listeners = [];
    await running;
  };

  return {
    runOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      listeners = [feed.channel, DELIVERIES_CHANNEL].map((channel) =>
        listenToChannel({
          databaseUrl: deps.databaseUrl,
          channel,
          onMessage: wake,
          // Announcements missed while not listening are caught up at once.
          onListening: (listening) => listening && wake(),
          log,
        }),
      );
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
