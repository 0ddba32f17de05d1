import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { JobsConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { keycloakAdminEvents } from '../keycloak/admin-events.js';
import { createServices, type ServiceDependencies } from '../services.js';
import { followAdminEvents, type AdminEventsRun, type FollowedRealm } from './admin-events.js';
import { reconcile, type ReconcileRun } from './reconciler.js';
import { syncPendingUsers, type UserSyncRun } from './user-sync.js';

export interface Jobs {
  /** This process's name in leases: host, pid and a random part. */
  readonly holder: string;
  /** One run of the user sync now (tests call it directly; `now` moves past backoffs). */
  syncPendingUsers(now?: Date): Promise<UserSyncRun>;
  /** One run of the reconciler now, if no other process holds its lease; null when one does. */
  reconcile(now?: Date): Promise<ReconcileRun | null>;
  /** One read of Keycloak's admin events now, if no other process holds its lease; null when one does. */
  followAdminEvents(now?: Date): Promise<AdminEventsRun | null>;
  /** Runs them on their intervals, and purges expired idempotency keys. */
  start(): void;
  /** Stops the timers and waits for the runs under way. */
  stop(): Promise<void>;
}

/**
 * The singleton jobs' lease (the reconciler's, the admin-events reader's) is short and renewed
 * while a run goes on: a process that dies mid-run (SIGKILL, a lost host) holds the job back
 * for this long at most.
 */
const RECONCILER_LEASE_SECONDS = 30;
const LEASE_RENEWAL_MS = (RECONCILER_LEASE_SECONDS * 1000) / 3;

/**
 * The gateway's background work. Every process may run it: the user sync claims users
 * row by row, and the reconciler and the admin-events reader each run under a lease in `job_leases`, so processes
 * coordinate through PostgreSQL alone.
 */
export function createJobs(deps: {
  em: EntityManager;
  /** What the jobs' service graph is built from: the same graph as requests get (src/services.ts). */
  services: ServiceDependencies;
  log: Logger;
  config: JobsConfig;
  /** Told what each run did; absent, nothing is counted. */
  metrics?: Pick<Metrics, 'userSyncRun' | 'reconcilerRun' | 'adminEventsRun'>;
}): Jobs {
  const { em, config } = deps;
  const { keycloak, tenantRealms } = deps.services;
  const log = deps.log.child({ component: 'jobs' });
  // The identity events of their writes: the sync job's are SYNC; the reconciler's apply Keycloak's changes.
  const syncServices = (fork: EntityManager) => createServices(fork, deps.services, log, 'SYNC');
  const services = (fork: EntityManager) => createServices(fork, deps.services, log, 'KEYCLOAK');
  const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();
  let stopped = true;

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

  /** Runs `work` if this process gets the singleton job `name`'s lease; null when another holds it. */
  const underLease = async <T>(name: string, intervalSeconds: number, now: Date, work: () => Promise<T>): Promise<T | null> => {
    if (!(await claimLease(em.fork(), name, holder, RECONCILER_LEASE_SECONDS, now))) return null;
    const renewal = setInterval(() => {
      claimLease(em.fork(), name, holder, RECONCILER_LEASE_SECONDS).catch((error: unknown) =>
        log.warn({ err: error, job: name }, 'could not renew a job lease; another process may take over after it expires'),
      );
    }, LEASE_RENEWAL_MS);
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      // The lease is kept until this process's next run is due: the others' timers, whatever
      // their phase, find it taken, so the fleet runs the job once per interval, not once per
      // process. Should this process die, it expires then and another takes over.
      const finished = new Date(Math.max(Date.now(), now.getTime()));
      await em
        .fork()
        .execute(`update job_leases set lease_until = ?, last_run_at = ? where name = ? and holder = ?`, [
          new Date(finished.getTime() + intervalSeconds * 1000),
          finished,
          name,
          holder,
        ]);
    }
  };

  /** The tenant realms recorded in PostgreSQL by any process (realm tenancy); none otherwise. */
  const knownTenantRealms = async (): Promise<readonly string[]> => {
    if (!tenantRealms) return [];
    await tenantRealms.refresh();
    return tenantRealms.trusted();
  };

  const reconcileOnce = (now = new Date()): Promise<ReconcileRun | null> =>
    underLease('reconciler', config.reconcileIntervalSeconds, now, async () => {
      const run = await reconcile(
        { em, keycloak, services, log, tenantRealms: knownTenantRealms },
        { pendingTimeoutSeconds: config.pendingTimeoutSeconds },
        now,
      );
      const { usersHeldAtMost: _held, ...healed } = run;
      deps.metrics?.reconcilerRun(healed);
      await em.fork().execute('delete from idempotency_keys where expires_at < ?', [now]);
      return run;
    });

  // Its own lease: a long full comparison does not hold back the events, nor the reverse.
  const followAdminEventsOnce = (now = new Date()): Promise<AdminEventsRun | null> =>
    underLease('admin-events', config.adminEventsIntervalSeconds, now, async () => {
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
    });

  /** Runs `task` every `seconds`, never two at once, from `firstDelayMs` on. */
  const every = (name: string, seconds: number, firstDelayMs: number, task: () => Promise<unknown>) => {
    const schedule = (delayMs: number) => {
      if (stopped) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        const run = task()
          .catch((error: unknown) => log.warn({ err: error, job: name }, 'background job run failed; it runs again at its next interval'))
          .finally(() => {
            running.delete(run);
            schedule(seconds * 1000);
          });
        running.add(run);
      }, delayMs);
      timers.add(timer);
    };
    schedule(firstDelayMs);
  };

  return {
    holder,
    syncPendingUsers: syncOnce,
    reconcile: reconcileOnce,
    followAdminEvents: followAdminEventsOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      every('user-sync', config.syncIntervalSeconds, 1000, () => syncOnce());
      every('reconciler', config.reconcileIntervalSeconds, config.reconcileIntervalSeconds * 1000, () => reconcileOnce());
      every('admin-events', config.adminEventsIntervalSeconds, config.adminEventsIntervalSeconds * 1000, () => followAdminEventsOnce());
      log.info({ holder }, 'background jobs started');
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}

/** Takes or renews a singleton job's lease; false while another process holds it. */
export async function claimLease(em: EntityManager, name: string, holder: string, seconds: number, now = new Date()): Promise<boolean> {
  const rows = await em.execute<{ name: string }[]>(
    `insert into job_leases (name, holder, lease_until) values (?, ?, ?)
     on conflict (name) do update set holder = excluded.holder, lease_until = excluded.lease_until
       where job_leases.lease_until < ? or job_leases.holder = excluded.holder
     returning name`,
    [name, holder, new Date(now.getTime() + seconds * 1000), now],
  );
  return rows.length > 0;
}
