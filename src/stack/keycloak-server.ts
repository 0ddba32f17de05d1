import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StackError, type Progress } from './progress.js';

/**
 * The one place the Keycloak version is recorded. docker-compose.yml uses the same
 * image tag; a test keeps the two equal.
 */
export const KEYCLOAK_VERSION = '26.7.3';

export interface LocalKeycloakOptions {
  cacheDir: string;
  httpPort: number;
  managementPort: number;
  /** Master-realm bootstrap admin, used only when the server creates its database. */
  bootstrapAdmin: { username: string; password: string };
  /**
   * Where Keycloak keeps its realms, as production runs it: a PostgreSQL database
   * (postgres://user:password@host:port/name) that exists.
   */
  databaseUrl: string;
  /** Where the server's output goes; default keycloak.log in cacheDir. */
  logFile?: string;
  /** PEM files of certificates Keycloak trusts besides Java's, for the mail servers it sends through. */
  truststorePaths?: string[];
  progress: Progress;
  /** Aborted by Ctrl-C while the server starts: it is stopped again rather than left running. */
  signal?: AbortSignal;
}

export interface RunningKeycloak {
  url: string;
  /** True when this process started the server and so must stop it. */
  startedHere: boolean;
  stop(): Promise<void>;
}

/**
 * Brings up the real Keycloak server distribution: reuses one already answering on
 * the port, else fetches the archive once through Maven into the cache folder and
 * starts `kc.sh start-dev` with the newest JDK present.
 */
export async function startLocalKeycloak(options: LocalKeycloakOptions): Promise<RunningKeycloak> {
  const url = `http://localhost:${options.httpPort}`;
  const healthUrl = `http://localhost:${options.managementPort}/health/ready`;
  if (await isReady(healthUrl)) {
    options.progress.info(`Keycloak already running at ${url}: reusing it`);
    return { url, startedHere: false, stop: async () => {} };
  }

  const javaHome = findNewestJava();
  const home = await options.progress.step(`Keycloak ${KEYCLOAK_VERSION} distribution`, () =>
    ensureDistribution(options.cacheDir, options.progress),
  );
  const logFile = options.logFile ?? join(options.cacheDir, 'keycloak.log');
  const child = await options.progress.step(`Keycloak on ${url} (Java at ${javaHome}, log in ${logFile})`, async () => {
    const started = launch(home, javaHome, logFile, options);
    await waitUntilReady(healthUrl, started, logFile, options.signal);
    return started;
  });
  return { url, startedHere: true, stop: () => stopProcessGroup(child) };
}

async function isReady(healthUrl: string): Promise<boolean> {
  try {
    const response = await fetch(healthUrl, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Where to look for Java and Maven; the defaults are this machine's. */
export interface ToolSearch {
  env: NodeJS.ProcessEnv;
  jvmDir: string;
}

const THIS_MACHINE: ToolSearch = { env: process.env, jvmDir: '/usr/lib/jvm' };

/** Java 17 or newer; the newest present wins because Keycloak runs faster on it. */
export function findNewestJava(search: ToolSearch = THIS_MACHINE): string {
  const candidates = new Set<string>();
  if (search.env.JAVA_HOME) candidates.add(search.env.JAVA_HOME);
  if (existsSync(search.jvmDir)) {
    for (const entry of readdirSync(search.jvmDir)) candidates.add(join(search.jvmDir, entry));
  }
  const onPath = commandPath('java', search.env);
  if (onPath) candidates.add(join(onPath, '..', '..'));

  let best: { home: string; major: number } | undefined;
  for (const home of candidates) {
    const major = javaMajorVersion(join(home, 'bin', 'java'));
    if (major !== undefined && major >= 17 && (!best || major > best.major)) best = { home, major };
  }
  if (!best) {
    throw new StackError(
      'Keycloak needs Java 17 or newer and none was found (looked at JAVA_HOME, /usr/lib/jvm and PATH). ' +
        'Install one (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; macOS: `brew install openjdk@21`), ' +
        'or set KEYCLOAK_URL to a Keycloak you already run.',
    );
  }
  return best.home;
}

/** Keycloak's archive comes through Maven: say what to install when it is missing. */
export function requireMaven(env: NodeJS.ProcessEnv = process.env): void {
  if (!commandPath('mvn', env)) {
    throw new StackError(
      'Keycloak is fetched through Maven and `mvn` was not found. Install Maven ' +
        '(Debian/Ubuntu: `apt-get install maven`; macOS: `brew install maven`), ' +
        'or set KEYCLOAK_URL to a Keycloak you already run.',
    );
  }
}

function commandPath(command: string, env: NodeJS.ProcessEnv): string {
  return (spawnSync('/bin/sh', ['-c', `command -v ${command}`], { encoding: 'utf8', env }).stdout ?? '').trim();
}

function javaMajorVersion(javaBinary: string): number | undefined {
  if (!existsSync(javaBinary)) return undefined;
  const result = spawnSync(javaBinary, ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.stderr ?? '');
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 ? Number(match[2]) : first;
}

/** Fetches (once) and unpacks (once) the server distribution; returns its home folder. */
async function ensureDistribution(cacheDir: string, progress: Progress): Promise<string> {
  const home = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}`);
  if (existsSync(join(home, 'bin', 'kc.sh'))) return home;
  mkdirSync(cacheDir, { recursive: true });

  const archive = join(cacheDir, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
  if (!existsSync(archive)) {
    requireMaven();
    progress.info(`fetching org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION} through Maven (about 170 MB, once)`);
    await run('mvn', [
      '-B',
      '-q',
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:tar.gz`,
      `-DoutputDirectory=${cacheDir}`,
    ]);
  }

  // Unpack beside the final place and rename, so an interrupted unpack never looks complete.
  const unpacking = join(cacheDir, `unpacking-${process.pid}`);
  rmSync(unpacking, { recursive: true, force: true });
  mkdirSync(unpacking);
  await run('tar', ['-xzf', archive, '-C', unpacking]);
  renameSync(join(unpacking, `keycloak-${KEYCLOAK_VERSION}`), home);
  rmSync(unpacking, { recursive: true, force: true });
  return home;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new StackError(`\`${command} ${args.join(' ')}\` exited with ${code}`))));
  });
}

/** Keycloak's JDBC settings for a PostgreSQL URL: `--db-url` carries no credentials, they go apart. */
export function keycloakDatabaseOptions(databaseUrl: string): { url: string; username: string; password: string } {
  const url = new URL(databaseUrl);
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new StackError(`Keycloak's database must be a PostgreSQL URL (postgres://...), not ${url.protocol}`);
  }
  const host = url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname;
  return {
    url: `jdbc:postgresql://${host}:${url.port || '5432'}${url.pathname}`,
    username: decodeURIComponent(url.username) || 'postgres',
    password: decodeURIComponent(url.password),
  };
}

/**
 * `kc.sh` and its arguments: start-dev (no TLS, no build step to run first, theme caches
 * off) on PostgreSQL, as production runs it, rather than dev-file's embedded H2. The
 * password goes through the environment (launch), not the command line `ps` shows.
 */
export function keycloakArguments(
  options: Pick<LocalKeycloakOptions, 'httpPort' | 'managementPort' | 'databaseUrl' | 'truststorePaths'>,
): string[] {
  const database = keycloakDatabaseOptions(options.databaseUrl);
  return [
    'start-dev',
    `--http-port=${options.httpPort}`,
    `--http-management-port=${options.managementPort}`,
    // Pinned so the token issuer does not follow whatever host a request used.
    `--hostname=http://localhost:${options.httpPort}`,
    '--health-enabled=true',
    // Realms and users live in PostgreSQL between runs, in a database of Keycloak's own.
    '--db=postgres',
    `--db-url=${database.url}`,
    `--db-username=${database.username}`,
    // PostgreSQL's default limit is 100 connections, which the tests' gateways share with it.
    '--db-pool-max-size=20',
    // With brute-force detection on, Keycloak otherwise refuses a user's concurrent
    // logins (two browser tabs, parallel clients): keycloak/keycloak#48272.
    '--spi-brute-force-protector--default-brute-force-detector--allow-concurrent-requests=true',
    // Read at start only: a Keycloak started before a certificate was added does not trust it.
    ...(options.truststorePaths?.length ? [`--truststore-paths=${options.truststorePaths.join(',')}`] : []),
  ];
}

function launch(home: string, javaHome: string, logFile: string, options: LocalKeycloakOptions): ChildProcess {
  const log = openSync(logFile, 'a');
  const { password } = keycloakDatabaseOptions(options.databaseUrl);
  const child = spawn(join(home, 'bin', 'kc.sh'), keycloakArguments(options), {
    cwd: home,
    // Its own process group, so stopping it also stops the JVM that kc.sh starts.
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      JAVA_HOME: javaHome,
      PATH: `${join(javaHome, 'bin')}:${process.env.PATH ?? ''}`,
      KC_BOOTSTRAP_ADMIN_USERNAME: options.bootstrapAdmin.username,
      KC_BOOTSTRAP_ADMIN_PASSWORD: options.bootstrapAdmin.password,
      ...(password && { KC_DB_PASSWORD: password }),
    },
  });
  return child;
}

const START_TIMEOUT_SECONDS = 480;

async function waitUntilReady(healthUrl: string, child: ChildProcess, logFile: string, signal?: AbortSignal): Promise<void> {
  // A first start augments the distribution and creates Keycloak's schema and master realm in
  // PostgreSQL: about a minute on a quiet machine, over four on a loaded two-core one.
  const deadline = Date.now() + START_TIMEOUT_SECONDS * 1000;
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? -1));
  while (Date.now() < deadline) {
    if (exitCode !== null) {
      throw new StackError(`Keycloak exited with code ${exitCode} while starting; see ${logFile}`);
    }
    if (signal?.aborted) {
      await stopProcessGroup(child);
      throw new StackError('Interrupted while Keycloak was starting; it was stopped again');
    }
    if (await isReady(healthUrl)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await stopProcessGroup(child);
  throw new StackError(`Keycloak did not become ready within ${START_TIMEOUT_SECONDS} s; see ${logFile}`);
}

async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const forced = setTimeout(() => signal('SIGKILL'), 20_000);
  await exited;
  clearTimeout(forced);
}
