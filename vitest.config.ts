import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Vite would load graphql's .mjs build while type-graphql requires the CommonJS one,
    // and graphql-js refuses types from "another module or realm": use one copy.
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Decorators run when their module loads: the metadata polyfill must come first, whatever a test imports first.
    setupFiles: ['reflect-metadata'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Integration files share one realm and database; two workers match the 2-core machines.
    maxWorkers: 2,
  },
});
