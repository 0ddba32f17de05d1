import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile as reconcileWith } from '../../src/jobs/reconciler.js';
import { createServices, serviceDependencies } from '../../src/services.js';
import { createUserThroughGateway, unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { createKeycloakAdmin } from '../../src/keycloak/admin-client.js';
import { startKeycloakProxy } from '../support/keycloak-proxy.js';
import { keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { captureLog, LEVEL } from '../support/log-capture.js';
import { keycloakGroupNamed, localLinks, localUser, newEmail } from '../support/sync.js';

// The reconciler mirrors every user and group of its realm: it runs against a realm and a
// database of its own, so that it never rewrites what other test files arrange.
let backends: IsolatedBackends;
let gateway: TestGateway;
let token: string;
const captured = captureLog();
beforeAll(async () => {
  backends = await isolatedBackends('reconciler');
  gateway = await startTestGateway(() => backends.config, { log: captured.log });
  const admin = backends.config.bootstrapAdmin!;
  token = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
});
afterAll(async () => {
  await gateway?.close();
  await backends?.close();
});

const admin = <T = unknown>(method: string, path: string, body?: unknown) => keycloakAdmin<T>(method, path, body, backends.realm);

/** A user created directly in Keycloak, as an administrator does in its console. */
async function consoleUser(realmRoles: string[] = []): Promise<{ id: string; email: string }> {
  const email = newEmail('console');
  const created = await admin('POST', '/users', { username: email, email, firstName: 'Test', lastName: 'Console', enabled: true });
  const id = created.location!.split('/').at(-1)!;
  if (realmRoles.length > 0) {
    const roles = await Promise.all(realmRoles.map(async (name) => (await admin('GET', `/roles/${name}`)).body));
    await admin('POST', `/users/${id}/role-mappings/realm`, roles);
  }
  return { id, email };
}

const reconcile = async () => {
  const run = await gateway.app.jobs.reconcile();
  expect(run, 'the reconciler lease was free').not.toBeNull();
  return run!;
};

/** A journal entry as an interrupted write leaves it: PENDING, and older than the timeout. */
async function stalePendingEvent(action: string, targetId: string | null, details: Record<string, unknown>): Promise<string> {
  const id = randomUUID();
  await backends.sql(
    `insert into audit_events (id, at, updated_at, action, target_type, target_id, actor_id, status, details)
     values ($1, now() - interval '1 day', now() - interval '1 day', $2, 'User', $3, null, 'PENDING', $4)`,
    [id, action, targetId, details],
  );
  return id;
}

describe('reconciler: changes made outside the gateway', () => {
  it('a user created, renamed, disabled and deleted directly in Keycloak follows in the mirror after one run each', async () => {
    const created = await consoleUser(['role_user']);
    await reconcile();
    expect(await localUser(created.email, backends)).toMatchObject({
      id: created.id,
      sync_status: 'SYNCED',
      first_name: 'Test',
      enabled: true,
    });
    expect((await localLinks(created.id, backends)).roles).toEqual(['role_user']);

    const renamed = newEmail('renamed');
    await admin('PUT', `/users/${created.id}`, { email: renamed, username: renamed, firstName: 'Renamed', enabled: false });
    await reconcile();
    expect(await localUser(created.email, backends)).toBeUndefined();
    expect(await localUser(renamed, backends)).toMatchObject({ id: created.id, first_name: 'Renamed', enabled: false });
    const read = await gateway.graphql('query($id: ID!) { user(id: $id) { email firstName enabled } }', {
      token,
      variables: { id: created.id },
    });
    expect(read.data!.user).toEqual({ email: renamed, firstName: 'Renamed', enabled: false });

    await admin('DELETE', `/users/${created.id}`);
    await reconcile();
    expect(await backends.sql('select 1 from users where id = $1', [created.id])).toEqual([]);

    // The info log says what happened to whom by id: no email, the old one or the new.
    const info = captured.lines.filter((line) => line.level === LEVEL.info);
    expect(info).toContainEqual(
      expect.objectContaining({ msg: 'reconciler: user deleted outside the gateway removed from the mirror', userId: created.id }),
    );
    for (const email of [created.email, renamed]) expect(JSON.stringify(info)).not.toContain(email);
  });

  it('role and group memberships changed in Keycloak reach the mirror, and new groups with them', async () => {
    const user = await createUserThroughGateway(gateway, token);
    const groupName = unique('console-group-');
    const groupId = await keycloakGroupNamed(groupName, backends);
    await admin('PUT', `/users/${user.id}/groups/${groupId}`);
    const manager = (await admin<{ id: string; name: string }>('GET', '/roles/role_manager')).body;
    await admin('POST', `/users/${user.id}/role-mappings/realm`, [manager]);

    await reconcile();
    expect(await localLinks(user.id, backends)).toEqual({ roles: ['role_manager'], groups: [groupName] });

    await admin('DELETE', `/users/${user.id}/groups/${groupId}`);
    await admin('DELETE', `/users/${user.id}/role-mappings/realm`, [manager]);
    await reconcile();
    expect(await localLinks(user.id, backends)).toEqual({ roles: [], groups: [] });
  });

  it('a subgroup made in Keycloak reaches the mirror with its parent, with its members and with privileges mapped to users directly', async () => {
    const parentId = await keycloakGroupNamed(unique('console-parent-'), backends);
    const child = unique('console-child-');
    const childId = (await admin('POST', `/groups/${parentId}/children`, { name: child })).location!.split('/').at(-1)!;
    const user = await consoleUser(['priv_view_reports']);
    await admin('PUT', `/users/${user.id}/groups/${childId}`);

    await reconcile();
    expect(await backends.sql('select parent_id from groups where id = $1', [childId])).toEqual([{ parent_id: parentId }]);
    expect(await localLinks(user.id, backends)).toEqual({ roles: ['priv_view_reports'], groups: [child] });
  });

  it('leaves alone a user the gateway is writing (a young PENDING journal entry)', async () => {
    const user = await createUserThroughGateway(gateway, token);
    await admin('PUT', `/users/${user.id}`, { firstName: 'Midway' });
    const young = randomUUID();
    await backends.sql(
      `insert into audit_events (id, at, updated_at, action, target_type, target_id, status, details)
       values ($1, now(), now(), 'USER_UPDATE', 'User', $2, 'PENDING', $3)`,
      [young, user.id, { email: user.email }],
    );

    await reconcile();
    expect(await localUser(user.email, backends)).toMatchObject({ first_name: 'Grace' });
    expect(await backends.sql('select status from audit_events where id = $1', [young])).toEqual([{ status: 'PENDING' }]);

    await backends.sql(`update audit_events set status = 'SUCCEEDED', updated_at = now() - interval '1 day' where id = $1`, [young]);
    await reconcile();
    expect(await localUser(user.email, backends)).toMatchObject({ first_name: 'Midway' });
  });
});

describe('reconciler: journal entries left PENDING', () => {
  it('a stale PENDING deletion that Keycloak did is finished: the user leaves the mirror, the entry SUCCEEDED', async () => {
    const user = await createUserThroughGateway(gateway, token);
    // The deletion reached Keycloak; the process died before the local commit.
    await admin('DELETE', `/users/${user.id}`);
    const eventId = await stalePendingEvent('USER_DELETE', user.id, { email: user.email });

    const run = await reconcile();

    expect(run.eventsSettled).toBeGreaterThanOrEqual(1);
    expect(await backends.sql('select 1 from users where id = $1', [user.id])).toEqual([]);
    expect(await backends.sql('select status, error from audit_events where id = $1', [eventId])).toEqual([
      { status: 'SUCCEEDED', error: expect.stringMatching(/^settled by the reconciler/) },
    ]);
  });

  it('a stale PENDING creation whose user reached Keycloak is mirrored with its roles, not deleted', async () => {
    const orphan = await consoleUser(['role_premium']);
    const eventId = await stalePendingEvent('USER_CREATE', null, { email: orphan.email, roles: ['role_premium'] });

    await reconcile();

    expect(await localUser(orphan.email, backends)).toMatchObject({ id: orphan.id, sync_status: 'SYNCED' });
    expect((await localLinks(orphan.id, backends)).roles).toEqual(['role_premium']);
    expect((await admin('GET', `/users/${orphan.id}`)).status).toBe(200);
    expect(await backends.sql('select status, target_id from audit_events where id = $1', [eventId])).toEqual([
      { status: 'SUCCEEDED', target_id: orphan.id },
    ]);
  });

  it('a stale PENDING creation that never reached Keycloak is FAILED; no PENDING entry older than the timeout is left', async () => {
    const stale = await stalePendingEvent('USER_CREATE', null, { email: newEmail('never') });

    await reconcile();

    expect(await backends.sql('select status from audit_events where id = $1', [stale])).toEqual([{ status: 'FAILED' }]);
    expect(
      await backends.sql(`select id from audit_events where status = 'PENDING' and updated_at < now() - make_interval(secs => $1)`, [
        backends.config.jobs.pendingTimeoutSeconds,
      ]),
    ).toEqual([]);
  });
});

describe('reconciler: the full comparison streams', () => {
  /** One run of the full comparison reading `pageSize` Keycloak users at a time. */
  const comparison = (pageSize: number, keycloak = gateway.app.keycloak.client) => {
    const { app } = gateway;
    const dependencies = serviceDependencies(backends.config, keycloak);
    return reconcileWith(
      { em: app.orm.em, keycloak, services: (em) => createServices(em, dependencies, app.log), log: app.log },
      { pendingTimeoutSeconds: backends.config.jobs.pendingTimeoutSeconds, pageSize },
    );
  };

  it('holds a few pages of users at once, not the realm, and still finds users Keycloak added, changed and deleted', async () => {
    const gone = await consoleUser();
    const renamed = await consoleUser();
    const demoted = await consoleUser(['role_manager']);
    await reconcile();
    const fresh = [];
    for (let i = 0; i < 8; i++) fresh.push(await consoleUser(i < 5 ? ['role_premium'] : []));
    await admin('DELETE', `/users/${gone.id}`);
    await admin('PUT', `/users/${renamed.id}`, { firstName: 'Paged' });
    const manager = (await admin<{ id: string; name: string }>('GET', '/roles/role_manager')).body;
    await admin('DELETE', `/users/${demoted.id}/role-mappings/realm`, [manager]);
    const count = (await admin<number>('GET', '/users/count')).body;

    const run = await comparison(2);

    // Two Keycloak users, their two mirror rows, and a chunk of two rows of the range.
    expect(run.usersHeldAtMost).toBeLessThanOrEqual(6);
    expect(count).toBeGreaterThan(6);
    expect(run).toMatchObject({ usersAdded: fresh.length, usersUpdated: 1, usersRemoved: 1 });
    for (const user of fresh) expect(await localUser(user.email, backends)).toMatchObject({ id: user.id, sync_status: 'SYNCED' });
    expect(await localUser(renamed.email, backends)).toMatchObject({ first_name: 'Paged' });
    // Role holders are streamed the same way: five holders over three pages, and a holder gone.
    expect(run.linksChanged).toBeGreaterThanOrEqual(6);
    for (const [i, user] of fresh.entries()) expect((await localLinks(user.id, backends)).roles).toEqual(i < 5 ? ['role_premium'] : []);
    expect((await localLinks(demoted.id, backends)).roles).toEqual([]);
    expect(await backends.sql('select 1 from users where id = $1', [gone.id])).toEqual([]);

    // The figure is real: one page as large as the realm holds all of it.
    expect((await comparison(500)).usersHeldAtMost).toBeGreaterThanOrEqual(count);
  });

  it('asks again for a page Keycloak failed to answer, and finishes the comparison instead of giving it up', async () => {
    await reconcile();
    const late = await consoleUser();
    const proxy = await startKeycloakProxy(backends.config.keycloak.url);
    try {
      const { keycloak } = backends.config;
      const { client } = createKeycloakAdmin({
        url: proxy.url,
        realm: keycloak.realm,
        clientId: keycloak.apiClientId,
        clientSecret: keycloak.apiClientSecret,
      });
      // The second page of users fails twice (Keycloak down or slow for a moment), then answers.
      let failures = 0;
      const secondPage = /^GET \/admin\/realms\/[^/]+\/users\/?\?.*first=2(&|$)/;
      proxy.failWhen = (request) => secondPage.test(request) && failures++ < 2;

      const run = await comparison(2, client);

      expect(failures).toBe(3);
      expect(proxy.requests.filter((request) => secondPage.test(request))).toHaveLength(3);
      expect(run.usersAdded).toBe(1);
      expect(await localUser(late.email, backends)).toMatchObject({ id: late.id, sync_status: 'SYNCED' });
      expect(
        captured.lines.some(
          (line) => line.level === LEVEL.warn && line.msg === 'Keycloak did not answer a page of the comparison: asked again',
        ),
      ).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
