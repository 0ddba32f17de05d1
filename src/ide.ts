import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import type { Ide } from './http.js';

/**
 * GraphiQL for internal tools, served from the installed packages rather than a CDN, so
 * it works on networks that cannot reach one. Development only: production turns
 * introspection off, which leaves an IDE nothing to show, and its packages (graphiql,
 * react) are development dependencies. `npm run dev` hands it to the gateway.
 */
const require = createRequire(import.meta.url);
// The browser builds are outside the packages' "exports": locate them from package.json.
const packageFile = (name: string, path: string) => join(dirname(require.resolve(`${name}/package.json`)), path);
// A Map, not an object: a name from the URL such as `constructor` must find nothing.
const ASSETS = new Map<string, { file: string; type: string }>([
  ['react.js', { file: packageFile('react', 'umd/react.production.min.js'), type: 'text/javascript' }],
  ['react-dom.js', { file: packageFile('react-dom', 'umd/react-dom.production.min.js'), type: 'text/javascript' }],
  ['graphiql.js', { file: packageFile('graphiql', 'graphiql.min.js'), type: 'text/javascript' }],
  ['graphiql.css', { file: packageFile('graphiql', 'graphiql.min.css'), type: 'text/css' }],
]);

const EXAMPLE_QUERY = `# Public: no token needed.
{
  publicHello
}

# Signed in: add {"Authorization": "Bearer <access token>"} under Headers below.
# query Me {
#   me { user { id email firstName lastName } roles privileges }
# }
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>IAM gateway · GraphiQL</title>
  <link rel="stylesheet" href="/ide/graphiql.css">
  <style>body { margin: 0; height: 100vh; } #ide { height: 100vh; }</style>
</head>
<body>
  <div id="ide">Loading GraphiQL…</div>
  <script src="/ide/react.js"></script>
  <script src="/ide/react-dom.js"></script>
  <script src="/ide/graphiql.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
    ReactDOM.createRoot(document.getElementById('ide')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultQuery: ${JSON.stringify(EXAMPLE_QUERY)},
        defaultHeaders: '{}',
        shouldPersistHeaders: false,
      }),
    );
  </script>
</body>
</html>`;

function sendPage(response: ServerResponse): void {
  response.statusCode = 200;
  response.setHeader('content-type', 'text/html; charset=utf-8');
  response.end(PAGE);
}

function sendAsset(name: string, response: ServerResponse): boolean {
  const asset = ASSETS.get(name);
  if (!asset) return false;
  response.statusCode = 200;
  response.setHeader('content-type', `${asset.type}; charset=utf-8`);
  response.setHeader('cache-control', 'public, max-age=86400');
  createReadStream(asset.file).pipe(response);
  return true;
}

export const graphiql: Ide = { sendPage, sendAsset };
