import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
export type { DestinationStream, Logger };

/** LOG_LEVEL and LOG_FILE, as src/config.ts reads them. */
export interface LogOptions {
  level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  file?: string;
}

/**
 * What the access line says of a request (src/http/access-log.ts), filled in while it runs.
 * Only ids and codes: never an email, a name or anything the caller sent.
 */
export interface RequestRecord {
  readonly requestId: string;
  /** The GraphQL operation's name, or its root fields when it has none. */
  operation?: string;
  /** The user id of the token's subject; never their email. */
  callerId?: string;
  /** The distinct `extensions.code`s of the answer's errors. */
  errorCodes?: string[];
}

const currentRequest = new AsyncLocalStorage<RequestRecord>();

/**
 * Runs `serve` as the request `record` describes: every line logged until it settles, by
 * whatever code (services, the journal, the error formatter, Apollo), carries its requestId.
 */
export function serveRequest<T>(record: RequestRecord, serve: () => T): T {
  return currentRequest.run(record, serve);
}

/** The request being served, or undefined outside one (start-up, background jobs). */
export function requestRecord(): RequestRecord | undefined {
  return currentRequest.getStore();
}

/**
 * Structured JSON logs to `destination` (stdout unless given: tests capture the lines, and
 * `npm run dev` makes them readable) and, when LOG_FILE is set, to that file too, always as JSON.
 * Secret-bearing keys are censored wherever they appear, as a second line of defence:
 * code should not log them in the first place.
 */
export function createLogger(config: LogOptions, destination: DestinationStream = process.stdout): Logger {
  const options = {
    level: config.level,
    base: { service: 'iam-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // A field of the line itself wins over the mixin's: a line about another request keeps its id.
    mixin: () => {
      const request = currentRequest.getStore();
      return request ? { requestId: request.requestId } : {};
    },
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
  if (!config.file) return pino(options, destination);
  mkdirSync(dirname(config.file), { recursive: true });
  // Each stream of a multistream filters at `info` unless told its level.
  const level = config.level;
  return pino(
    options,
    pino.multistream([
      { level, stream: destination },
      { level, stream: pino.destination({ dest: config.file, sync: false }) },
    ]),
  );
}
