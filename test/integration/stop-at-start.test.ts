import { it } from 'vitest';
import { startTestGateway } from '../support/gateway.js';

// A gateway stopped as soon as it started finds its background work (the outbox relay's first
// run, the listeners still connecting) under way. Stopping under a relay run once left its
// connection held and the stop waiting for it forever: this test then runs into its timeout.
it('stops when stopped as soon as it started, again and again', { timeout: 120_000 }, async () => {
  for (let round = 0; round < 10; round++) {
    const gateway = await startTestGateway();
    await gateway.close();
  }
});
