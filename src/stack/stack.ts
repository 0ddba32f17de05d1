import { homedir } from 'node:os';
import { join } from 'node:path';
import { startLocalKeycloak } from './keycloak-server.js';
import { ensureDatabase, resolveDatabase, withDatabase } from './postgres.js';
import { StackError, type Progress } from './progress.js';
import { startSmtpCatcher } from './smtp-catcher.js';
import { localSmtpCertificate, type SmtpCertificate } from './smtp-certificate.js';

/**
 * Development-only credentials for the servers this stack starts on loopback. They never
 * apply to a Keycloak the user points at with KEYCLOAK_URL.
 */
const LOCAL_KEYCLOAK = {
  httpPort: 8180,
  managementPort: 9180,
  /** Keycloak's own database, beside the gateway's on the same PostgreSQL server (KEYCLOAK_DATABASE). */
  database: 'keycloak',
  masterAdmin: { username: 'admin', password: 'admin' },
};
const LOCAL_DEFAULTS = {
  KEYCLOAK_API_CLIENT_SECRET: 'local-dev-api-client-secret',
  BOOTSTRAP_ADMIN_EMAIL: 'admin@iam-gateway.local',
  BOOTSTRAP_ADMIN_PASSWORD: 'Admin-password-1',
};

export interface StackOptions {
  /** The variables the user set; anything set here wins over what the stack provides. */
  env: Record<string, string | undefined>;
  /** The database created on a local PostgreSQL server. */
  database: string;
  progress: Progress;
  /** Aborted by Ctrl-C during start-up: what was started is stopped, and startStack rejects. */
  signal?: AbortSignal;
}

export interface Stack {
  /** Variables for `loadConfig`: the user's, completed with what the stack started. */
  env: Record<string, string | undefined>;
  /** Where the SMTP catcher's HTTP API answers. */
  mailboxUrl: string;
  /**
   * The certificate of SMTP catchers that speak TLS (the shared one speaks plain SMTP),
   * trusted by the Keycloak this stack starts.
   */
  smtpCertificate: SmtpCertificate;
  /** Stops what this stack started; leaves what it reused. */
  stop(): Promise<void>;
}

/** Where downloads and local server data live between runs (never in the repository). */
export function cacheDirectory(env: Record<string, string | undefined>): string {
  return env.IAM_GATEWAY_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iam-gateway');
}

/**
 * The whole local stack that `npm run dev` and the tests need: PostgreSQL, Keycloak and
 * an SMTP catcher, each reused when already running and started otherwise.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const { env, progress, signal } = options;
  const cacheDir = cacheDirectory(env);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne();
  };
  const unlessInterrupted = () => {
    if (signal?.aborted) throw new StackError('Interrupted while the stack was starting; what it had started was stopped again');
  };

  try {
    const smtpPort = Number(env.SMTP_PORT ?? 1025);
    const mail = await startSmtpCatcher({ smtpPort, httpPort: Number(env.MAILBOX_PORT ?? 1080), progress });
    stops.push(mail.stop);
    unlessInterrupted();

    const database = await resolveDatabase({ databaseUrl: env.DATABASE_URL, database: options.database, cacheDir, progress });
    stops.push(database.stop);
    unlessInterrupted();

    const smtpCertificate = await localSmtpCertificate(cacheDir);
    const keycloakEnv: Record<string, string | undefined> = {};
    if (!env.KEYCLOAK_URL) {
      // Created through the gateway's database: a role allowed to create one may lack the `postgres` database.
      const keycloakDatabase = env.KEYCLOAK_DATABASE || LOCAL_KEYCLOAK.database;
      await ensureDatabase(database.url, keycloakDatabase);
      const keycloak = await startLocalKeycloak({
        cacheDir,
        databaseUrl: withDatabase(database.url, keycloakDatabase),
        httpPort: LOCAL_KEYCLOAK.httpPort,
        managementPort: LOCAL_KEYCLOAK.managementPort,
        bootstrapAdmin: LOCAL_KEYCLOAK.masterAdmin,
        truststorePaths: [smtpCertificate.certFile],
        progress,
        signal,
      });
      stops.push(keycloak.stop);
      unlessInterrupted();
      Object.assign(keycloakEnv, {
        KEYCLOAK_URL: keycloak.url,
        KEYCLOAK_ADMIN_USERNAME: LOCAL_KEYCLOAK.masterAdmin.username,
        KEYCLOAK_ADMIN_PASSWORD: LOCAL_KEYCLOAK.masterAdmin.password,
        ...LOCAL_DEFAULTS,
      });
    }

    return {
      env: {
        APP_ENV: 'development',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(mail.smtpPort),
        DATABASE_URL: database.url,
        ...keycloakEnv,
        ...definedOnly(env),
      },
      mailboxUrl: mail.apiUrl,
      smtpCertificate,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function definedOnly(env: Record<string, string | undefined>) {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
}
