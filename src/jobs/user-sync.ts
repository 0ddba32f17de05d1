import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { isKeycloakUnreachable } from '../journal/journal.js';
import type { Logger } from '../logger.js';
import { UsersQueries } from '../modules/users/users.queries.js';
import type { Services } from '../services.js';

export interface UserSyncOptions {
  batchSize: number;
  leaseSeconds: number;
  /** The first retry waits this long; each further one twice as long, up to `maxBackoffSeconds`. */
  baseBackoffSeconds: number;
  maxBackoffSeconds: number;
}

export interface UserSyncRun {
  claimed: number;
  synced: number;
  /** Keycloak still unreachable: left PENDING, tried again after the backoff. */
  pending: number;
  /** Keycloak refused: FAILED with the reason, tried again after the backoff. */
  failed: number;
}

/**
 * The background sync: claims users kept locally while Keycloak was unreachable and
 * pushes each through the same write path as an online registration (UserService.pushPending:
 * Keycloak user, roles, groups, password-setup email; then the local commit).
 *
 * Claims are leases taken with `FOR UPDATE SKIP LOCKED`: any number of gateway processes
 * run this at once, and a user is pushed by one of them at a time. A process that dies
 * mid-batch leaves leases that expire, and its users are taken up again.
 */
export async function syncPendingUsers(
  deps: { em: EntityManager; services: (em: EntityManager) => Services; log: Logger },
  options: UserSyncOptions,
  now: Date = new Date(),
): Promise<UserSyncRun> {
  const leaseUntil = new Date(now.getTime() + options.leaseSeconds * 1000);
  const claimed = await new UsersQueries(deps.em.fork()).claimDueSync(now, leaseUntil, options.batchSize);
  const run: UserSyncRun = { claimed: claimed.length, synced: 0, pending: 0, failed: 0 };
  for (const { userId, attempts } of claimed) {
    // A fresh identity map and journal per user: one user's failure touches no other.
    const { users } = deps.services(deps.em.fork());
    try {
      const keycloakId = await users.pushPending(userId);
      run.synced++;
      deps.log.info({ userId, keycloakId, attempts }, 'pending user pushed to Keycloak');
    } catch (error) {
      const unreachable = isKeycloakUnreachable(error);
      if (unreachable) run.pending++;
      else run.failed++;
      const reason = error instanceof AppError ? error.message : 'unexpected error; see the gateway log';
      if (!(error instanceof AppError)) deps.log.error({ err: error, userId }, 'pushing a pending user failed');
      await new UsersQueries(deps.em.fork()).releaseSync(userId, {
        status: unreachable ? 'PENDING' : 'FAILED',
        reason: unreachable ? `Keycloak unreachable: ${reason}` : reason,
        nextAt: new Date(now.getTime() + backoffMs(attempts, options)),
      });
    }
  }
  return run;
}

/** The wait before attempt `attempts + 1`: doubling, capped, with ±20% jitter so retries spread. */
export function backoffMs(attempts: number, options: Pick<UserSyncOptions, 'baseBackoffSeconds' | 'maxBackoffSeconds'>): number {
  const seconds = Math.min(options.baseBackoffSeconds * 2 ** Math.max(0, attempts - 1), options.maxBackoffSeconds);
  return Math.round(seconds * 1000 * (0.8 + Math.random() * 0.4));
}
