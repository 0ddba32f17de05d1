import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { openDatabase } from '../../src/database.js';
import type { Orm } from '../../src/db/orm.js';
import { createJobs, type Jobs } from '../../src/jobs/jobs.js';
import { createKeycloakAdmin } from '../../src/keycloak/admin-client.js';
import { createLogger } from '../../src/logger.js';
import { serviceDependencies } from '../../src/services.js';
import { createUserThroughGateway } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { localLinks, localUser, newEmail } from '../support/sync.js';

// Keycloak's admin events bring changes made outside the gateway into the mirror within
// seconds. The gateway here runs its jobs on their timers, reading admin events every
// second, with the full comparison's interval an hour long: whatever reaches the mirror
// during this file came through the admin events. A realm and a database of their own, as
// the jobs mirror every user of their realm.
let backends: IsolatedBackends;
let gateway: TestGateway;
let token: string;
const orms: Orm[] = [];
const FOLLOWING = (config: Config): Config => ({
  ...config,
  jobs: { ...config.jobs, enabled: true, adminEventsIntervalSeconds: 1, reconcileIntervalSeconds: 3600, syncIntervalSeconds: 3600 },
});
beforeAll(async () => {
  backends = await isolatedBackends('admin_events');
  gateway = await startTestGateway(() => FOLLOWING(backends.config));
  const admin = backends.config.bootstrapAdmin!;
  token = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
});
afterAll(async () => {
  await gateway?.close();
  await Promise.all(orms.map((orm) => orm.close()));
  await backends?.close();
});

const admin = <T = unknown>(method: string, path: string, body?: unknown) => keycloakAdmin<T>(method, path, body, backends.realm);
/** Waits for a condition on the mirror: admin events are read every second, so 20 s is plenty. */
const within = { timeout: 20_000, interval: 200 };

/** A user created directly in Keycloak, as an administrator does in its console. */
async function consoleUser(): Promise<{ id: string; email: string }> {
  const email = newEmail('console');
  const created = await admin('POST', '/users', { username: email, email, firstName: 'Test', lastName: 'Console', enabled: true });
  return { id: created.location!.split('/').at(-1)!, email };
}

/** One counter of the gateway's /metrics (0 when it was never incremented). */
async function metric(name: string, labels: string): Promise<number> {
  const body = await (await fetch(gateway.url.replace(/\/graphql$/, '/metrics'))).text();
  const line = body.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** The row's transaction id: it changes with every write to the row, whatever the write. */
async function rowVersion(id: string): Promise<string | undefined> {
  return (await backends.sql<{ xmin: string }>('select xmin::text from users where id = $1', [id]))[0]?.xmin;
}

/** A job runner as another gateway process would have it: its own pool and Keycloak client, the same database. */
async function runner(config: Config = backends.config): Promise<Jobs> {
  const orm = await openDatabase(config.databaseUrl);
  orms.push(orm);
  const keycloak = createKeycloakAdmin({
    url: config.keycloak.url,
    realm: config.keycloak.realm,
    clientId: config.keycloak.apiClientId,
    clientSecret: config.keycloak.apiClientSecret,
  });
  return createJobs({
    em: orm.em,
    services: serviceDependencies(config, keycloak.client),
    log: createLogger({ level: 'silent' }),
    config: config.jobs,
  });
}

describe('admin events: changes made in Keycloak reach the mirror within seconds', () => {
  it('a user created in Keycloak appears; its first name and enabled flag changed there follow, through the admin events', async () => {
    const updatedBefore = await metric('iam_admin_events_healed_total', 'kind="usersUpdated"');
    const user = await consoleUser();
    await expect
      .poll(() => localUser(user.email, backends), within)
      .toMatchObject({ id: user.id, sync_status: 'SYNCED', first_name: 'Test' });

    await admin('PUT', `/users/${user.id}`, { firstName: 'Changed', enabled: false });
    await expect.poll(() => localUser(user.email, backends), within).toMatchObject({ first_name: 'Changed', enabled: false });
    // Counted once the run that wrote it ends.
    await expect.poll(() => metric('iam_admin_events_healed_total', 'kind="usersUpdated"'), within).toBeGreaterThan(updatedBefore);
    expect(await metric('iam_admin_events_healed_total', 'kind="usersAdded"')).toBeGreaterThanOrEqual(1);
    // The full comparison never ran: the admin events were the only way in.
    expect(await backends.sql("select id from pgboss.job where name = 'reconciler' and started_on is not null")).toEqual([]);
  });

  it('a realm role mapped and a group joined in Keycloak appear in the mirror', async () => {
    const user = await consoleUser();
    await expect.poll(() => localUser(user.email, backends), within).toBeDefined();
    const manager = (await admin<{ id: string; name: string }>('GET', '/roles/role_manager')).body;
    await admin('POST', `/users/${user.id}/role-mappings/realm`, [manager]);
    await expect.poll(() => localLinks(user.id, backends), within).toEqual({ roles: ['role_manager'], groups: [] });

    // A group new to the mirror comes with it, through the directory sync.
    const name = `events-group-${user.id.slice(0, 8)}`;
    const groupId = (await admin('POST', '/groups', { name })).location!.split('/').at(-1)!;
    await admin('PUT', `/users/${user.id}/groups/${groupId}`);
    await expect.poll(() => localLinks(user.id, backends), within).toEqual({ roles: ['role_manager'], groups: [name] });
  });

  it('a user deleted in Keycloak leaves the mirror', async () => {
    const user = await consoleUser();
    await expect.poll(() => localUser(user.email, backends), within).toBeDefined();
    await admin('DELETE', `/users/${user.id}`);
    await expect.poll(() => localUser(user.email, backends), within).toBeUndefined();
    expect(await backends.sql('select 1 from deleted_users where id = $1', [user.id])).toHaveLength(1);
  });
});

describe('admin events: the checkpoint', () => {
  it('survives a restart: a new process resumes where the last stopped, and a second run re-applies nothing', async () => {
    const user = await consoleUser();
    await expect.poll(() => localUser(user.email, backends), within).toBeDefined();
    const realm = backends.realm;
    const [before] = await backends.sql<{ read_until: string }>('select read_until from admin_event_checkpoints where realm = $1', [realm]);
    expect(Number(before!.read_until)).toBeGreaterThan(0);

    // Every process stops; a change is made in Keycloak meanwhile.
    await gateway.app.jobs.stop();
    await admin('PUT', `/users/${user.id}`, { firstName: 'WhileDown' });

    const restarted = await runner();
    const first = await restarted.followAdminEvents();
    expect(first).toMatchObject({ usersUpdated: 1 });
    expect(await localUser(user.email, backends)).toMatchObject({ first_name: 'WhileDown' });
    const [after] = await backends.sql<{ read_until: string }>('select read_until from admin_event_checkpoints where realm = $1', [realm]);
    expect(Number(after!.read_until)).toBeGreaterThan(Number(before!.read_until));

    // The same events are in the window read again: known by id, none is applied twice.
    const version = await rowVersion(user.id);
    const second = await restarted.followAdminEvents();
    expect(second).toMatchObject({ eventsApplied: 0, usersAdded: 0, usersUpdated: 0, usersRemoved: 0 });
    expect(await rowVersion(user.id)).toBe(version);
  });

  it("the gateway's own writes are skipped as echoes, and change nothing in the mirror", async () => {
    await gateway.app.jobs.stop();
    const reader = await runner();
    await reader.followAdminEvents();
    const created = await createUserThroughGateway(gateway, token);
    const changed = await gateway.graphql(
      'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }',
      {
        token,
        variables: { id: created.id, input: { firstName: 'Through the gateway' } },
      },
    );
    expect(changed.errors).toBeUndefined();
    const version = await rowVersion(created.id);

    const run = await reader.followAdminEvents();
    expect(run!.echoesSkipped).toBeGreaterThanOrEqual(2);
    expect(run).toMatchObject({ eventsApplied: 0, usersAdded: 0, usersUpdated: 0, usersRemoved: 0 });
    expect(await rowVersion(created.id)).toBe(version);
  });
});

describe('realm tenancy: tenant realms are followed and healed too', () => {
  let tenancy: IsolatedBackends;
  let tenantGateway: TestGateway;
  let tenant: { userId: string; realm: string; email: string };
  beforeAll(async () => {
    tenancy = await isolatedBackends('admin_events_realms', (config) => ({ ...config, tenancyMode: 'realm' }));
    tenantGateway = await startTestGateway(() => tenancy.config);
    // One tenant, as creating its realm takes a while.
    const email = newEmail('tenant');
    const input = { email, password: 'Realm-pass-1', firstName: 'Ada', lastName: 'Lovelace', accountName: 'Events Co' };
    const response = await tenantGateway.graphql('mutation($input: SignupInput!) { signup(input: $input) { user { id } tenant { id } } }', {
      variables: { input },
    });
    expect(response.errors).toBeUndefined();
    tenant = { userId: response.data!.signup.user.id, realm: response.data!.signup.tenant.id, email };
  });
  afterAll(async () => {
    await tenantGateway?.close();
    for (const { id } of (await tenancy?.sql<{ id: string }>('select id from tenants')) ?? [])
      await keycloakAdmin('DELETE', '', undefined, id);
    await tenancy?.close();
  });

  it('a tenant realm records admin events, with their details, for a limited time, as the gateway realm does', async () => {
    for (const realm of [tenant.realm, tenancy.realm]) {
      expect((await keycloakAdmin('GET', '', undefined, realm)).body, realm).toMatchObject({
        adminEventsEnabled: true,
        adminEventsDetailsEnabled: true,
        attributes: expect.objectContaining({ adminEventsExpiration: expect.stringMatching(/^\d+$/) }),
      });
    }
  });

  it('the full comparison heals a user changed directly in a tenant realm', async () => {
    const { userId, realm, email } = tenant;
    await keycloakAdmin('PUT', `/users/${userId}`, { firstName: 'Healed', enabled: false }, realm);

    const run = await tenantGateway.app.jobs.reconcile();
    expect(run!.usersUpdated).toBeGreaterThanOrEqual(1);
    expect(await tenancy.sql('select realm, first_name, enabled from users where email = $1', [email])).toEqual([
      { realm, first_name: 'Healed', enabled: false },
    ]);
  });

  it('a journal entry about a tenant realm account left PENDING is settled against that realm', async () => {
    const { userId, realm, email } = tenant;
    await keycloakAdmin('PUT', `/users/${userId}`, { firstName: 'Settled' }, realm);
    const entry = randomUUID();
    await tenancy.sql(
      `insert into audit_events (id, at, updated_at, action, target_type, target_id, actor_id, status, details)
       values ($1, now() - interval '1 day', now() - interval '1 day', 'USER_UPDATE', 'User', $2, null, 'PENDING', $3)`,
      [entry, userId, { email, realm }],
    );

    expect((await tenantGateway.app.jobs.reconcile())!.eventsSettled).toBeGreaterThanOrEqual(1);
    expect(await tenancy.sql('select status, error from audit_events where id = $1', [entry])).toEqual([
      { status: 'FAILED', error: 'settled by the reconciler: interrupted before the local commit; the mirror now matches Keycloak' },
    ]);
    expect(await tenancy.sql('select first_name from users where id = $1', [userId])).toEqual([{ first_name: 'Settled' }]);
  });

  it("a tenant realm's admin events reach the mirror", async () => {
    const { userId, realm, email } = tenant;
    const jobs = tenantGateway.app.jobs;
    // The first read of a realm starts from its newest event.
    await jobs.followAdminEvents();
    await keycloakAdmin('PUT', `/users/${userId}`, { firstName: 'Followed' }, realm);

    // The same process: its own lease, held since its last run, is its to take again.
    const run = await jobs.followAdminEvents();
    expect(run).toMatchObject({ usersUpdated: 1 });
    expect(await tenancy.sql('select first_name from users where email = $1', [email])).toEqual([{ first_name: 'Followed' }]);
  });
});
