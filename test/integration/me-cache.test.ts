import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { watch } from '../support/subscriptions.js';

// `me` is answered from the process's cache of callers' records
// (src/modules/users/user-record-cache.ts), kept fresh by PostgreSQL's announcements of
// every change to a user row. A name written after the token was issued is not
// re-mirrored from the token, so `me` shows what the mirror holds.
const ME = 'query { me { user { id firstName enabled } } }';
/** What another process writes: a new first name, newer than the caller's token. */
const renameElsewhere = (id: string, firstName: string) =>
  sql('update users set first_name = $2, updated_at = now() where id = $1', [id, firstName]);
const LISTENER = 'iam-gateway listening on users_changed';
const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { me { id } } }';

describe('me from the caller cache', () => {
  let gateway: TestGateway;
  let statements = 0;
  beforeAll(async () => {
    // Logins of one account, repeated until a read is kept: far past the default limits.
    // Its own in-memory limiter, so no other file's gateway shares its counts.
    const loginLimit = { max: 1000, windowSeconds: 600 };
    gateway = await startTestGateway((config) => ({
      ...config,
      redis: undefined,
      rateLimits: { ...config.rateLimits, login: { perAccountAndIp: loginLimit, perIp: loginLimit } },
    }));
    gateway.app.orm.config.set('onQuery', (query: string) => {
      statements++;
      return query;
    });
  });
  afterAll(() => gateway?.close());

  async function caller() {
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const first = await gateway.graphql(ME, { token });
    expect(first.errors).toBeUndefined();
    return { user, me: () => gateway.graphql<{ me: { user: { enabled: boolean; firstName: string } } }>(ME, { token }) };
  }

  /**
   * The statements of the caller's `me` just after `action`, with their record read into the
   * cache first. Polled: a read during which any user changed is not kept (see below).
   */
  async function statementsOfMeAfter(me: () => Promise<unknown>, action: () => Promise<void>): Promise<number> {
    await me();
    await action();
    return statementsOf(me);
  }

  /** The statements `action` sent to PostgreSQL. */
  async function statementsOf(action: () => Promise<unknown>): Promise<number> {
    statements = 0;
    await action();
    return statements;
  }

  it('answers a repeated me without a statement to PostgreSQL', async () => {
    const { me } = await caller();
    // A read during which any user changed (other test files write users all the time) is
    // not kept: ask until one is.
    await expect.poll(() => statementsOf(me), { timeout: 10_000, interval: 20 }).toBe(0);
    for (let i = 0; i < 5; i++) expect((await me()).data!.me.user.enabled).toBe(true);
    expect(statements).toBe(0);
  });

  it('keeps every caller cached through a login, and a login of a cached user reads only its account check', async () => {
    const { me } = await caller();
    const other = await createKeycloakUser();
    const login = async () => {
      const response = await gateway.graphql<{ login: { me: { id: string } } }>(LOGIN, {
        variables: { input: { username: other.email, password: other.password } },
      });
      expect(response.errors).toBeUndefined();
      expect(response.data!.login.me.id).toBe(other.id);
    };
    // A login leaves the process's cache as it was: another caller's next me asks PostgreSQL nothing.
    await expect.poll(() => statementsOfMeAfter(me, login), { timeout: 10_000, interval: 20 }).toBe(0);
    // The signed-in user's record is read afresh for the account check (disabled: no tokens);
    // admitting them for `me` is answered from the cache, as their next request would be.
    await expect.poll(() => statementsOf(login), { timeout: 10_000, interval: 20 }).toBe(1);
  });

  it('keeps every caller cached through a logout', async () => {
    const { me } = await caller();
    const other = await createKeycloakUser();
    const logout = async () => {
      const tokens = await passwordGrant(other.email, other.password);
      const response = await gateway.graphql<{ logout: { message: string } }>(
        'mutation Logout($refreshToken: String!) { logout(refreshToken: $refreshToken) { message } }',
        { token: tokens.access_token, variables: { refreshToken: tokens.refresh_token } },
      );
      expect(response.errors).toBeUndefined();
    };
    // A logout ends a session at Keycloak and changes no record: another caller's next me asks PostgreSQL nothing.
    await expect.poll(() => statementsOfMeAfter(me, logout), { timeout: 10_000, interval: 20 }).toBe(0);
  });

  it('shows a change another process made in PostgreSQL, once PostgreSQL announced it', async () => {
    const { user, me } = await caller();
    await me();
    await renameElsewhere(user.id, 'Elsewhere');
    await expect.poll(async () => (await me()).data!.me.user.firstName, { timeout: 10_000, interval: 20 }).toBe('Elsewhere');
  });

  it('shows the caller’s own profile change at once, even with a token issued before it', async () => {
    const { me, user } = await caller();
    await me();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const updated = await gateway.graphql(`mutation { updateMyProfile(input: { firstName: "Cached" }) { user { firstName } } }`, { token });
    expect(updated.errors).toBeUndefined();
    // Read at once: no waiting for the announcement to arrive.
    expect((await gateway.graphql<{ me: { user: { firstName: string } } }>(ME, { token })).data!.me.user.firstName).toBe('Cached');
  });

  it('admits every subscription connection again once it listens again: a user disabled while nobody listened is closed (4403)', async () => {
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const connection = watch(gateway, token, {}, null);
    try {
      await connection.until(() => connection.acknowledged, 'the admission');
      const listeners = await sql<{ pid: number }>(
        `select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = current_database()`,
        [LISTENER],
      );
      const pids = listeners.map(({ pid }) => pid);
      await expect.poll(async () => (await sql('select pid from pg_stat_activity where pid = any($1)', [pids])).length).toBe(0);
      // Committed while nobody listens: its announcement reaches no gateway.
      await sql('update users set enabled = false, updated_at = now() where id = $1', [user.id]);
      const closed = await connection.until(() => connection.closed, 'the close');
      expect(closed.code).toBe(4403);
    } finally {
      await connection.client.dispose();
    }
  });

  it('forgets everything when its listening connection drops, and caches again once it listens again', async () => {
    const { user, me } = await caller();
    await me();
    // Every gateway of this database loses its listener (other test files' too: they recover alike).
    await sql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = current_database()`, [
      LISTENER,
    ]);
    // Made while nobody listens: the announcement is lost, so only forgetting on the drop shows it.
    await renameElsewhere(user.id, 'Unannounced');
    expect((await me()).data!.me.user.firstName).toBe('Unannounced');

    await expect.poll(() => statementsOfMeAfter(me, async () => {}), { timeout: 10_000, interval: 200 }).toBe(0);
  });
});
