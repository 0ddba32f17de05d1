import { describe, expect, inject, it } from 'vitest';
import { startGatewayProcess } from '../support/gateway-process.js';

const config = inject('config');

describe('the gateway process', () => {
  it('stops cleanly on SIGTERM: exit code 0', async () => {
    const gateway = await startGatewayProcess(config);
    expect((await gateway.graphql('{ publicHello }')).data).toBeDefined();

    await gateway.stop();

    expect(await gateway.exited).toBe(0);
    expect(gateway.logs.filter((line) => line.msg === 'stopping')).toEqual([expect.objectContaining({ signal: 'SIGTERM' })]);
  });

  it('stops cleanly when Ctrl-C arrives twice, as npm forwards it to its script once more', async () => {
    const gateway = await startGatewayProcess(config);

    process.kill(gateway.pid, 'SIGINT');
    process.kill(gateway.pid, 'SIGINT');

    // A second signal nobody listened for would have killed it (exit code null, by SIGINT)
    // before it stopped what it started.
    expect(await gateway.exited).toBe(0);
    expect(gateway.logs.filter((line) => line.msg === 'stopping')).toEqual([expect.objectContaining({ signal: 'SIGINT' })]);
  });
});
