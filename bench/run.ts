/**
 * `npm run bench`: every performance goal of the gateway measured beside its baseline in
 * one run, on the dev stack (reused when running), with the bench's own realm and database.
 * Prints one table and writes it to bench/results/<date>.md.
 *
 *   npm run bench                 every workload (about 18–22 minutes)
 *   npm run bench -- --quick      workloads 1–3 and 7 only (about 7 minutes)
 *   npm run bench -- --only=1,3   just those workloads (6: importUsers, 7: login)
 *   npm run bench -- --runs=1     one run per figure instead of three (a quick look, not a result)
 *   npm run bench -- --scale      the scale profile instead (bench/scale/profile.ts): mirrors of 10k,
 *                                 100k and 1M users; seeding takes minutes, once; -- --sizes=10k,100k picks
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { prepareBackends } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { terminalProgress } from '../src/stack/progress.js';
import { startStack } from '../src/stack/stack.js';
import { startKeycloakProxy } from '../test/support/keycloak-proxy.js';
import type { BenchContext, WorkloadResult } from './context.js';
import { KeycloakAdminRest, masterAdminToken } from './keycloak.js';
import { LOG_DIR, startServer, type ServerProcess } from './processes.js';
import { renderMarkdown, type Report, type Row } from './report.js';
import { scaleProfile } from './scale/profile.js';
import { scaleDatabase, SIZES, type SizeLabel } from './scale/seed.js';
import { seed } from './seed.js';
import { deleteImported, importWorkload } from './workloads/import.js';
import { meWorkload } from './workloads/me.js';
import { eventsWorkload } from './workloads/events.js';
import { loginWorkload } from './workloads/login.js';
import { reconcilerWorkload } from './workloads/reconciler.js';
import { deleteSignups, signupWorkload } from './workloads/signup.js';
import { stackStartWorkload } from './workloads/stack-start.js';
import { testSuiteWorkload } from './workloads/test-suite.js';
import { usersWorkload } from './workloads/users.js';

/** Every workload's number, as `--only` names them. */
const WORKLOADS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

const REALM = 'iam-bench';
const DATABASE = 'iam_gateway_bench';

interface Arguments {
  workloads: Set<number>;
  runs: number;
  quick: boolean;
  /** The scale profile's sizes, when --scale. */
  scale?: SizeLabel[];
}

function parseArguments(argv: string[]): Arguments {
  const quick = argv.includes('--quick');
  const only = argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
  const runs = Number(argv.find((arg) => arg.startsWith('--runs='))?.slice('--runs='.length) ?? 3);
  const sizes = argv.find((arg) => arg.startsWith('--sizes='))?.slice('--sizes='.length);
  const scale = argv.includes('--scale') ? ((sizes ?? Object.keys(SIZES).join(',')).split(',') as SizeLabel[]) : undefined;
  const unknown = argv.filter(
    (arg) =>
      arg !== '--quick' && arg !== '--scale' && !arg.startsWith('--only=') && !arg.startsWith('--runs=') && !arg.startsWith('--sizes='),
  );
  if (unknown.length > 0 || !Number.isInteger(runs) || runs < 1 || (scale && !scale.every((label) => label in SIZES))) {
    throw new Error(
      `usage: npm run bench [-- --quick] [-- --only=1,2,3,4,5,6,7,8,9] [-- --runs=N] | npm run bench -- --scale [--sizes=10k,100k,1m]  (got ${argv.join(' ')})`,
    );
  }
  const workloads = new Set(only ? only.split(',').map(Number) : quick ? [1, 2, 3, 7] : WORKLOADS);
  return { workloads, runs, quick, scale };
}

/** The scale profile: its own realm and databases, on the same stack. */
async function scaleMain(labels: SizeLabel[]): Promise<void> {
  const progress = terminalProgress();
  const stack = await startStack({
    env: { ...process.env, LOG_LEVEL: 'warn', PORT: '0' },
    database: scaleDatabase(labels[0]!),
    progress,
  });
  try {
    await scaleProfile({ stackEnv: stack.env, labels, progress });
  } finally {
    await stack.stop();
  }
}

/** A workload that fails says so in the table; the others still run. */
async function attempt(name: string, run: () => Promise<WorkloadResult>): Promise<WorkloadResult> {
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`\n${name} failed: ${error instanceof Error ? error.stack : message}\n`);
    return {
      rows: [
        {
          workload: name,
          measure: '—',
          gateway: 'failed',
          baseline: '—',
          ratio: '—',
          goal: '—',
          verdict: `**FAILED**: ${message.split('\n')[0]}`,
        },
      ],
      notes: [],
    };
  }
}

async function environmentNotes(ctx: BenchContext, masterToken: () => Promise<string>): Promise<string> {
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  const postgres = (await db.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  await db.end();
  const info = await fetch(`${ctx.keycloak.url}/admin/serverinfo`, { headers: { authorization: `Bearer ${await masterToken()}` } })
    .then((r) => r.json() as Promise<{ systemInfo?: { version?: string } }>)
    .catch(() => ({}) as { systemInfo?: { version?: string } });
  const cpu = cpus();
  return (
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB; load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}. Node ${process.version} for the bench, every server and the load generator (autocannon, its own process); ` +
    `Keycloak ${info.systemInfo?.version ?? '?'} at ${ctx.keycloak.url}; PostgreSQL ${postgres}. Servers run with NODE_ENV=production; ` +
    `the gateway in APP_ENV=production, as \`npm start\` runs it. Each figure is the median of ${ctx.runs} runs, (min–max) beside it.`
  );
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  if (args.scale) return scaleMain(args.scale);
  const started = performance.now();
  const progress = terminalProgress();
  const stack = await startStack({
    env: { ...process.env, KEYCLOAK_REALM: REALM, LOG_LEVEL: 'warn', PORT: '0' },
    database: DATABASE,
    progress,
  });
  const servers: ServerProcess[] = [];
  try {
    const config = loadConfig(stack.env);
    const { masterAdmin } = config.keycloak;
    if (!masterAdmin)
      throw new Error('the bench seeds its realm as the master admin: set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD');
    await progress.step(`Realm ${REALM} and database ${DATABASE}`, () => prepareBackends(config, createLogger({ level: 'warn' })));
    const keycloak = { url: config.keycloak.url, realm: config.keycloak.realm };
    const masterToken = masterAdminToken(keycloak.url, masterAdmin);
    const ctx: BenchContext = {
      config,
      env: stack.env,
      keycloak,
      admin: new KeycloakAdminRest(keycloak, masterToken),
      runs: args.runs,
      progress,
    };

    await deleteSignups(ctx);
    await deleteImported(ctx);
    const seeded = await seed({ config, admin: ctx.admin, progress });
    const notes = [
      await environmentNotes(ctx, masterToken),
      `Data: realm ${REALM} and database ${DATABASE}; Keycloak holds ${seeded.keycloakUsers} users, the mirror ${seeded.mirroredUsers} ` +
        `(${seeded.userRoles} role and ${seeded.userGroups} group assignments over 20 roles and 50 groups). ` +
        (seeded.work.length > 0 ? `Seeded in this run: ${seeded.work.join('; ')}.` : 'Already seeded: nothing to do.'),
    ];
    const rows: Row[] = [];
    const add = (result: WorkloadResult) => {
      rows.push(...result.rows);
      notes.push(...result.notes);
    };

    // Servers: each in a process of its own. The gateway for workloads 1 and 2 reaches Keycloak
    // through a counting proxy; the one for sign-ups directly, so the proxy adds nothing to its time.
    const serverEnv = {
      ...stack.env,
      APP_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      // The reconciler compares every Keycloak user with the mirror each minute (10,000 here):
      // measured in the middle of a workload, it would be its cost that the figures show.
      JOBS_ENABLED: 'false',
      RATE_LIMIT_SIGNUP_PER_IP: '1000000/1h',
      RATE_LIMIT_SIGNUP_PER_ACCOUNT_IP: '1000000/1h',
      RATE_LIMIT_LOGIN_PER_IP: '1000000/1h',
      RATE_LIMIT_LOGIN_PER_ACCOUNT_IP: '1000000/1h',
    };
    const start = async (...spec: Parameters<typeof startServer>) => {
      const server = await startServer(...spec);
      servers.push(server);
      return server;
    };
    const stop = async (server: ServerProcess) => {
      servers.splice(servers.indexOf(server), 1);
      await server.stop();
    };

    if (args.workloads.has(1) || args.workloads.has(2)) {
      const proxy = await startKeycloakProxy(config.keycloak.url);
      try {
        const gateway = await start('gateway', { ...serverEnv, KEYCLOAK_URL: proxy.url, KEYCLOAK_PUBLIC_URL: config.keycloak.publicUrl });
        if (args.workloads.has(1)) {
          add(
            await attempt('1. Authenticated `me` (revocation check included)', async () => {
              const bare = await start('bare-apollo', serverEnv);
              try {
                return await meWorkload(ctx, gateway, bare, proxy);
              } finally {
                await stop(bare);
              }
            }),
          );
        }
        if (args.workloads.has(2)) {
          add(
            await attempt('2. `users(first: 100)`', async () => {
              const handWritten = await start('pg-dataloader', serverEnv);
              const keycloakAdmin = await start('keycloak-admin', serverEnv);
              try {
                return await usersWorkload(ctx, { gateway, handWritten, keycloakAdmin }, proxy);
              } finally {
                await stop(handWritten);
                await stop(keycloakAdmin);
              }
            }),
          );
        }
        await stop(gateway);
      } finally {
        await proxy.close();
      }
    }
    if (args.workloads.has(3)) {
      add(
        await attempt('3. `signup`', async () => {
          const gateway = await start('gateway', serverEnv);
          try {
            return await signupWorkload(ctx, gateway);
          } finally {
            await stop(gateway);
          }
        }),
      );
    }
    if (args.workloads.has(6)) {
      add(
        await attempt('6. `importUsers`', async () => {
          const gateway = await start('gateway', serverEnv);
          try {
            return await importWorkload(ctx, gateway);
          } finally {
            await stop(gateway);
          }
        }),
      );
    }
    if (args.workloads.has(7)) {
      add(
        await attempt('7. `login`', async () => {
          const gateway = await start('gateway', serverEnv);
          try {
            return await loginWorkload(ctx, gateway);
          } finally {
            await stop(gateway);
          }
        }),
      );
    }
    if (args.workloads.has(8)) {
      add(
        await attempt('8. Identity events', async () => {
          // The fan-out's 1,000 subscribers are one administrator's connections.
          const gateway = await start('gateway', { ...serverEnv, SUBSCRIPTION_CONNECTIONS_PER_ACCOUNT: '2000' });
          const bareSockets = await start('bare-websocket', serverEnv);
          try {
            return await eventsWorkload(ctx, gateway, bareSockets);
          } finally {
            await stop(gateway);
            await stop(bareSockets);
          }
        }),
      );
    }
    if (args.workloads.has(9)) {
      add(
        await attempt('9. Reconciler', async () => {
          // Jobs on, reading admin events at their default interval; the full comparison an hour away.
          const gateway = await start('gateway', { ...serverEnv, JOBS_ENABLED: 'true', RECONCILE_INTERVAL_SECONDS: '3600' });
          try {
            return await reconcilerWorkload(ctx);
          } finally {
            await stop(gateway);
          }
        }),
      );
    }
    if (args.workloads.has(4)) add(await attempt('4. Dev stack', () => stackStartWorkload(ctx)));
    if (args.workloads.has(5)) add(await attempt('5. Test suite', () => testSuiteWorkload(ctx)));

    const skipped = WORKLOADS.filter((w) => !args.workloads.has(w));
    const minutes = (performance.now() - started) / 60_000;
    notes.push(
      `This run took ${minutes.toFixed(1)} minutes; load average at the end ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')} (other processes on the machine share its ${cpus().length} cores)` +
        (skipped.length > 0
          ? `; workload${skipped.length > 1 ? 's' : ''} ${skipped.join(', ').replace(/, (\d)$/, ' and $1')} ${skipped.length > 1 ? 'were' : 'was'} not run (${args.quick ? '--quick' : '--only'}).`
          : '.') +
        ` Logs of the servers and runs: ${LOG_DIR}.`,
    );
    const now = new Date();
    const report: Report = { title: `Benchmarks, ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`, rows, notes };
    const markdown = renderMarkdown(report);
    process.stdout.write(`\n${markdown}\n`);
    const directory = join(process.cwd(), 'bench', 'results');
    mkdirSync(directory, { recursive: true });
    const file = join(directory, `${now.toISOString().slice(0, 10)}.md`);
    writeFileSync(file, markdown);
    process.stderr.write(`Written to ${file}\n`);
  } finally {
    for (const server of servers) await server.stop();
    await stack.stop();
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
