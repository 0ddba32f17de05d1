import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { refusingWrites, sql } from '../support/database.js';
import { unique } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { isolatedBackends } from '../support/isolated.js';
import { adminAccessToken, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { captureLog, LEVEL } from '../support/log-capture.js';
import { createMailbox } from '../support/mailbox.js';
import {
  keycloakGroupNamed,
  keycloakLinks,
  keycloakUsersByEmail,
  localLinks,
  localUser,
  newEmail,
  REGISTER,
  registerWhileUnreachable,
} from '../support/sync.js';

const config = inject('config');
const HOUR_MS = 3600_000;

// The gateway reaches Keycloak through a proxy the tests cut; tokens still name the real Keycloak.
let proxy: KeycloakProxy;
let gateway: TestGateway;
let token: string;
let roleUser: string;
let groupId: string;
let groupName: string;
const captured = captureLog();
beforeAll(async () => {
  proxy = await startKeycloakProxy(config.keycloak.url);
  gateway = await startTestGateway((base) => ({ ...base, keycloak: { ...base.keycloak, url: proxy.url } }), { log: captured.log });
  token = await adminAccessToken();
  groupName = unique('sync-group-');
  groupId = await keycloakGroupNamed(groupName);
  await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
  [{ id: roleUser }] = await sql<{ id: string }>("select id from realm_roles where name = 'role_user'");
  // Fetches the realm keys while Keycloak is reachable, as a running gateway has them.
  expect((await gateway.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
});
afterAll(async () => {
  await gateway?.close();
  await proxy?.close();
});

describe('background sync of users registered while Keycloak was away', () => {
  it('registerUser while Keycloak is unreachable keeps the user PENDING with its roles and groups, and answers success', async () => {
    const email = newEmail();
    const user = await registerWhileUnreachable(gateway, token, proxy, {
      email,
      firstName: 'Offline',
      lastName: 'Registrant',
      roleIds: [roleUser],
      groupIds: [groupId],
    });

    expect(user).toMatchObject({ email, syncStatus: 'PENDING', roles: [{ name: 'role_user' }], groups: [{ name: groupName }] });
    expect(user.message).toMatch(/Keycloak is unreachable: the account and its password-setup email will follow/);
    expect(await keycloakUsersByEmail(email)).toEqual([]);
    expect(await localUser(email)).toMatchObject({ id: user.id, sync_status: 'PENDING', attempts: 0, last_error: null });
    expect(await localLinks(user.id)).toEqual({ roles: ['role_user'], groups: [groupName] });
    expect(await sql('select action, status, error from audit_events where target_id = $1', [user.id])).toEqual([
      { action: 'USER_REGISTER', status: 'SUCCEEDED', error: 'Keycloak was unreachable: kept locally for the sync job' },
    ]);
    const dashboard = await gateway.graphql('{ dashboard { pendingSyncCount } }', { token });
    expect(dashboard.data!.dashboard.pendingSyncCount).toBeGreaterThanOrEqual(1);
  });

  it('a refusal by Keycloak (4xx) is not deferred: registerUser fails and nothing is kept', async () => {
    const email = newEmail();
    // The mirror still knows a group deleted in Keycloak: Keycloak answers 404 when the user joins it.
    const gone = await keycloakGroupNamed(unique('gone-'));
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    await keycloakAdmin('DELETE', `/groups/${gone}`);
    try {
      const response = await gateway.graphql(REGISTER, {
        token,
        variables: { input: { email, firstName: 'No', lastName: 'Group', groupIds: [gone] } },
      });
      expect(response.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
      expect(await localUser(email)).toBeUndefined();
      expect(await keycloakUsersByEmail(email)).toEqual([]);
    } finally {
      await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    }
  });

  it('the sync job pushes a pending user: Keycloak user with its roles and groups, the Keycloak id locally, SYNCED, and the password-setup email', async () => {
    const email = newEmail();
    const pending = await registerWhileUnreachable(gateway, token, proxy, {
      email,
      firstName: 'Later',
      lastName: 'Synced',
      roleIds: [roleUser],
      groupIds: [groupId],
    });

    const run = await gateway.app.jobs.syncPendingUsers();

    expect(run.synced).toBeGreaterThanOrEqual(1);
    const [inKeycloak, ...others] = await keycloakUsersByEmail(email);
    expect(others).toEqual([]);
    expect(inKeycloak).toMatchObject({ email, firstName: 'Later', enabled: true, requiredActions: ['UPDATE_PASSWORD'] });
    expect(await keycloakLinks(inKeycloak!.id)).toEqual({ roles: expect.arrayContaining(['role_user']), groups: [groupName] });
    expect(await localUser(email)).toMatchObject({ id: inKeycloak!.id, sync_status: 'SYNCED', attempts: null });
    expect(await localLinks(inKeycloak!.id)).toEqual({ roles: ['role_user'], groups: [groupName] });
    expect(await sql('select 1 from users where id = $1', [pending.id])).toEqual([]);
    expect(await sql('select action, status from audit_events where target_id = $1 order by at', [inKeycloak!.id])).toEqual([
      { action: 'USER_REGISTER', status: 'SUCCEEDED' },
      { action: 'USER_SYNC', status: 'SUCCEEDED' },
    ]);
    await createMailbox(inject('mailboxUrl')).waitFor(email, { subject: /password|account/i });
    // The info log names the user by id, never by email.
    const info = captured.lines.filter((line) => line.level === LEVEL.info);
    expect(info).toContainEqual(expect.objectContaining({ msg: 'pending user pushed to Keycloak', keycloakId: inKeycloak!.id }));
    expect(JSON.stringify(info)).not.toContain(email);
  });

  it('while Keycloak stays unreachable the user stays PENDING with the reason, and is not tried again before its backoff', async () => {
    const email = newEmail();
    await registerWhileUnreachable(gateway, token, proxy, { email, firstName: 'Still', lastName: 'Away' });
    proxy.mode = 'reset';
    const started = new Date();
    try {
      await gateway.app.jobs.syncPendingUsers(started);
    } finally {
      proxy.mode = 'pass';
    }
    const row = await localUser(email);
    expect(row).toMatchObject({ sync_status: 'PENDING', attempts: 1, last_error: expect.stringMatching(/^Keycloak unreachable/) });
    expect(row!.next_at!.getTime()).toBeGreaterThan(started.getTime());

    await gateway.app.jobs.syncPendingUsers(started);
    expect(await localUser(email)).toMatchObject({ sync_status: 'PENDING', attempts: 1 });
    expect(await keycloakUsersByEmail(email)).toEqual([]);

    await gateway.app.jobs.syncPendingUsers(new Date(Date.now() + HOUR_MS));
    expect(await localUser(email)).toMatchObject({ sync_status: 'SYNCED', attempts: null });
    expect(await keycloakUsersByEmail(email)).toHaveLength(1);
  });

  it('a user Keycloak refuses becomes FAILED with the reason, and is retried later', async () => {
    const email = newEmail();
    await registerWhileUnreachable(gateway, token, proxy, { email, firstName: 'Taken', lastName: 'Email' });
    // Someone else's account under this email, older than the registration: not adopted.
    await keycloakAdmin('POST', '/users', { username: email, email, firstName: 'Someone', lastName: 'Else', enabled: true });
    await sql(`update users set created_at = created_at + interval '1 hour' where email = $1`, [email]);

    await gateway.app.jobs.syncPendingUsers(new Date(Date.now() + 2 * HOUR_MS));

    expect(await localUser(email)).toMatchObject({ sync_status: 'FAILED', attempts: 1, last_error: expect.stringMatching(/exists/i) });
    const [onlyTheirs, ...more] = await keycloakUsersByEmail(email);
    expect(onlyTheirs).toMatchObject({ firstName: 'Someone' });
    expect(more).toEqual([]);
    const dashboard = await gateway.graphql('{ dashboard { pendingSyncCount } }', { token });
    expect(dashboard.data!.dashboard.pendingSyncCount).toBeGreaterThanOrEqual(1);

    await gateway.app.jobs.syncPendingUsers(new Date(Date.now() + 4 * HOUR_MS));
    expect(await localUser(email)).toMatchObject({ sync_status: 'FAILED', attempts: 2 });
  });

  it('adopts the Keycloak user an interrupted earlier push created, rather than failing or creating a second one', async () => {
    const email = newEmail();
    const pending = await registerWhileUnreachable(gateway, token, proxy, {
      email,
      firstName: 'Half',
      lastName: 'Done',
      roleIds: [roleUser],
    });
    // What a push killed after Keycloak's answer leaves: the user in Keycloak, the local row still PENDING.
    await keycloakAdmin('POST', '/users', { username: email, email, firstName: 'Half', lastName: 'Done', enabled: true });

    await gateway.app.jobs.syncPendingUsers(new Date(Date.now() + 6 * HOUR_MS));

    const [inKeycloak, ...more] = await keycloakUsersByEmail(email);
    expect(more).toEqual([]);
    expect(await localUser(email)).toMatchObject({ id: inKeycloak!.id, sync_status: 'SYNCED' });
    expect((await keycloakLinks(inKeycloak!.id)).roles).toContain('role_user');
    expect(await sql('select 1 from users where id = $1', [pending.id])).toEqual([]);
  });
});

describe('jobs in the gateway process', () => {
  it('a gateway with jobs enabled pushes pending users on its own, and stops cleanly on close', async () => {
    // A realm and a database of its own: a gateway with its jobs on pushes every pending user
    // it finds and delivers every due webhook, other files' too, in the shared ones.
    const backends = await isolatedBackends('sync_jobs');
    const ownProxy = await startKeycloakProxy(config.keycloak.url);
    const withJobs = await startTestGateway(() => ({
      ...backends.config,
      keycloak: { ...backends.config.keycloak, url: ownProxy.url },
      jobs: { ...backends.config.jobs, enabled: true, syncIntervalSeconds: 1 },
    }));
    try {
      const admin = config.bootstrapAdmin!;
      const ownToken = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
      expect((await withJobs.graphql('{ me { user { id } } }', { token: ownToken })).errors).toBeUndefined();
      const email = newEmail();
      await registerWhileUnreachable(withJobs, ownToken, ownProxy, { email, firstName: 'Auto', lastName: 'Sync' });
      await expect.poll(async () => (await localUser(email, backends))?.sync_status, { timeout: 15_000, interval: 250 }).toBe('SYNCED');
      expect(await keycloakUsersByEmail(email, backends)).toHaveLength(1);
    } finally {
      const started = performance.now();
      await withJobs.close();
      // Not the sync interval's wait, nor a hang; generous, as other test files load the machine.
      expect(performance.now() - started).toBeLessThan(15_000);
      await ownProxy.close();
      await backends.close();
    }
  });
});

describe('the directory sync while the gateway writes', () => {
  it('never drops a role or group created while it ran: whatever was acknowledged before a run ended is mirrored after it', async () => {
    const acknowledged: string[] = [];
    const dropped: string[] = [];
    let writing = true;
    // Runs back to back, each checked against what the gateway acknowledged before it ended.
    const syncs = (async () => {
      while (writing) {
        await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
        const expected = [...acknowledged];
        const mirrored = await sql<{ id: string }>(
          'select id from realm_roles where id = any($1) union all select id from groups where id = any($1)',
          [expected],
        );
        const present = new Set(mirrored.map((row) => row.id));
        dropped.push(...expected.filter((id) => !present.has(id)));
      }
    })();

    const adminToken = await adminAccessToken();
    for (let i = 0; i < 6; i++) {
      const role = await gateway.graphql('mutation($input: CreateRoleInput!) { createRole(input: $input) { role { id } } }', {
        token: adminToken,
        variables: { input: { roleName: unique('sync_race_') } },
      });
      expect(role.errors).toBeUndefined();
      acknowledged.push(role.data!.createRole.role.id);
      const group = await gateway.graphql('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
        token: adminToken,
        variables: { input: { groupName: unique('sync-race-') } },
      });
      expect(group.errors).toBeUndefined();
      acknowledged.push(group.data!.createGroup.group.id);
    }
    writing = false;
    await syncs;
    expect(dropped).toEqual([]);
  });

  it('writes every other role and group when the mirror refuses one, reports that one, and writes it on the next run', async () => {
    const refusedName = unique('role_refused_');
    await keycloakAdmin('POST', '/roles', { name: refusedName });
    const refused = (await keycloakAdmin<{ id: string }>('GET', `/roles/${refusedName}`)).body.id;
    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    await keycloakAdmin('DELETE', `/roles-by-id/${refused}`);
    const newGroupName = unique('sync-after-refusal-');
    const newGroup = await keycloakGroupNamed(newGroupName);

    const unsynced = await refusingWrites('delete', 'realm_roles', 'name', refusedName, async () => {
      const result = await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
      // Checked while still refused: another test file's sync may delete it right after.
      expect(await sql('select name from realm_roles where id = $1', [refused])).toEqual([{ name: refusedName }]);
      return result;
    });

    // Other test files may have objects of their own refused at the same moment.
    expect(unsynced).toContainEqual({ kind: 'role', id: refused, reason: expect.stringContaining('injected failure') });
    expect(await sql('select name from groups where id = $1', [newGroup])).toEqual([{ name: newGroupName }]);

    await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
    expect(await sql('select name from realm_roles where id = $1', [refused])).toEqual([]);
  });
});
