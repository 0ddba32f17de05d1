import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEVELOPMENT_CORS_ORIGINS, loadConfig } from './config.js';
import { DEFAULT_CATALOG } from './keycloak/realm-catalog.js';

const MINIMAL = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/iam_gateway',
  KEYCLOAK_URL: 'http://localhost:8180/',
  KEYCLOAK_API_CLIENT_SECRET: 'secret',
};

describe('loadConfig', () => {
  it('fills sensible defaults around the three required variables', () => {
    const config = loadConfig(MINIMAL);
    expect(config).toMatchObject({
      environment: 'production',
      http: { port: 4000 },
      keycloak: { url: 'http://localhost:8180', realm: 'iam', apiClientId: 'iam-gateway', masterAdmin: undefined },
      publicUrl: 'http://localhost:4000',
      tenancyMode: 'shared',
    });
  });

  it('drains 5 s after SIGTERM in production and not at all in development, unless SHUTDOWN_DRAIN_SECONDS says otherwise', () => {
    expect(loadConfig(MINIMAL).shutdown).toEqual({ drainSeconds: 5, timeoutSeconds: 10 });
    expect(loadConfig({ ...MINIMAL, APP_ENV: 'development' }).shutdown).toEqual({ drainSeconds: 0, timeoutSeconds: 10 });
    expect(loadConfig({ ...MINIMAL, SHUTDOWN_DRAIN_SECONDS: '0', SHUTDOWN_TIMEOUT_SECONDS: '25' }).shutdown).toEqual({
      drainSeconds: 0,
      timeoutSeconds: 25,
    });
    expect(() => loadConfig({ ...MINIMAL, SHUTDOWN_DRAIN_SECONDS: '-1', SHUTDOWN_TIMEOUT_SECONDS: '0' })).toThrow(
      /SHUTDOWN_DRAIN_SECONDS must be a whole number, 0 or more[\s\S]*SHUTDOWN_TIMEOUT_SECONDS must be a whole number, 1 or more/,
    );
  });

  it('allows webhooks to private addresses in development only, and derives their key from WEBHOOK_SECRET_KEY or the API client secret', () => {
    expect(loadConfig(MINIMAL).webhooks).toEqual({
      secretKey: 'secret',
      allowPrivateAddresses: false,
      timeoutSeconds: 10,
      retryHours: 72,
      concurrency: 4,
      pollSeconds: 10,
    });
    expect(loadConfig({ ...MINIMAL, APP_ENV: 'development' }).webhooks.allowPrivateAddresses).toBe(true);
    expect(
      loadConfig({ ...MINIMAL, APP_ENV: 'development', WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false' }).webhooks.allowPrivateAddresses,
    ).toBe(false);
    const key = 'k'.repeat(32);
    expect(loadConfig({ ...MINIMAL, WEBHOOK_SECRET_KEY: key, WEBHOOK_TIMEOUT_SECONDS: '3' }).webhooks).toMatchObject({
      secretKey: key,
      timeoutSeconds: 3,
    });
    expect(() => loadConfig({ ...MINIMAL, WEBHOOK_SECRET_KEY: 'short-key-value' })).toThrow(
      /WEBHOOK_SECRET_KEY must be at least 32 characters of random text/,
    );
    expect(() => loadConfig({ ...MINIMAL, WEBHOOK_SECRET_KEY: 'short-key-value' })).not.toThrow(/short-key-value/);
  });

  it('TENANCY_MODE=realm needs the master admin, which alone may create realms', () => {
    expect(() => loadConfig({ ...MINIMAL, TENANCY_MODE: 'realm' })).toThrow(
      /TENANCY_MODE=realm .* set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD/,
    );
    const config = loadConfig({ ...MINIMAL, TENANCY_MODE: 'realm', KEYCLOAK_ADMIN_USERNAME: 'admin', KEYCLOAK_ADMIN_PASSWORD: 'admin' });
    expect(config.tenancyMode).toBe('realm');
  });

  it('reports every problem at once, in words a person can act on, without echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig({
        KEYCLOAK_URL: 'localhost:8180',
        REDIS_URL: 'tcp://user:hunter3@redis:6379',
        PORT: 'eighty',
        APP_ENV: 'staging',
        KEYCLOAK_ADMIN_PASSWORD: 'hunter2',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems).toEqual([
      'APP_ENV must be one of development, production (got "staging")',
      'PORT must be a port number between 0 and 65535 (got "eighty")',
      'KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD go together: set both or neither',
      'KEYCLOAK_URL must start with http:// or https:// (got localhost://…)',
      'DATABASE_URL is required',
      'KEYCLOAK_API_CLIENT_SECRET is required',
      'REDIS_URL must start with redis:// or rediss:// (got tcp://…)',
    ]);
    expect(message).toContain('.env.example');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('hunter3');
  });

  it('takes the catalog from IAM_CATALOG_FILE, read once at start; without it, the built-in one', () => {
    const directory = mkdtempSync(join(tmpdir(), 'config-catalog-'));
    try {
      expect(loadConfig(MINIMAL).catalog).toEqual(DEFAULT_CATALOG);
      const file = join(directory, 'catalog.yaml');
      writeFileSync(file, 'privileges:\n  - name: priv_user_management\nroles:\n  - name: role_admin\n  - name: role_manager\n');
      expect(loadConfig({ ...MINIMAL, IAM_CATALOG_FILE: file }).catalog).toEqual({
        file,
        privileges: [{ name: 'priv_user_management' }],
        roles: [
          { name: 'role_admin', privileges: ['priv_user_management'] },
          { name: 'role_manager', privileges: [] },
        ],
      });
      writeFileSync(
        file,
        'privileges:\n  - name: priv_user_management\nroles:\n  - name: role_admin\n  - name: role_manager\n  - name: Accountant\n',
      );
      expect(() => loadConfig({ ...MINIMAL, IAM_CATALOG_FILE: file, PORT: 'eighty' })).toThrow(
        new ConfigError([
          'PORT must be a port number between 0 and 65535 (got "eighty")',
          `IAM_CATALOG_FILE: ${file}:6: roles[2].name: Accountant is not a valid name: role_ followed by lower-case letters, digits and underscores, at most 255 characters, e.g. role_accountant`,
        ]),
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('I1: the frontend client is sent back to exact pages only: ${PUBLIC_URL}/callback unless FRONTEND_REDIRECT_URIS lists others', () => {
    expect(loadConfig(MINIMAL).keycloak).toMatchObject({
      frontendRedirectUris: ['http://localhost:4000/callback'],
      acceptedClientIds: ['iam-gateway', 'iam-frontend'],
    });
    const listed = loadConfig({ ...MINIMAL, FRONTEND_REDIRECT_URIS: 'https://app.example.com/callback, http://localhost:5173/cb' });
    expect(listed.keycloak.frontendRedirectUris).toEqual(['https://app.example.com/callback', 'http://localhost:5173/cb']);
    for (const pattern of ['http://localhost:4000/*', 'https://app.example.com/cb#x', 'javascript:alert(1)', 'not a url']) {
      expect(() => loadConfig({ ...MINIMAL, FRONTEND_REDIRECT_URIS: pattern }), pattern).toThrow(
        /FRONTEND_REDIRECT_URIS must list exact http\(s\) URLs/,
      );
    }
  });

  describe('the frontends (FRONTEND_URLS) and the origins that may call /graphql (CORS_ORIGINS)', () => {
    const DEVELOPMENT = { ...MINIMAL, APP_ENV: 'development' };

    it('in production, the only frontend is the gateway itself and no other origin gets CORS unless set', () => {
      const config = loadConfig(MINIMAL);
      expect(config.frontendUrls).toEqual(['http://localhost:4000']);
      expect(config.keycloak).toMatchObject({
        frontendRedirectUris: ['http://localhost:4000/callback'],
        frontendWebOrigins: ['http://localhost:4000'],
        frontendPostLogoutRedirectUris: ['http://localhost:4000/'],
      });
      expect(config.invitationAcceptUrl).toBe('http://localhost:4000/accept-invitation');
      expect(config.http.corsOrigins).toEqual([]);
    });

    it('in development, the local dev servers are allowed by default, and the example app on :5173 is a frontend', () => {
      const config = loadConfig(DEVELOPMENT);
      expect(config.frontendUrls).toEqual(['http://localhost:4000', 'http://localhost:5173']);
      expect(config.keycloak.frontendRedirectUris).toEqual(['http://localhost:4000/callback', 'http://localhost:5173/callback']);
      expect(config.http.corsOrigins).toEqual(DEVELOPMENT_CORS_ORIGINS);
      expect(DEVELOPMENT_CORS_ORIGINS).toEqual([
        'http://localhost:3000',
        'http://localhost:3001',
        'http://127.0.0.1:3000',
        'http://localhost:5173',
      ]);
    });

    it('links invitations to the first frontend that is not the gateway: in development, the example app', () => {
      expect(loadConfig(DEVELOPMENT).invitationAcceptUrl).toBe('http://localhost:5173/accept-invitation');
      const behindTheGateway = loadConfig({ ...MINIMAL, FRONTEND_URLS: 'http://localhost:4000, https://app.example.com/portal/' });
      expect(behindTheGateway.invitationAcceptUrl).toBe('https://app.example.com/portal/accept-invitation');
      // A gateway that is its only frontend serves the page behind PUBLIC_URL.
      expect(loadConfig(MINIMAL).invitationAcceptUrl).toBe('http://localhost:4000/accept-invitation');
    });

    it('derives the frontend client and the invitation page from FRONTEND_URLS, the first frontend first', () => {
      const config = loadConfig({
        ...MINIMAL,
        FRONTEND_URLS: 'https://app.example.com/, https://example.com/portal, https://app.example.com',
      });
      expect(config.frontendUrls).toEqual(['https://app.example.com', 'https://example.com/portal']);
      expect(config.keycloak).toMatchObject({
        frontendRedirectUris: ['https://app.example.com/callback', 'https://example.com/portal/callback'],
        frontendWebOrigins: ['https://app.example.com', 'https://example.com'],
        frontendPostLogoutRedirectUris: ['https://app.example.com/', 'https://example.com/portal/'],
      });
      expect(config.invitationAcceptUrl).toBe('https://app.example.com/accept-invitation');
      expect(config.http.corsOrigins).toEqual(['https://app.example.com', 'https://example.com']);
      expect(loadConfig({ ...DEVELOPMENT, FRONTEND_URLS: 'https://app.example.com' }).http.corsOrigins).toEqual([
        ...DEVELOPMENT_CORS_ORIGINS,
        'https://app.example.com',
      ]);
    });

    it('lets FRONTEND_REDIRECT_URIS, INVITATION_ACCEPT_URL and CORS_ORIGINS replace what is derived, exactly', () => {
      const config = loadConfig({
        ...MINIMAL,
        FRONTEND_URLS: 'https://app.example.com',
        FRONTEND_REDIRECT_URIS: 'https://app.example.com/auth/done, https://login.example.com/cb',
        INVITATION_ACCEPT_URL: 'https://app.example.com/join',
        CORS_ORIGINS: 'https://tools.example.com, HTTPS://Admin.Example.com:443/',
      });
      expect(config.keycloak).toMatchObject({
        frontendRedirectUris: ['https://app.example.com/auth/done', 'https://login.example.com/cb'],
        frontendWebOrigins: ['https://app.example.com', 'https://login.example.com'],
        frontendPostLogoutRedirectUris: ['https://app.example.com/'],
      });
      expect(config.invitationAcceptUrl).toBe('https://app.example.com/join');
      // As browsers write the Origin header: lowercase, no default port, no slash.
      expect(config.http.corsOrigins).toEqual(['https://tools.example.com', 'https://admin.example.com']);
    });

    it('refuses a CORS origin with a path, a wildcard or another scheme, and a frontend URL with a query, fragment or wildcard', () => {
      for (const origin of [
        'https://app.example.com/app',
        'https://*.example.com',
        '*',
        'null',
        'ftp://example.com',
        'app.example.com',
        'https://a.example.com?x=1',
      ]) {
        expect(() => loadConfig({ ...MINIMAL, CORS_ORIGINS: `https://ok.example.com,${origin}` }), origin).toThrow(
          `CORS_ORIGINS must list origins, separated by commas, each scheme://host or scheme://host:port without a path or * (got "${origin}")`,
        );
      }
      for (const url of [
        'https://app.example.com/?x=1',
        'https://app.example.com/#/home',
        'https://*.example.com',
        'mailto:a@example.com',
        'not a url',
      ]) {
        expect(() => loadConfig({ ...MINIMAL, FRONTEND_URLS: url }), url).toThrow(/FRONTEND_URLS must list http\(s\) base URLs/);
      }
    });
  });
  describe('tracing, from the standard OTEL_* variables', () => {
    it('is off unless an OTLP endpoint is named, and off when the SDK or the exporter is disabled', () => {
      expect(loadConfig({ ...MINIMAL, OTEL_SERVICE_NAME: 'gateway', OTEL_TRACES_SAMPLER: 'always_on' }).tracing).toBeUndefined();
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
      expect(loadConfig({ ...MINIMAL, ...endpoint, OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
      expect(loadConfig({ ...MINIMAL, ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeUndefined();
    });

    it('sends to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, or to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, in protobuf unless told JSON', () => {
      expect(loadConfig({ ...MINIMAL, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
        endpoint: 'http://collector:4318/v1/traces',
        protocol: 'http/protobuf',
        resource: { 'service.name': 'iam-gateway' },
        sampler: { root: 'always_on', ratio: 1, parentBased: true },
      });
      expect(
        loadConfig({
          ...MINIMAL,
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/otlp',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        }).tracing,
      ).toMatchObject({ endpoint: 'https://traces.example.com/otlp', protocol: 'http/json' });
    });

    it('reads the service name, the resource attributes and the sampler', () => {
      const tracing = loadConfig({
        ...MINIMAL,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_SERVICE_NAME: 'iam-eu',
        OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,deployment.environment.name=prod,team=platform%20ops',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }).tracing;
      expect(tracing).toMatchObject({
        resource: { 'service.name': 'iam-eu', 'deployment.environment.name': 'prod', team: 'platform ops' },
        sampler: { root: 'traceidratio', ratio: 0.25, parentBased: true },
      });
      expect(
        loadConfig({ ...MINIMAL, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_RESOURCE_ATTRIBUTES: 'service.name=billing-iam' })
          .tracing?.resource,
      ).toEqual({ 'service.name': 'billing-iam' });
    });

    it('refuses gRPC, an unknown sampler, a ratio outside 0..1 and an endpoint that is no http(s) URL', () => {
      expect(() =>
        loadConfig({
          ...MINIMAL,
          OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_TRACES_SAMPLER: 'jaeger_remote',
          OTEL_TRACES_SAMPLER_ARG: '1.5',
          OTEL_RESOURCE_ATTRIBUTES: 'novalue',
        }),
      ).toThrow(
        new ConfigError([
          'OTEL_EXPORTER_OTLP_ENDPOINT must start with http:// or https:// (got collector://…)',
          'OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json: the gateway exports over HTTP, to the collector\'s port 4318 (got "grpc")',
          'OTEL_TRACES_SAMPLER must be one of parentbased_always_on, parentbased_always_off, parentbased_traceidratio, always_on, always_off, traceidratio (got "jaeger_remote")',
          'OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 (got "1.5")',
          'OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas, each value percent-encoded',
        ]),
      );
    });
  });

  describe('SMTP', () => {
    const CREDENTIALS = { SMTP_USER: 'apikey', SMTP_PASSWORD: 'smtp-hunter4' };

    it('without credentials speaks plain SMTP to the local catcher, as before', () => {
      expect(loadConfig(MINIMAL).smtp).toEqual({
        host: '127.0.0.1',
        port: 1025,
        from: 'no-reply@iam-gateway.local',
        credentials: undefined,
        tls: 'none',
        ca: undefined,
      });
    });

    it('with credentials requires STARTTLS unless told otherwise, so that the password never travels in clear by default', () => {
      expect(loadConfig({ ...MINIMAL, ...CREDENTIALS }).smtp).toMatchObject({
        credentials: { user: 'apikey', password: 'smtp-hunter4' },
        tls: 'starttls',
      });
      expect(loadConfig({ ...MINIMAL, ...CREDENTIALS, SMTP_TLS: 'true', SMTP_PORT: '465' }).smtp).toMatchObject({
        tls: 'implicit',
        port: 465,
      });
      expect(loadConfig({ ...MINIMAL, ...CREDENTIALS, SMTP_STARTTLS: 'false' }).smtp.tls).toBe('none');
      expect(loadConfig({ ...MINIMAL, SMTP_STARTTLS: 'true' }).smtp).toMatchObject({ credentials: undefined, tls: 'starttls' });
      expect(loadConfig({ ...MINIMAL, SMTP_TLS: 'true' }).smtp.tls).toBe('implicit');
    });

    it('reports half-set credentials, both kinds of TLS at once, a flag that is not true or false, and never the password', () => {
      let error: unknown;
      try {
        loadConfig({ ...MINIMAL, SMTP_PASSWORD: 'smtp-hunter4', SMTP_TLS: 'true', SMTP_STARTTLS: 'true' });
      } catch (caught) {
        error = caught;
      }
      expect((error as ConfigError).problems).toEqual([
        'SMTP_USER and SMTP_PASSWORD go together: set both or neither',
        expect.stringMatching(/^SMTP_TLS and SMTP_STARTTLS exclude each other: SMTP_TLS=true .* port 465.* SMTP_STARTTLS=true .* port 587/),
      ]);
      expect((error as ConfigError).message).not.toContain('smtp-hunter4');
      expect(() => loadConfig({ ...MINIMAL, SMTP_TLS: 'yes' })).toThrow('SMTP_TLS must be one of true, false (got "yes")');
    });

    it('SMTP_CA_FILE adds the certificates of a PEM file, and a missing or non-PEM file is refused at start', () => {
      const dir = mkdtempSync(join(tmpdir(), 'config-'));
      try {
        const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
        writeFileSync(join(dir, 'ca.pem'), pem);
        writeFileSync(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\n');
        expect(loadConfig({ ...MINIMAL, SMTP_CA_FILE: join(dir, 'ca.pem') }).smtp.ca).toBe(pem);
        expect(() => loadConfig({ ...MINIMAL, SMTP_CA_FILE: join(dir, 'missing.pem') })).toThrow(
          `SMTP_CA_FILE names a file that cannot be read: ${join(dir, 'missing.pem')} (ENOENT)`,
        );
        expect(() => loadConfig({ ...MINIMAL, SMTP_CA_FILE: join(dir, 'key.pem') })).toThrow(
          /SMTP_CA_FILE must name a PEM file of certificates/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
