import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DestinationStream, pino, type Logger } from 'pino';
export type { Logger };

/** LOG_LEVEL and LOG_FILE, as src/config.ts reads them. */
export interface LogOptions {
  level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  file?: string;
}

/**
 * Structured JSON logs to stdout and, when LOG_FILE is set, to that file too.
 * Secret-bearing keys are censored wherever they appear, as a second line of defence:
 * code should not log them in the first place.
 */
export function createLogger(config: LogOptions, destination?: DestinationStream): Logger {
  const options = {
    level: config.level,
    base: { service: 'iam-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        'secret',
        'token',
        'accessToken',
        'refreshToken',
        'authorization',
        '*.password',
        '*.secret',
        '*.token',
        '*.accessToken',
        '*.refreshToken',
        '*.authorization',
        '*.headers.authorization',
      ],
      censor: '[redacted]',
    },
  };
  // A test reads what would be logged, redaction included.
  if (destination) return pino(options, destination);
  if (!config.file) return pino(options);
  mkdirSync(dirname(config.file), { recursive: true });
  return pino(options, pino.multistream([{ stream: process.stdout }, { stream: pino.destination({ dest: config.file, sync: false }) }]));
}
