import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, WorkloadResult } from '../context.js';
import { LOG_DIR } from '../processes.js';
import { met } from '../report.js';
import { figure, ratio, summarize } from '../stats.js';

const LIMIT_MINUTES = 10;
/** Three runs are skipped for one when they would take longer than this. */
const BUDGET_MINUTES = 20;

interface SuiteRun {
  seconds: number;
  exitCode: number;
  /** The suite's own closing line: `N passed, N failed, N skipped`. */
  summary: string;
}

function runSuite(run: number): Promise<SuiteRun> {
  const logFile = join(LOG_DIR, `test-suite-${run}.log`);
  const log = openSync(logFile, 'w');
  const started = performance.now();
  // Its own realm and database, so that nobody's `npm test` is reset by this one.
  const child = spawn('npm', ['test'], {
    env: { ...process.env, TEST_KEYCLOAK_REALM: 'iam-test-bench', TEST_DATABASE_NAME: 'iam_gateway_test_bench' },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const summary =
        /^(\d+ passed, \d+ failed(?:, \d+ skipped)?)$/m.exec(readFileSync(logFile, 'utf8'))?.[1] ?? `no summary; see ${logFile}`;
      resolve({ seconds, exitCode: code ?? -1, summary });
    });
  });
}

/** Workload 5: wall time of the README's test command, `npm test`. */
export async function testSuiteWorkload(ctx: BenchContext): Promise<WorkloadResult> {
  const runs: SuiteRun[] = [];
  for (let run = 1; run <= ctx.runs; run++) {
    runs.push(await ctx.progress.step(`npm test, run ${run}/${ctx.runs}`, () => runSuite(run)));
    if (run === 1 && (runs[0]!.seconds * ctx.runs) / 60 > BUDGET_MINUTES) break;
  }
  const seconds = summarize(runs.map((r) => r.seconds / 60));
  const once = runs.length === 1 && ctx.runs > 1;
  const workload = '5. Test suite (`npm test`)';
  return {
    rows: [
      {
        workload,
        measure: once ? 'wall time (measured ONCE: 3 runs would exceed 20 minutes)' : 'wall time',
        gateway: figure(seconds, 'min', 2),
        baseline: '—',
        ratio: `${ratio(seconds.median / LIMIT_MINUTES)} of the limit`,
        goal: `≤ ${LIMIT_MINUTES} min`,
        verdict: met(seconds.median <= LIMIT_MINUTES, `${figure(seconds, 'min', 2)}, over ${LIMIT_MINUTES} minutes`),
      },
    ],
    notes: [
      `Workload 5: \`npm test\` (type check, contract check, unit and integration tests against the running Keycloak and PostgreSQL) with ` +
        `TEST_KEYCLOAK_REALM=iam-test-bench and TEST_DATABASE_NAME=iam_gateway_test_bench. Outcome of each run: ` +
        `${runs.map((r, i) => `run ${i + 1}: ${r.summary} (exit ${r.exitCode})`).join('; ')}. The wall time counts whatever the outcome.`,
    ],
  };
}
