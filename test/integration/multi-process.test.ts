import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobsConfig } from '../../src/config.js';
import { createJobEngine, type JobEngine } from '../../src/jobs/job-engine.js';
import { createJobs, type Jobs } from '../../src/jobs/jobs.js';
import type { Orm } from '../../src/db/orm.js';
import { openDatabase } from '../../src/database.js';
import { createKeycloakAdmin } from '../../src/keycloak/admin-client.js';
import { createLogger } from '../../src/logger.js';
import { serviceDependencies } from '../../src/services.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { passwordGrant } from '../support/keycloak.js';
import { adminPath, keycloakUsersByEmail, localUser, newEmail, registerWhileUnreachable } from '../support/sync.js';

const config = inject('config');
const USERS = 8;

// Two job runners as two gateway processes would have them: each its own connection pool
// and Keycloak client, sharing one database; their Keycloak calls counted by one proxy.
// The runners drain every pending user of their database: a realm and a database of their
// own keep them off the users other test files keep pending on purpose.
let backends: IsolatedBackends;
let proxy: KeycloakProxy;
let gateway: TestGateway;
let token: string;
const orms: Orm[] = [];
const engines: JobEngine[] = [];
beforeAll(async () => {
  backends = await isolatedBackends('multi_process');
  proxy = await startKeycloakProxy(config.keycloak.url);
  gateway = await startTestGateway(() => ({ ...backends.config, keycloak: { ...backends.config.keycloak, url: proxy.url } }));
  const admin = backends.config.bootstrapAdmin!;
  token = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
});
afterAll(async () => {
  await Promise.all(engines.map((engine) => engine.stop()));
  await Promise.all(orms.map((orm) => orm.close()));
  await gateway?.close();
  await proxy?.close();
  await backends?.close();
});

async function runner(jobsConfig: Partial<JobsConfig> = {}): Promise<Jobs> {
  const orm = await openDatabase(backends.config.databaseUrl);
  orms.push(orm);
  const engine = createJobEngine({ databaseUrl: backends.config.databaseUrl, log: createLogger({ level: 'silent' }), runsJobs: true });
  engines.push(engine);
  const keycloak = createKeycloakAdmin({
    url: proxy.url,
    realm: backends.realm,
    clientId: backends.config.keycloak.apiClientId,
    clientSecret: backends.config.keycloak.apiClientSecret,
  });
  // Small batches, so that the two interleave over many claims.
  return createJobs({
    em: orm.em,
    services: serviceDependencies(backends.config, keycloak.client),
    log: createLogger({ level: 'silent' }),
    config: { ...backends.config.jobs, syncBatchSize: 2, syncIntervalSeconds: 3600, adminEventsIntervalSeconds: 3600, ...jobsConfig },
    engine,
  });
}

describe('several gateway processes', () => {
  it('two job runners on one database push each pending user to Keycloak exactly once', async () => {
    expect((await gateway.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
    const emails = Array.from({ length: USERS }, () => newEmail('multi'));
    for (const email of emails) await registerWhileUnreachable(gateway, token, proxy, { email, firstName: 'Twice', lastName: 'Claimed' });
    const [first, second] = [await runner(), await runner()];
    const creations = () =>
      proxy.requests.filter((request) => request.replace(/\/$/, '') === `POST ${adminPath('/users', backends)}`).length;
    const before = creations();

    // Both drain the queue at once until neither finds anything due.
    const drain = async (jobs: Jobs) => {
      let synced = 0;
      for (;;) {
        const run = await jobs.syncPendingUsers();
        synced += run.synced;
        if (run.claimed === 0) return synced;
      }
    };
    const [a, b] = await Promise.all([drain(first), drain(second)]);

    expect(a + b).toBe(USERS);
    expect(creations() - before, 'one creation request per user, none repeated').toBe(a + b);
    for (const email of emails) {
      const inKeycloak = await keycloakUsersByEmail(email, backends);
      expect(inKeycloak, email).toHaveLength(1);
      expect(await localUser(email, backends)).toMatchObject({ id: inKeycloak[0]!.id, sync_status: 'SYNCED' });
    }
    expect(
      await backends.sql(`select count(*)::int as count from audit_events where action = 'USER_SYNC' and details->>'email' = any($1)`, [
        emails,
      ]),
    ).toEqual([{ count: USERS }]);
  });

  it('three processes running the reconciler queue: one run at a time between them, each the next one an interval after the last', async () => {
    const interval = 1;
    const runners = await Promise.all([1, 2, 3].map(() => runner({ reconcileIntervalSeconds: interval })));
    for (const jobs of runners) jobs.start();
    const completed = () =>
      backends.sql<{ started: Date; completed: Date }>(
        `select started_on as started, completed_on as completed from pgboss.job
          where name = 'reconciler' and state = 'completed' order by started_on`,
      );
    await expect.poll(async () => (await completed()).length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(4);
    await Promise.all(runners.map((jobs) => jobs.stop()));

    const runs = await completed();
    for (const [index, run] of runs.entries()) {
      const previous = runs[index - 1];
      if (previous)
        expect(run.started.getTime(), `run ${index} started after run ${index - 1} ended`).toBeGreaterThanOrEqual(
          previous.completed.getTime(),
        );
    }
    // Never more than one queued: every process's first run, and each run's next, share one slot.
    const [waiting] = await backends.sql<{ count: number }>(
      `select count(*)::int as count from pgboss.job where name = 'reconciler' and state in ('created', 'retry')`,
    );
    expect(waiting!.count).toBeLessThanOrEqual(1);
  });
});
