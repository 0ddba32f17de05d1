/**
 * The gateway process: configuration from the environment, backends prepared, HTTP
 * served until SIGTERM or SIGINT, then a clean stop.
 */
import { createApp, prepareBackends, type AppOptions } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type DestinationStream } from './logger.js';

/** What closing the backends may take after the requests' deadline, before the process gives up on them. */
const BACKENDS_CLOSE_MS = 5000;

/**
 * Runs the gateway with a loaded configuration; `onStop` runs after the gateway closed.
 * `ide` and `logDestination` (readable lines instead of JSON) are for `npm run dev`
 * (src/dev.ts): this entry imports nothing of development's.
 */
export async function runGateway(
  config: Config,
  onStop: () => Promise<void> = async () => {},
  options: Pick<AppOptions, 'ide'> & { logDestination?: DestinationStream } = {},
): Promise<void> {
  const log = createLogger(config.log, options.logDestination);
  await prepareBackends(config, log);
  const app = await createApp(config, { log, ide: options.ide });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // A backend that never answers (a query that hangs) must not keep the process: the
    // orchestrator would kill it anyway, without the line saying why.
    const { drainSeconds, timeoutSeconds } = config.shutdown;
    setTimeout(
      () => {
        log.error({ drainSeconds, timeoutSeconds }, 'the gateway did not stop in time; exiting');
        process.exit(1);
      },
      (drainSeconds + timeoutSeconds) * 1000 + BACKENDS_CLOSE_MS,
    ).unref();
    let exitCode = 0;
    try {
      await app.close();
    } catch (error) {
      log.error({ err: error }, 'the gateway did not close cleanly');
      exitCode = 1;
    }
    // Whatever happened above, the servers the stack started must not outlive it.
    await onStop();
    process.exit(exitCode);
  };
  // Not `once`: a second Ctrl-C, or a signal a library raises again, would otherwise kill
  // the process before it stopped what it started (Keycloak, PostgreSQL).
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // Only once it can be stopped: whoever reads this line may signal at once.
  const url = await app.listen();
  log.info({ url, environment: config.environment }, 'gateway listening');
}

/** Prints a configuration or start-up problem as a person reads it, then exits. */
export function exitWithProblem(error: unknown): never {
  process.stderr.write(`\n${error instanceof Error ? error.message : String(error)}\n`);
  if (!(error instanceof ConfigError) && error instanceof Error && error.name !== 'StackError') {
    process.stderr.write(`${error.stack ?? ''}\n`);
  }
  process.exit(1);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    await runGateway(loadConfig());
  } catch (error) {
    exitWithProblem(error);
  }
}
