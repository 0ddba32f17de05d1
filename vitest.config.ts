import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Two tiers. `unit`: the files beside the source, needing nothing running (no Keycloak,
 * no PostgreSQL, no network beyond loopback servers a test starts itself). `integration`:
 * everything under test/, against the real stack that its global setup finds or starts.
 * A run whose files are all unit tests never starts the stack.
 */
export default defineConfig({
  resolve: {
    // Vite would load graphql's .mjs build while type-graphql requires the CommonJS one,
    // and graphql-js refuses types from "another module or realm": use one copy.
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    // Decorators run when their module loads: the metadata polyfill must come first, whatever a test imports first.
    setupFiles: ['reflect-metadata'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Two workers match the 2-core machines.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // The example app's pure modules (examples/web) are unit-tested the same way.
          include: ['src/**/*.test.ts', 'examples/**/*.test.ts'],
          testTimeout: 10_000,
          // Unit files keep no state between them (fake timers and stubs are undone after each
          // test): sharing one module cache per worker loads the schema's graph once, not per file.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 300_000,
          // What tests poll for comes from real servers and child processes on a loaded 2-core
          // machine: expect.poll's own default, one second, has been too short for Keycloak's
          // event store and for a child process's signal handling.
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
