import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { type IsolatedBackends, isolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';
import { findOrStartRedis } from '../support/redis.js';
import { type RoundRobin, startRoundRobin } from '../support/round-robin.js';

/**
 * Three gateway processes behind a round-robin balancer, sharing Redis, PostgreSQL and
 * Keycloak, as a production deployment runs them. Each test prints the figures it measured.
 */
const ME = 'query FleetMe { me { user { id } } }';
const LOGIN = 'mutation FleetLogin($input: LoginInput!) { login(input: $input) { tokens { accessToken } } }';
const CREATE_USER = `mutation FleetCreate($input: CreateUserInput!) { createUser(input: $input) { user { id email } } }`;
const DISABLE = 'mutation FleetDisable($id: ID!) { updateUser(id: $id, input: { enabled: false }) { user { id enabled } } }';

const redis = await findOrStartRedis();
let backends: IsolatedBackends;
let config: Config;
let balancer: RoundRobin;
const fleet: GatewayProcess[] = [];
let adminToken: string;

async function graphql(url: string, query: string, options: { variables?: Record<string, unknown>; token?: string } = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token && { authorization: `Bearer ${options.token}` }) },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const body = (await response.json().catch(() => ({}))) as { data?: Record<string, any>; errors?: { extensions?: { code?: string } }[] };
  return { status: response.status, ...body };
}

beforeAll(async () => {
  if (!redis.url) throw new Error(`The fleet test needs Redis: ${redis.reason}`);
  backends = await isolatedBackends('fleet');
  config = {
    ...backends.config,
    redis: { url: redis.url, keyPrefix: `fleet-${randomUUID().slice(0, 8)}:` },
    // Long enough for the balancer (100 ms health checks) to take a draining process out.
    shutdown: { drainSeconds: 1, timeoutSeconds: 10 },
  };
  balancer = await startRoundRobin();
  fleet.push(...(await Promise.all([0, 1, 2].map(() => startGatewayProcess(config)))));
  balancer.setBackends(fleet.map((process) => process.url));
  await Promise.all(fleet.map((process) => balancer.waitUntilHealthy(process.url)));
  const admin = config.bootstrapAdmin!;
  adminToken = (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;
}, 300_000);

afterAll(async () => {
  await Promise.all(fleet.map((process) => process.kill()));
  await balancer?.close();
  await backends?.close();
  if (redis.url) await redis.stop();
});

/** Steady load through the balancer until `stop` resolves: `me` calls, counted. */
async function steadyLoad(token: string, stop: Promise<void>, clients = 4) {
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const counts = { sent: 0, failed: 0, failures: [] as string[] };
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stopped) {
        counts.sent++;
        const answer = await graphql(balancer.url, ME, { token }).catch((error: unknown) => ({ status: 0, error: String(error) }));
        if (answer.status !== 200 || !('data' in answer) || !answer.data?.me) {
          counts.failed++;
          if (counts.failures.length < 5) counts.failures.push(JSON.stringify(answer).slice(0, 300));
        }
      }
    }),
  );
  return counts;
}

describe('three gateway processes behind a load balancer', () => {
  it('restart one at a time (SIGTERM, start again) under steady load without a failed request', async () => {
    const user = await createKeycloakUser({ realm: backends.realm });
    const token = (await passwordGrant(user.email, user.password, backends.realm)).access_token;
    // Mirrored before the load: a first sign-in is the subject of other tests.
    expect((await graphql(balancer.url, ME, { token })).data?.me.user.id).toBe(user.id);
    let finish!: () => void;
    const load = steadyLoad(
      token,
      new Promise<void>((resolve) => {
        finish = resolve;
      }),
    );
    for (let index = 0; index < fleet.length; index++) {
      await fleet[index]!.stop();
      fleet[index] = await startGatewayProcess(config);
      balancer.setBackends(fleet.map((process) => process.url));
      await balancer.waitUntilHealthy(fleet[index]!.url);
    }
    finish();
    const { sent, failed, failures } = await load;
    console.info(`rolling restart of 3 processes: ${sent} requests sent, ${failed} failed`);
    expect(failures).toEqual([]);
    expect(failed).toBe(0);
    expect(sent).toBeGreaterThan(100);
  }, 600_000);

  it('counts a rate limit across the processes: N logins in total, not N per process', async () => {
    // The processes run with the default limits (environmentOf passes none).
    const LOGIN_LIMIT = config.rateLimits.login.perAccountAndIp!.max;
    const user = await createKeycloakUser({ realm: backends.realm });
    const outcomes = await Promise.all(
      Array.from({ length: LOGIN_LIMIT * 3 }, () =>
        graphql(balancer.url, LOGIN, { variables: { input: { username: user.email, password: user.password } } }),
      ),
    );
    const allowed = outcomes.filter((outcome) => outcome.data?.login?.tokens?.accessToken).length;
    const limited = outcomes.filter((outcome) => outcome.errors?.[0]?.extensions?.code === 'RATE_LIMITED').length;
    console.info(
      `login limit ${LOGIN_LIMIT} per account and address: ${allowed} allowed, ${limited} refused of ${outcomes.length} across 3 processes`,
    );
    expect(allowed).toBe(LOGIN_LIMIT);
    expect(limited).toBe(LOGIN_LIMIT * 2);
  }, 120_000);

  it('refuses a user disabled through one process on the other two at once', async () => {
    const user = await createKeycloakUser({ realm: backends.realm });
    const token = (await passwordGrant(user.email, user.password, backends.realm)).access_token;
    const [writer, ...others] = fleet;
    // Both others admitted the user, and keep the record in their caller caches.
    for (const process of others) expect((await graphql(process.url, ME, { token })).data?.me.user.id).toBe(user.id);

    const disabled = await graphql(writer!.url, DISABLE, { variables: { id: user.id }, token: adminToken });
    expect(disabled.data?.updateUser.user.enabled).toBe(false);
    const acknowledgedAt = performance.now();
    const refusedAfter = await Promise.all(
      others.map(async (process) => {
        for (;;) {
          const answer = await graphql(process.url, ME, { token });
          if (answer.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') return performance.now() - acknowledgedAt;
          expect(answer.data?.me.user.id).toBe(user.id);
        }
      }),
    );
    console.info(
      `a disabled user refused by the two other processes ${refusedAfter.map((ms) => `${ms.toFixed(0)} ms`).join(' and ')} after the write`,
    );
    // The goal is a second; the bound leaves room for a loaded machine, the figure above tells.
    for (const ms of refusedAfter) expect(ms).toBeLessThan(5_000);
  }, 120_000);

  it('loses nothing it acknowledged when a process is killed with SIGKILL mid-stream', async () => {
    const victim = fleet[0]!;
    const acknowledged: { id: string; email: string }[] = [];
    let killed = false;
    const writes = (async () => {
      for (let index = 0; !killed || index < 3; index++) {
        const email = `fleet-${randomUUID().slice(0, 8)}@example.test`;
        const answer = await graphql(victim.url, CREATE_USER, {
          token: adminToken,
          variables: { input: { email, firstName: 'Fleet', lastName: `User ${index}`, password: `Pw-${randomUUID()}-9a` } },
        }).catch(() => undefined);
        if (!answer) return;
        if (answer.data?.createUser?.user) acknowledged.push(answer.data.createUser.user);
        if (acknowledged.length === 3 && !killed) {
          killed = true;
          // The next write is under way when the process dies.
          setImmediate(() => victim.killNow());
        }
      }
    })();
    await writes;
    await victim.exited;
    fleet[0] = await startGatewayProcess(config);
    balancer.setBackends(fleet.map((process) => process.url));
    console.info(`SIGKILL mid-stream: ${acknowledged.length} writes acknowledged before the kill`);
    expect(acknowledged.length).toBeGreaterThanOrEqual(3);
    for (const user of acknowledged) {
      const [mirrored] = await backends.sql<{ email: string }>('select email from users where id = $1', [user.id]);
      expect(mirrored?.email, user.email).toBe(user.email);
      const inKeycloak = await keycloakAdmin<{ email: string }>('GET', `/users/${user.id}`, undefined, backends.realm);
      expect(inKeycloak.body.email, user.email).toBe(user.email);
    }
  }, 300_000);
});
