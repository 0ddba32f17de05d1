/**
 * Brings up the real stack once for the whole test run, through the same module as
 * `npm run dev`: reuses what runs, starts what doesn't, stops only what it started.
 * Tests get the gateway's configuration and the mailbox through `inject`.
 */
import type { TestProject } from 'vitest/node';
import { prepareBackends } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/stack/free-port.js';
import { terminalProgress } from '../../src/stack/progress.js';
import type { SmtpCertificate } from '../../src/stack/smtp-certificate.js';
import { startStack } from '../../src/stack/stack.js';
import { resetTestBackends } from './reset.js';

declare module 'vitest' {
  export interface ProvidedContext {
    config: Config;
    mailboxUrl: string;
    smtpCertificate: SmtpCertificate;
    /** Where test/support/web-app.ts serves the example app: a frontend of the test realm. */
    webAppUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const progress = terminalProgress();
  const stack = await startStack({
    // The tests get their own realm (emptied at every run) and database, so a running
    // `npm run dev` keeps its data.
    env: {
      ...process.env,
      KEYCLOAK_REALM: process.env.TEST_KEYCLOAK_REALM ?? 'iam-test',
      APP_ENV: 'development',
      // Tests provoke failures on purpose; their error logs would bury the results. In
      // development mode an unexpected error's stack trace still reaches the test's assertion.
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      PORT: '0',
      // Test gateways run no background jobs unless a test turns them on.
      JOBS_ENABLED: 'false',
    },
    database: process.env.TEST_DATABASE_NAME ?? 'iam_gateway_test',
    progress,
  });
  try {
    // The example app is a frontend like any other: its page is a redirect URI of the frontend
    // client, its origin a web origin of Keycloak's and a CORS origin of the gateway's, and its
    // /accept-invitation the page invitation emails link to (the first frontend after the gateway).
    const webAppUrl = `http://localhost:${await freePort()}`;
    const defaults = loadConfig(stack.env);
    const config = loadConfig({ ...stack.env, FRONTEND_URLS: [defaults.publicUrl, webAppUrl, ...defaults.frontendUrls].join(',') });
    await progress.step(`Fresh realm ${config.keycloak.realm} and database`, async () => {
      await resetTestBackends(config, { ownDatabase: !process.env.DATABASE_URL });
      await prepareBackends(config, createLogger(config.log));
    });
    project.provide('config', config);
    project.provide('mailboxUrl', stack.mailboxUrl);
    project.provide('smtpCertificate', stack.smtpCertificate);
    project.provide('webAppUrl', webAppUrl);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return () => stack.stop();
}
