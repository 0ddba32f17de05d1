import { existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Rolldown } from 'vite';
import type { Config } from './config.js';
import type { Ide } from './http.js';

/**
 * GraphiQL for internal tools, with a "Sign in" through Keycloak (ide/, the browser side).
 * Development only: production turns introspection off, which leaves an IDE nothing to
 * show, and its packages (graphiql, react, oidc-client-ts, vite) are development
 * dependencies. `npm run dev` hands it to the gateway.
 *
 * Served from the gateway's own files, never a CDN, so it works on networks that cannot
 * reach one. GraphiQL 5 ships as ES modules only, and its editor (Monaco) runs its language
 * services in web workers: Vite bundles the page, its workers and its styles, in memory,
 * once per process, when a browser first asks for the IDE (about ten seconds).
 */
export function createGraphiql(config: Config): Ide {
  const settings = JSON.stringify(ideSettings(config));
  const headers = pageHeaders(config);
  return {
    async sendPage(response) {
      const page = (await bundle()).get('index.html')!;
      response.statusCode = 200;
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
      response.end(page.content);
    },
    async sendAsset(name, response) {
      if (name === 'settings.json') {
        send(response, 'application/json; charset=utf-8', 'no-store', settings);
        return true;
      }
      // Only what the build made, under assets/: the page itself is served at /graphql.
      const asset = name.startsWith('assets/') ? (await bundle()).get(name) : undefined;
      if (!asset) return false;
      // The names carry a hash of the content.
      send(response, asset.type, 'public, max-age=31536000, immutable', asset.content);
      return true;
    },
  };
}

/** Builds the bundle now rather than on the first visit (`npm run dev`, once the gateway listens). */
export async function prepareGraphiql(): Promise<void> {
  await bundle();
}

/** What the browser side needs to sign in (ide/session.ts: IdeSettings). */
export function ideSettings(config: Config) {
  const { publicUrl, keycloak } = config;
  const callback = `${publicUrl}/callback`;
  const afterSignOut = `${publicUrl}/`;
  const registered = keycloak.frontendRedirectUris.includes(callback);
  return {
    authority: `${keycloak.publicUrl}/realms/${encodeURIComponent(keycloak.realm)}`,
    clientId: keycloak.frontendClientId,
    redirectUri: registered ? callback : null,
    postLogoutRedirectUri: keycloak.frontendPostLogoutRedirectUris.includes(afterSignOut) ? afterSignOut : null,
    ...(!registered && {
      signInUnavailable: `Sign-in unavailable: ${callback} is not a redirect URI of client ${keycloak.frontendClientId} (FRONTEND_REDIRECT_URIS, else FRONTEND_URLS)`,
    }),
  };
}

/**
 * The page runs only its own scripts (no inline script, no eval) and talks only to the
 * gateway and Keycloak. Styles allow inline: Monaco and GraphiQL set them at run time.
 * No referrer: the callback's address holds the authorization code until the page
 * removes it.
 */
export function pageHeaders(config: Config): Record<string, string> {
  const keycloak = new URL(config.keycloak.publicUrl).origin;
  const policy = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${keycloak}`,
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ];
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': policy.join('; '),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  };
}

function send(response: ServerResponse, type: string, cacheControl: string, body: string | Uint8Array): void {
  response.statusCode = 200;
  response.setHeader('content-type', type);
  response.setHeader('cache-control', cacheControl);
  response.setHeader('x-content-type-options', 'nosniff');
  response.end(body);
}

interface BuiltFile {
  type: string;
  content: string | Uint8Array;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
  '.svg': 'image/svg+xml',
};

let built: Promise<Map<string, BuiltFile>> | undefined;

/** The bundle, built on first use; a failed build is tried again on the next request. */
function bundle(): Promise<Map<string, BuiltFile>> {
  built ??= buildBundle().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}

async function buildBundle(): Promise<Map<string, BuiltFile>> {
  const result = (await build({
    configFile: false,
    envFile: false,
    publicDir: false,
    root: browserSources(),
    base: '/ide/',
    logLevel: 'error',
    build: {
      write: false,
      // Fonts and images as files, not data: URLs, so that the page's policy stays short.
      assetsInlineLimit: 0,
      reportCompressedSize: false,
      chunkSizeWarningLimit: Number.POSITIVE_INFINITY,
    },
    worker: { format: 'es' },
  })) as Rolldown.RolldownOutput;
  // A Map, not an object: a name from the URL such as `constructor` must find nothing.
  const files = new Map<string, BuiltFile>();
  for (const file of result.output) {
    const type = TYPES[extname(file.fileName)] ?? 'application/octet-stream';
    files.set(file.fileName, { type, content: file.type === 'chunk' ? file.code : file.source });
  }
  return files;
}

/** ide/ beside package.json: this module runs from src/ (tests) or from dist/src/ (`npm run dev`). */
function browserSources(): string {
  const candidates = ['..', '../..'].map((up) => fileURLToPath(new URL(up, import.meta.url)));
  const root = candidates.find((dir) => existsSync(join(dir, 'package.json')));
  if (!root) throw new Error('the IDE cannot find its sources (ide/ beside package.json)');
  return join(root, 'ide');
}
