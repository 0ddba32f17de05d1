import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREPARE_LOCK_KEY, prepareBackends } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { type IsolatedBackends, isolatedBackends } from '../support/isolated.js';

const silent = createLogger({ level: 'silent' });

/**
 * Counts this database's advisory locks on the preparation key, granted or still waited for.
 * pg_locks lists the whole cluster, where test files running beside this one (pg-boss, the outbox
 * relay, other databases' start-ups) hold advisory locks of their own.
 */
async function prepareLocks(backends: IsolatedBackends, granted: boolean): Promise<number> {
  const [row] = await backends.sql<{ locks: number }>(
    `select count(*)::int as locks from pg_locks
      where locktype = 'advisory' and granted = ${granted}
        and database = (select oid from pg_database where datname = current_database())
        and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = ${PREPARE_LOCK_KEY}`,
  );
  return row!.locks;
}

/** Polls `condition` until it holds (or fails the test after `timeoutMs`). */
async function until(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(50);
  }
}

describe('start-up preparation with several replicas', () => {
  let backends: IsolatedBackends;
  beforeAll(async () => {
    backends = await isolatedBackends('startup');
  });
  afterAll(() => backends?.close());

  it('waits while another process prepares (provisioning and migrations take turns), then runs', async () => {
    const otherReplica = new pg.Client({ connectionString: backends.config.databaseUrl });
    await otherReplica.connect();
    try {
      await otherReplica.query('select pg_advisory_lock($1)', [PREPARE_LOCK_KEY]);
      let settled = false;
      const preparing = prepareBackends(backends.config, silent).finally(() => {
        settled = true;
      });
      // This process is queued behind the other's lock, not provisioning beside it.
      await until(async () => (await prepareLocks(backends, false)) === 1);
      expect(settled).toBe(false);
      await otherReplica.query('select pg_advisory_unlock($1)', [PREPARE_LOCK_KEY]);
      await preparing;
    } finally {
      await otherReplica.end();
    }
  });

  it('lets replicas that start together all finish', async () => {
    await expect(
      Promise.all([
        prepareBackends(backends.config, silent),
        prepareBackends(backends.config, silent),
        prepareBackends(backends.config, silent),
      ]),
    ).resolves.toHaveLength(3);
    expect(await prepareLocks(backends, true)).toBe(0);
  });
});
