import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DEFAULT_JWKS_COOLDOWN_MS } from '../../src/auth/token-verifier.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { keycloakAdmin } from '../support/keycloak.js';
import { keycloakUsersByEmail } from '../support/sync.js';
import { decodeToken } from '../support/tokens.js';
import { awaitConsistency, figuresOf, recordFigures } from './consistency.js';
import { chaosEmail, CREATE_USER, Operations, REGISTER_USER, startRig, type Rig } from './rig.js';

// Keycloak's side of the gateway failing: down, slow past the timeout, 5xx half-way through
// a creation, the admin token expiring under load, its keys unreachable or rotated, a deletion
// whose answer was lost. Each test ends with the consistency check.
let rig: Rig;
beforeAll(async () => {
  rig = await startRig('chaos_keycloak');
});
afterAll(() => rig?.close());

const password = 'Str0ng-password';

async function createUser(
  ops: Operations,
  token: string,
  email: string,
  extra: Record<string, unknown> = {},
  gateway: TestGateway = rig.gateway,
) {
  return ops.run(
    () =>
      gateway.graphql(CREATE_USER, { token, variables: { input: { email, firstName: 'Chaos', lastName: 'Created', password, ...extra } } }),
    email,
    'createUser',
  );
}

async function registerUser(
  ops: Operations,
  token: string,
  email: string,
  extra: Record<string, unknown> = {},
  gateway: TestGateway = rig.gateway,
) {
  return ops.run(
    () => gateway.graphql(REGISTER_USER, { token, variables: { input: { email, firstName: 'Chaos', lastName: 'Registered', ...extra } } }),
    email,
    'registerUser',
  );
}

async function settleAndCheck(fault: string, ops: Operations) {
  const outcome = await awaitConsistency(
    { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 0 },
    { settle: () => rig.runJobs() },
  );
  recordFigures(figuresOf(fault, ops.attempted, ops.acknowledged.length, outcome));
  expect(outcome.verdict.problems).toEqual([]);
}

describe('chaos: Keycloak', () => {
  it('Keycloak down when a mutation starts: createUser fails changing nothing, registerUser is kept PENDING and synced once Keycloak is back', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const created = [chaosEmail('down-create'), chaosEmail('down-create')];
    const registered = [chaosEmail('down-register'), chaosEmail('down-register')];
    rig.keycloakTcp.mode = 'reset';
    try {
      for (const email of created) {
        expect(await createUser(ops, token, email, { roleIds: [rig.roleUserId] })).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
      }
      for (const email of registered) {
        expect(await registerUser(ops, token, email, { roleIds: [rig.roleUserId], groupIds: [rig.group.id] })).toEqual({
          syncStatus: 'PENDING',
        });
      }
    } finally {
      rig.keycloakTcp.mode = 'pass';
    }
    for (const email of created) expect(await rig.backends.sql('select 1 from users where email = $1', [email])).toEqual([]);

    await settleAndCheck('Keycloak down when a mutation starts', ops);
    for (const email of created)
      expect(await keycloakUsersByEmail(email, { sql: rig.backends.sql, realm: rig.backends.realm })).toEqual([]);
    expect(ops.acknowledged.sort()).toEqual([...registered].sort());
  });

  it('Keycloak slow past the admin client timeout: the late creations Keycloak still makes are mirrored or adopted, never duplicated', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const created = [chaosEmail('slow-create'), chaosEmail('slow-create')];
    const registered = [chaosEmail('slow-register'), chaosEmail('slow-register')];
    // A gateway that waits 1 s for Keycloak (KEYCLOAK_TIMEOUT_SECONDS), its token and keys fetched.
    const impatient = await startTestGateway(() => ({ ...rig.config, keycloak: { ...rig.config.keycloak, timeoutSeconds: 1 } }));
    expect((await impatient.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
    await expect.poll(() => impatient.app.keycloak.getAccessToken().then(Boolean, () => false), { timeout: 15_000 }).toBe(true);
    // Every byte towards Keycloak arrives 2.5 s late: after the gateway gave up, yet Keycloak still acts on it.
    rig.keycloakTcp.delayMs = 2500;
    rig.keycloakTcp.mode = 'delay';
    try {
      const answers = await Promise.all([
        ...created.map((email) => createUser(ops, token, email, {}, impatient)),
        ...registered.map((email) => registerUser(ops, token, email, { roleIds: [rig.roleUserId] }, impatient)),
      ]);
      expect(answers).toEqual([
        { code: 'UPSTREAM_UNAVAILABLE' },
        { code: 'UPSTREAM_UNAVAILABLE' },
        { syncStatus: 'PENDING' },
        { syncStatus: 'PENDING' },
      ]);
    } finally {
      rig.keycloakTcp.mode = 'pass';
      await impatient.close();
    }
    // The requests the gateway abandoned reach Keycloak all the same.
    const backends = { sql: rig.backends.sql, realm: rig.backends.realm };
    for (const email of [...created, ...registered]) {
      await expect.poll(async () => (await keycloakUsersByEmail(email, backends)).length, { timeout: 15_000, interval: 200 }).toBe(1);
    }

    await settleAndCheck('Keycloak slow past the timeout', ops);
    for (const email of [...created, ...registered]) expect(await keycloakUsersByEmail(email, backends)).toHaveLength(1);
  });

  it('Keycloak answering 5xx in the middle of createUser: the Keycloak user is undone, or, when the undo fails too, mirrored by the reconciler', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const roleMapping = /^POST \/admin\/realms\/[^/]+\/users\/[^/]+\/role-mappings\/realm$/;
    const userDeletion = /^DELETE \/admin\/realms\/[^/]+\/users\/[^/]+$/;
    const backends = { sql: rig.backends.sql, realm: rig.backends.realm };

    // 1. The user is created, adding its role answers 500: the user is deleted again.
    const undone = chaosEmail('fivexx-undone');
    const deferred = chaosEmail('fivexx-deferred');
    rig.keycloakHttp.failWhen = (request) => roleMapping.test(request);
    try {
      expect(await createUser(ops, token, undone, { roleIds: [rig.roleUserId] })).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
      expect(await registerUser(ops, token, deferred, { roleIds: [rig.roleUserId] })).toEqual({ syncStatus: 'PENDING' });
    } finally {
      rig.keycloakHttp.failWhen = undefined;
    }
    expect(await keycloakUsersByEmail(undone, backends)).toEqual([]);
    expect(await rig.backends.sql('select status from audit_events where details->>$2 = $1', [undone, 'email'])).toEqual([
      { status: 'FAILED' },
    ]);

    // 2. The undo answers 500 too: the entry stays PENDING and the reconciler mirrors what Keycloak kept.
    const stranded = chaosEmail('fivexx-stranded');
    rig.keycloakHttp.failWhen = (request) => roleMapping.test(request) || userDeletion.test(request);
    try {
      expect(await createUser(ops, token, stranded, { roleIds: [rig.roleUserId] })).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
    } finally {
      rig.keycloakHttp.failWhen = undefined;
    }
    expect(await keycloakUsersByEmail(stranded, backends)).toHaveLength(1);
    expect(await rig.backends.sql('select status from audit_events where details->>$2 = $1', [stranded, 'email'])).toEqual([
      { status: 'PENDING' },
    ]);

    await settleAndCheck('Keycloak 5xx in the middle of createUser', ops);
    expect(await rig.backends.sql('select status from audit_events where details->>$2 = $1', [stranded, 'email'])).toEqual([
      { status: 'SUCCEEDED' },
    ]);
  });

  it('the admin token expiring under 50 concurrent calls: exactly one token request, and every call succeeds', async () => {
    const realm = rig.backends.realm;
    const { apiClientId } = inject('config').keycloak;
    const [client] = (
      await keycloakAdmin<{ id: string; attributes?: Record<string, string> }[]>(
        'GET',
        `/clients?clientId=${apiClientId}`,
        undefined,
        realm,
      )
    ).body;
    const lifespan = (seconds: number) =>
      keycloakAdmin(
        'PUT',
        `/clients/${client!.id}`,
        { ...client, attributes: { ...client!.attributes, 'access.token.lifespan': String(seconds) } },
        realm,
      );
    const realmLifespan = (await keycloakAdmin<{ accessTokenLifespan: number }>('GET', '', undefined, realm)).body.accessTokenLifespan;
    const tokenRequest = `POST /realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`;
    const tokenRequests = () => rig.keycloakHttp.requests.filter((request) => request === tokenRequest).length;

    // A new gateway's first admin token lives 2 s; the realm's usual lifespan applies again to the next one.
    await lifespan(2);
    // 50 creations at once on a busy machine: a generous timeout, so that only the token is under test.
    const gateway = await startTestGateway(() => ({ ...rig.config, keycloak: { ...rig.config.keycloak, timeoutSeconds: 30 } }));
    const ops = new Operations();
    try {
      let before = tokenRequests();
      const seeded = chaosEmail('token-seed');
      expect(await createUser(ops, await rig.token(), seeded, {}, gateway)).toEqual({ syncStatus: 'SYNCED' });
      expect(tokenRequests() - before, 'the first admin call fetches a token').toBe(1);
      await lifespan(realmLifespan);
      const token = await rig.token();
      // Past its lifetime: expired for the gateway and for Keycloak alike.
      await sleep(2500);

      before = tokenRequests();
      const emails = Array.from({ length: 50 }, () => chaosEmail('token'));
      const answers = await Promise.all(emails.map((email) => createUser(ops, token, email, {}, gateway)));
      expect(
        answers.filter((answer) => answer.syncStatus === 'SYNCED'),
        JSON.stringify(answers),
      ).toHaveLength(50);
      expect(tokenRequests() - before, 'the 50 calls share one token request').toBe(1);
    } finally {
      await lifespan(realmLifespan);
      await gateway.close();
    }
    await settleAndCheck('admin token expiring under 50 concurrent calls', ops);
  });
  it('the JWKS endpoint unreachable with keys cached, then a key rotation: known keys verify meanwhile, the new key is fetched once', async () => {
    const ops = new Operations();
    const realm = rig.backends.realm;
    const token = await rig.token();
    const me = (bearer: string) => rig.gateway.graphql('{ me { user { id } } }', { token: bearer });
    const keySet = `GET /realms/${encodeURIComponent(realm)}/protocol/openid-connect/certs`;
    const keySetFetches = () => rig.keycloakHttp.requests.filter((request) => request === keySet).length;

    rig.keycloakTcp.mode = 'reset';
    try {
      for (let i = 0; i < 5; i++) expect((await me(token)).errors, 'me with a cached key while Keycloak is down').toBeUndefined();
      // What needs Keycloak fails cleanly meanwhile.
      expect(await createUser(ops, token, chaosEmail('jwks-down'))).toEqual({ code: 'UPSTREAM_UNAVAILABLE' });
    } finally {
      rig.keycloakTcp.mode = 'pass';
    }

    // A new RSA key, of a higher priority than the realm's, signs every token from now on.
    const { id: realmId } = (await keycloakAdmin<{ id: string }>('GET', '', undefined, realm)).body;
    const added = await keycloakAdmin(
      'POST',
      '/components',
      {
        name: `rotated-${Date.now()}`,
        providerId: 'rsa-generated',
        providerType: 'org.keycloak.keys.KeyProvider',
        parentId: realmId,
        config: { priority: ['1000'], enabled: ['true'], active: ['true'], algorithm: ['RS256'] },
      },
      realm,
    );
    expect(added.status).toBe(201);
    const rotated = await rig.token();
    expect(decodeToken(rotated).header.kid).not.toBe(decodeToken(token).header.kid);

    // Past the refetch cooldown since the rig's first fetch; Date only, the rest runs in real time.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + DEFAULT_JWKS_COOLDOWN_MS + 1000);
    try {
      const before = keySetFetches();
      for (let i = 0; i < 5; i++) expect((await me(rotated)).errors, 'me with the rotated key').toBeUndefined();
      expect(keySetFetches() - before, 'one key-set fetch for the new kid').toBe(1);
      expect((await me(token)).errors, 'a token of the old key, still published').toBeUndefined();
      expect(await createUser(ops, rotated, chaosEmail('jwks-rotated'))).toEqual({ syncStatus: 'SYNCED' });
    } finally {
      vi.useRealTimers();
    }
    await settleAndCheck('JWKS unreachable with keys cached, then a key rotation', ops);
  });

  it('a deleteUser retried after Keycloak already deleted the user (its answer lost): the retry succeeds, the user is gone from both', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const email = chaosEmail('delete-retried');
    const [created] = [await createUser(ops, token, email)];
    expect(created).toEqual({ syncStatus: 'SYNCED' });
    ops.acknowledged.splice(ops.acknowledged.indexOf(email), 1);
    const [{ id }] = await rig.backends.sql<{ id: string }>('select id from users where email = $1', [email]);
    const DELETE_USER = 'mutation($id: ID!) { deleteUser(id: $id) { message } }';
    const userDeletion = `DELETE ${rig.adminPath(`/users/${id}`)}`;

    // Keycloak deletes the user; the gateway never hears so.
    rig.keycloakHttp.loseAnswerWhen = (request) => request === userDeletion;
    let first: Awaited<ReturnType<typeof rig.gateway.graphql>>;
    try {
      ops.attempted++;
      first = await rig.gateway.graphql(DELETE_USER, { token, variables: { id } });
    } finally {
      rig.keycloakHttp.loseAnswerWhen = undefined;
    }
    expect(first.errors?.[0]?.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(await keycloakUsersByEmail(email, { sql: rig.backends.sql, realm: rig.backends.realm })).toEqual([]);

    ops.attempted++;
    const retried = await rig.gateway.graphql(DELETE_USER, { token, variables: { id } });
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.deleteUser).toEqual({ message: `User ${email} deleted` });
    expect(await rig.backends.sql('select 1 from users where id = $1', [id])).toEqual([]);

    const outcome = await awaitConsistency(
      { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 0 },
      { settle: () => rig.runJobs() },
    );
    recordFigures(figuresOf('deleteUser retried after Keycloak already deleted the user', ops.attempted, 2, outcome));
    expect(outcome.verdict.problems).toEqual([]);
  });
});
