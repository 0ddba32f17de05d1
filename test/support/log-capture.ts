import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogOptions } from '../../src/logger.js';

export type LogLine = Record<string, unknown> & { level: number; msg: string };

export interface CapturedLog {
  /** A logger whose lines, JSON as in production, land in `lines` instead of stdout. */
  log: Logger;
  readonly lines: LogLine[];
  /** The lines that carry this request id. */
  of(requestId: string): LogLine[];
}

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** The gateway's own logger (src/logger.ts), writing into memory: what a test reads is what production writes. */
export function captureLog(level: LogOptions['level'] = 'info'): CapturedLog {
  const lines: LogLine[] = [];
  let pending = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString('utf8');
      const complete = pending.split('\n');
      pending = complete.pop()!;
      for (const line of complete) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return {
    log: createLogger({ level }, destination),
    lines,
    of: (requestId) => lines.filter((line) => line.requestId === requestId),
  };
}
