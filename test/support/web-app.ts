import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';

const configFile = fileURLToPath(new URL('../../examples/web/vite.config.ts', import.meta.url));

export interface WebApp {
  url: string;
  close(): Promise<void>;
}

/**
 * The example app (examples/web) built for `gatewayUrl` and a Keycloak realm, and served at
 * `url` (the test realm's frontend, `inject('webAppUrl')`) by Vite's preview server: a real
 * server on loopback, as Chromium's local-network rules want, and the bundle a team ships,
 * with no dev server optimising dependencies (and reloading the page) in the middle of a test.
 */
export async function startWebApp(options: {
  url: string;
  gatewayUrl: string;
  oidcAuthority: string;
  oidcClientId: string;
}): Promise<WebApp> {
  const outDir = await mkdtemp(join(tmpdir(), 'iam-example-web-'));
  try {
    await build({
      configFile,
      logLevel: 'warn',
      define: {
        'import.meta.env.VITE_GATEWAY_URL': JSON.stringify(options.gatewayUrl),
        'import.meta.env.VITE_OIDC_AUTHORITY': JSON.stringify(options.oidcAuthority),
        'import.meta.env.VITE_OIDC_CLIENT_ID': JSON.stringify(options.oidcClientId),
      },
      build: { outDir, emptyOutDir: true, minify: false },
    });
    const port = Number(new URL(options.url).port);
    const server = await preview({
      configFile,
      logLevel: 'warn',
      build: { outDir },
      preview: { host: 'localhost', port, strictPort: true },
    });
    return {
      url: options.url,
      async close() {
        await server.close();
        await rm(outDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    throw error;
  }
}
