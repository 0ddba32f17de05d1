import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import type { Config } from '../../src/config.js';
import { syncDirectory } from '../../src/jobs/directory-sync.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { startKeycloakProxy, type KeycloakProxy } from '../support/keycloak-proxy.js';
import { passwordGrant } from '../support/keycloak.js';
import { keycloakGroupNamed } from '../support/sync.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * What every chaos test works on: a realm and a database of its own (so that the
 * consistency check can compare the whole of both), and a gateway that reaches them
 * through fault injectors:
 *
 *   gateway ──TCP proxy──▶ HTTP proxy (counts calls, answers 5xx on demand) ──▶ Keycloak
 *   gateway ──TCP proxy──▶ PostgreSQL
 */
export interface Rig {
  backends: IsolatedBackends;
  /** The gateway's configuration: its backends reached through the proxies; a 1 s pending timeout. */
  config: Config;
  /** TCP in front of the HTTP proxy: down, slow, hanging Keycloak. */
  keycloakTcp: TcpProxy;
  /** HTTP in front of Keycloak: counts requests, `failWhen` answers 500. */
  keycloakHttp: KeycloakProxy;
  /** TCP in front of PostgreSQL. */
  postgres: TcpProxy;
  gateway: TestGateway;
  /** A fresh access token of the realm's bootstrap admin. */
  token(): Promise<string>;
  roleUserId: string;
  group: { id: string; name: string };
  /** Admin-API path of this realm, as the HTTP proxy records it. */
  adminPath(path: string): string;
  /** One sync run and one reconciler run, each with a clock far enough ahead that no backoff or timeout holds them back. */
  runJobs(): Promise<void>;
  close(): Promise<void>;
}

const HOUR_MS = 3600_000;

export async function startRig(name: string, configure: (config: Config) => Config = (config) => config): Promise<Rig> {
  const backends = await isolatedBackends(name);
  const keycloakHttp = await startKeycloakProxy(inject('config').keycloak.url);
  const httpUrl = new URL(keycloakHttp.url);
  const keycloakTcp = await startTcpProxy({ host: httpUrl.hostname, port: Number(httpUrl.port) });
  const pgUrl = new URL(backends.config.databaseUrl);
  // A killed client's connections go at once: a session left open would hold its locks.
  const postgres = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) }, { lingerMs: 500 });
  const config = configure({
    ...backends.config,
    databaseUrl: postgres.url(backends.config.databaseUrl),
    keycloak: { ...backends.config.keycloak, url: keycloakTcp.url(keycloakHttp.url) },
    jobs: { ...backends.config.jobs, enabled: false, pendingTimeoutSeconds: 1 },
  });
  const gateway = await startTestGateway(() => config);
  const admin = inject('config').bootstrapAdmin!;
  const token = async () => (await passwordGrant(admin.email, admin.password, backends.realm)).access_token;

  const groupName = `chaos-${randomUUID().slice(0, 8)}`;
  const groupId = await keycloakGroupNamed(groupName, { sql: backends.sql as never, realm: backends.realm });
  await syncDirectory(gateway.app.keycloak.client, gateway.app.orm.em.fork());
  const [{ id: roleUserId }] = await backends.sql<{ id: string }>("select id from realm_roles where name = 'role_user'");
  // The first request fetches the realm keys and the admin token, as a running gateway has them.
  const first = await gateway.graphql('{ me { user { id } } }', { token: await token() });
  if (first.errors) throw new Error(`the gateway does not answer: ${JSON.stringify(first.errors)}`);

  let clock = Date.now();
  return {
    backends,
    config,
    keycloakTcp,
    keycloakHttp,
    postgres,
    gateway,
    token,
    roleUserId: roleUserId!,
    group: { id: groupId, name: groupName },
    adminPath: (path) => `/admin/realms/${encodeURIComponent(backends.realm)}${path}`,
    async runJobs() {
      clock = Math.max(clock, Date.now()) + 2 * HOUR_MS;
      await gateway.app.jobs.syncPendingUsers(new Date(clock));
      await gateway.app.jobs.reconcile(new Date(clock));
    },
    async close() {
      await gateway.close();
      await Promise.all([keycloakTcp.close(), keycloakHttp.close(), postgres.close()]);
      await backends.close();
    },
  };
}

export const CREATE_USER = /* GraphQL */ `
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) { user { id email syncStatus } }
  }
`;

export const REGISTER_USER = /* GraphQL */ `
  mutation Register($input: RegisterUserInput!) {
    registerUser(input: $input) { user { id email syncStatus } }
  }
`;

export const chaosEmail = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}@example.test`;

/** The operations of a test: what was attempted, and the emails the gateway acknowledged. */
export class Operations {
  attempted = 0;
  readonly acknowledged: string[] = [];
  readonly answers: { email: string; code?: string; syncStatus?: string }[] = [];

  /** Sends one user-creating mutation; a user in the answer counts as acknowledged. */
  async run(
    send: () => Promise<GraphQLResponse>,
    email: string,
    field: 'createUser' | 'registerUser' | 'signup',
  ): Promise<{ code?: string; syncStatus?: string }> {
    this.attempted++;
    let answer: { code?: string; syncStatus?: string };
    try {
      const response = await send();
      const user = (response.data?.[field] as { user?: { email: string; syncStatus: string } } | undefined)?.user;
      if (user) this.acknowledged.push(user.email);
      answer = { code: response.errors?.[0]?.extensions.code, syncStatus: user?.syncStatus };
    } catch (error) {
      // The gateway never answered (a killed process): not acknowledged.
      answer = { code: `NO_ANSWER (${(error as Error).message})` };
    }
    this.answers.push({ email, ...answer });
    return answer;
  }
}
