import type { BenchContext } from './context.js';
import { percentile } from './load.js';
import { type Summary, summarize } from './stats.js';

/** p50 and p95 of each side, each the median over the runs (min and max beside it). */
export interface AlternatingResult {
  gateway: { p50: Summary; p95: Summary };
  baseline: { p50: Summary; p95: Summary };
}

/**
 * Times `count` calls through the gateway and `count` of the baseline, one of each in turn,
 * so that whatever else loads the machine weighs on both sides alike; `warmup` of each first,
 * then `ctx.runs` runs. For workloads one call at a time (sign-ups, logins), where Keycloak's
 * own work dominates both sides.
 */
export async function alternating(
  ctx: BenchContext,
  what: { name: string; count: number; warmup: number },
  throughGateway: () => Promise<void>,
  baselineAlone: () => Promise<void>,
): Promise<AlternatingResult> {
  const timed = async (call: () => Promise<void>) => {
    const started = performance.now();
    await call();
    return performance.now() - started;
  };
  for (let i = 0; i < what.warmup; i++) {
    await throughGateway();
    await baselineAlone();
  }
  const gatewayRuns: number[][] = [];
  const baselineRuns: number[][] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    await ctx.progress.step(
      `${what.name}, run ${run}/${ctx.runs}: ${what.count} through the gateway, ${what.count} straight to Keycloak, alternating`,
      async () => {
        const gatewayTimes: number[] = [];
        const baselineTimes: number[] = [];
        for (let i = 0; i < what.count; i++) {
          gatewayTimes.push(await timed(throughGateway));
          baselineTimes.push(await timed(baselineAlone));
        }
        gatewayRuns.push(gatewayTimes.sort((a, b) => a - b));
        baselineRuns.push(baselineTimes.sort((a, b) => a - b));
      },
    );
  }
  const at = (runs: number[][], fraction: number) => summarize(runs.map((times) => percentile(times, fraction)));
  return {
    gateway: { p50: at(gatewayRuns, 0.5), p95: at(gatewayRuns, 0.95) },
    baseline: { p50: at(baselineRuns, 0.5), p95: at(baselineRuns, 0.95) },
  };
}
