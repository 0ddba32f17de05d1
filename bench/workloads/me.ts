import type { KeycloakProxy } from '../../test/support/keycloak-proxy.js';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import { tokenRequest } from '../keycloak.js';
import { measureLoad, runLoad, type MeasuredLoad, type ServerProcess } from '../processes.js';
import { met } from '../report.js';
import { BENCH_ADMIN } from '../seed.js';
import { figure, ratio, summarize } from '../stats.js';

export const ME = 'query Me { me { user { id email firstName lastName } roles privileges } }';
const HELLO = '{ hello }';
const CONNECTIONS = 10;
const DURATION_SECONDS = 10;
const WARMUP_SECONDS = 3;

/** The bench admin's access token, from Keycloak's token endpoint as any client gets one. */
export async function benchAdminToken(ctx: BenchContext): Promise<string> {
  const { apiClientId, apiClientSecret } = ctx.config.keycloak;
  const tokens = await tokenRequest(ctx.keycloak.url, ctx.keycloak.realm, {
    grant_type: 'password',
    client_id: apiClientId,
    client_secret: apiClientSecret,
    username: BENCH_ADMIN.email,
    password: BENCH_ADMIN.password,
  });
  return tokens.access_token;
}

/**
 * Workload 1: authenticated `me` at 10 connections for 10 s, beside a bare Apollo Server 5.
 * Every request makes the revocation check (src/admission.ts: the caller's mirror record and
 * effective roles, from the process's cache that PostgreSQL's announcements keep fresh), as
 * `me` and every rule ask for the admitted caller: so this is `me` with the check.
 */
export async function meWorkload(
  ctx: BenchContext,
  gateway: ServerProcess,
  bare: ServerProcess,
  proxy: KeycloakProxy,
): Promise<WorkloadResult> {
  const token = await benchAdminToken(ctx);
  const me = await graphqlData(gateway.url, ME, { token });
  if (me.me.user.email !== BENCH_ADMIN.email) throw new Error(`me answered ${JSON.stringify(me)}`);
  const hello = await graphqlData(bare.url, HELLO);
  if (hello.hello !== 'world') throw new Error(`the bare Apollo server answered ${JSON.stringify(hello)}`);
  const callsBefore = proxy.requests.length;

  const load = (server: ServerProcess, query: string, headers: Record<string, string>) => ({
    url: server.url,
    body: JSON.stringify({ query }),
    headers: { 'content-type': 'application/json', ...headers },
    connections: CONNECTIONS,
    warmupSeconds: 0,
  });
  const gatewayLoad = load(gateway, ME, { authorization: `Bearer ${token}` });
  const bareLoad = load(bare, HELLO, {});

  const gatewayRuns: MeasuredLoad[] = [];
  const bareRuns: MeasuredLoad[] = [];
  const keycloakCalls: number[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    await ctx.progress.step(
      `me, run ${run}/${ctx.runs}: gateway then bare Apollo, ${CONNECTIONS} connections, ${DURATION_SECONDS} s each`,
      async () => {
        await runLoad({ ...gatewayLoad, durationSeconds: WARMUP_SECONDS });
        const before = proxy.requests.length;
        gatewayRuns.push(await measureLoad(gateway, { ...gatewayLoad, durationSeconds: DURATION_SECONDS }));
        keycloakCalls.push(proxy.requests.length - before);
        await runLoad({ ...bareLoad, durationSeconds: WARMUP_SECONDS });
        bareRuns.push(await measureLoad(bare, { ...bareLoad, durationSeconds: DURATION_SECONDS }));
      },
    );
  }

  const rps = summarize(gatewayRuns.map((r) => r.requestsPerSecond));
  const bareRps = summarize(bareRuns.map((r) => r.requestsPerSecond));
  const p50 = summarize(gatewayRuns.map((r) => r.p50Ms));
  const bareP50 = summarize(bareRuns.map((r) => r.p50Ms));
  const p99 = summarize(gatewayRuns.map((r) => r.p99Ms));
  const bareP99 = summarize(bareRuns.map((r) => r.p99Ms));
  const cpu = summarize(gatewayRuns.map((r) => r.serverCpuMs * 1000));
  const bareCpu = summarize(bareRuns.map((r) => r.serverCpuMs * 1000));
  const calls = summarize(keycloakCalls);
  const failures = [...gatewayRuns, ...bareRuns].reduce((sum, r) => sum + r.failures, 0);
  const throughput = rps.median / bareRps.median;
  const workload = '1. Authenticated `me` (revocation check included)';
  return {
    rows: [
      {
        workload,
        measure: `requests/s (${CONNECTIONS} connections, ${DURATION_SECONDS} s)`,
        gateway: figure(rps),
        baseline: `${figure(bareRps)} (bare Apollo)`,
        ratio: ratio(throughput),
        goal: '≥ 0.9× baseline',
        verdict: met(throughput >= 0.9, `the gateway answers ${ratio(throughput)} of bare Apollo's requests/s, below 0.9×`),
      },
      {
        workload,
        measure: 'p50 latency',
        gateway: figure(p50, 'ms'),
        baseline: figure(bareP50, 'ms'),
        ratio: ratio(p50.median / bareP50.median),
        goal: '',
        verdict: '',
      },
      {
        workload,
        measure: 'p99 latency',
        gateway: figure(p99, 'ms'),
        baseline: figure(bareP99, 'ms'),
        ratio: ratio(p99.median / bareP99.median),
        goal: '≤ 10 ms',
        verdict: met(p99.median <= 10, `p99 is ${figure(p99, 'ms')}, above 10 ms`),
      },
      {
        workload,
        measure: 'server CPU time per request',
        gateway: figure(cpu, 'µs', 0),
        baseline: figure(bareCpu, 'µs', 0),
        ratio: ratio(cpu.median / bareCpu.median),
        goal: '',
        verdict: '',
      },
      {
        workload,
        measure: `Keycloak calls during the measured ${DURATION_SECONDS} s`,
        gateway: figure(calls, '', 0),
        baseline: '—',
        ratio: '—',
        goal: '0',
        verdict: met(calls.max === 0, `the gateway called Keycloak ${calls.max} times while serving \`me\``),
      },
    ],
    notes: [
      `Workload 1: \`${ME}\` with the bench admin's access token, against \`{ hello }\` on Apollo Server 5's standalone server with a constant resolver; ` +
        `${WARMUP_SECONDS} s of warm-up before each ${DURATION_SECONDS} s run; ${failures} failed requests in all runs. ` +
        "Each request includes the revocation check (src/admission.ts): the caller's mirror record and effective roles, answered from the " +
        "process's cache (filled by the first request, emptied by PostgreSQL's announcements of a change), as in production. " +
        `Keycloak calls are counted by a proxy the gateway is pointed at (test/support/keycloak-proxy.ts); over the whole workload, ` +
        `warm-ups included, it saw ${proxy.requests.length - callsBefore} (the first token's key-set fetch happened before, at the sanity check).`,
    ],
  };
}
