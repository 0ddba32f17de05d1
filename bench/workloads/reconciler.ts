import pg from 'pg';
import type { BenchContext, WorkloadResult } from '../context.js';
import { percentileOf } from '../load.js';
import { met } from '../report.js';
import { seedUserEmail } from '../seed.js';
import { number } from '../stats.js';

const SAMPLES = 10;
/** How often the bench looks at the mirror while it waits: the figures' resolution. */
const POLL_MS = 50;
const GOAL_MS = 5000;

/**
 * Workload 9: a change made in Keycloak's admin API, as its console makes it, reaching the
 * gateway's mirror through Keycloak's admin events (read every ADMIN_EVENTS_INTERVAL_SECONDS,
 * 2 s by default), with the full comparison an hour away so that it cannot be the cause.
 * The time runs from the console's request to the mirror showing the change. Baseline: the
 * console's request itself (Keycloak saving the change), the floor of any reaction to it.
 * A gateway must be running with its jobs on (bench/run.ts starts one).
 */
export async function reconcilerWorkload(ctx: BenchContext): Promise<WorkloadResult> {
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  try {
    const [user] = (await ctx.admin.ok<{ id: string }[]>('GET', `/users?email=${encodeURIComponent(seedUserEmail(2))}&exact=true`)).body;
    if (!user) throw new Error('the bench user is not in Keycloak: run the seed');
    const mirrored = async () =>
      (await db.query<{ first_name: string }>('select first_name from users where id = $1', [user.id])).rows[0]?.first_name;
    const latencies: number[] = [];
    const saves: number[] = [];
    await ctx.progress.step(`reconciler: ${SAMPLES} changes made in Keycloak, until the mirror shows each`, async () => {
      for (let n = 0; n < SAMPLES; n++) {
        const firstName = `Console ${n} ${Date.now()}`;
        const started = performance.now();
        await ctx.admin.ok('PUT', `/users/${user.id}`, { firstName });
        saves.push(performance.now() - started);
        const deadline = started + 60_000;
        while ((await mirrored()) !== firstName) {
          if (performance.now() > deadline) throw new Error('a change made in Keycloak did not reach the mirror within 60 s');
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        latencies.push(performance.now() - started);
      }
    });
    const p50 = percentileOf(latencies, 50);
    const max = Math.max(...latencies);
    const workload = '9. Reconciler';
    return {
      rows: [
        {
          workload,
          measure: `Keycloak console → mirror, p50 / max (${SAMPLES} changes)`,
          gateway: `${number(p50 / 1000)} / ${number(max / 1000)} s`,
          baseline: `${number(percentileOf(saves, 50))} ms (Keycloak saving the change)`,
          ratio: '—',
          goal: '≤ 5 s',
          verdict: met(max <= GOAL_MS, `${number(max / 1000)} s at worst`),
        },
      ],
      notes: [
        `Workload 9: changes of one seeded user's first name through Keycloak's admin API, one at a time; the gateway reads Keycloak's admin events every 2 s (its default) and its full comparison is an hour away. The bench looks at the mirror every ${POLL_MS} ms.`,
      ],
    };
  } finally {
    await db.end();
  }
}
