import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../../src/config.js';
import type { GraphQLResponse } from './gateway.js';

/**
 * A gateway in a child process, as `npm start` runs it (src/main.ts compiled by tsc), that
 * a test can kill -9 and start again: the faults only a real process shows (a crash
 * between two writes, a job killed mid-batch).
 *
 * Plain node cannot load the sources (legacy decorators with emitted metadata), so the
 * sources are compiled once per test worker into node_modules/.cache, not into dist/
 * (another build may be using it); node finds node_modules from there as from dist.
 */
export interface GatewayProcess {
  /** The GraphQL endpoint. */
  url: string;
  pid: number;
  graphql<T = Record<string, any>>(
    query: string,
    options?: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  /** Kills the process with SIGKILL at once (no clean stop); resolves when it is gone. */
  kill(): Promise<void>;
  /** Sends SIGKILL now, synchronously (from inside a proxy hook, at an exact point of a write). */
  killNow(): void;
  /** SIGTERM, the clean stop; resolves when it exited. */
  stop(): Promise<void>;
  /** Resolves when the process has exited, whatever the cause. */
  readonly exited: Promise<number | null>;
  /** The log lines it wrote so far (JSON, one object per line). */
  readonly logs: Record<string, unknown>[];
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let built: Promise<string> | undefined;

/** Compiles the gateway once per test worker; answers the path of its main.js. */
export function buildGateway(): Promise<string> {
  built ??= (async () => {
    const outDir = join(ROOT, 'node_modules', '.cache', 'gateway-process', String(process.pid));
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
    // Under node_modules, package.json "type" is not looked up past node_modules: say it here.
    writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
    try {
      await promisify(execFile)(
        process.execPath,
        [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
        {
          cwd: ROOT,
        },
      );
    } catch (error) {
      // Type errors still emit JavaScript (noEmitOnError is off): only a missing output is fatal.
      if (!existsSync(join(outDir, 'src/main.js'))) throw error;
    }
    const main = join(outDir, 'src/main.js');
    if (!existsSync(main)) throw new Error(`tsc produced no ${main}`);
    return main;
  })();
  return built;
}

/** The environment `loadConfig` reads back into `config` (no master admin: the realm is provisioned already). */
export function environmentOf(config: Config): Record<string, string> {
  const { keycloak, jobs, smtp } = config;
  return {
    APP_ENV: config.environment,
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: config.databaseUrl,
    TENANCY_MODE: config.tenancyMode,
    KEYCLOAK_URL: keycloak.url,
    KEYCLOAK_PUBLIC_URL: keycloak.publicUrl,
    KEYCLOAK_REALM: keycloak.realm,
    KEYCLOAK_API_CLIENT_ID: keycloak.apiClientId,
    KEYCLOAK_API_CLIENT_SECRET: keycloak.apiClientSecret,
    KEYCLOAK_FRONTEND_CLIENT_ID: keycloak.frontendClientId,
    FRONTEND_URLS: config.frontendUrls.join(','),
    FRONTEND_REDIRECT_URIS: keycloak.frontendRedirectUris.join(','),
    KEYCLOAK_ACCEPTED_CLIENT_IDS: keycloak.acceptedClientIds.join(','),
    KEYCLOAK_TIMEOUT_SECONDS: String(keycloak.timeoutSeconds),
    SMTP_HOST: smtp.host,
    SMTP_PORT: String(smtp.port),
    SMTP_FROM: smtp.from,
    SMTP_TLS: String(smtp.tls === 'implicit'),
    SMTP_STARTTLS: String(smtp.tls === 'starttls'),
    ...(config.redis && { REDIS_URL: config.redis.url, REDIS_KEY_PREFIX: config.redis.keyPrefix }),
    ...(smtp.credentials && { SMTP_USER: smtp.credentials.user, SMTP_PASSWORD: smtp.credentials.password }),
    PUBLIC_URL: config.publicUrl,
    INVITATION_ACCEPT_URL: config.invitationAcceptUrl,
    // An empty list cannot be written: the default (none in production) stands for it.
    ...(config.http.corsOrigins.length > 0 && { CORS_ORIGINS: config.http.corsOrigins.join(',') }),
    ...(config.http.metricsPort !== undefined && { METRICS_PORT: String(config.http.metricsPort) }),
    INVITATIONS_MAX_PENDING_PER_TENANT: String(config.invitations.maxPendingPerTenant),
    // A tenant realm a process creates gets the same catalog.
    ...(config.catalog.file && { IAM_CATALOG_FILE: config.catalog.file }),
    LOG_LEVEL: 'info',
    JOBS_ENABLED: String(jobs.enabled),
    SYNC_INTERVAL_SECONDS: String(jobs.syncIntervalSeconds),
    SYNC_BATCH_SIZE: String(jobs.syncBatchSize),
    SYNC_LEASE_SECONDS: String(jobs.syncLeaseSeconds),
    SYNC_MAX_BACKOFF_SECONDS: String(jobs.syncMaxBackoffSeconds),
    RECONCILE_INTERVAL_SECONDS: String(jobs.reconcileIntervalSeconds),
    ADMIN_EVENTS_INTERVAL_SECONDS: String(jobs.adminEventsIntervalSeconds),
    PENDING_TIMEOUT_SECONDS: String(jobs.pendingTimeoutSeconds),
    SHUTDOWN_DRAIN_SECONDS: String(config.shutdown.drainSeconds),
    SHUTDOWN_TIMEOUT_SECONDS: String(config.shutdown.timeoutSeconds),
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: String(config.webhooks.allowPrivateAddresses),
    WEBHOOK_TIMEOUT_SECONDS: String(config.webhooks.timeoutSeconds),
    WEBHOOK_RETRY_HOURS: String(config.webhooks.retryHours),
    WEBHOOK_CONCURRENCY: String(config.webhooks.concurrency),
    WEBHOOK_POLL_SECONDS: String(config.webhooks.pollSeconds),
  };
}

/** Starts a gateway process for `config`; resolves once it listens. */
export async function startGatewayProcess(config: Config, options: { startTimeoutMs?: number } = {}): Promise<GatewayProcess> {
  const main = await buildGateway();
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...environmentOf(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the gateway process did not listen within ${options.startTimeoutMs ?? 60_000} ms:\n${stderr}`));
    }, options.startTimeoutMs ?? 60_000);
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(entry);
        if (entry.msg === 'gateway listening' && typeof entry.url === 'string') {
          clearTimeout(timer);
          resolve(entry.url.replace('//localhost:', '//127.0.0.1:'));
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway process exited (${code}) before listening:\n${stderr}`));
    });
  });

  return {
    url,
    pid: child.pid!,
    logs,
    exited,
    async graphql(query, requestOptions = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(requestOptions.token && { authorization: `Bearer ${requestOptions.token}` }),
          ...requestOptions.headers,
        },
        body: JSON.stringify({ query, variables: requestOptions.variables }),
      });
      return { status: response.status, ...((await response.json()) as object) };
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    killNow() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
