import { readFileSync } from 'node:fs';
import { readCatalogFile } from './keycloak/catalog-file.js';
import { type Catalog, DEFAULT_CATALOG } from './keycloak/realm-catalog.js';
import type { LogOptions } from './logger.js';

/**
 * The environment, read once into one typed object. Every problem is reported at
 * start-up, all at once, in words a person can act on. `.env.example` documents each
 * variable.
 */
export type Environment = 'development' | 'production';
export type TenancyMode = 'shared' | 'realm';

export interface Credentials {
  username: string;
  password: string;
}

/** At most `max` calls in a window of `windowSeconds`. */
export interface Limit {
  max: number;
  windowSeconds: number;
}

/**
 * Who one counter counts (src/auth/rate-limit.ts says how):
 * - perIp: calls from one client address, whatever they name (spraying many accounts);
 * - perAccountAndIp: calls naming one account (username or email) from one address (guessing one password);
 * - perCaller: calls by one signed-in user;
 * - perTenant: calls naming one tenant, whoever sends them;
 * - perRecipient: calls that mail one user or address.
 */
export type CounterName = 'perIp' | 'perAccountAndIp' | 'perCaller' | 'perTenant' | 'perRecipient';

/** The environment variable suffix of each counter: RATE_LIMIT_<OPERATION>_<SUFFIX>. */
const COUNTER_VARIABLES: Record<CounterName, string> = {
  perIp: 'PER_IP',
  perAccountAndIp: 'PER_ACCOUNT_IP',
  perCaller: 'PER_CALLER',
  perTenant: 'PER_TENANT',
  perRecipient: 'PER_RECIPIENT',
};

const MINUTES = 60;
const HOURS = 60 * MINUTES;
const perHour = (max: number): Limit => ({ max, windowSeconds: HOURS });

/**
 * Every rate-limited operation with the default limit of each of its counters, overridden
 * by RATE_LIMIT_<OPERATION>_<COUNTER>.
 */
export const RATE_LIMIT_DEFAULTS = {
  login: { perIp: { max: 100, windowSeconds: 15 * MINUTES }, perAccountAndIp: { max: 10, windowSeconds: 15 * MINUTES } },
  signup: { perIp: perHour(20), perAccountAndIp: perHour(5) },
  resetPassword: { perIp: perHour(20), perAccountAndIp: perHour(5) },
  // Anyone signed in may create tenants; each may send invitation emails.
  createTenant: { perCaller: perHour(10) },
  // Invitation emails go to any address: per inviter, and per tenant however many inviters it has.
  createInvitation: { perCaller: perHour(50), perTenant: perHour(20), perRecipient: perHour(5) },
  // Public, and it may create an account: per address, as signup. An office behind one address onboards at once.
  acceptInvitation: { perIp: perHour(60) },
  // Each sends Keycloak's password-setup email.
  registerUser: { perCaller: perHour(100) },
  // Up to 1,000 users a call, each maybe emailed: a few dozen calls an hour is a migration's pace.
  importUsers: { perCaller: perHour(30) },
  sendPasswordSetupEmail: { perCaller: perHour(50), perRecipient: perHour(5) },
  // Counted only when it emails: each call with sendEmail sends Keycloak's execute-actions email.
  requireUserActions: { perCaller: perHour(50), perRecipient: perHour(5) },
  // updateMyProfile changing the caller's email: each change can be a probe for a taken address.
  emailChange: { perCaller: perHour(5) },
} satisfies Record<string, Partial<Record<CounterName, Limit>>>;

export type RateLimitedOperation = keyof typeof RATE_LIMIT_DEFAULTS;
export type RateLimits = { [Operation in RateLimitedOperation]: Record<keyof (typeof RATE_LIMIT_DEFAULTS)[Operation], Limit> };

/** The limits when the environment sets none. */
export function defaultRateLimits(): RateLimits {
  return structuredClone(RATE_LIMIT_DEFAULTS);
}

export interface Config {
  /** development turns on introspection, field suggestions and stack traces. */
  environment: Environment;
  http: {
    host: string;
    port: number;
    /** Reverse proxies in front of the gateway whose X-Forwarded-For entries are believed (0: none). */
    trustedProxies: number;
    /**
     * The exact origins (scheme://host[:port]) whose browser pages may call /graphql across
     * origins (src/http/cors.ts). Any other origin gets no CORS headers.
     */
    corsOrigins: string[];
    /**
     * Where Prometheus scrapes /metrics: a port of its own (METRICS_PORT), kept off the public
     * listener; absent, /metrics is served beside /graphql.
     */
    metricsPort?: number;
    /**
     * GraphQL subscription connections (graphql-ws) one account may hold open at once
     * (src/http/subscriptions.ts): SUBSCRIPTION_CONNECTIONS_PER_ACCOUNT.
     */
    subscriptionConnectionsPerAccount: number;
  };
  databaseUrl: string;
  /**
   * `shared`: one realm, tenants in PostgreSQL only. `realm`: each tenant also
   * gets its own Keycloak realm, named by its id, where its owner's account lives.
   */
  tenancyMode: TenancyMode;
  keycloak: {
    /** Base URL the gateway calls, without /realms/...: http://localhost:8180 */
    url: string;
    /**
     * Base URL in the tokens' issuer, when clients reach Keycloak at another address than
     * the gateway does (for example inside docker compose). Defaults to `url`.
     */
    publicUrl: string;
    realm: string;
    /** The confidential client the gateway acts as; access tokens must name it in `aud`. */
    apiClientId: string;
    apiClientSecret: string;
    /** The public client frontends use for the authorization-code flow with PKCE. */
    frontendClientId: string;
    /**
     * The exact URLs Keycloak may send a frontend back to after sign-in (the frontend
     * client's redirect URIs): FRONTEND_REDIRECT_URIS, else `<frontend>/callback` for each of
     * FRONTEND_URLS. No wildcards: a pattern would let Keycloak hand a code to any page it matches.
     */
    frontendRedirectUris: string[];
    /** The frontend client's web origins, where Keycloak answers CORS: the frontends' and the redirect URIs' origins. */
    frontendWebOrigins: string[];
    /** The exact pages Keycloak may send a frontend to after sign-out: `<frontend>/` for each of FRONTEND_URLS. */
    frontendPostLogoutRedirectUris: string[];
    /**
     * The clients of the gateway's realm whose access tokens are accepted (`azp`): the API
     * client and the frontend client unless set. A tenant realm's are the API client and
     * its control-plane client.
     */
    acceptedClientIds: string[];
    /** Master-realm admin credentials. When present, the realm is provisioned at start. */
    masterAdmin?: Credentials;
    /**
     * How long one call to Keycloak's admin API or token endpoint may take before the
     * write counts Keycloak as unreachable (default 10 s).
     */
    timeoutSeconds: number;
  };
  /**
   * The privileges and roles provisioning creates and keeps in each realm: IAM_CATALOG_FILE,
   * read and checked at start (`file` names it), else the built-in DEFAULT_CATALOG.
   */
  catalog: Catalog & { file?: string };
  /** The realm's first administrator (role_admin), created by provisioning when absent. */
  bootstrapAdmin?: { email: string; password: string };
  /** Where Keycloak (and the gateway's own mail) send email. */
  smtp: SmtpConfig;
  /** Public base URL of the gateway, for redirect URIs and links in emails. */
  publicUrl: string;
  /**
   * Each frontend's base URL (an origin, or an origin and a path), without a trailing
   * slash: the frontend client's redirect, post-logout and web origins, the default CORS
   * origins and the default invitation page are made from them.
   */
  frontendUrls: string[];
  /**
   * The frontend page an invitation email links to; the token is appended as `?token=`. By
   * default the first frontend's that is not PUBLIC_URL.
   */
  invitationAcceptUrl: string;
  /** M4: how many invitations a tenant may have waiting (pending, unexpired) at once. */
  invitations: { maxPendingPerTenant: number };
  log: LogOptions;
  /** Abuse limits on public operations (src/auth/rate-limit.ts). */
  rateLimits: RateLimits;
  /** When set, rate-limit counts live in Redis, shared by every gateway process; else in memory. */
  redis?: { url: string; keyPrefix: string };
  /** Background jobs (src/jobs): the sync of users kept while Keycloak was away, and the reconciler. */
  jobs: JobsConfig;
  /** How long an Idempotency-Key's first answer is kept for repeats. */
  idempotency: { ttlSeconds: number };
  /** What SIGTERM does (src/app.ts, `close`). */
  shutdown: ShutdownConfig;
  /** Webhook delivery (src/modules/webhooks). */
  webhooks: WebhooksConfig;
  /**
   * OpenTelemetry tracing (src/telemetry/tracing.ts), from the standard OTEL_* variables;
   * absent, tracing is off and costs nothing.
   */
  tracing?: TracingConfig;
}

/** Where spans go and which are kept, from OpenTelemetry's standard variables. */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  endpoint: string;
  /** http/protobuf (the standard's default) or http/json. */
  protocol: 'http/protobuf' | 'http/json';
  /** The resource's attributes (OTEL_RESOURCE_ATTRIBUTES), service.name included (OTEL_SERVICE_NAME, else iam-gateway). */
  resource: Record<string, string>;
  /** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. */
  sampler: TracesSampler;
}

export interface TracesSampler {
  /** Which traces a span without a parent starts: all, none, or a share of them by trace id. */
  root: 'always_on' | 'always_off' | 'traceidratio';
  /** The share kept by `traceidratio`, 0 to 1. */
  ratio: number;
  /** A span with a parent (the caller's traceparent) follows the parent's decision. */
  parentBased: boolean;
}

export interface WebhooksConfig {
  /**
   * The server secret the key that encrypts signing secrets at rest is derived from (HKDF):
   * WEBHOOK_SECRET_KEY, else KEYCLOAK_API_CLIENT_SECRET. Set WEBHOOK_SECRET_KEY before
   * rotating the Keycloak client's secret: signing secrets sealed under the old one can no
   * longer be opened (each endpoint then needs rotateWebhookSecret).
   */
  secretKey: string;
  /**
   * Endpoints may be (or resolve to) loopback, private, link-local and other non-public
   * addresses: WEBHOOK_ALLOW_PRIVATE_ADDRESSES, true by default in development only (SSRF).
   */
  allowPrivateAddresses: boolean;
  /** How long one delivery attempt may take, connection to answer (WEBHOOK_TIMEOUT_SECONDS, 10). */
  timeoutSeconds: number;
  /** How long a delivery is retried after its first attempt before it fails and its endpoint is disabled (WEBHOOK_RETRY_HOURS, 72). */
  retryHours: number;
  /** Deliveries one process sends at once, each to another endpoint (WEBHOOK_CONCURRENCY, 4). */
  concurrency: number;
  /** The longest wait between two delivery runs of the fleet when no event wakes one; retries run when due (WEBHOOK_POLL_SECONDS, 10). */
  pollSeconds: number;
}

export interface ShutdownConfig {
  /**
   * How long requests are still served after SIGTERM while /readyz answers 503, so that load
   * balancers stop sending before the gateway stops accepting (5 s in production, 0 in development).
   */
  drainSeconds: number;
  /** After the drain, how long requests still running may take before their connections are cut (10 s). */
  timeoutSeconds: number;
}

/**
 * The mail server both the gateway's mailer and each realm's Keycloak send through. The
 * password is a secret: it goes to the server and to Keycloak, never into a log or an error.
 */
export interface SmtpConfig {
  host: string;
  port: number;
  from: string;
  /** SMTP AUTH with these (SMTP_USER, SMTP_PASSWORD); absent: the server takes mail without. */
  credentials?: { user: string; password: string };
  /**
   * - implicit: TLS from the first byte, as on port 465 (SMTP_TLS=true);
   * - starttls: the plain connection is upgraded before anything else is said, and a server
   *   that does not offer the upgrade is refused (SMTP_STARTTLS; on by default with credentials);
   * - none: plain SMTP, for a relay on the same host or network.
   */
  tls: SmtpTls;
  /** PEM certificates trusted for the server besides the usual public authorities (SMTP_CA_FILE). */
  ca?: string;
}

export type SmtpTls = 'implicit' | 'starttls' | 'none';

export interface JobsConfig {
  /** Off in test gateways unless a test turns them on; every process may run them. */
  enabled: boolean;
  /** How often pending users are pushed to Keycloak (15 s by default). */
  syncIntervalSeconds: number;
  /** Users pushed per run (one run at a time across processes). */
  syncBatchSize: number;
  /** How long a process holds a claimed user: longer than a push can take. */
  syncLeaseSeconds: number;
  /** The longest wait between two attempts for one user (the backoff doubles up to this). */
  syncMaxBackoffSeconds: number;
  /** How often the mirror is compared with Keycloak in full (the safety net for changes made outside the gateway). */
  reconcileIntervalSeconds: number;
  /** How often Keycloak's admin events are read, so that changes made outside the gateway reach the mirror within seconds. */
  adminEventsIntervalSeconds: number;
  /** A journal entry still PENDING after this long is finished or settled by the reconciler. */
  pendingTimeoutSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSee .env.example for every variable.`);
  }
}

type Env = Record<string, string | undefined>;

const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * The origins local frontends are served from in development, allowed to call /graphql
 * unless CORS_ORIGINS says otherwise: the usual ports of React, Next.js and Vite dev servers.
 */
export const DEVELOPMENT_CORS_ORIGINS = [
  'http://localhost:3000',
  'http://localhost:3001',
  'http://127.0.0.1:3000',
  'http://localhost:5173',
];

/** The example single-page app's dev server, a frontend by default in development (after the gateway itself). */
const DEVELOPMENT_FRONTEND_URL = 'http://localhost:5173';

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const environment = read.oneOf('APP_ENV', ['development', 'production'] as const, 'production');
  const port = read.port('PORT', 4000);
  const masterAdminUsername = read.optional('KEYCLOAK_ADMIN_USERNAME');
  const masterAdminPassword = read.optional('KEYCLOAK_ADMIN_PASSWORD');
  if (Boolean(masterAdminUsername) !== Boolean(masterAdminPassword)) {
    problems.push('KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD go together: set both or neither');
  }
  const bootstrapEmail = read.optional('BOOTSTRAP_ADMIN_EMAIL');
  const bootstrapPassword = read.optional('BOOTSTRAP_ADMIN_PASSWORD');
  if (Boolean(bootstrapEmail) !== Boolean(bootstrapPassword)) {
    problems.push('BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD go together: set both or neither');
  }

  const tenancyMode = read.oneOf('TENANCY_MODE', ['shared', 'realm'] as const, 'shared');
  if (tenancyMode === 'realm' && !(masterAdminUsername && masterAdminPassword)) {
    problems.push(
      'TENANCY_MODE=realm creates a Keycloak realm per tenant, which needs the master admin: set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD',
    );
  }

  const publicUrl = (read.optional('PUBLIC_URL') ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const keycloakUrl = read.url('KEYCLOAK_URL', ['http:', 'https:']).replace(/\/+$/, '');
  const apiClientId = read.optional('KEYCLOAK_API_CLIENT_ID') ?? 'iam-gateway';
  const frontendClientId = read.optional('KEYCLOAK_FRONTEND_CLIENT_ID') ?? 'iam-frontend';
  const frontendUrls = unique(
    read
      .baseUrls('FRONTEND_URLS', environment === 'development' ? [publicUrl, DEVELOPMENT_FRONTEND_URL] : [publicUrl])
      .map((url) => url.replace(/\/+$/, '')),
  );
  const frontendRedirectUris = read.exactUrls(
    'FRONTEND_REDIRECT_URIS',
    frontendUrls.map((url) => `${url}/callback`),
  );
  // The gateway's own pages need no CORS: only other origins are allowed by default.
  const frontendOrigins = unique(frontendUrls.map(originOf)).filter((origin) => origin !== originOf(publicUrl));
  const config: Config = {
    environment,
    http: {
      host: read.optional('HOST') ?? '0.0.0.0',
      port,
      trustedProxies: read.count('TRUST_PROXY', 0),
      corsOrigins: read.origins(
        'CORS_ORIGINS',
        unique([...(environment === 'development' ? DEVELOPMENT_CORS_ORIGINS : []), ...frontendOrigins]),
      ),
      metricsPort: read.optional('METRICS_PORT') === undefined ? undefined : read.port('METRICS_PORT', 0),
      subscriptionConnectionsPerAccount: read.positive('SUBSCRIPTION_CONNECTIONS_PER_ACCOUNT', 20),
    },
    databaseUrl: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    tenancyMode,
    keycloak: {
      url: keycloakUrl,
      publicUrl: read.optional('KEYCLOAK_PUBLIC_URL')?.replace(/\/+$/, '') ?? keycloakUrl,
      realm: read.optional('KEYCLOAK_REALM') ?? 'iam',
      apiClientId,
      apiClientSecret: read.required('KEYCLOAK_API_CLIENT_SECRET'),
      frontendClientId,
      frontendRedirectUris,
      frontendWebOrigins: unique([...frontendUrls, ...frontendRedirectUris].map(originOf)),
      frontendPostLogoutRedirectUris: frontendUrls.map((url) => `${url}/`),
      acceptedClientIds: read.list('KEYCLOAK_ACCEPTED_CLIENT_IDS', [apiClientId, frontendClientId]),
      masterAdmin:
        masterAdminUsername && masterAdminPassword ? { username: masterAdminUsername, password: masterAdminPassword } : undefined,
      timeoutSeconds: read.positive('KEYCLOAK_TIMEOUT_SECONDS', 10),
    },
    catalog: read.catalog('IAM_CATALOG_FILE'),
    bootstrapAdmin: bootstrapEmail && bootstrapPassword ? { email: bootstrapEmail, password: bootstrapPassword } : undefined,
    smtp: readSmtp(read, problems),
    publicUrl,
    frontendUrls,
    // The gateway serves no such page: the first frontend other than the gateway itself (in
    // development, the example app), else PUBLIC_URL for a frontend mounted behind it.
    invitationAcceptUrl:
      read.optional('INVITATION_ACCEPT_URL') ?? `${frontendUrls.find((url) => url !== publicUrl) ?? publicUrl}/accept-invitation`,
    invitations: { maxPendingPerTenant: read.positive('INVITATIONS_MAX_PENDING_PER_TENANT', 100) },
    log: {
      level: read.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
      file: read.optional('LOG_FILE'),
    },
    // RATE_LIMIT_LOGIN_PER_ACCOUNT_IP, RATE_LIMIT_CREATE_INVITATION_PER_TENANT, ...
    rateLimits: Object.fromEntries(
      Object.entries(RATE_LIMIT_DEFAULTS).map(([operation, defaults]) => {
        const prefix = `RATE_LIMIT_${operation.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
        const limits = Object.entries(defaults).map(([counter, limit]) => [
          counter,
          read.limit(`${prefix}_${COUNTER_VARIABLES[counter as CounterName]}`, limit),
        ]);
        return [operation, Object.fromEntries(limits)];
      }),
    ) as RateLimits,
    redis: read.optional('REDIS_URL')
      ? { url: read.url('REDIS_URL', ['redis:', 'rediss:']), keyPrefix: read.optional('REDIS_KEY_PREFIX') ?? 'iam-gateway:' }
      : undefined,
    jobs: {
      enabled: read.oneOf('JOBS_ENABLED', ['true', 'false'] as const, 'true') === 'true',
      syncIntervalSeconds: read.positive('SYNC_INTERVAL_SECONDS', 15),
      syncBatchSize: read.positive('SYNC_BATCH_SIZE', 20),
      syncLeaseSeconds: read.positive('SYNC_LEASE_SECONDS', 120),
      syncMaxBackoffSeconds: read.positive('SYNC_MAX_BACKOFF_SECONDS', 3600),
      reconcileIntervalSeconds: read.positive('RECONCILE_INTERVAL_SECONDS', 60),
      adminEventsIntervalSeconds: read.positive('ADMIN_EVENTS_INTERVAL_SECONDS', 2),
      pendingTimeoutSeconds: read.positive('PENDING_TIMEOUT_SECONDS', 300),
    },
    idempotency: { ttlSeconds: read.positive('IDEMPOTENCY_TTL_SECONDS', 86_400) },
    tracing: readTracing(read),
    webhooks: {
      secretKey: read.secretKey('WEBHOOK_SECRET_KEY') ?? read.optional('KEYCLOAK_API_CLIENT_SECRET') ?? '',
      allowPrivateAddresses: read.flag('WEBHOOK_ALLOW_PRIVATE_ADDRESSES') ?? environment === 'development',
      timeoutSeconds: read.positive('WEBHOOK_TIMEOUT_SECONDS', 10),
      retryHours: read.positive('WEBHOOK_RETRY_HOURS', 72),
      concurrency: read.positive('WEBHOOK_CONCURRENCY', 4),
      pollSeconds: read.positive('WEBHOOK_POLL_SECONDS', 10),
    },
    shutdown: {
      drainSeconds: read.count('SHUTDOWN_DRAIN_SECONDS', environment === 'production' ? 5 : 0),
      timeoutSeconds: read.positive('SHUTDOWN_TIMEOUT_SECONDS', 10),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

const SAMPLERS = [
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
  'always_on',
  'always_off',
  'traceidratio',
] as const;

/**
 * Tracing, as OpenTelemetry's SDKs read their standard variables: on only when an OTLP
 * endpoint is named, and not disabled by OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none.
 * The exporter reads its own transport variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
 * _COMPRESSION, _CERTIFICATE and their _TRACES_ forms) when it starts.
 */
function readTracing(read: EnvReader): TracingConfig | undefined {
  const disabled = read.oneOf('OTEL_SDK_DISABLED', ['true', 'false'] as const, 'false') === 'true';
  const exporter = read.oneOf('OTEL_TRACES_EXPORTER', ['otlp', 'none'] as const, 'otlp');
  const tracesEndpoint = read.optional('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = read.optional('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (disabled || exporter === 'none' || (tracesEndpoint === undefined && baseEndpoint === undefined)) return undefined;
  const endpoint =
    tracesEndpoint !== undefined
      ? read.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:'])
      : `${read.url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']).replace(/\/+$/, '')}/v1/traces`;
  const protocolVariable = read.optional('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = read.optional(protocolVariable) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    read.problem(
      `${protocolVariable} must be http/protobuf or http/json: the gateway exports over HTTP, to the collector's port 4318 (got "${protocol}")`,
    );
  }
  const sampler = read.oneOf('OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on');
  const ratio = read.optional('OTEL_TRACES_SAMPLER_ARG') === undefined ? 1 : read.ratio('OTEL_TRACES_SAMPLER_ARG');
  const resource = read.keyValues('OTEL_RESOURCE_ATTRIBUTES');
  resource['service.name'] = read.optional('OTEL_SERVICE_NAME') ?? resource['service.name'] ?? 'iam-gateway';
  return {
    endpoint,
    protocol: protocol === 'http/json' ? 'http/json' : 'http/protobuf',
    resource,
    sampler: {
      root: sampler.replace('parentbased_', '') as TracesSampler['root'],
      ratio,
      parentBased: sampler.startsWith('parentbased_'),
    },
  };
}

function readSmtp(read: EnvReader, problems: string[]): SmtpConfig {
  const user = read.optional('SMTP_USER');
  const password = read.optional('SMTP_PASSWORD');
  if (Boolean(user) !== Boolean(password)) problems.push('SMTP_USER and SMTP_PASSWORD go together: set both or neither');
  const credentials = user && password ? { user, password } : undefined;
  const implicitTls = read.flag('SMTP_TLS');
  const starttls = read.flag('SMTP_STARTTLS');
  if (implicitTls && starttls) {
    problems.push(
      'SMTP_TLS and SMTP_STARTTLS exclude each other: SMTP_TLS=true for a server that speaks TLS from the first byte (usually port 465), SMTP_STARTTLS=true for one that upgrades a plain connection (usually port 587)',
    );
  }
  // A password is not sent in clear unless someone asked for it in so many words.
  const tls: SmtpTls = implicitTls ? 'implicit' : (starttls ?? credentials !== undefined) ? 'starttls' : 'none';
  const caFile = read.optional('SMTP_CA_FILE');
  return {
    host: read.optional('SMTP_HOST') ?? '127.0.0.1',
    port: read.port('SMTP_PORT', 1025),
    from: read.optional('SMTP_FROM') ?? 'no-reply@iam-gateway.local',
    credentials,
    tls,
    ca: caFile === undefined ? undefined : readCertificates('SMTP_CA_FILE', caFile, problems),
  };
}

function readCertificates(name: string, file: string, problems: string[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${name} names a file that cannot be read: ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push(`${name} must name a PEM file of certificates (-----BEGIN CERTIFICATE-----); ${file} holds none`);
    return undefined;
  }
  return text;
}

/** The URL, or undefined when the value is not one (the caller reports it). */
function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** The origin of a URL the reader checked; '' for one it refused (the problem is reported already). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  problem(message: string): void {
    this.problems.push(message);
  }

  optional(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value ? value : undefined;
  }

  required(name: string): string {
    const value = this.optional(name);
    if (value === undefined) this.problems.push(`${name} is required`);
    return value ?? '';
  }

  url(name: string, protocols: string[]): string {
    const value = this.required(name);
    if (!value) return '';
    try {
      const url = new URL(value);
      if (!protocols.includes(url.protocol)) {
        // The scheme is all the person needs to see; the rest may hold a password.
        this.problems.push(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')} (got ${url.protocol}//…)`);
      }
    } catch {
      this.problems.push(`${name} is not a URL`);
    }
    return value;
  }

  /** A comma-separated list of names. */
  list(name: string, fallback: string[]): string[] {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    return [
      ...new Set(
        value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      ),
    ];
  }

  /** A comma-separated list of absolute http(s) URLs, each exactly one page: no wildcard, no fragment. */
  exactUrls(name: string, fallback: string[]): string[] {
    const urls = this.list(name, fallback);
    for (const value of urls) {
      const url = parseUrl(value);
      if (!url || !['http:', 'https:'].includes(url.protocol) || value.includes('*') || url.hash) {
        this.problems.push(`${name} must list exact http(s) URLs, separated by commas, without * or # (got "${value}")`);
      }
    }
    return urls;
  }

  /** A comma-separated list of http(s) base URLs: an origin, or an origin and a path; no query, fragment or wildcard. */
  baseUrls(name: string, fallback: string[]): string[] {
    const urls = this.list(name, fallback);
    for (const value of urls) {
      const url = parseUrl(value);
      if (
        !url ||
        !['http:', 'https:'].includes(url.protocol) ||
        value.includes('*') ||
        url.search ||
        url.hash ||
        url.username ||
        url.password
      ) {
        this.problems.push(
          `${name} must list http(s) base URLs, separated by commas, like https://app.example.com or https://example.com/app, without *, ? or # (got "${value}")`,
        );
      }
    }
    if (urls.length === 0) this.problems.push(`${name} must list at least one URL`);
    return urls;
  }

  /**
   * A comma-separated list of exact origins, scheme://host[:port], as browsers send them in
   * the Origin header (a trailing slash is dropped, the host lowercased, a default port omitted).
   */
  origins(name: string, fallback: string[]): string[] {
    const values = this.list(name, fallback);
    for (const value of values) {
      const url = parseUrl(value);
      const bare = url && !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash && !value.includes('*');
      if (!url || !['http:', 'https:'].includes(url.protocol) || !bare || !/^[a-z]+:\/\/[^/]+\/?$/i.test(value)) {
        this.problems.push(
          `${name} must list origins, separated by commas, each scheme://host or scheme://host:port without a path or * (got "${value}")`,
        );
      }
    }
    return unique(values.map((value) => originOf(value)).filter(Boolean));
  }

  port(name: string, fallback: number): number {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      this.problems.push(`${name} must be a port number between 0 and 65535 (got "${value}")`);
      return fallback;
    }
    return port;
  }

  count(name: string, fallback: number): number {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value)) {
      this.problems.push(`${name} must be a whole number, 0 or more (got "${value}")`);
      return fallback;
    }
    return Number(value);
  }

  positive(name: string, fallback: number): number {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < 1) {
      this.problems.push(`${name} must be a whole number, 1 or more (got "${value}")`);
      return fallback;
    }
    return Number(value);
  }

  /** The catalog a file declares (JSON or YAML); every problem in it is reported, each on its line. */
  catalog(name: string): Catalog & { file?: string } {
    const file = this.optional(name);
    if (file === undefined) return DEFAULT_CATALOG;
    const { catalog, problems } = readCatalogFile(file);
    this.problems.push(...problems.map((problem) => `${name}: ${problem}`));
    return catalog ? { file, ...catalog } : DEFAULT_CATALOG;
  }

  /** A number from 0 to 1. */
  ratio(name: string): number {
    const value = this.optional(name) ?? '';
    const ratio = Number(value);
    if (!/^\d*\.?\d+$/.test(value) || ratio > 1) {
      this.problems.push(`${name} must be a number from 0 to 1 (got "${value}")`);
      return 1;
    }
    return ratio;
  }

  /** `key=value,key2=value2`, values percent-encoded (W3C Baggage's format, as OTEL_RESOURCE_ATTRIBUTES has it). */
  keyValues(name: string): Record<string, string> {
    const pairs: Record<string, string> = {};
    for (const item of this.list(name, [])) {
      const at = item.indexOf('=');
      const key = item.slice(0, at).trim();
      let value: string | undefined;
      try {
        value = at > 0 ? decodeURIComponent(item.slice(at + 1).trim()) : undefined;
      } catch {
        value = undefined;
      }
      if (!key || value === undefined) {
        this.problems.push(`${name} must be key=value pairs separated by commas, each value percent-encoded`);
        return pairs;
      }
      pairs[key] = value;
    }
    return pairs;
  }

  /** `10/15m`: at most 10 calls per 15 minutes (s, m, h or d; seconds without a unit). */
  limit(name: string, fallback: Limit): Limit {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    const match = /^(\d+)\s*\/\s*(\d+)\s*([smhd]?)$/.exec(value);
    const limit = match && { max: Number(match[1]), windowSeconds: Number(match[2]) * UNIT_SECONDS[match[3]!]! };
    if (!limit || limit.max < 1 || limit.windowSeconds < 1) {
      this.problems.push(`${name} must be calls per window, like 10/15m (s, m, h or d), at least 1/1s (got "${value}")`);
      return fallback;
    }
    return limit;
  }

  /** A key to derive others from: at least 32 characters of random text, never echoed in a problem. */
  secretKey(name: string): string | undefined {
    const value = this.optional(name);
    if (value !== undefined && value.length < 32) this.problems.push(`${name} must be at least 32 characters of random text`);
    return value;
  }

  /** true or false; undefined when unset, so that a default can depend on other variables. */
  flag(name: string): boolean | undefined {
    if (this.optional(name) === undefined) return undefined;
    return this.oneOf(name, ['true', 'false'] as const, 'false') === 'true';
  }

  oneOf<const T extends readonly string[]>(name: string, allowed: T, fallback: T[number]): T[number] {
    const value = this.optional(name);
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
      return fallback;
    }
    return value as T[number];
  }
}
