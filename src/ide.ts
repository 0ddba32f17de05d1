import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
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
 * services in web workers: Vite bundles the page, its workers and its styles when a browser
 * first asks for the IDE (some seconds), and the build is kept in node_modules/.cache for
 * the next process.
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

/** The bundle, loaded or built on first use; a failure is tried again on the next request. */
function bundle(): Promise<Map<string, BuiltFile>> {
  built ??= loadBundle().catch((error: unknown) => {
    built = undefined;
    throw error;
  });
  return built;
}

/**
 * A build is kept on disk for the next process (each test file's, each `npm run dev`), under
 * a key made of what it is built from: the browser sources, this module and the lockfile.
 */
async function loadBundle(): Promise<Map<string, BuiltFile>> {
  const root = projectRoot();
  const sources = join(root, 'ide');
  const key = createHash('sha256');
  const names = (await readdir(sources, { recursive: true })).toSorted();
  for (const name of names) {
    const path = join(sources, name);
    if ((await stat(path)).isFile()) key.update(name).update(await readFile(path));
  }
  // src/ide.ts, not this module, which may be its compiled copy: `npm run dev` and the tests share a build.
  key.update(await readFile(join(root, 'src', 'ide.ts'))).update(await readFile(join(root, 'package-lock.json')));
  const cacheRoot = join(root, 'node_modules', '.cache', 'iam-gateway-ide');
  const directory = join(cacheRoot, key.digest('hex').slice(0, 16));
  const cached = await readBundle(directory);
  if (cached) return cached;
  const files = await buildBundle(sources);
  // A cache that cannot be written only costs the next process a build.
  await writeBundle(cacheRoot, directory, files).catch(() => undefined);
  return files;
}

const MANIFEST = 'files.json';

async function readBundle(directory: string): Promise<Map<string, BuiltFile> | undefined> {
  let names: string[];
  try {
    names = JSON.parse(await readFile(join(directory, MANIFEST), 'utf8')) as string[];
  } catch {
    return undefined;
  }
  const files = new Map<string, BuiltFile>();
  for (const name of names) files.set(name, { type: typeOf(name), content: await readFile(join(directory, name)) });
  return files;
}

/** Written beside and renamed into place, so that a process never reads half a bundle; older builds go. */
async function writeBundle(cacheRoot: string, directory: string, files: Map<string, BuiltFile>): Promise<void> {
  const temporary = `${directory}.${process.pid}.${randomUUID()}`;
  for (const [name, file] of files) {
    await mkdir(dirname(join(temporary, name)), { recursive: true });
    await writeFile(join(temporary, name), file.content);
  }
  await writeFile(join(temporary, MANIFEST), JSON.stringify([...files.keys()]));
  try {
    await rename(temporary, directory);
  } catch {
    // Another process put the same build there first.
    await rm(temporary, { recursive: true, force: true });
    return;
  }
  for (const entry of await readdir(cacheRoot)) {
    if (join(cacheRoot, entry) !== directory && !entry.includes('.')) await rm(join(cacheRoot, entry), { recursive: true, force: true });
  }
}

async function buildBundle(sources: string): Promise<Map<string, BuiltFile>> {
  const result = (await build({
    configFile: false,
    envFile: false,
    publicDir: false,
    root: sources,
    base: '/ide/',
    logLevel: 'error',
    build: {
      write: false,
      // Assets Vite handles (Monaco's icon font) as files of their own, not inlined into the stylesheet.
      assetsInlineLimit: 0,
      reportCompressedSize: false,
      chunkSizeWarningLimit: Number.POSITIVE_INFINITY,
    },
    worker: { format: 'es' },
  })) as Rolldown.RolldownOutput;
  // A Map, not an object: a name from the URL such as `constructor` must find nothing.
  const files = new Map<string, BuiltFile>();
  for (const file of result.output) {
    files.set(file.fileName, { type: typeOf(file.fileName), content: file.type === 'chunk' ? file.code : file.source });
  }
  return files;
}

function typeOf(name: string): string {
  return TYPES[extname(name)] ?? 'application/octet-stream';
}

/** The checkout, with ide/ and package.json: this module runs from src/ (tests) or from dist/src/ (`npm run dev`). */
function projectRoot(): string {
  const candidates = ['..', '../..'].map((up) => fileURLToPath(new URL(up, import.meta.url)));
  const root = candidates.find((dir) => existsSync(join(dir, 'package.json')));
  if (!root) throw new Error('the IDE cannot find its sources (ide/ beside package.json)');
  return root;
}
