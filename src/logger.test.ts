import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, serveRequest, type LogOptions } from './logger.js';

function capture(options: LogOptions) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger(options, destination), lines };
}

describe('createLogger', () => {
  let folder: string | undefined;
  afterEach(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('gives every line written while a request is served its id, across awaits, and none outside', async () => {
    const { log, lines } = capture({ level: 'info' });

    await serveRequest({ requestId: 'req-1' }, async () => {
      log.info('before');
      await nextTurn();
      log.child({ component: 'jobs' }).warn('after an await, through a child');
      log.info({ requestId: 'other' }, 'about another request');
    });
    log.info('outside');

    expect(lines.map(({ msg, requestId }) => [msg, requestId])).toEqual([
      ['before', 'req-1'],
      ['after an await, through a child', 'req-1'],
      ['about another request', 'other'],
      ['outside', undefined],
    ]);
  });

  it('writes LOG_FILE at LOG_LEVEL too: debug lines are not lost to the file', async () => {
    folder = mkdtempSync(join(tmpdir(), 'logger-'));
    const file = join(folder, 'gateway.log');
    const { log, lines } = capture({ level: 'debug', file });

    log.debug('a debug line');

    expect(lines.map((line) => line.msg)).toEqual(['a debug line']);
    // The file is written asynchronously.
    await expect.poll(() => (existsSync(file) ? readFileSync(file, 'utf8') : '')).toContain('"msg":"a debug line"');
  });
});
