import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { freePort } from '../stack/free-port.js';
import { createJobEngine } from './job-engine.js';

describe('the job engine', () => {
  it('takes a queue off work and stops while PostgreSQL refuses its start, without waiting out the retries', async () => {
    // Nothing listens on this port: every attempt to start is refused, and pg-boss would try
    // again for hours. A stop waiting for the start held a gateway's close as long.
    const databaseUrl = `postgres://nobody@127.0.0.1:${await freePort()}/nothing`;
    const engine = createJobEngine({ databaseUrl, log: createLogger({ level: 'silent' }), runsJobs: true });
    const start = engine.start().then(
      () => 'started',
      () => 'gave up',
    );

    await engine.offWork('any-queue');
    await engine.stop();
    expect(await start).toBe('gave up');
    // Sending after the stop queues nothing, and does not start it again.
    expect(await engine.send('any-queue', null)).toBeNull();
  });
});
