import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
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

describe('listenToChannel', () => {
  it('warns once when it cannot connect, keeps retrying quietly, and never reports listening', async () => {
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
    // Attempts at 0, 0.5, 1.5 and 3.5 s.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await listener.close();

    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(['cannot listen for changes; retrying with backoff']);
    expect(listening).toEqual([]);
  });
});
