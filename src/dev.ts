/**
 * `npm run dev`: the local stack (PostgreSQL, Keycloak, SMTP catcher; reused when
 * running, started when not) and then the gateway, in development mode.
 */
import { PinoPretty } from 'pino-pretty';
import { loadConfig } from './config.js';
import { createGraphiql, prepareGraphiql } from './ide.js';
import { exitWithProblem, runGateway } from './main.js';
import { terminalProgress } from './stack/progress.js';
import { startStack } from './stack/stack.js';

const progress = terminalProgress();
const started = performance.now();
// Ctrl-C before the gateway listens (Keycloak's first start takes a minute): stop what the
// stack started instead of dying and leaving it running. Once listening, the gateway's own
// handlers stop everything.
const interrupted = new AbortController();
process.on('SIGINT', () => interrupted.abort());
process.on('SIGTERM', () => interrupted.abort());
try {
  const stack = await startStack({ env: process.env, database: 'iam_gateway', progress, signal: interrupted.signal });
  const config = loadConfig(stack.env);
  await progress
    .step('Gateway', () => runGateway(config, stack.stop, { ide: createGraphiql(config), logDestination: readableLogs() }))
    .catch(async (error: unknown) => {
      await stack.stop();
      throw error;
    });
  if (interrupted.signal.aborted) {
    // Pressed while the gateway was starting: stop now, as the gateway does on Ctrl-C.
    process.kill(process.pid, 'SIGINT');
  } else {
    progress.info(`Ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    progress.info(`GraphQL IDE:   ${config.publicUrl}/graphql`);
    // Bundling the IDE takes seconds: done now, in the background, the first visit finds it ready.
    prepareGraphiql().catch((error: unknown) => progress.info(`The IDE could not be built: ${(error as Error).message}`));
    progress.info(`Keycloak:      ${config.keycloak.url}/admin (master admin: see README)`);
    progress.info(`Sent emails:   ${stack.mailboxUrl}/messages`);
    if (config.bootstrapAdmin) progress.info(`Realm admin:   ${config.bootstrapAdmin.email} (password: BOOTSTRAP_ADMIN_PASSWORD)`);
  }
} catch (error) {
  exitWithProblem(error);
}

/**
 * One line per entry, coloured, for a person at a terminal (LOG_FILE, when set, stays JSON).
 * A development dependency: production (`npm start`, the image) writes JSON and never loads it.
 */
function readableLogs() {
  return PinoPretty({
    colorize: process.stdout.isTTY,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    singleLine: true,
    sync: true,
  });
}
