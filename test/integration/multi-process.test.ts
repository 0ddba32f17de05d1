import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { claimLease, createJobs, type Jobs } from '../../src/jobs/jobs.js';
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
beforeAll(async () => {
  backends = await isolatedBackends('multi_process');
  proxy = await startKeycloakProxy(config.keycloak.url);
  gateway = await startTestGateway(() => ({ ...backends.config, keycloak: { ...backends.config.keycloak, url: proxy.url } }));
  const admin = backends.config.bootstrapAdmin!;
  token = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
});
afterAll(async () => {
  await Promise.all(orms.map((orm) => orm.close()));
  await gateway?.close();
  await proxy?.close();
  await backends?.close();
});

async function runner(): Promise<Jobs> {
  const orm = await openDatabase(backends.config.databaseUrl);
  orms.push(orm);
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
    config: { ...backends.config.jobs, syncBatchSize: 2 },
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

  it('two processes claiming the reconciler lease at once: exactly one gets it, until it ends', async () => {
    const [first, second] = [await runner(), await runner()];
    const name = `test-lease-${randomUUID()}`;
    const [a, b] = await Promise.all([
      claimLease(orms[orms.length - 2]!.em.fork(), name, first.holder, 60),
      claimLease(orms[orms.length - 1]!.em.fork(), name, second.holder, 60),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    const winner = a ? first : second;
    expect(await backends.sql('select holder from job_leases where name = $1', [name])).toEqual([{ holder: winner.holder }]);
    await backends.sql(`update job_leases set lease_until = now() - interval '1 second' where name = $1`, [name]);
    expect(await claimLease(orms[orms.length - 1]!.em.fork(), name, (a ? second : first).holder, 60)).toBe(true);
    await backends.sql('delete from job_leases where name = $1', [name]);
  });

  it("several processes reconcile once per interval between them, not once each; the next run is the holder's", async () => {
    const runners = [await runner(), await runner(), await runner()];
    const interval = backends.config.jobs.reconcileIntervalSeconds;
    const at = (seconds: number) => new Date(Date.now() + seconds * 1000);
    await backends.sql("delete from job_leases where name = 'reconciler'");
    expect(await runners[0]!.reconcile(at(0))).not.toBeNull();
    // The others' timers fire within the interval: they find the lease taken and skip.
    expect(await runners[1]!.reconcile(at(1))).toBeNull();
    expect(await runners[2]!.reconcile(at(interval / 2))).toBeNull();
    // The holder runs at its next interval; had it died, another would once the interval passed.
    expect(await runners[0]!.reconcile(at(interval + 1))).not.toBeNull();
    expect(await runners[1]!.reconcile(at(2 * interval + 2))).not.toBeNull();
  });
});
