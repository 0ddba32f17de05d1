import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Config } from './config.js';
import { createContext, type GatewayContext } from './context.js';
import { createErrorFormatter, rateLimitedStatus } from './errors.js';
import { createHttpServer, createMetricsServer, type Ide, type Readiness } from './http.js';
import { serveSubscriptions, type SubscriptionServer } from './http/subscriptions.js';
import { startLiveEvents, type LiveEvents } from './events/live-events.js';
import { createLogger, type Logger } from './logger.js';
import { queryLimits, subscriptionsOverWebSocket } from './auth/armor.js';
import { createRateLimiter } from './auth/rate-limit.js';
import { createTokenVerifier, type TokenVerifier } from './auth/token-verifier.js';
import { listenToChannel } from './db/channel-listener.js';
import { type OutboxRelay, startOutboxRelay } from './events/outbox.js';
import { migrate, type Orm } from './db/orm.js';
import { openDatabase } from './database.js';
import { createKeycloakAdmin, type KeycloakAdmin } from './keycloak/admin-client.js';
import { frontendClient, isCatalogExact, provisionRealm } from './keycloak/provisioning.js';
import { CONTROL_PLANE_CLIENT_ID, TenantRealms } from './keycloak/tenant-realms.js';
import { createKeycloakSessions } from './keycloak/sessions.js';
import { createMailer } from './mail/mailer.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { startTracing, type Tracing } from './telemetry/tracing.js';
import { syncDirectory } from './jobs/directory-sync.js';
import { createJobEngine } from './jobs/job-engine.js';
import { createJobs, type Jobs } from './jobs/jobs.js';
import { accessLogPlugin } from './http/access-log.js';
import { idempotencyPlugin } from './http/idempotency/idempotency.plugin.js';
import { UserRecordCache } from './modules/users/user-record-cache.js';
import { buildExecutableSchema } from './schema.js';
import type { ServiceDependencies } from './services.js';
import { TenantsQueries } from './modules/tenants/tenants.queries.js';
import { createWebhookDispatcher, type WebhookDispatcher } from './modules/webhooks/webhook.dispatcher.js';
import { webhookSettings } from './modules/webhooks/webhook.settings.js';

export interface App {
  config: Config;
  log: Logger;
  orm: Orm;
  verifier: TokenVerifier;
  keycloak: KeycloakAdmin;
  /** The tenant realms whose tokens are trusted (TENANCY_MODE=realm only). */
  tenantRealms?: TenantRealms;
  server: Server;
  /** The Prometheus metrics, served at /metrics (or on METRICS_PORT). */
  metrics: Metrics;
  /** GraphQL subscriptions over WebSocket on the same port and path. */
  subscriptions: SubscriptionServer;
  /** The identity events this process streams to its subscribers. */
  liveEvents: LiveEvents;
  /** The server of METRICS_PORT, when set. */
  metricsServer?: Server;
  /** Background sync and reconciliation: running when `config.jobs.enabled`, else run on demand. */
  jobs: Jobs;
  /** Numbers committed identity events in commit order (src/events/outbox.ts); every process runs it, taking turns. */
  outbox: OutboxRelay;
  /** OpenTelemetry tracing, when configured (OTEL_EXPORTER_OTLP_ENDPOINT). */
  tracing?: Tracing;
  /** Webhook delivery: running with the jobs (`config.jobs.enabled`), else started or run on demand. */
  webhooks: WebhookDispatcher;
  /** Starts listening; resolves with the GraphQL endpoint's URL. Port 0 picks a free port. */
  listen(port?: number): Promise<string>;
  /**
   * Stops without dropping requests: /readyz answers 503 at once, requests are served for
   * SHUTDOWN_DRAIN_SECONDS, then no new connection is accepted, idle ones close, and requests
   * still running after SHUTDOWN_TIMEOUT_SECONDS are cut; the backends close last.
   */
  close(): Promise<void>;
}

export interface AppOptions {
  log?: Logger;
  /** The IDE to serve in development (src/ide.ts); production serves none, whatever is given. */
  ide?: Ide;
  /** The clock token expiry is judged by (tests move it). */
  now?: () => number;
  /** The clock webhook deliveries are scheduled by (tests move it past retries' waits). */
  webhookClock?: () => Date;
}

/**
 * Builds the gateway from its configuration: database, token verification, schema,
 * HTTP server. Nothing listens until `listen`. The process entry points and the tests
 * all start the gateway through here.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.log ?? createLogger(config.log);
  const development = config.environment === 'development';
  const rateLimiter = await createRateLimiter({ limits: config.rateLimits, redis: config.redis }, log);
  // Before the database: its statements are traced through the options it opens with.
  const tracing = config.tracing
    ? await startTracing(config.tracing, { keycloakUrl: config.keycloak.url, databaseName: databaseName(config.databaseUrl), log })
    : undefined;
  const orm = await openDatabase(config.databaseUrl, { logger: (message) => log.debug(message), ...tracing?.ormOptions });
  const metrics = createMetrics({
    keycloakUrl: config.keycloak.url,
    pool: async () => {
      const pool = await orm.em.getConnection().getNativeClient();
      return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
    },
    backlog: () => jobBacklog(orm),
  });
  const userRecords = new UserRecordCache((hit) => metrics.cacheLookup('caller', hit));
  // Set once the HTTP server exists; announcements that arrive before find no connection to check.
  let subscriptions: SubscriptionServer | undefined;
  const userChanges = listenToChannel({
    databaseUrl: config.databaseUrl,
    channel: 'users_changed',
    onMessage: (payload) => {
      userRecords.announced(payload);
      subscriptions?.userChanged(payload);
    },
    onListening: (listening) => {
      userRecords.setListening(listening);
      // What was announced while nobody listened is lost: every open connection is admitted
      // again, so a user disabled or signed out everywhere meanwhile is closed now, not at the
      // expiry of their token.
      if (listening) subscriptions?.userChanged('*');
    },
    log,
  });
  const keycloak = apiClientAdmin(config);
  const tenantRealms =
    config.tenancyMode === 'realm' ? new TenantRealms(config, () => new TenantsQueries(orm.em.fork()).realms(), log) : undefined;
  await tenantRealms?.start();
  const verifier = createTokenVerifier({
    keycloakUrl: config.keycloak.url,
    issuerBaseUrl: config.keycloak.publicUrl,
    trustedRealms: tenantRealms ? () => [config.keycloak.realm, ...tenantRealms.trusted()] : () => [config.keycloak.realm],
    homeRealm: config.keycloak.realm,
    audience: config.keycloak.apiClientId,
    authorizedParties: (realm) =>
      realm === config.keycloak.realm ? config.keycloak.acceptedClientIds : [config.keycloak.apiClientId, CONTROL_PLANE_CLIENT_ID],
    // Tests judge tokens at another time than now: no waiting for one to expire.
    now: options.now,
    onCacheLookup: (hit) => metrics.cacheLookup('verified_token', hit),
  });
  const mailer = createMailer(config.smtp);
  const sessions = createKeycloakSessions({
    url: config.keycloak.url,
    realm: config.keycloak.realm,
    clientId: config.keycloak.apiClientId,
    clientSecret: config.keycloak.apiClientSecret,
  });

  const schema = await buildExecutableSchema();
  const limits = queryLimits();
  const formatError = createErrorFormatter({
    exposeStack: development,
    logUnexpected: (error) => log.error({ err: error }, 'unexpected error in a GraphQL operation'),
  });
  const apollo = new ApolloServer<GatewayContext>({
    schema,
    introspection: development,
    hideSchemaDetailsFromClientErrors: !development,
    includeStacktraceInErrorResponses: development,
    csrfPrevention: true,
    // The process stops Apollo with everything else (src/main.ts). Apollo's own handler
    // would re-raise the signal once Apollo stopped, killing the process half-way.
    stopOnTerminationSignals: false,
    // Depth, cost, aliases, directives and tokens, refused before anything runs.
    ...limits,
    validationRules: [...limits.validationRules, subscriptionsOverWebSocket],
    formatError,
    // The HTTP layer serves its own IDE (src/ide.ts): Apollo's loads from a CDN.
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // Apollo's cache-control plugin, on by default, runs a hook for every field resolved
      // (thousands in a page of users) to compute hints the gateway never gives; its only
      // outcome was `cache-control: no-store`, which the HTTP layer says directly (src/http.ts).
      ApolloServerPluginCacheControlDisabled(),
      rateLimitedStatus(),
      metrics.graphqlPlugin,
      ...(tracing ? [tracing.graphqlPlugin] : []),
      accessLogPlugin(),
      idempotencyPlugin({ em: orm.em, ttlSeconds: config.idempotency.ttlSeconds, secret: config.keycloak.apiClientSecret, log }),
    ],
    logger: log,
  });
  await apollo.start();

  const webhooks = webhookSettings(config.webhooks, options.webhookClock);
  const serviceDependencies: ServiceDependencies = {
    keycloak: keycloak.client,
    sessions,
    mailer,
    invitationAcceptUrl: config.invitationAcceptUrl,
    invitationLimits: config.invitations,
    tenantRealms,
    webhooks,
  };
  const liveEvents = startLiveEvents({ em: orm.em, databaseUrl: config.databaseUrl, log });
  const requestContext = (request: Parameters<typeof createContext>[1]) =>
    createContext(
      {
        em: orm.em,
        verifier,
        keycloak,
        sessions,
        mailer,
        invitationAcceptUrl: config.invitationAcceptUrl,
        invitationLimits: config.invitations,
        rateLimiter,
        userRecords,
        trustedProxies: config.http.trustedProxies,
        liveEvents,
        log,
        tenantRealms,
        webhooks,
      },
      request,
    );
  const http = createHttpServer({
    // Traced, each operation runs inside its span, so that its SQL and Keycloak calls are its children.
    apollo: tracing
      ? { executeHTTPGraphQLRequest: (request) => tracing.operation(() => apollo.executeHTTPGraphQLRequest(request)) }
      : apollo,
    createContext: requestContext,
    readiness: () => readiness(config, orm),
    corsOrigins: config.http.corsOrigins,
    // With a port of its own, /metrics is not on the public listener at all.
    metrics: config.http.metricsPort === undefined ? metrics : undefined,
    ide: development ? options.ide : undefined,
    tracing,
    log,
  });
  const subscriptionServer = serveSubscriptions({
    server: http.server,
    schema,
    limits,
    createContext: requestContext,
    formatError,
    log,
    now: options.now,
    maxConnectionsPerAccount: config.http.subscriptionConnectionsPerAccount,
  });
  subscriptions = subscriptionServer;
  const metricsServer = config.http.metricsPort === undefined ? undefined : createMetricsServer(metrics, log);

  // One job engine per process: it runs the jobs where they are enabled, and elsewhere only
  // queues work for the processes that run it (a webhook delivery run after a relay).
  const engine = createJobEngine({ databaseUrl: config.databaseUrl, log, runsJobs: config.jobs.enabled });
  const jobs = createJobs({ em: orm.em, services: serviceDependencies, log, config: config.jobs, engine, metrics });
  if (config.jobs.enabled) jobs.start();
  const outbox = startOutboxRelay({
    em: orm.em,
    databaseUrl: config.databaseUrl,
    log,
    // The sweep is a job: it runs where the jobs do.
    engine: config.jobs.enabled ? engine : undefined,
    onRelayed: () => webhookDispatcher.wake(),
  });
  const webhookDispatcher = createWebhookDispatcher({
    engine,
    databaseUrl: config.databaseUrl,
    em: orm.em,
    feed: webhooks.feed,
    box: webhooks.box,
    config: config.webhooks,
    now: webhooks.now,
    log,
    onAttempt: (attempt) => metrics.webhookAttempt(attempt),
  });
  if (config.jobs.enabled) webhookDispatcher.start();

  return {
    config,
    log,
    orm,
    verifier,
    keycloak,
    tenantRealms,
    server: http.server,
    subscriptions: subscriptionServer,
    liveEvents,
    metrics,
    metricsServer,
    jobs,
    outbox,
    tracing,
    webhooks: webhookDispatcher,
    async listen(port = config.http.port) {
      if (metricsServer) await listenOn(metricsServer, config.http.metricsPort!, config.http.host);
      return `http://localhost:${await listenOn(http.server, port, config.http.host)}/graphql`;
    },
    async close() {
      const { drainSeconds, timeoutSeconds } = config.shutdown;
      http.drain();
      // No new run starts from now on; one under way gets the drain and the timeout to finish.
      const jobsStopped = jobs.stop();
      // An attempt under way finishes (WEBHOOK_TIMEOUT_SECONDS at most) during the drain and the
      // requests' timeout; one cut by the process's end is rolled back and retried by another.
      const webhooksClosed = webhookDispatcher.close();
      if (drainSeconds > 0) {
        log.info({ drainSeconds }, 'draining: /readyz answers 503, requests are still served');
        await delay(drainSeconds * 1000);
      }
      log.info('no longer accepting connections');
      // Subscribers are told the gateway is going away (1001) and reconnect to another process.
      await subscriptionServer.close();
      await liveEvents.stop();
      const cut = await http.close(timeoutSeconds * 1000);
      if (cut > 0) log.warn({ requests: cut, timeoutSeconds }, 'requests still running at the shutdown deadline were cut');
      tenantRealms?.stop();
      await jobsStopped;
      await webhooksClosed;
      if (metricsServer?.listening) await closeServer(metricsServer);
      metrics.close();
      await apollo.stop();
      await userChanges.close();
      await outbox.stop();
      await engine.stop();
      await orm.close();
      await rateLimiter.close();
      mailer.close();
      // Last: the spans of everything that stopped above are sent.
      await tracing?.close();
    },
  };
}

/**
 * Work that must happen before a gateway serves: the database schema is migrated, and
 * the Keycloak realm is provisioned when master-admin credentials are configured.
 */
export async function prepareBackends(config: Config, log: Logger): Promise<void> {
  const { keycloak } = config;
  const orm = await openDatabase(config.databaseUrl, { logger: (message) => log.debug(message) });
  try {
    await whileHoldingPrepareLock(orm, async () => {
      if (keycloak.masterAdmin) {
        const { notInCatalog } = await provisionRealm({
          keycloakUrl: keycloak.url,
          masterAdmin: keycloak.masterAdmin,
          realm: keycloak.realm,
          apiClient: { clientId: keycloak.apiClientId, secret: keycloak.apiClientSecret },
          frontendClient: frontendClient(keycloak.frontendClientId, keycloak),
          smtp: config.smtp,
          bootstrapAdmin: config.bootstrapAdmin,
          catalog: config.catalog,
          log: (message) => log.info({ realm: keycloak.realm }, message),
        });
        if (!isCatalogExact(notInCatalog)) {
          log.warn(
            { realm: keycloak.realm, catalog: config.catalog.file ?? 'built-in', notInCatalog },
            'Keycloak holds roles, privileges or grants the catalog does not declare: kept as they are; declare them in IAM_CATALOG_FILE, or remove them in Keycloak',
          );
        }
      }
      const applied = await migrate(orm);
      if (applied.length > 0) log.info({ migrations: applied }, 'database migrated');
      const unsynced = await syncDirectory(apiClientAdmin(config).client, orm.em.fork());
      if (unsynced.length > 0) log.warn({ unsynced }, 'directory sync left roles or groups for the reconciler');
    });
  } finally {
    await orm.close();
  }
}

/** The key of the PostgreSQL advisory lock that start-up preparation holds: any fixed number, unique in the database. */
export const PREPARE_LOCK_KEY = 7_220_412_026;

/**
 * Replicas that start together (a deployment, a rolling restart, `docker compose up` with two
 * gateways) would each provision the realm and migrate the database at once: one creating a
 * role the other just created, two migrations racing. A session-level advisory lock on one
 * dedicated connection makes them take turns; a process that dies holding it loses its
 * connection, and with it the lock.
 */
async function whileHoldingPrepareLock(orm: Orm, prepare: () => Promise<void>): Promise<void> {
  const pool = await orm.em.getConnection().getNativeClient();
  const connection = await pool.connect();
  try {
    await connection.query('select pg_advisory_lock($1)', [PREPARE_LOCK_KEY]);
    try {
      await prepare();
    } finally {
      await connection.query('select pg_advisory_unlock($1)', [PREPARE_LOCK_KEY]);
    }
  } finally {
    connection.release();
  }
}

/** The database's name in a connection URL, for the SQL spans. */
function databaseName(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
}

/** Listens on `port` (0: a free one); resolves with the port bound. */
function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Stops the metrics server at once: a scrape cut short is taken again by the next one, and a
 * client that never finishes its request (the port is reachable by whoever reaches the host)
 * would otherwise hold the stop for Node's request timeout, five minutes.
 */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The jobs' backlog for the metrics: users waiting for the sync job, and PENDING journal entries (both indexed). */
async function jobBacklog(orm: Orm) {
  const [row] = await orm.em.getConnection().execute<{ users: number; pending: number; oldest: number }[]>(
    `select (select count(*)::int from user_sync) as users,
            count(*)::int as pending,
            coalesce(extract(epoch from now() - min(at)), 0)::float8 as oldest
       from audit_events where status = 'PENDING'`,
  );
  return { usersWaitingForSync: row?.users ?? 0, pendingJournalEntries: row?.pending ?? 0, oldestPendingAgeSeconds: row?.oldest ?? 0 };
}

/** Keycloak's admin API, as the gateway's own service account. */
function apiClientAdmin({ keycloak }: Config): KeycloakAdmin {
  return createKeycloakAdmin({
    url: keycloak.url,
    realm: keycloak.realm,
    clientId: keycloak.apiClientId,
    clientSecret: keycloak.apiClientSecret,
    timeoutMs: keycloak.timeoutSeconds * 1000,
  });
}

/** How long /readyz waits for each backend: a probe's own timeout is usually a few seconds. */
const READINESS_TIMEOUT_MS = 2000;

async function readiness(config: Config, orm: Orm): Promise<Readiness> {
  const [database, keycloak] = await Promise.allSettled([
    // A query cannot be aborted: the answer just stops waiting for it.
    Promise.race([
      orm.em.getConnection().execute('select 1'),
      delay(READINESS_TIMEOUT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error('PostgreSQL did not answer in time'))),
    ]),
    fetch(`${config.keycloak.url}/realms/${encodeURIComponent(config.keycloak.realm)}`, {
      signal: AbortSignal.timeout(READINESS_TIMEOUT_MS),
    }).then((response) => {
      if (!response.ok) throw new Error(`realm answered ${response.status}`);
    }),
  ]);
  const checks = {
    postgres: database.status === 'fulfilled' ? 'ok' : 'unreachable',
    keycloak: keycloak.status === 'fulfilled' ? 'ok' : 'unreachable',
  } as const;
  return { ready: checks.postgres === 'ok', degraded: checks.keycloak !== 'ok', checks };
}
