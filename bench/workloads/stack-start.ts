import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { KEYCLOAK_VERSION } from '../../src/stack/keycloak-server.js';
import { cacheDirectory } from '../../src/stack/stack.js';
import type { BenchContext, WorkloadResult } from '../context.js';
import type { DevStartOptions, DevStartResult } from '../dev-start.js';
import { LOG_DIR } from '../processes.js';
import { met, type Row } from '../report.js';
import { figure, ratio, summarize } from '../stats.js';
import { freePort } from '../../src/stack/free-port.js';

const COLD_DATABASE = 'iam_gateway_bench_cold';
/** The cold Keycloak's own database: created empty for each run, as on a first start. */
const COLD_KEYCLOAK_DATABASE = 'iam_gateway_bench_cold_keycloak';
const COLD_LIMIT_SECONDS = 60;
const WARM_LIMIT_SECONDS = 15;

/** The gateway's own variables (.env.example): a cold start must not inherit the bench's or the user's. */
const GATEWAY_VARIABLES =
  /^(APP_ENV|PORT|HOST|DATABASE_URL|KEYCLOAK_.*|BOOTSTRAP_.*|SMTP_.*|MAILBOX_PORT|PUBLIC_URL|FRONTEND_.*|CORS_ORIGINS|INVITATION_ACCEPT_URL|LOG_.*|RATE_LIMIT_.*|REDIS_.*|TRUST_PROXY|EMBEDDED_PG_PORT|IAM_GATEWAY_CACHE_DIR|TEST_.*)$/;

function shellEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !GATEWAY_VARIABLES.test(entry[0])),
  );
}

/** A Unix socket outside the namespace, piped to the PostgreSQL server the bench uses. */
async function postgresSocket(databaseUrl: string, path: string): Promise<Server> {
  const { hostname, port } = new URL(databaseUrl);
  rmSync(path, { force: true });
  const server = createServer((client) => {
    const upstream = createConnection({ host: hostname, port: Number(port || 5432) });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function onServer(databaseUrl: string, sql: string): Promise<void> {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function runDevStart(options: DevStartOptions, isolated: boolean): Promise<DevStartResult> {
  const script = fileURLToPath(new URL('../dev-start.js', import.meta.url));
  const [command, args] = isolated
    ? ['unshare', ['-n', '--', process.execPath, script, JSON.stringify(options)]]
    : [process.execPath, [script, JSON.stringify(options)]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve(line ? (JSON.parse(line.slice(7)) as DevStartResult) : { error: `the timing process exited with ${code} and no result` });
    });
  });
}

/**
 * Workload 4: `npm run dev`, timed from its start until the gateway answers.
 *
 * Cold: in a fresh network namespace, with a cache folder holding only the Keycloak archive
 * (so the distribution is unpacked, and Keycloak creates its database and master realm)
 * and an empty PostgreSQL database: the first start on a machine that already downloaded
 * Keycloak. Warm: on this machine as it is, everything running (Keycloak, PostgreSQL, SMTP
 * catcher), the bench's realm and database already provisioned.
 */
export async function stackStartWorkload(ctx: BenchContext): Promise<WorkloadResult> {
  const cwd = process.cwd();
  const notes: string[] = [];
  mkdirSync(LOG_DIR, { recursive: true });

  const cold: DevStartResult[] = [];
  const archive = join(cacheDirectory(process.env), `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
  const canIsolate = spawnSync('unshare', ['-n', 'true']).status === 0;
  let coldSkipped: string | undefined;
  if (!existsSync(archive)) coldSkipped = `no Keycloak archive cached at ${archive}`;
  else if (!canIsolate) coldSkipped = '`unshare -n` is not available here (Linux, as root or with user namespaces)';
  if (!coldSkipped) {
    const socket = await postgresSocket(ctx.config.databaseUrl, join(LOG_DIR, 'postgres.sock'));
    const coldUrl = new URL(ctx.config.databaseUrl);
    coldUrl.host = '127.0.0.1:5432';
    coldUrl.pathname = `/${COLD_DATABASE}`;
    const coldCache = join(dirname(cacheDirectory(process.env)), 'iam-gateway-bench-cold');
    try {
      for (let run = 1; run <= ctx.runs; run++) {
        rmSync(coldCache, { recursive: true, force: true });
        mkdirSync(coldCache, { recursive: true });
        const cachedArchive = join(coldCache, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
        try {
          linkSync(archive, cachedArchive);
        } catch {
          copyFileSync(archive, cachedArchive);
        }
        await onServer(ctx.config.databaseUrl, `drop database if exists ${COLD_DATABASE} with (force)`);
        await onServer(ctx.config.databaseUrl, `create database ${COLD_DATABASE}`);
        await onServer(ctx.config.databaseUrl, `drop database if exists ${COLD_KEYCLOAK_DATABASE} with (force)`);
        const result = await ctx.progress.step(`Dev stack cold start, run ${run}/${ctx.runs} (own network namespace)`, () =>
          runDevStart(
            {
              cwd,
              env: {
                ...shellEnv(),
                IAM_GATEWAY_CACHE_DIR: coldCache,
                DATABASE_URL: coldUrl.toString(),
                KEYCLOAK_DATABASE: COLD_KEYCLOAK_DATABASE,
              },
              port: 4000,
              logFile: join(LOG_DIR, `dev-cold-${run}.log`),
              timeoutMs: 300_000,
              isolated: {
                postgresSocket: join(LOG_DIR, 'postgres.sock'),
                keycloakHome: join(coldCache, `keycloak-${KEYCLOAK_VERSION}`, 'bin', '..'),
              },
            },
            true,
          ),
        );
        cold.push(result);
        if (result.error) break;
      }
    } finally {
      socket.close();
      rmSync(coldCache, { recursive: true, force: true });
      await onServer(ctx.config.databaseUrl, `drop database if exists ${COLD_DATABASE} with (force)`).catch(() => undefined);
      await onServer(ctx.config.databaseUrl, `drop database if exists ${COLD_KEYCLOAK_DATABASE} with (force)`).catch(() => undefined);
    }
  }

  const warm: DevStartResult[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    const port = await freePort();
    const result = await ctx.progress.step(`Dev stack warm start, run ${run}/${ctx.runs}`, () =>
      runDevStart(
        {
          cwd,
          env: {
            ...(process.env as Record<string, string>),
            DATABASE_URL: ctx.config.databaseUrl,
            KEYCLOAK_REALM: ctx.config.keycloak.realm,
            PORT: String(port),
          },
          port,
          logFile: join(LOG_DIR, `dev-warm-${run}.log`),
          timeoutMs: 120_000,
        },
        false,
      ),
    );
    warm.push(result);
    if (result.error) break;
  }

  const workload = '4. Dev stack (`npm run dev`)';
  const rows: Row[] = [
    startRow(workload, 'cold start (Keycloak archive cached, empty database)', cold, COLD_LIMIT_SECONDS, coldSkipped),
    startRow(workload, 'warm start (everything running)', warm, WARM_LIMIT_SECONDS),
  ];
  const reported = (results: DevStartResult[]) =>
    results.map((r) => (r.reportedSeconds === undefined ? '?' : `${r.reportedSeconds} s`)).join(', ');
  notes.push(
    'Workload 4: time from spawning `npm run dev` (which first runs `npm run build:dev`, the TypeScript compile) until the gateway answers ' +
      '`{ publicHello }`, polled every 100 ms; then Ctrl-C. ' +
      `Cold: inside its own network namespace (\`unshare -n\`), so that its Keycloak, SMTP catcher and gateway use the usual ports without ` +
      `touching the running ones; IAM_GATEWAY_CACHE_DIR is a new folder holding only the Keycloak ${KEYCLOAK_VERSION} archive (unpacked, then a ` +
      `first Keycloak start that creates its database and master realm), DATABASE_URL an empty database reached over a socket bridge. ` +
      `Warm: on this machine, Keycloak, PostgreSQL and the SMTP catcher running, with DATABASE_URL and KEYCLOAK_REALM set to the bench's ` +
      `(the dev database belongs to whoever runs \`npm run dev\` here). "Ready in" as printed by \`npm run dev\` itself (after the build): ` +
      `cold ${reported(cold) || '—'}; warm ${reported(warm) || '—'}.`,
  );
  return { rows, notes };
}

function startRow(workload: string, measure: string, results: DevStartResult[], limitSeconds: number, skipped?: string): Row {
  const goal = `≤ ${limitSeconds} s`;
  if (skipped) return { workload, measure, gateway: 'not measured', baseline: '—', ratio: '—', goal, verdict: `not measured: ${skipped}` };
  const failed = results.find((r) => r.error);
  if (failed) return { workload, measure, gateway: 'failed', baseline: '—', ratio: '—', goal, verdict: `**MISSED**: ${failed.error}` };
  const seconds = summarize(results.map((r) => r.readyMs! / 1000));
  return {
    workload,
    measure,
    gateway: figure(seconds, 's', 1),
    baseline: '—',
    ratio: `${ratio(seconds.median / limitSeconds)} of the limit`,
    goal,
    verdict: met(seconds.median <= limitSeconds, `${figure(seconds, 's', 1)}, over ${limitSeconds} s${keycloakShare(results)}`),
  };
}

/** The part of a start that was Keycloak's own, when the stack started one. */
function keycloakShare(results: DevStartResult[]): string {
  const seconds = results.filter((r) => r.keycloakSeconds !== undefined).map((r) => r.keycloakSeconds!);
  return seconds.length > 0 ? `; Keycloak's own first start took ${figure(summarize(seconds), 's', 1)} of it` : '';
}
