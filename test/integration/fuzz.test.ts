import { createHash, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildPublicSchema } from '../../src/schema.js';
import type { Progress } from '../../src/stack/progress.js';
import { startSmtpCatcher, type RunningSmtpCatcher } from '../../src/stack/smtp-catcher.js';
import { operations, PoolRef, render, type Caller, type GeneratedOperation, type PoolName } from '../support/fuzz.js';
import { startTestGateway, unlimited, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, type TestUser } from '../support/keycloak.js';

/*
 * L1 and L7: no input makes the gateway fail. Operations generated from the executable
 * schema, for every Query and Mutation field, with adversarial values for every argument
 * (control characters, huge strings, broken unicode, malformed ids and cursors, dates out
 * of range, huge lists, wrong enum values, deep inputs, values of the wrong kind), sent over
 * HTTP as anonymous, a plain user and an admin, with and without X-Tenant-ID. A run fails on
 * any HTTP 5xx, any error that is not one of the contract's refusals (INTERNAL_SERVER_ERROR
 * above all), any message longer than the bound, and any refused call after which
 * PostgreSQL's mirror or Keycloak's realm differ from before it.
 *
 * It runs on a realm and database of its own, so that a fingerprint of both changes only
 * through its own calls. Successful calls may change state (an admin's createUser does);
 * the fingerprint is taken again after each call, and only refused calls must leave it
 * alone. Mutations that name ids draw them from decoys and from what earlier calls made,
 * never from the fuzzer's own callers (an admin deleting itself would end the run's meaning);
 * deleteMyAccount and signOutEverywhere are sent anonymously only.
 *
 * FUZZ_SEED and FUZZ_RUNS reproduce a run: operation i is drawn from seed + i alone
 * (FUZZ_FROM starts at another index than 0, on a realm and database named after it).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** The first operation's index: a long run splits into processes that each take a range. */
const FROM = Number(process.env.FUZZ_FROM ?? 0);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REFUSALS = new Set(['BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'RATE_LIMITED']);
const MAX_MESSAGE = 1000;
const TOKEN_TTL_MS = 40 * 60_000;

/** Every limit out of reach: the run is about what each call does, not about being throttled. */
interface Fixture extends TestUser {
  token: string;
  grantedAt: number;
  tenantId: string;
}

describe('fuzzer', () => {
  let backends: IsolatedBackends;
  /** One connection for the fingerprints, taken after every call. */
  let database: pg.Client;
  let smtp: RunningSmtpCatcher;
  let gateway: TestGateway;
  const callers = {} as Record<Exclude<Caller, 'anonymous'>, Fixture>;
  /** For mutations: what may be changed or deleted. Queries may also read the fixtures. */
  const pools: Record<PoolName, string[]> = {
    user: [],
    role: [],
    privilege: [],
    group: [],
    tenant: [],
    invitation: [],
    invitationToken: [],
    refreshToken: [],
    cursor: [],
  };
  const fixtureIds = new Set<string>();
  const readOnly: Partial<Record<PoolName, string[]>> = {};
  /** Users whose Keycloak record the fingerprint holds whole: the decoy, which mutations may change. */
  const watchedUsers: string[] = [];

  beforeAll(async () => {
    // A mail catcher of its own: the run's invitation and password emails stay out of the shared one.
    const quiet: Progress = { info: () => {}, step: (_what, run) => run() };
    smtp = await startSmtpCatcher({ smtpPort: 0, httpPort: 0, progress: quiet });
    backends = await isolatedBackends(`fuzz${FROM || ''}`, (config) => ({
      ...config,
      smtp: { ...config.smtp, host: '127.0.0.1', port: smtp.smtpPort },
    }));
    const realm = backends.realm;
    // Long-lived access tokens in this realm only: a 100,000-call run outlasts the default 5 minutes.
    await keycloakAdmin('PUT', '', { accessTokenLifespan: 3600 }, realm);
    gateway = await startTestGateway(() => ({ ...backends.config, rateLimits: unlimited(backends.config.rateLimits) }));
    database = new pg.Client({ connectionString: backends.config.databaseUrl });
    await database.connect();

    for (const [name, roles] of [
      ['admin', ['role_admin']],
      ['user', ['role_user']],
    ] as const) {
      const user = await createKeycloakUser({ realm, realmRoles: [...roles] });
      const token = (await passwordGrant(user.email, user.password, realm)).access_token;
      expect((await gateway.graphql('{ me { user { id } } }', { token })).errors).toBeUndefined();
      const tenant = await gateway.graphql('mutation { createTenant(input: { name: "Fuzz" }) { tenant { id } } }', { token });
      callers[name] = { ...user, token, grantedAt: Date.now(), tenantId: tenant.data!.createTenant.tenant.id };
      fixtureIds.add(user.id);
    }
    // Decoys that mutations may change or delete.
    const admin = callers.admin.token;
    const decoy = await gateway.graphql(
      `mutation($u: CreateUserInput!, $g: CreateGroupInput!, $r: CreateRoleInput!, $i: CreateInvitationInput!) {
        u: createUser(input: $u) { user { id } } g: createGroup(input: $g) { group { id } } r: createRole(input: $r) { role { id } }
        i: createInvitation(input: $i) { token invitation { id } }
      }`,
      {
        token: admin,
        variables: {
          u: { email: `decoy-${randomUUID().slice(0, 8)}@example.test`, firstName: 'De', lastName: 'Coy', password: 'Decoy-pass-1' },
          g: { groupName: `decoys-${randomUUID().slice(0, 8)}` },
          r: { roleName: `role_decoy_${randomUUID().slice(0, 8)}` },
          i: { tenantId: callers.admin.tenantId, email: `invited-${randomUUID().slice(0, 8)}@example.test` },
        },
      },
    );
    expect(decoy.errors).toBeUndefined();
    pools.user.push(decoy.data!.u.user.id);
    watchedUsers.push(decoy.data!.u.user.id);
    pools.group.push(decoy.data!.g.group.id);
    pools.role.push(decoy.data!.r.role.id);
    pools.invitation.push(decoy.data!.i.invitation.id);
    pools.invitationToken.push(decoy.data!.i.token);
    pools.tenant.push(callers.admin.tenantId, callers.user.tenantId);
    const catalog = await backends.sql<{ id: string; name: string; kind: string }>('select id, name, kind from realm_roles');
    for (const role of catalog) {
      if (role.kind === 'PRIVILEGE') pools.privilege.push(role.id);
      else if (role.name === 'role_admin') fixtureIds.add(role.id);
      else pools.role.push(role.id);
    }
    readOnly.user = [callers.admin.id, callers.user.id];
    readOnly.role = catalog.filter((role) => role.name === 'role_admin').map((role) => role.id);
  }, 180_000);

  afterAll(async () => {
    await database?.end();
    await gateway?.close();
    await backends?.close();
    await smtp?.stop();
  });

  /**
   * A valid session for each fixture; their email or names may have been changed by the
   * run's updateMyProfile. True when it wrote anything: the fingerprints are to be taken anew.
   */
  async function freshTokens(): Promise<boolean> {
    let renewed = false;
    for (const fixture of Object.values(callers)) {
      if (Date.now() - fixture.grantedAt < TOKEN_TTL_MS) continue;
      await keycloakAdmin(
        'PUT',
        `/users/${fixture.id}`,
        { email: fixture.email, username: fixture.email, firstName: fixture.firstName, lastName: fixture.lastName, enabled: true },
        backends.realm,
      );
      fixture.token = (await passwordGrant(fixture.email, fixture.password, backends.realm)).access_token;
      fixture.grantedAt = Date.now();
      await gateway.graphql('{ me { user { id } } }', { token: fixture.token });
      renewed = true;
    }
    return renewed;
  }

  function resolve(kind: 'query' | 'mutation') {
    const pick = (ref: PoolRef): string => {
      const pool = [...pools[ref.pool], ...(kind === 'query' ? (readOnly[ref.pool] ?? []) : [])];
      // Nothing known yet: an id that names nothing.
      return pool.length > 0 ? pool[ref.index % pool.length]! : `00000000-0000-4000-8000-${String(ref.index).padStart(12, '0')}`;
    };
    const walk = (value: unknown): unknown => {
      if (value instanceof PoolRef) return pick(value);
      if (Array.isArray(value)) return value.map(walk);
      if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item)]));
      return value;
    };
    return walk;
  }

  /** What successful answers made or returned joins the pools, for later operations to use. */
  function harvest(value: unknown): void {
    const keep = (pool: PoolName, item: unknown) => {
      if (typeof item !== 'string' || fixtureIds.has(item) || pools[pool].includes(item)) return;
      pools[pool].push(item);
      if (pools[pool].length > 25) pools[pool].shift();
    };
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      if (!node || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const pool = { User: 'user', Role: 'role', Privilege: 'privilege', Group: 'group', Tenant: 'tenant', Invitation: 'invitation' }[
        String(record.__typename)
      ] as PoolName | undefined;
      if (pool) keep(pool, record.id);
      if (record.__typename === 'InvitationPayload') keep('invitationToken', record.token);
      if (record.__typename === 'TokenSet') keep('refreshToken', record.refreshToken);
      if (record.__typename === 'PageInfo') keep('cursor', record.endCursor);
      Object.values(record).forEach(walk);
    };
    walk(value);
  }

  /**
   * What background work changes by design, while the fuzzer's calls come and go: the outbox
   * relay numbers committed events (`position`), and webhook delivery creates deliveries from
   * them and moves each endpoint's place in the stream. Of those tables, only the columns a
   * call itself writes are compared.
   */
  const WRITTEN_BY_CALLS: Record<string, string> = {
    identity_events: 'id, type, origin, actor_id, subject_type, subject_id, tenant_id, before, after',
    webhook_endpoints: 'id, url, description, event_types, enabled, sealed_secret, sealed_previous_secret, created_by',
  };

  /**
   * PostgreSQL's mirror, table by table: every table but the audit journal and the
   * idempotency keys, which record attempts by design, and the webhook
   * deliveries, which delivery creates from committed events (WRITTEN_BY_CALLS).
   */
  let fingerprintSql: string | undefined;
  async function databaseFingerprint(): Promise<Record<string, string>> {
    if (!fingerprintSql) {
      const { rows: tables } = await database.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'
          and table_name not in ('audit_events', 'idempotency_keys', 'mikro_orm_migrations', 'webhook_deliveries')
          order by table_name`,
      );
      fingerprintSql = tables
        .map(({ table_name: table }) => {
          const rows = WRITTEN_BY_CALLS[table] ? `(select ${WRITTEN_BY_CALLS[table]} from "${table}")` : `"${table}"`;
          return `select '${table}' as name, count(*) || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '') as digest from ${rows} t`;
        })
        .join(' union all ');
    }
    const { rows } = await database.query<{ name: string; digest: string }>(fingerprintSql);
    return Object.fromEntries(rows.map((row) => [row.name, row.digest]));
  }

  let masterToken = { value: '', at: 0 };
  async function keycloakGet(path: string): Promise<unknown> {
    const { url, masterAdmin } = inject('config').keycloak;
    if (Date.now() - masterToken.at > 30_000) {
      const response = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', ...masterAdmin! }),
      });
      masterToken = { value: ((await response.json()) as { access_token: string }).access_token, at: Date.now() };
    }
    const response = await fetch(`${url}/admin/realms/${backends.realm}${path}`, {
      headers: { authorization: `Bearer ${masterToken.value}` },
    });
    return response.status === 404 ? null : response.json();
  }

  /** Keycloak's realm: how many users and groups, which roles, and the decoy user as it stands. */
  async function keycloakFingerprint(): Promise<Record<string, string>> {
    const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
    const [users, groups, roles, ...decoys] = await Promise.all([
      keycloakGet('/users/count'),
      keycloakGet('/groups/count'),
      keycloakGet('/roles?briefRepresentation=false'),
      ...watchedUsers.map((id) => keycloakGet(`/users/${id}`)),
    ]);
    const roleView = (roles as { name: string; description?: string; composite: boolean }[])
      .map(({ name, description, composite }) => [name, description, composite])
      .sort();
    const userView = decoys.map((user) => {
      if (!user) return null;
      const { email, firstName, lastName, enabled, emailVerified, attributes } = user as Record<string, unknown>;
      return { email, firstName, lastName, enabled, emailVerified, attributes };
    });
    return { users: JSON.stringify(users), groups: JSON.stringify(groups), roles: digest(roleView), decoyUsers: digest(userView) };
  }

  function describeOperation(
    index: number,
    operation: GeneratedOperation,
    sent: { document: string; variables: Record<string, unknown> },
    answer: string,
  ): string {
    const short = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text);
    const variables = JSON.stringify(sent.variables, (_key, value: unknown) =>
      typeof value === 'string'
        ? short(value, 120)
        : Array.isArray(value) && value.length > 10
          ? [...value.slice(0, 3), `… ${value.length} items`]
          : value,
    );
    return [
      `operation #${index} (reproduce: FUZZ_SEED=${SEED} FUZZ_FROM=${FROM} FUZZ_RUNS=${index + 1 - FROM})`,
      `  caller: ${operation.caller}, X-Tenant-ID: ${operation.tenant}, Idempotency-Key: ${operation.idempotencyKey}`,
      `  document: ${short(sent.document, 1000)}`,
      `  variables: ${short(variables, 2000)}`,
      `  answer: ${short(answer, 1500)}`,
    ].join('\n');
  }

  it(
    `L1/L7: ${RUNS} generated operations over every root field answer no 5xx and no INTERNAL_SERVER_ERROR, and refused ones change nothing (seed ${SEED})`,
    async () => {
      const schema = await buildPublicSchema();
      const arbitrary = operations(schema);
      const started = Date.now();
      const tally: Record<string, number> = {};
      const timing = { gateway: 0, fingerprints: 0 };
      let previous: string | undefined;
      let rows = await databaseFingerprint();
      let keycloak = await keycloakFingerprint();

      for (let index = FROM; index < FROM + RUNS; index += 1) {
        if (await freshTokens()) [rows, keycloak] = await Promise.all([databaseFingerprint(), keycloakFingerprint()]);
        const [operation] = fc.sample(arbitrary, { seed: (SEED + index) | 0, numRuns: 1 }) as [GeneratedOperation];
        const sent = render(operation, resolve(operation.kind));
        const fixture = operation.caller === 'anonymous' ? undefined : callers[operation.caller];
        const tenantHeader = {
          none: undefined,
          own: fixture?.tenantId ?? callers.user.tenantId,
          foreign: operation.caller === 'user' ? callers.admin.tenantId : callers.user.tenantId,
          unknown: '00000000-0000-4000-8000-00000000fuzz'.replace('fuzz', 'f00d'),
          malformed: "nope' or 1=1",
        }[operation.tenant];
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (fixture) headers.authorization = `Bearer ${fixture.token}`;
        if (tenantHeader) headers['x-tenant-id'] = tenantHeader;
        if (operation.idempotencyKey) headers['idempotency-key'] = `fuzz-${SEED}-${index}`;

        let status = 0;
        let text = '';
        const sentAt = performance.now();
        try {
          const response = await fetch(gateway.url, {
            method: 'POST',
            headers,
            body: JSON.stringify({ query: sent.document, variables: sent.variables }),
            signal: AbortSignal.timeout(120_000),
          });
          status = response.status;
          text = await response.text();
        } catch (error) {
          text = `no answer: ${(error as Error).message}`;
        }
        timing.gateway += performance.now() - sentAt;
        const fail = (problem: string) => {
          const before = previous ? `\nthe operation before it:\n${previous}` : '';
          throw new Error(`Fuzzer: ${problem}\n${describeOperation(index, operation, sent, `HTTP ${status} ${text}`)}${before}`);
        };

        if (status === 0 || status >= 500) fail(`HTTP ${status}`);
        let body: { data?: { f?: unknown } | null; errors?: { message: string; path?: unknown[]; extensions?: { code?: string } }[] };
        try {
          body = JSON.parse(text);
        } catch {
          return fail('the answer is not JSON');
        }
        const errors = body.errors ?? [];
        // Keycloak too slow for the gateway's timeout (a loaded machine): a coded answer, and a
        // write Keycloak finished after it is the reconciler's to settle, so the state is taken anew.
        if (errors.some((error) => error.extensions?.code === 'UPSTREAM_UNAVAILABLE')) {
          tally.UPSTREAM_UNAVAILABLE = (tally.UPSTREAM_UNAVAILABLE ?? 0) + 1;
          [rows, keycloak] = await Promise.all([databaseFingerprint(), keycloakFingerprint()]);
          continue;
        }
        for (const error of errors) {
          const code = String(error.extensions?.code);
          if (!REFUSALS.has(code)) fail(`an error coded ${code}: ${error.message}`);
          if (error.message.length > MAX_MESSAGE) fail(`a message of ${error.message.length} characters`);
        }
        const outcome = errors.length === 0 ? 'OK' : [...new Set(errors.map((error) => error.extensions!.code))].join('+');
        tally[outcome] = (tally[outcome] ?? 0) + 1;

        // Refused: no data for the field, and every error raised at the field itself (an error
        // below it means the field's resolver ran to its end, and may have written).
        const refused =
          errors.length > 0 && (body.data?.f ?? null) === null && errors.every((error) => !error.path || error.path.length <= 1);
        if (!refused) harvest(body.data);
        // HTTP 400 and 413: refused before any resolver ran (the document, its variables or the
        // body), so nothing could have been written and the fingerprints stand.
        if (status === 400 || status === 413) {
          previous = describeOperation(index, operation, sent, `HTTP ${status} ${text}`);
          continue;
        }
        const checkedAt = performance.now();
        // Queries never call Keycloak's admin API: its fingerprint can only move with a mutation.
        const [nextRows, nextKeycloak] = await Promise.all([
          databaseFingerprint(),
          operation.kind === 'mutation' ? keycloakFingerprint() : keycloak,
        ]);
        if (refused) {
          const changed = [
            ...Object.keys({ ...rows, ...nextRows })
              .filter((table) => rows[table] !== nextRows[table])
              .map((table) => `PostgreSQL ${table}`),
            ...Object.keys(keycloak)
              .filter((part) => keycloak[part] !== nextKeycloak[part])
              .map((part) => `Keycloak ${part}`),
          ];
          if (changed.length > 0) fail(`a refused call changed ${changed.join(', ')}`);
        }
        rows = nextRows;
        keycloak = nextKeycloak;
        timing.fingerprints += performance.now() - checkedAt;
        previous = describeOperation(index, operation, sent, `HTTP ${status} ${text}`);
      }

      // Idempotency keys sent along never kept a token (M1).
      expect(await backends.sql(`select key from idempotency_keys where response::text like '%eyJ%'`)).toEqual([]);
      console.log(
        `fuzzer: ${RUNS} operations from #${FROM}, seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s ` +
          `(gateway ${(timing.gateway / 1000).toFixed(1)} s, fingerprints ${(timing.fingerprints / 1000).toFixed(1)} s); answers: ${Object.entries(
            tally,
          )
            .sort(([, a], [, b]) => b - a)
            .map(([outcome, count]) => `${outcome} ${count}`)
            .join(', ')}`,
      );
    },
    Math.max(120_000, RUNS * 2_000),
  );
});
