import { isDeepStrictEqual } from 'node:util';
import type { KeycloakProxy } from '../../test/support/keycloak-proxy.js';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import type { LoadResult } from '../load.js';
import { measureLoad, runLoad, type MeasuredLoad, type ServerProcess } from '../processes.js';
import { met, type Row } from '../report.js';
import { figure, number, ratio, summarize, type Summary } from '../stats.js';
import { benchAdminToken } from './me.js';

export const USERS = /* GraphQL */ `
  query Users($first: Int) {
    users(first: $first) {
      pageInfo { hasNextPage endCursor }
      edges {
        node {
          id email firstName lastName enabled
          roles { id name privileges { id name } }
          groups { id name roles { id name } }
          effectivePrivileges { id name }
        }
      }
    }
  }
`;
const PAGE = 100;
const DURATION_SECONDS = 5;
const WARMUP_SECONDS = 2;
/** Pages the Keycloak baseline assembles per run: each takes about a second. */
const KEYCLOAK_PAGES: Record<number, number> = { 1: 5, 10: 20 };

interface UsersPage {
  users: {
    pageInfo: Record<string, unknown>;
    edges: { node: Record<string, unknown> & { id: string; email: string } }[];
  };
}

/** How many differences a failed comparison lists: the first few tell what went wrong. */
const DIFFERENCES_SHOWN = 10;

/**
 * Where the gateway's answer to USERS and (a)'s part, one line per user and field (the user
 * named by position, email and id), the first DIFFERENCES_SHOWN of them: empty when they agree.
 */
function pageDifferences(gateway: UsersPage, handWritten: UsersPage): string[] {
  const shown = (value: unknown) => JSON.stringify(value);
  const found: string[] = [];
  for (const key of new Set([...Object.keys(gateway.users.pageInfo), ...Object.keys(handWritten.users.pageInfo)])) {
    const [g, a] = [gateway.users.pageInfo[key], handWritten.users.pageInfo[key]];
    if (!isDeepStrictEqual(g, a)) found.push(`pageInfo.${key}: gateway ${shown(g)}, (a) ${shown(a)}`);
  }
  const [g, a] = [gateway.users.edges, handWritten.users.edges];
  if (g.length !== a.length) found.push(`edges: the gateway lists ${g.length} users, (a) ${a.length}`);
  for (let i = 0; i < Math.min(g.length, a.length); i++) {
    const [ours, theirs] = [g[i]!.node, a[i]!.node];
    if (ours.id !== theirs.id) {
      found.push(`user ${i + 1}: the gateway lists ${ours.email} (${ours.id}), (a) ${theirs.email} (${theirs.id})`);
      continue;
    }
    for (const field of new Set([...Object.keys(ours), ...Object.keys(theirs)])) {
      if (!isDeepStrictEqual(ours[field], theirs[field]))
        found.push(`user ${i + 1} ${ours.email} (${ours.id}), ${field}: gateway ${shown(ours[field])}, (a) ${shown(theirs[field])}`);
    }
  }
  return found.length > DIFFERENCES_SHOWN
    ? [...found.slice(0, DIFFERENCES_SHOWN), `… and ${found.length - DIFFERENCES_SHOWN} more`]
    : found;
}

interface Figures {
  rps: Summary;
  p50: Summary;
  p99: Summary;
  cpu: Summary;
}

function figures(runs: LoadResult[]): Figures {
  return {
    rps: summarize(runs.map((r) => r.requestsPerSecond)),
    p50: summarize(runs.map((r) => r.p50Ms)),
    p99: summarize(runs.map((r) => r.p99Ms)),
    cpu: summarize(runs.map((r) => ('serverCpuMs' in r ? (r as MeasuredLoad).serverCpuMs : Number.NaN))),
  };
}

/**
 * Workload 2: a page of 100 users with roles and their privileges, groups and their roles,
 * and effective privileges, beside (a) a hand-written pg + DataLoader server and (b) the
 * same page assembled from Keycloak's Admin API.
 */
export async function usersWorkload(
  ctx: BenchContext,
  servers: { gateway: ServerProcess; handWritten: ServerProcess; keycloakAdmin: ServerProcess },
  proxy: KeycloakProxy,
): Promise<WorkloadResult> {
  const { gateway, handWritten, keycloakAdmin } = servers;
  const token = await benchAdminToken(ctx);
  const auth = { authorization: `Bearer ${token}` };

  // The same question must get the same answer from the gateway and from (a).
  const fromGateway = await graphqlData<UsersPage>(gateway.url, USERS, { token, variables: { first: PAGE } });
  const fromHandWritten = await graphqlData<UsersPage>(handWritten.url, USERS, { variables: { first: PAGE } });
  if (fromGateway.users.edges.length !== PAGE) throw new Error(`the gateway listed ${fromGateway.users.edges.length} users, not ${PAGE}`);
  const differences = pageDifferences(fromGateway, fromHandWritten);
  if (differences.length > 0)
    throw new Error(`the gateway and the hand-written server answer the same page differently: ${differences.join('\n')}`);
  const fromKeycloak = await graphqlData(keycloakAdmin.url, USERS, { variables: { first: PAGE } });
  if (fromKeycloak.users.edges.length !== PAGE) throw new Error(`the Keycloak baseline listed ${fromKeycloak.users.edges.length} users`);

  // SQL statements per request, counted inside each server process.
  const statements = async (server: ServerProcess, first: number, withToken: boolean) => {
    await server.command('count-start');
    await graphqlData(server.url, USERS, { token: withToken ? token : undefined, variables: { first } });
    return Number(await server.command('count-stop'));
  };
  const counted = {
    gateway: { 10: await statements(gateway, 10, true), 100: await statements(gateway, 100, true) },
    handWritten: { 10: await statements(handWritten, 10, false), 100: await statements(handWritten, 100, false) },
  };

  const body = JSON.stringify({ query: USERS, variables: { first: PAGE } });
  const headers = { 'content-type': 'application/json' };
  const callsBefore = proxy.requests.length;
  const results: Record<number, { gateway: LoadResult[]; handWritten: LoadResult[]; keycloak: LoadResult[] }> = {};
  for (const connections of [1, 10]) {
    const runs = { gateway: [] as LoadResult[], handWritten: [] as LoadResult[], keycloak: [] as LoadResult[] };
    results[connections] = runs;
    for (let run = 1; run <= ctx.runs; run++) {
      await ctx.progress.step(
        `users(first: ${PAGE}), ${connections} connection(s), run ${run}/${ctx.runs}: gateway, (a), (b)`,
        async () => {
          for (const [server, extra, into] of [
            [gateway, auth, runs.gateway],
            [handWritten, {}, runs.handWritten],
          ] as const) {
            const load = { url: server.url, body, headers: { ...headers, ...extra }, connections, warmupSeconds: 0 };
            await runLoad({ ...load, durationSeconds: WARMUP_SECONDS });
            into.push(await measureLoad(server, { ...load, durationSeconds: DURATION_SECONDS }));
          }
          runs.keycloak.push(
            await runLoad({
              url: keycloakAdmin.url,
              body,
              headers,
              connections,
              warmupSeconds: 0,
              durationSeconds: 0,
              amount: KEYCLOAK_PAGES[connections],
            }),
          );
        },
      );
    }
  }
  const keycloakCalls = proxy.requests.length - callsBefore;

  const rows: Row[] = [];
  const workload = '2. `users(first: 100)` with roles, groups, effective privileges';
  for (const connections of [1, 10]) {
    const g = figures(results[connections]!.gateway);
    const a = figures(results[connections]!.handWritten);
    const b = figures(results[connections]!.keycloak);
    const vsA = g.rps.median / a.rps.median;
    const vsB = g.rps.median / b.rps.median;
    const at = `${connections} connection${connections === 1 ? '' : 's'}`;
    rows.push(
      {
        workload,
        measure: `requests/s, ${at}, vs (a)`,
        gateway: figure(g.rps),
        baseline: `${figure(a.rps)} (a)`,
        ratio: ratio(vsA),
        goal: '≥ 0.8× (a)',
        verdict: met(vsA >= 0.8, `the gateway answers ${ratio(vsA)} of (a)'s requests/s at ${at}, below 0.8×`),
      },
      {
        workload,
        measure: `p50 / p99 latency, ${at}, vs (a)`,
        gateway: `${figure(g.p50, 'ms')} / ${figure(g.p99, 'ms')}`,
        baseline: `${figure(a.p50, 'ms')} / ${figure(a.p99, 'ms')} (a)`,
        ratio: `${ratio(g.p50.median / a.p50.median)} / ${ratio(g.p99.median / a.p99.median)}`,
        goal: '',
        verdict: '',
      },
      {
        workload,
        measure: `server CPU time per request, ${at}, vs (a)`,
        gateway: figure(g.cpu, 'ms'),
        baseline: `${figure(a.cpu, 'ms')} (a)`,
        ratio: ratio(g.cpu.median / a.cpu.median),
        goal: '',
        verdict: '',
      },
      {
        workload,
        measure: `requests/s, ${at}, vs (b)`,
        gateway: figure(g.rps),
        baseline: `${figure(b.rps)} (b)`,
        ratio: `${ratio(vsB)} faster`,
        goal: '≥ 100× faster than (b)',
        verdict: met(
          vsB >= 100,
          `the gateway is only ${ratio(vsB)} faster than Keycloak's Admin API at ${at}; the hand-written floor (a) itself is ${ratio(a.rps.median / b.rps.median)} faster`,
        ),
      },
      {
        workload,
        measure: `p50 / p99 latency, ${at}, vs (b)`,
        gateway: `${figure(g.p50, 'ms')} / ${figure(g.p99, 'ms')}`,
        baseline: `${figure(b.p50, 'ms')} / ${figure(b.p99, 'ms')} (b)`,
        ratio: `${ratio(b.p50.median / g.p50.median)} faster at p50`,
        goal: '',
        verdict: '',
      },
    );
  }
  const equal = counted.gateway[10] === counted.gateway[100];
  rows.push({
    workload,
    measure: 'SQL statements per request, page of 10 / 100',
    gateway: `${counted.gateway[10]} / ${counted.gateway[100]}`,
    baseline: `${counted.handWritten[10]} / ${counted.handWritten[100]} (a)`,
    ratio: '—',
    goal: 'equal for 10 and 100',
    verdict: met(equal, `the gateway runs ${counted.gateway[10]} statements for 10 users but ${counted.gateway[100]} for 100`),
  });
  rows.push({
    workload,
    measure: 'Keycloak calls during all users runs',
    gateway: number(keycloakCalls, 0),
    baseline: '≈ 370 per page (b)',
    ratio: '—',
    goal: '',
    verdict: '',
  });
  const failures = Object.values(results)
    .flatMap((r) => [...r.gateway, ...r.handWritten, ...r.keycloak])
    .reduce((sum, r) => sum + r.failures, 0);
  return {
    rows,
    notes: [
      `Workload 2: the query asks each of ${PAGE} users for id, email, names, enabled, roles { id name privileges { id name } }, ` +
        `groups { id name roles { id name } } and effectivePrivileges { id name }; the gateway and (a) answered it identically at the sanity check. ` +
        `Gateway and (a): ${WARMUP_SECONDS} s warm-up, then ${DURATION_SECONDS} s per run. (a) is bench/servers/pg-dataloader.ts: graphql-js over node:http, ` +
        `DataLoaders over plain \`pg\` rows, the gateway's SQL, no permissions or tokens. (b) is bench/servers/keycloak-admin.ts: ` +
        `the page from Keycloak's Admin API, users one after the other as a backend without a mirror does (list; then per user role mappings, groups, ` +
        `effective roles; each role's privileges and each group's roles once per page), measured over ${KEYCLOAK_PAGES[1]} pages at 1 connection ` +
        `and ${KEYCLOAK_PAGES[10]} at 10. ${failures} failed requests in all runs.`,
    ],
  };
}
