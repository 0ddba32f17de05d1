import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createJobEngine, type JobEngine } from '../../src/jobs/job-engine.js';
import { createLogger } from '../../src/logger.js';

// The job engine on the shared database's pg-boss, each test with a queue of its own name:
// no gateway works a queue it does not know.
const engines: JobEngine[] = [];
const engine = () => {
  const created = createJobEngine({ databaseUrl: inject('config').databaseUrl, log: createLogger({ level: 'silent' }), runsJobs: true });
  engines.push(created);
  return created;
};
afterEach(async () => {
  await Promise.all(engines.splice(0).map((each) => each.stop()));
});

describe('the job engine on PostgreSQL', () => {
  it('brings a periodic run queued for later than its interval forward, so that the shortest interval holds', async () => {
    const queue = `probe-${randomUUID().slice(0, 8)}`;
    // A process configured with an hour's interval queued the first run an hour away.
    const hourly = engine();
    hourly.periodic(queue, { intervalSeconds: 3600, firstDelaySeconds: 3600 }, async () => {});
    await hourly.start();
    await hourly.stop();

    // A process with a one-second interval finds that run waiting and brings it forward.
    let runs = 0;
    const everySecond = engine();
    everySecond.periodic(queue, { intervalSeconds: 1, firstDelaySeconds: 1 }, async () => {
      runs++;
    });
    await everySecond.start();
    await expect.poll(() => runs, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
  });
});
