import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Types for the app's operations from the gateway's schema, as docs/frontends.md sets them up.
 * The output (src/gql) is committed; `npm run check` fails when it is stale (`--check`), and
 * `npm run example:codegen` writes it again.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['examples/web/src/**/*.tsx', '!examples/web/src/gql/**'],
  generates: {
    'examples/web/src/gql/': {
      preset: 'client',
      config: { scalars: { DateTime: 'string', JSONObject: 'Record<string, unknown>' }, useTypeImports: true },
    },
  },
};
export default config;
