/**
 * `npm run bench -- --scale`: the gateway's reads against mirrors of 10,000, 100,000 and
 * 1,000,000 users (bench/scale/mirror.ts), p50 and p99 at one connection, each query's SQL
 * explained, and Keycloak's Admin API at 10,000 users for the same searches beside it.
 * Writes bench/results/<date>-scale.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Progress } from '../../src/stack/progress.js';
import { graphqlData } from '../context.js';
import { tokenRequest } from '../keycloak.js';
import { percentile } from '../load.js';
import { LOG_DIR, runLoad, type ServerProcess, startServer } from '../processes.js';
import { number, ratio, summarize } from '../stats.js';
import { SCALE_ADMIN } from './keycloak.js';
import { prepareScale, type ScaleSetup, scaleDatabase, type SizeLabel, SCALE_REALM } from './seed.js';

const MEASURE_SECONDS = 3;
/** Rounds per figure: the median of each size's rounds is what the table shows. */
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
/** The searches' arguments: selective, common, and one role, group and privilege that exist at every size. */
const EMAIL_FRAGMENT = '.4242@';
const COMMON_FIRST_NAME = 'James';
const ROLE = 'role_scale_05';
const GROUP = 'scale-group-00042';
const PRIVILEGE = 'priv_scale_05';
/** Tables that grow with the directory: a sequential scan of one of them is a plan that does not scale. */
const BIG_TABLES = ['users', 'user_roles', 'user_groups', 'memberships', 'tenants', 'groups', 'audit_events'];

interface Workload {
  name: string;
  query: string;
  variables: (ids: Ids) => Record<string, unknown>;
  /** Why Keycloak is not asked the same question, when it has no equivalent. */
  noKeycloak?: string;
  /** The same question to Keycloak's Admin API, for the 10,000 users of its realm. */
  keycloak?: (ids: KeycloakIds) => string[];
}

interface Ids {
  roleId: string;
  groupId: string;
  privilegeId: string;
}
interface KeycloakIds {
  groupId: string;
}

const NODE = 'id email firstName lastName';
const WORKLOADS: Workload[] = [
  {
    name: '`users(first: 50)` with `totalCount`',
    query: `query { users(first: 50) { totalCount edges { node { ${NODE} } } } }`,
    variables: () => ({}),
    keycloak: () => ['/users?first=0&max=50&briefRepresentation=true', '/users/count'],
  },
  {
    name: `search by a selective email fragment (\`${EMAIL_FRAGMENT}\`)`,
    query: `query($search: String) { users(first: 50, filter: { search: $search }) { edges { node { ${NODE} } } } }`,
    variables: () => ({ search: EMAIL_FRAGMENT }),
    keycloak: () => [`/users?search=${encodeURIComponent(`*${EMAIL_FRAGMENT}*`)}&first=0&max=50&briefRepresentation=true`],
  },
  {
    name: `search by a common first name (\`${COMMON_FIRST_NAME}\`, ~4.6% of users)`,
    query: `query($search: String) { users(first: 50, filter: { search: $search }) { edges { node { ${NODE} } } } }`,
    variables: () => ({ search: COMMON_FIRST_NAME }),
    keycloak: () => [`/users?search=${encodeURIComponent(`*${COMMON_FIRST_NAME}*`)}&first=0&max=50&briefRepresentation=true`],
  },
  {
    name: `filter by role (\`${ROLE}\`, ~4.5% of users)`,
    query: `query($roleId: ID) { users(first: 50, filter: { roleId: $roleId }) { edges { node { ${NODE} } } } }`,
    variables: (ids) => ({ roleId: ids.roleId }),
    keycloak: () => [`/roles/${ROLE}/users?first=0&max=50&briefRepresentation=true`],
  },
  {
    name: `filter by group (\`${GROUP}\`, ~150 members)`,
    query: `query($groupId: ID) { users(first: 50, filter: { groupId: $groupId }) { edges { node { ${NODE} } } } }`,
    variables: (ids) => ({ groupId: ids.groupId }),
    keycloak: (ids) => [`/groups/${ids.groupId}/members?first=0&max=50&briefRepresentation=true`],
  },
  {
    name: `filter by privilege (\`${PRIVILEGE}\`, through roles and groups)`,
    query: `query($privilegeId: ID) { users(first: 50, filter: { privilegeId: $privilegeId }) { edges { node { ${NODE} } } } }`,
    variables: (ids) => ({ privilegeId: ids.privilegeId }),
    noKeycloak: 'no equivalent (Keycloak lists direct holders only)',
  },
  {
    name: 'a page of 50 users with roles, groups and effectivePrivileges',
    query: `query { users(first: 50) { edges { node { ${NODE} roles { id name } groups { id name } effectivePrivileges { id name } } } } }`,
    variables: () => ({}),
  },
  {
    name: '`auditEvents(first: 50)` (10 events per user: 10 million at 1M)',
    query: 'query { auditEvents(first: 50) { edges { node { id at actorId action targetType targetId status } } } }',
    variables: () => ({}),
  },
];

interface Latency {
  p50: number;
  p99: number;
  requests: number;
}
interface Explained {
  sql: string;
  plan: string;
  seqScans: string[];
  /** EXPLAIN ANALYZE's execution time. */
  executionMs: number;
}
interface SizeResult {
  label: SizeLabel;
  users: number;
  events: number;
  latency: Latency[];
  plans: Explained[][];
  /** Each question's request body. */
  bodies: string[];
}

export async function scaleProfile(options: {
  stackEnv: Record<string, string | undefined>;
  labels: SizeLabel[];
  progress: Progress;
}): Promise<string> {
  const { stackEnv, labels, progress } = options;
  const started = performance.now();
  const loadAtStart = loadavg();
  const setup = await prepareScale(stackEnv, labels, progress);
  const results: SizeResult[] = [];
  const prepared: PreparedSize[] = [];
  try {
    for (const label of labels)
      prepared.push(await progress.step(`${scaleDatabase(label)}: gateway, SQL and plans`, () => prepareSize(setup, label)));
    await measureInterleaved(prepared, progress);
  } finally {
    for (const size of prepared) await size.close();
  }
  results.push(...prepared.map((size) => size.result));
  const keycloak = await measureKeycloak(setup, progress);
  const markdown = render(results, keycloak, setup, { started, loadAtStart });
  const directory = join(process.cwd(), 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${new Date().toISOString().slice(0, 10)}-scale.md`);
  writeFileSync(file, markdown);
  process.stdout.write(`\n${markdown}\n`);
  process.stderr.write(`Written to ${file}\n`);
  return file;
}

async function adminToken(setup: ScaleSetup, label: SizeLabel): Promise<string> {
  const config = setup.configOf(label);
  const tokens = await tokenRequest(config.keycloak.url, SCALE_REALM, {
    grant_type: 'password',
    client_id: config.keycloak.apiClientId,
    client_secret: config.keycloak.apiClientSecret,
    username: SCALE_ADMIN.email,
    password: SCALE_ADMIN.password,
  });
  return tokens.access_token;
}

interface PreparedSize {
  result: SizeResult;
  gateway: ServerProcess;
  headers: Record<string, string>;
  close: () => Promise<void>;
}

/** The size's gateway, started and kept running; each question asked once, its SQL captured and explained. */
async function prepareSize(setup: ScaleSetup, label: SizeLabel): Promise<PreparedSize> {
  const config = setup.configOf(label);
  const db = new pg.Client({ connectionString: config.databaseUrl });
  await db.connect();
  // Explained as the gateway runs them: its connections turn JIT compilation off (src/db/orm.ts).
  await db.query('set jit = off');
  const gateway = await startServer('gateway', {
    ...setup.envOf(label),
    APP_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    // No reconciler nor directory sync: the mirror's generated users and groups are not Keycloak's.
    JOBS_ENABLED: 'false',
  });
  try {
    const [counts] = (
      await db.query<{ users: string; events: string }>(
        'select (select count(*) from users) as users, (select count(*) from audit_events) as events',
      )
    ).rows;
    const id = async (name: string, table: 'realm_roles' | 'groups') =>
      (await db.query<{ id: string }>(`select id from ${table} where name = $1`, [name])).rows[0]!.id;
    const ids: Ids = {
      roleId: await id(ROLE, 'realm_roles'),
      groupId: await id(GROUP, 'groups'),
      privilegeId: await id(PRIVILEGE, 'realm_roles'),
    };
    const token = await adminToken(setup, label);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const result: SizeResult = {
      label,
      users: Number(counts!.users),
      events: Number(counts!.events),
      latency: [],
      plans: [],
      bodies: [],
    };
    for (const workload of WORKLOADS) {
      const variables = workload.variables(ids);
      // A sanity check that the gateway answers, and the SQL it sends for the answer.
      await gateway.command('capture-start');
      const data = await graphqlData(gateway.url, workload.query, { token, variables });
      const statements = (await gateway.command('capture-stop')) as string[];
      const listed = Object.values(data)[0] as { edges: unknown[] };
      if (listed.edges.length === 0) throw new Error(`${workload.name} at ${label}: the gateway listed nothing`);
      result.plans.push(await explain(db, statements));
      result.bodies.push(JSON.stringify({ query: workload.query, variables }));
      result.latency.push({ p50: Number.NaN, p99: Number.NaN, requests: 0 });
    }
    return {
      result,
      gateway,
      headers,
      close: async () => {
        await gateway.stop();
        await db.end();
      },
    };
  } catch (error) {
    await gateway.stop();
    await db.end();
    throw error;
  }
}

/**
 * Each question at each size, ROUNDS times, the sizes taking turns within a round: a change of
 * the machine's load then weighs on every size alike rather than on whichever ran last.
 * The figures are the medians of the rounds' p50 and p99.
 */
async function measureInterleaved(sizes: PreparedSize[], progress: Progress): Promise<void> {
  for (const [i, workload] of WORKLOADS.entries()) {
    const runs = new Map<PreparedSize, { p50: number[]; p99: number[] }>(sizes.map((size) => [size, { p50: [], p99: [] }]));
    await progress.step(`${workload.name}: ${ROUNDS} rounds over ${sizes.map((size) => size.result.label).join(', ')}`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        for (const size of sizes) {
          const load = await runLoad({
            url: size.gateway.url,
            body: size.result.bodies[i]!,
            headers: size.headers,
            connections: 1,
            durationSeconds: MEASURE_SECONDS,
            warmupSeconds: WARMUP_SECONDS,
          });
          if (load.failures > 0) throw new Error(`${workload.name} at ${size.result.label}: ${load.failures} failed requests`);
          runs.get(size)!.p50.push(load.p50Ms);
          runs.get(size)!.p99.push(load.p99Ms);
        }
      }
    });
    for (const size of sizes) {
      const { p50, p99 } = runs.get(size)!;
      size.result.latency[i] = { p50: summarize(p50).median, p99: summarize(p99).median, requests: 0 };
    }
  }
}

/** Whether the schema's input type has the field: a workload lights up once its filter is merged. */
/** EXPLAIN (ANALYZE) of each read statement, with the sequential scans of big tables it does. */
async function explain(db: pg.Client, statements: string[]): Promise<Explained[]> {
  const explained: Explained[] = [];
  for (const sql of statements) {
    if (!/^\s*(select|with)\b/i.test(sql)) continue;
    const { rows } = await db.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off, timing on, summary on) ${sql}`);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    const seqScans = [...plan.matchAll(/Seq Scan on (\w+)/g)].map((m) => m[1]!).filter((table) => BIG_TABLES.includes(table));
    const executionMs = Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? Number.NaN);
    explained.push({ sql, plan, seqScans: [...new Set(seqScans)], executionMs });
  }
  return explained;
}

interface KeycloakLatency {
  p50: number;
  p99: number;
}

/** Keycloak's Admin API at 10,000 users: each question's requests one after the other, timed together. */
async function measureKeycloak(setup: ScaleSetup, progress: Progress): Promise<(KeycloakLatency | undefined)[]> {
  const groups = (
    await setup.admin.ok<{ id: string; name: string }[]>('GET', `/groups?search=${GROUP}&exact=true&briefRepresentation=true`)
  ).body;
  const groupId = groups.find((group) => group.name === GROUP)?.id;
  if (!groupId) throw new Error(`Keycloak's scale realm lacks ${GROUP}`);
  const out: (KeycloakLatency | undefined)[] = [];
  for (const workload of WORKLOADS) {
    if (!workload.keycloak) {
      out.push(undefined);
      continue;
    }
    const paths = workload.keycloak({ groupId });
    out.push(
      await progress.step(`Keycloak at 10,000 users: ${workload.name}`, async () => {
        const once = async () => {
          const start = performance.now();
          for (const path of paths) await setup.admin.ok('GET', path);
          return performance.now() - start;
        };
        for (let i = 0; i < 5; i++) await once();
        const times: number[] = [];
        const until = performance.now() + MEASURE_SECONDS * 1000;
        while (performance.now() < until || times.length < 20) times.push(await once());
        times.sort((a, b) => a - b);
        return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
      }),
    );
  }
  return out;
}

const ms = (value: number) => `${number(value)} ms`;

function render(
  results: SizeResult[],
  keycloak: (KeycloakLatency | undefined)[],
  setup: ScaleSetup,
  run: { started: number; loadAtStart: number[] },
): string {
  const sizes = results.map((r) => r.label);
  const first = results[0]!;
  const largest = results.at(-1)!;
  const header = [
    'Workload',
    ...sizes.map((label) => `${label}: p50 / p99`),
    `p50 ${largest.label} ÷ ${first.label}`,
    'Goal ≤ 3×',
    'Keycloak at 10k: p50 / p99',
    `Gateway at ${largest.label} vs Keycloak at 10k (p50)`,
    `In PostgreSQL, ${first.label} / ${largest.label}`,
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  const misses: string[] = [];
  WORKLOADS.forEach((workload, i) => {
    const cells = results.map((r) => {
      const latency = r.latency[i]!;
      return `${ms(latency.p50)} / ${ms(latency.p99)}`;
    });
    const small = first.latency[i]!;
    const big = largest.latency[i]!;
    const factor = big.p50 / small.p50;
    const growth = ratio(factor);
    const verdict = factor <= 3 ? 'met' : '**MISSED**';
    if (factor > 3) misses.push(`${workload.name}: p50 ${ratio(factor)} from ${first.label} to ${largest.label}`);
    const kc = keycloak[i];
    const kcCell = kc ? `${ms(kc.p50)} / ${ms(kc.p99)}` : (workload.noKeycloak ?? '—');
    let versus = '—';
    if (kc) {
      versus = big.p50 < kc.p50 ? `${ratio(kc.p50 / big.p50)} faster: met` : `**MISSED**: ${ratio(big.p50 / kc.p50)} slower`;
      if (big.p50 >= kc.p50) misses.push(`${workload.name}: the gateway at ${largest.label} is slower than Keycloak at 10k`);
    }
    const inDatabase = (r: SizeResult) => (r.plans[i]!.length === 0 ? '—' : ms(r.plans[i]!.reduce((sum, p) => sum + p.executionMs, 0)));
    const sqlCell = `${inDatabase(first)} / ${inDatabase(largest)}`;
    lines.push(
      `| ${[workload.name, ...cells, growth, verdict, kcCell, versus, sqlCell].map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`,
    );
  });

  const seqScans = results.flatMap((r) =>
    WORKLOADS.flatMap((workload, i) =>
      (r.plans[i] ?? []).filter((p) => p.seqScans.length > 0).map((p) => ({ label: r.label, workload: workload.name, explained: p })),
    ),
  );
  const cpu = cpus();
  const minutes = (performance.now() - run.started) / 60_000;
  const out = [
    `## Scale profile, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    ...lines,
    '',
    `- Machine: ${cpu.length} × ${cpu[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB; load average ${run.loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ` +
      `${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' / ',
        )} at the end (other processes share the machine); Node ${process.version}. This run took ${minutes.toFixed(1)} minutes.`,
    `- Data: ${results.map((r) => `${scaleDatabase(r.label)}: ${r.users.toLocaleString('en')} users, ${r.events.toLocaleString('en')} audit events`).join('; ')}. ` +
      'Generated by bench/scale/mirror.ts (30 roles, users/100 groups with subgroups, users/50 tenants, skewed first names). ' +
      (setup.work.length > 0 ? `Seeded in this run: ${setup.work.join('; ')}.` : 'Already seeded: nothing to do.'),
    `- Gateway: one process as \`npm start\` runs it (APP_ENV=production, jobs off), realm ${SCALE_REALM}, caller ${SCALE_ADMIN.email} (role_admin); ` +
      `each figure the median of ${ROUNDS} rounds, the sizes taking turns in each, of ${MEASURE_SECONDS} s of requests one after the other (1 connection, autocannon) after ${WARMUP_SECONDS} s of warm-up. ` +
      'Beside the requests, the time PostgreSQL spends on the question (EXPLAIN ANALYZE of every statement the gateway sent for it, summed): the figure the load of the machine moves least. ' +
      "Keycloak: its Admin API for the realm's 10,000 users, as the master admin, each question's requests in sequence (the list is a page and a count), " +
      `${MEASURE_SECONDS} s after 5 warm-up questions. Logs: ${LOG_DIR}.`,
    misses.length > 0 ? `- Misses: ${misses.join('; ')}.` : '- Every goal met.',
    '',
    '### Plans that read a big table sequentially',
    '',
    seqScans.length === 0
      ? 'None: every statement of every workload reads the tables that grow through an index, at every size.'
      : seqScans
          .map(
            ({ label, workload, explained }) =>
              `- ${label}, ${workload}: \`Seq Scan\` on ${explained.seqScans.join(', ')}\n\n\`\`\`sql\n${explained.sql}\n\`\`\`\n\n\`\`\`\n${explained.plan}\n\`\`\``,
          )
          .join('\n\n'),
    '',
    `### Plans at ${largest.label} (EXPLAIN ANALYZE of the statements the gateway sent)`,
    '',
    ...WORKLOADS.flatMap((workload, i) => [
      `<details><summary>${workload.name}</summary>`,
      '',
      ...largest.plans[i]!.flatMap((p) => ['```sql', p.sql, '```', '', '```', p.plan, '```', '']),
      '</details>',
      '',
    ]),
  ];
  return out.join('\n');
}
