import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { prepareBackends } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Progress } from '../../src/stack/progress.js';
import { ensureDatabase, withDatabase } from '../../src/stack/postgres.js';
import { KeycloakAdminRest, masterAdminToken } from '../keycloak.js';
import { LOG_DIR } from '../processes.js';
import { type KeycloakUser, mirrorUsers, writeMirror } from '../seed.js';
import { number } from '../stats.js';
import type { ReconcileMeasurement } from './reconcile-child.js';
import { KEYCLOAK_USERS, seedKeycloak } from './keycloak.js';
import { SCALE_REALM } from './seed.js';

/**
 * The reconciler's full comparison at 10,000 and 100,000 Keycloak users: its time and its
 * peak memory, each run in a process of its own, to show that memory follows the page size
 * (src/jobs/reconciler.ts streams Keycloak's users page by page), not the realm.
 *
 * The 10k realm is the scale profile's (iam-bench-scale); the 100k realm, iam-bench-scale-100k,
 * is drawn the same way (bench/scale/keycloak.ts), seeded once by partial import and reused.
 * Each has a mirror database of its own (iam_gateway_reconcile_10k, _100k): the scale
 * profile's mirrors hold generated users Keycloak does not have, which a comparison would
 * delete. A mirror is filled once from Keycloak (bench/seed.ts), so the measured comparisons
 * compare an equal mirror: the one every hour brings in production.
 */
export const RECONCILE_SIZES = {
  '10k': { realm: SCALE_REALM, users: 10_000 },
  '100k': { realm: `${SCALE_REALM}-100k`, users: 100_000 },
} as const;
export type ReconcileSize = keyof typeof RECONCILE_SIZES;

export function reconcileDatabase(label: ReconcileSize): string {
  return `iam_gateway_reconcile_${label}`;
}

interface Prepared {
  env: Record<string, string | undefined>;
  keycloakUsers: number;
  mirroredUsers: number;
  work: string[];
}

async function prepare(stackEnv: Record<string, string | undefined>, label: ReconcileSize, progress: Progress): Promise<Prepared> {
  const { realm, users } = RECONCILE_SIZES[label];
  const baseUrl = loadConfig(stackEnv).databaseUrl;
  const env = { ...stackEnv, KEYCLOAK_REALM: realm, DATABASE_URL: withDatabase(baseUrl, reconcileDatabase(label)) };
  const config = loadConfig(env);
  const { masterAdmin } = config.keycloak;
  if (!masterAdmin)
    throw new Error('the reconciler profile seeds its realms as the master admin: set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD');
  await ensureDatabase(withDatabase(baseUrl, 'postgres'), reconcileDatabase(label));
  // The realm (created if missing), the migrations, the directory: as a gateway starts.
  await progress.step(`Realm ${realm} and database ${reconcileDatabase(label)}`, () =>
    prepareBackends(config, createLogger({ level: 'warn' })),
  );
  const admin = new KeycloakAdminRest({ url: config.keycloak.url, realm }, masterAdminToken(config.keycloak.url, masterAdmin));
  // Past the scale profile's 10,000, users are written into Keycloak's database (bench/scale/keycloak.ts, bulkUsers).
  const keycloakDatabase = users > KEYCLOAK_USERS ? withDatabase(baseUrl, stackEnv.KEYCLOAK_DATABASE || 'keycloak') : undefined;
  const { work } = await seedKeycloak(admin, progress, users, keycloakDatabase);
  // The roles and groups seedKeycloak may just have made reach the mirror as a gateway's start mirrors them.
  if (work.length > 0) await prepareBackends(config, createLogger({ level: 'warn' }));
  const keycloakUsers = (await admin.ok<number>('GET', '/users/count')).body;
  const db = new pg.Client({ connectionString: config.databaseUrl });
  await db.connect();
  try {
    const count = async () => Number((await db.query<{ n: string }>('select count(*) as n from users')).rows[0]!.n);
    if ((await count()) !== keycloakUsers) {
      const started = performance.now();
      await progress.step(`Mirror ${realm}'s ${keycloakUsers.toLocaleString('en')} users into ${reconcileDatabase(label)}`, () =>
        keycloakDatabase ? mirrorFromKeycloakDatabase(keycloakDatabase, realm, db) : mirrorUsers(admin, db),
      );
      await db.query('analyze users, user_roles, user_groups');
      work.push(`${reconcileDatabase(label)} filled from Keycloak in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
    }
    return { env, keycloakUsers, mirroredUsers: await count(), work };
  } finally {
    await db.end();
  }
}

/** One full comparison in a new process (bench/scale/reconcile-child.ts): its time and memory. */
async function measureOnce(
  env: Record<string, string | undefined>,
  label: ReconcileSize,
  mode: 'reconcile' | 'list',
): Promise<ReconcileMeasurement> {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `reconcile-${label}.log`);
  const log = openSync(logFile, 'a');
  const child = fork(fileURLToPath(new URL('./reconcile-child.js', import.meta.url)), [mode], {
    env: { ...env, NODE_ENV: 'production', LOG_LEVEL: 'warn' },
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  const measured = await new Promise<ReconcileMeasurement>((resolve, reject) => {
    let result: ReconcileMeasurement | undefined;
    child.on('message', (message: ReconcileMeasurement) => {
      result = message;
    });
    child.once('exit', (code) =>
      result && code === 0 ? resolve(result) : reject(new Error(`the ${mode} at ${label} exited with ${code}; see ${logFile}`)),
    );
  });
  // Each figure as it comes: a long run stopped half-way still shows what it measured.
  process.stderr.write(`    ${label} ${mode}: ${JSON.stringify(measured)}\n`);
  return measured;
}

const mib = (bytes: number) => `${number(bytes / 2 ** 20)} MiB`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const range = (values: number[], show: (value: number) => string) =>
  `${show(median(values))} (${show(Math.min(...values))}–${show(Math.max(...values))})`;

export async function reconcileProfile(options: {
  stackEnv: Record<string, string | undefined>;
  labels: ReconcileSize[];
  /** Comparisons measured per size, each in a new process (--runs, 3 unless told). */
  runs: number;
  progress: Progress;
}): Promise<string> {
  const rounds = options.runs;
  const started = performance.now();
  const loadAtStart = loadavg();
  const prepared = new Map<ReconcileSize, Prepared>();
  for (const label of options.labels) prepared.set(label, await prepare(options.stackEnv, label, options.progress));

  const measured = new Map<ReconcileSize, { reconcile: ReconcileMeasurement[]; list: ReconcileMeasurement[] }>();
  for (const label of options.labels) measured.set(label, { reconcile: [], list: [] });
  // The sizes take turns in each round, as in the scale profile: a burst of load from other
  // work on the machine lands on both, not on one.
  for (let round = 0; round < rounds; round++) {
    for (const label of options.labels) {
      const { env } = prepared.get(label)!;
      const into = measured.get(label)!;
      into.list.push(
        await options.progress.step(`${label}: Keycloak's users listed page by page (round ${round + 1})`, () =>
          measureOnce(env, label, 'list'),
        ),
      );
      into.reconcile.push(
        await options.progress.step(`${label}: the full comparison (round ${round + 1})`, () => measureOnce(env, label, 'reconcile')),
      );
    }
  }

  const lines = [
    `## The reconciler's full comparison at scale, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    '| Keycloak users | comparison: time | listing alone: time | comparison: peak RSS | listing alone: peak RSS | comparison: peak heap used | listing alone: peak heap used | process at rest: RSS / heap | users held at once | healed |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const label of options.labels) {
    const { reconcile, list } = measured.get(label)!;
    const healed = reconcile.map((r) => r.healed).join('; ');
    lines.push(
      `| ${prepared.get(label)!.keycloakUsers.toLocaleString('en')} (${RECONCILE_SIZES[label].realm}) | ${range(
        reconcile.map((r) => r.seconds),
        (s) => `${number(s)} s`,
      )} | ${range(
        list.map((r) => r.seconds),
        (s) => `${number(s)} s`,
      )} | ${range(
        reconcile.map((r) => r.peakRss),
        mib,
      )} | ${range(
        list.map((r) => r.peakRss),
        mib,
      )} | ${range(
        reconcile.map((r) => r.peakHeapUsed),
        mib,
      )} | ${range(
        list.map((r) => r.peakHeapUsed),
        mib,
      )} | ${mib(median(reconcile.map((r) => r.restRss)))} / ${mib(median(reconcile.map((r) => r.restHeapUsed)))} | ${median(
        reconcile.map((r) => r.usersHeldAtMost),
      ).toLocaleString('en')} | ${healed} |`,
    );
  }
  const [small, big] = options.labels.map((label) => measured.get(label)!.reconcile);
  if (small && big) {
    const ratio = (pick: (r: ReconcileMeasurement) => number) => number(median(big.map(pick)) / median(small.map(pick)));
    lines.push(
      '',
      `From ${options.labels[0]} to ${options.labels[1]} (10× the users): time ${ratio((r) => r.seconds)}×, peak RSS ${ratio((r) => r.peakRss)}×, peak heap used ${ratio((r) => r.peakHeapUsed)}×.`,
    );
  }
  lines.push(
    '',
    `- Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' / ',
      )} at the end (other processes share the machine's cores); Node ${process.version}. This run took ${number((performance.now() - started) / 60_000)} minutes.`,
    `- Each figure is the median of ${rounds} rounds (min–max beside it), the sizes taking turns in each. Every comparison and every listing runs in a new process (bench/scale/reconcile-child.ts) that opens the gateway's database and Keycloak client as a gateway does and then runs the reconciler once through its job (createJobs(...).reconcile(), the pass the job engine's reconciler queue runs): its peak RSS is the kernel's (process.resourceUsage().maxRSS), its peak heap the highest of process.memoryUsage().heapUsed sampled every 20 ms; "at rest" is the same process just before the comparison, its connections open. The baseline beside each comparison is the same process listing Keycloak's users page by page (500 a page, as the comparison reads them) and nothing else: the floor of any comparison that reads Keycloak whole.`,
    `- Data: ${options.labels
      .map((label) => {
        const p = prepared.get(label)!;
        return `${RECONCILE_SIZES[label].realm}: ${p.keycloakUsers.toLocaleString('en')} users in Keycloak, ${p.mirroredUsers.toLocaleString('en')} in ${reconcileDatabase(label)}`;
      })
      .join('; ')}. ${[...prepared.values()].flatMap((p) => p.work).join('; ') || 'Already seeded: nothing to do.'}`,
    `- Logs: ${LOG_DIR}/reconcile-<size>.log.`,
  );
  return lines.join('\n');
}

/**
 * The 100k mirror, filled from the rows bulkUsers wrote in Keycloak's database: reading them
 * through the Admin API (a listing per role and per group, offset pages) and writing them with
 * the outbox's triggers took about ten minutes at 10k on the shared machine, and would take
 * hours at 100k. Only the fixture; the measured comparison reads Keycloak through its API.
 */
async function mirrorFromKeycloakDatabase(keycloakDatabaseUrl: string, realm: string, mirror: pg.Client): Promise<void> {
  const keycloak = new pg.Client({ connectionString: keycloakDatabaseUrl });
  await keycloak.connect();
  try {
    const [realmRow] = (await keycloak.query<{ id: string }>('select id from realm where name = $1', [realm])).rows;
    if (!realmRow) throw new Error(`no realm ${realm} in Keycloak's database`);
    const users = (
      await keycloak.query<{
        id: string;
        username: string;
        email: string | null;
        first_name: string | null;
        last_name: string | null;
        enabled: boolean;
        email_verified: boolean;
        created_timestamp: string;
      }>(
        `select id, username, email, first_name, last_name, enabled, email_verified, created_timestamp from user_entity
          where realm_id = $1 and service_account_client_link is null`,
        [realmRow.id],
      )
    ).rows.map(
      (row): KeycloakUser => ({
        id: row.id,
        username: row.username,
        email: row.email ?? undefined,
        firstName: row.first_name ?? undefined,
        lastName: row.last_name ?? undefined,
        enabled: row.enabled,
        emailVerified: row.email_verified,
        createdTimestamp: Number(row.created_timestamp),
      }),
    );
    const mirroredRoles = new Set((await mirror.query<{ id: string }>('select id from realm_roles')).rows.map((row) => row.id));
    const mirroredGroups = new Set((await mirror.query<{ id: string }>('select id from groups')).rows.map((row) => row.id));
    const pairs = async (sql: string) =>
      (await keycloak.query<{ user_id: string; other: string }>(sql, [realmRow.id])).rows.map((row): [string, string] => [
        row.user_id,
        row.other,
      ]);
    const userRoles = (
      await pairs(
        `select m.user_id, m.role_id as other from user_role_mapping m join user_entity u on u.id = m.user_id where u.realm_id = $1`,
      )
    ).filter(([, role]) => mirroredRoles.has(role));
    const userGroups = (
      await pairs(
        `select m.user_id, m.group_id as other from user_group_membership m join user_entity u on u.id = m.user_id where u.realm_id = $1`,
      )
    ).filter(([, group]) => mirroredGroups.has(group));
    await writeMirror(mirror, users, userRoles, userGroups, true);
  } finally {
    await keycloak.end();
  }
}
