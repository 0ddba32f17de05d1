import type { EntityManager } from '@mikro-orm/postgresql';
import type { JobsConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { keycloakAdminEvents } from '../keycloak/admin-events.js';
import { createServices, type ServiceDependencies } from '../services.js';
import type { JobEngine } from './job-engine.js';
import { followAdminEvents, type AdminEventsRun, type FollowedRealm } from './admin-events.js';
import { reconcile, type ReconcileRun } from './reconciler.js';
import { syncPendingUsers, type UserSyncRun } from './user-sync.js';

export interface Jobs {
  /** One run of the user sync now, in this process (tests call it directly; `now` moves past backoffs). */
  syncPendingUsers(now?: Date): Promise<UserSyncRun>;
  /** One run of the reconciler now, in this process, outside the queue (tests, on demand). */
  reconcile(now?: Date): Promise<ReconcileRun>;
  /** One read of Keycloak's admin events now, in this process, outside the queue. */
  followAdminEvents(now?: Date): Promise<AdminEventsRun>;
  /** Runs them, and the purge of expired idempotency keys, as queues of the job engine. */
  start(): void;
  /** Stops this process's workers and waits for the runs under way. */
  stop(): Promise<void>;
}

/** The engine's queues of the periodic jobs: each runs at most once at a time across all processes. */
const QUEUES = {
  userSync: 'user-sync',
  reconciler: 'reconciler',
  adminEvents: 'admin-events',
  idempotencyPurge: 'idempotency-purge',
} as const;

/**
 * The gateway's background work, on the job engine (src/jobs/job-engine.ts). Every process
 * may run it: each job is a `stately` queue, so one run at a time across the fleet, the next
 * one queued by the run before it at its interval; a process that dies mid-run stops
 * heartbeating and another takes the job over within about 15 s. Within a run, the user sync
 * still claims users row by row (domain state, not scheduling).
 */
export function createJobs(deps: {
  em: EntityManager;
  /** What the jobs' service graph is built from: the same graph as requests get (src/services.ts). */
  services: ServiceDependencies;
  log: Logger;
  config: JobsConfig;
  /** Where the jobs are queued and run; absent, they run on demand only. */
  engine?: JobEngine;
  /** Told what each run did; absent, nothing is counted. */
  metrics?: Pick<Metrics, 'userSyncRun' | 'reconcilerRun' | 'adminEventsRun'>;
}): Jobs {
  const { em, config, engine } = deps;
  const { keycloak, tenantRealms } = deps.services;
  const log = deps.log.child({ component: 'jobs' });
  // The identity events of their writes: the sync job's are SYNC; the reconciler's apply Keycloak's changes.
  const syncServices = (fork: EntityManager) => createServices(fork, deps.services, log, 'SYNC');
  const services = (fork: EntityManager) => createServices(fork, deps.services, log, 'KEYCLOAK');
  let started = false;

  const syncOnce = async (now = new Date()) => {
    const run = await syncPendingUsers(
      { em, services: syncServices, log },
      {
        batchSize: config.syncBatchSize,
        leaseSeconds: config.syncLeaseSeconds,
        baseBackoffSeconds: config.syncIntervalSeconds,
        maxBackoffSeconds: config.syncMaxBackoffSeconds,
      },
      now,
    );
    deps.metrics?.userSyncRun(run);
    return run;
  };

  /** The tenant realms recorded in PostgreSQL by any process (realm tenancy); none otherwise. */
  const knownTenantRealms = async (): Promise<readonly string[]> => {
    if (!tenantRealms) return [];
    await tenantRealms.refresh();
    return tenantRealms.trusted();
  };

  const reconcileOnce = async (now = new Date()): Promise<ReconcileRun> => {
    const run = await reconcile(
      { em, keycloak, services, log, tenantRealms: knownTenantRealms },
      { pendingTimeoutSeconds: config.pendingTimeoutSeconds },
      now,
    );
    const { usersHeldAtMost: _held, ...healed } = run;
    deps.metrics?.reconcilerRun(healed);
    return run;
  };

  // A queue of its own: a long full comparison does not hold back the events, nor the reverse.
  const followAdminEventsOnce = async (now = new Date()): Promise<AdminEventsRun> => {
    const realms = async (): Promise<FollowedRealm[]> => [
      { realm: null, events: keycloakAdminEvents(keycloak) },
      ...(await knownTenantRealms()).map((realm) => ({ realm, events: keycloakAdminEvents(tenantRealms!.adminFor(realm).client) })),
    ];
    const run = await followAdminEvents(
      { em, keycloak, services, log, realms },
      { pendingTimeoutSeconds: config.pendingTimeoutSeconds },
      now,
    );
    deps.metrics?.adminEventsRun(run);
    return run;
  };

  const purgeIdempotencyKeys = () => em.fork().execute('delete from idempotency_keys where expires_at < ?', [new Date()]);

  return {
    syncPendingUsers: syncOnce,
    reconcile: reconcileOnce,
    followAdminEvents: followAdminEventsOnce,
    start() {
      if (started || !engine) return;
      started = true;
      engine.periodic(QUEUES.userSync, { intervalSeconds: config.syncIntervalSeconds, firstDelaySeconds: 1 }, () => syncOnce());
      for (const [queue, intervalSeconds, run] of [
        [QUEUES.reconciler, config.reconcileIntervalSeconds, () => reconcileOnce()],
        [QUEUES.adminEvents, config.adminEventsIntervalSeconds, () => followAdminEventsOnce()],
        [QUEUES.idempotencyPurge, config.reconcileIntervalSeconds, purgeIdempotencyKeys],
      ] as const) {
        engine.periodic(queue, { intervalSeconds, firstDelaySeconds: intervalSeconds }, run);
      }
      engine
        .start()
        .catch((error: unknown) => log.error({ err: error }, 'the job engine did not start; background jobs do not run in this process'));
      log.info('background jobs started');
    },
    async stop() {
      if (!started || !engine) return;
      started = false;
      await Promise.all(Object.values(QUEUES).map((queue) => engine.offWork(queue)));
    },
  };
}
