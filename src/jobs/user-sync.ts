import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { isKeycloakUnreachable, Journal } from '../journal/journal.js';
import { sendPasswordEmail, SETUP_LINK_LIFESPAN_SECONDS } from '../keycloak/actions-email.js';
import type { Logger } from '../logger.js';
import { GroupService } from '../modules/groups/group.service.js';
import { KeycloakGroupsDirectory } from '../modules/groups/groups.directory.js';
import { groupsQueries } from '../modules/groups/groups.queries.js';
import { RoleService } from '../modules/roles/role.service.js';
import { KeycloakRolesDirectory } from '../modules/roles/roles.directory.js';
import { rolesQueries } from '../modules/roles/roles.queries.js';
import { UserService } from '../modules/users/user.service.js';

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
 * Seed 001's background sync: claims users kept locally while Keycloak was unreachable and
 * pushes each through the same write path as an online registration (UserService.pushPending:
 * Keycloak user, roles, groups, password-setup email; then the local commit).
 *
 * Claims are leases taken with `FOR UPDATE SKIP LOCKED`: any number of gateway processes
 * run this at once, and a user is pushed by one of them at a time. A process that dies
 * mid-batch leaves leases that expire, and its users are taken up again.
 */
export async function syncPendingUsers(
  deps: { em: EntityManager; keycloak: KeycloakAdminClient; log: Logger },
  options: UserSyncOptions,
  now: Date = new Date(),
): Promise<UserSyncRun> {
  const claimed = await claimDueUsers(deps.em.fork(), options, now);
  const run: UserSyncRun = { claimed: claimed.length, synced: 0, pending: 0, failed: 0 };
  for (const { userId, attempts } of claimed) {
    // A fresh identity map and journal per user: one user's failure touches no other.
    const em = deps.em.fork();
    const journal = new Journal(em, deps.log);
    const roles = new RoleService({ queries: rolesQueries(em), directory: new KeycloakRolesDirectory(deps.keycloak), journal });
    const groups = new GroupService({
      queries: groupsQueries(em),
      directory: new KeycloakGroupsDirectory(deps.keycloak),
      journal,
      roles,
      users: { findByIds: (ids) => users.findByIds(ids) },
    });
    const users = new UserService(em, deps.keycloak, journal, roles, groups);
    try {
      const keycloakId = await users.pushPending(userId, (id) => sendPasswordEmail(deps.keycloak, id, SETUP_LINK_LIFESPAN_SECONDS));
      run.synced++;
      deps.log.info({ userId, keycloakId, attempts }, 'pending user pushed to Keycloak');
    } catch (error) {
      const unreachable = isKeycloakUnreachable(error)
      if (unreachable) run.pending++;
      else run.failed++;
      const reason = error instanceof AppError ? error.message : 'unexpected error; see the gateway log';
      if (!(error instanceof AppError)) deps.log.error({ err: error, userId }, 'pushing a pending user failed');
      await release(deps.em.fork(), userId, {
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

async function claimDueUsers(em: EntityManager, options: UserSyncOptions, now: Date) {
  return em.getConnection().execute<{ userId: string; attempts: number }[]>(
    `update user_sync s set lease_until = ?, attempts = s.attempts + 1
      where s.user_id in (
        select user_id from user_sync
         where next_at <= ? and (lease_until is null or lease_until < ?)
         order by next_at limit ? for update skip locked)
      returning s.user_id as "userId", s.attempts`,
    [new Date(now.getTime() + options.leaseSeconds * 1000), now, now, options.batchSize],
  );
}

async function release(em: EntityManager, userId: string, outcome: { status: 'PENDING' | 'FAILED'; reason: string; nextAt: Date }) {
  await em.transactional(async (tx) => {
    await tx.execute(`update users set sync_status = ?, updated_at = ? where id = ? and sync_status <> 'SYNCED'`, [
      outcome.status,
      new Date(),
      userId,
    ]);
    await tx.execute('update user_sync set last_error = ?, next_at = ?, lease_until = null where user_id = ?', [
      outcome.reason,
      outcome.nextAt,
      userId,
    ]);
  });
}
