import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { keycloakAdmin } from '../support/keycloak.js';
import { keycloakUsersByEmail, registerWhileUnreachable } from '../support/sync.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { awaitConsistency, figuresOf, recordFigures } from './consistency.js';
import { chaosEmail, CREATE_USER, Operations, startRig, type Rig } from './rig.js';

// A gateway process killed with SIGKILL at the worst moment, then another one started: what
// the first left half-done, the second's jobs finish. Gateways run as child processes
// (test/support/gateway-process.ts), compiled as `npm start` runs them.
let rig: Rig;
const processes: GatewayProcess[] = [];
const proxies: TcpProxy[] = [];
beforeAll(async () => {
  rig = await startRig('chaos_process');
});
afterEach(async () => {
  await Promise.all(processes.splice(0).map((child) => child.kill()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  rig.keycloakHttp.failWhen = undefined;
});
afterAll(() => rig?.close());

const userCreation = /^POST \/admin\/realms\/[^/]+\/users\/?$/;
/** The reconciler's listing of a realm's users, page by page. */
const userListing = /^GET \/admin\/realms\/[^/]+\/users\/?\?(.*&)?first=/;

/** A gateway process on the test's own backends; Keycloak through the counting proxy unless said otherwise. */
async function spawnGateway(configure: (config: Config) => Config): Promise<GatewayProcess> {
  const { config } = rig.backends;
  const child = await startGatewayProcess(
    configure({
      ...config,
      keycloak: { ...config.keycloak, url: rig.keycloakHttp.url },
      jobs: { ...config.jobs, enabled: false, pendingTimeoutSeconds: 1 },
    }),
  );
  processes.push(child);
  return child;
}

/** Jobs every second; a journal entry PENDING for 1 s is stale. */
const eagerJobs = (config: Config): Config => ({
  ...config,
  jobs: {
    ...config.jobs,
    enabled: true,
    syncIntervalSeconds: 1,
    syncLeaseSeconds: 3,
    reconcileIntervalSeconds: 1,
    pendingTimeoutSeconds: 1,
  },
});

/**
 * Each test spawns gateway processes, kills one and waits for another to finish its work (a
 * restart, a takeover after the heartbeat is lost): on a loaded 2-core machine the spawning
 * alone can take a minute, past the default test timeout. An upper bound, not a measure.
 */
const PROCESS_TEST_TIMEOUT_MS = 180_000;

describe('chaos: a gateway process killed', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  it('killed between the Keycloak calls and the local commit: a restarted gateway’s reconciler mirrors what Keycloak holds', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const backends = { sql: rig.backends.sql, realm: rig.backends.realm };
    // The first process reaches PostgreSQL through a proxy that swallows everything once
    // Keycloak received the third creation: no local commit can land after that.
    const postgres = await startTcpProxy(
      { host: '127.0.0.1', port: Number(new URL(rig.backends.config.databaseUrl).port || 5432) },
      { lingerMs: 500 },
    );
    proxies.push(postgres);
    const victim = await spawnGateway((config) => ({ ...config, databaseUrl: postgres.url(config.databaseUrl) }));
    let creations = 0;
    rig.keycloakHttp.failWhen = (request) => {
      if (userCreation.test(request) && ++creations === 3) postgres.mode = 'blackhole';
      return false;
    };

    const emails = [chaosEmail('killed'), chaosEmail('killed'), chaosEmail('killed')];
    const answers = emails.map((email) =>
      ops.run(
        () =>
          victim.graphql(CREATE_USER, {
            token,
            variables: {
              input: {
                email,
                firstName: 'Chaos',
                lastName: 'Killed',
                password: 'Str0ng-password',
                roleIds: [rig.roleUserId],
                groupIds: [rig.group.id],
              },
            },
          }),
        email,
        'createUser',
      ),
    );
    // Keycloak has done its part of every creation (the group is the last step)...
    for (const email of emails) {
      await expect
        .poll(
          async () => {
            const [user] = await keycloakUsersByEmail(email, backends);
            return user ? groupsOf(user.id) : 0;
          },
          { timeout: 20_000, interval: 100 },
        )
        .toBe(1);
    }
    // ... and the process dies before its local commit.
    await victim.kill();
    await Promise.all(answers);
    expect(ops.acknowledged.length).toBeLessThan(3);
    const stranded = await rig.backends.sql<{ status: string }>(`select status from audit_events where details->>'email' = any($1)`, [
      emails,
    ]);
    expect(stranded.filter((event) => event.status === 'PENDING').length).toBe(3 - ops.acknowledged.length);

    const restarted = await spawnGateway(eagerJobs);
    const outcome = await awaitConsistency(
      { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 1 },
      { timeoutMs: 45_000 },
    );
    recordFigures(
      figuresOf('process killed between the Keycloak call and the local commit', ops.attempted, ops.acknowledged.length, outcome),
    );
    if (outcome.verdict.problems.length > 0) console.error(await diagnosis(restarted));
    expect(outcome.verdict.problems).toEqual([]);
    for (const email of emails) {
      const [inKeycloak] = await keycloakUsersByEmail(email, backends);
      expect(await rig.backends.sql('select sync_status from users where id = $1', [inKeycloak!.id])).toEqual([{ sync_status: 'SYNCED' }]);
    }
    await restarted.stop();
  });

  it('the sync job killed mid-batch: another runner finishes the batch, with no user pushed twice', async () => {
    const token = await rig.token();
    const backends = { sql: rig.backends.sql, realm: rig.backends.realm };
    const ops = new Operations();
    // Six users registered while Keycloak was unreachable: six pushes waiting.
    const emails = Array.from({ length: 6 }, () => chaosEmail('batch'));
    for (const email of emails) {
      await ops.run(
        async () => ({
          status: 200,
          data: {
            registerUser: {
              user: await registerWhileUnreachable(rig.gateway, token, rig.keycloakTcp, {
                email,
                firstName: 'Chaos',
                lastName: 'Batch',
                roleIds: [rig.roleUserId],
                groupIds: [rig.group.id],
              }),
            },
          },
        }),
        email,
        'registerUser',
      );
    }
    expect(ops.acknowledged).toHaveLength(6);

    // A process whose sync takes all six in one batch, killed as Keycloak receives the third.
    let victim: GatewayProcess | undefined;
    let creations = 0;
    rig.keycloakHttp.failWhen = (request) => {
      if (userCreation.test(request) && ++creations === 3) {
        if (victim) victim.killNow();
        else throw new Error('the victim started its batch before the test knew it');
      }
      return false;
    };
    victim = await spawnGateway((config) => ({
      ...eagerJobs(config),
      jobs: { ...eagerJobs(config).jobs, syncBatchSize: 10, reconcileIntervalSeconds: 3600 },
    }));
    await victim.exited;
    const left = await rig.backends.sql<{ sync_status: string }>('select sync_status from users where email = any($1)', [emails]);
    expect(left.filter((user) => user.sync_status === 'SYNCED').length, 'killed mid-batch').toBeLessThan(6);
    rig.keycloakHttp.failWhen = undefined;

    const runner = await spawnGateway(eagerJobs);
    const outcome = await awaitConsistency(
      { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 1 },
      { timeoutMs: 45_000 },
    );
    recordFigures(figuresOf('sync job killed mid-batch', ops.attempted, ops.acknowledged.length, outcome));
    if (outcome.verdict.problems.length > 0) console.error(await diagnosis(runner));
    expect(outcome.verdict.problems).toEqual([]);
    for (const email of emails) expect(await keycloakUsersByEmail(email, backends), email).toHaveLength(1);
    const pushes = await rig.backends.sql<{ email: string; count: number }>(
      `select details->>'email' as email, count(*)::int as count from audit_events
        where action = 'USER_SYNC' and status = 'SUCCEEDED' and details->>'email' = any($1) group by 1`,
      [emails],
    );
    expect(
      pushes.map((push) => push.count),
      'one successful push per user',
    ).toEqual(emails.map(() => 1));
    await runner.stop();
  });
  it('the reconciler killed mid-run: its job, heartbeat lost, is run to the end by another process within seconds', async () => {
    // Earlier tests' processes left runs queued: this one's first run is the victim's.
    await rig.backends.sql("delete from pgboss.job where name = 'reconciler'");
    let victim: GatewayProcess | undefined;
    let killedAt: number | undefined;
    rig.keycloakHttp.failWhen = (request) => {
      if (userListing.test(request) && killedAt === undefined) {
        if (!victim) throw new Error('the victim reconciled before the test knew it');
        killedAt = Date.now();
        victim.killNow();
      }
      return false;
    };
    const quiet = { syncIntervalSeconds: 3600, adminEventsIntervalSeconds: 3600 };
    victim = await spawnGateway((config) => ({
      ...eagerJobs(config),
      jobs: { ...eagerJobs(config).jobs, ...quiet, reconcileIntervalSeconds: 5 },
    }));
    await victim.exited;
    rig.keycloakHttp.failWhen = undefined;
    const [killed] = await rig.backends.sql<{ id: string }>("select id from pgboss.job where name = 'reconciler' and state = 'active'");
    expect(killed, 'the run the victim held').toBeDefined();

    // Its own first run an hour away: what it runs now is the victim's.
    const runner = await spawnGateway((config) => ({
      ...eagerJobs(config),
      jobs: { ...eagerJobs(config).jobs, ...quiet, reconcileIntervalSeconds: 3600 },
    }));
    const state = async () =>
      (await rig.backends.sql<{ state: string }>('select state from pgboss.job where id = $1', [killed!.id]))[0]?.state;
    await expect
      .poll(state, { timeout: 90_000, interval: 250 })
      .toBe('completed')
      .catch(async (error: unknown) => {
        console.error(await diagnosis(runner));
        throw error;
      });
    const [done] = await rig.backends.sql<{ completed: Date; retries: number }>(
      'select completed_on as completed, retry_count as retries from pgboss.job where id = $1',
      [killed!.id],
    );
    expect(done!.retries, 'run again after the kill, not twice at once').toBe(1);
    console.info(`reconciler run taken over and completed ${((done!.completed.getTime() - killedAt!) / 1000).toFixed(1)} s after the kill`);
    await runner.stop();
  });
});

async function groupsOf(userId: string): Promise<number> {
  return (await keycloakAdmin<unknown[]>('GET', `/users/${userId}/groups`, undefined, rig.backends.realm)).body.length;
}

/** Why a gateway process did not converge: its last log lines, the engine's jobs, the database sessions. */
async function diagnosis(child: GatewayProcess): Promise<string> {
  const jobs = await rig.backends.sql(
    `select name, state, singleton_key, start_after, started_on, heartbeat_on, now() from pgboss.job where state in ('created', 'retry', 'active')`,
  );
  const sessions = await rig.backends.sql(
    `select pid, state, wait_event_type, wait_event, xact_start, left(query, 200) as query from pg_stat_activity where datname = current_database()`,
  );
  const events = await rig.backends.sql(
    `select id, action, status, at, updated_at, target_id, details from audit_events where status = 'PENDING'`,
  );
  return JSON.stringify({ logs: child.logs.slice(-15), jobs, sessions, events }, null, 1);
}
