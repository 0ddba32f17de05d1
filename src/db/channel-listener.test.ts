import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listenToChannel } from './channel-listener.js';

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** Resolves once the listener's failed attempt has scheduled the next one (I/O turns, no timers). */
async function retryScheduled(): Promise<void> {
  while (vi.getTimerCount() === 0) await new Promise((resolve) => setImmediate(resolve));
}

describe('listenToChannel', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('warns once when it cannot connect, keeps retrying quietly, and never reports listening', async () => {
    // The retries' clock is the test's; the refused connections are real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { log, lines } = capturingLogger();
    const listening: boolean[] = [];
    // Nothing listens on port 1: every attempt is refused at once.
    const listener = listenToChannel({
      databaseUrl: 'postgres://127.0.0.1:1/none',
      channel: 'users_changed',
      onMessage: () => {},
      onListening: (value) => listening.push(value),
      log,
    });
    // Four attempts, 0.5, 1 and 2 s apart: each waits until the one before failed and scheduled it.
    for (const wait of [500, 1_000, 2_000]) {
      await retryScheduled();
      vi.advanceTimersByTime(wait);
    }
    await retryScheduled();
    await listener.close();

    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(['cannot listen for changes; retrying with backoff']);
    expect(listening).toEqual([]);
  });
});
