import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseCatalog, readCatalogFile } from '../keycloak/catalog-file.js';
import { DEFAULT_CATALOG } from '../keycloak/realm-catalog.js';
import { KEYCLOAK_VERSION } from './keycloak-server.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the versions every way of running the gateway uses', () => {
  it('runs one Keycloak version in the local stack, docker compose and the production compose', () => {
    expect(read('docker-compose.yml')).toContain(`quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}\n`);
    const productionImages = [...read('deploy/compose/keycloak.Dockerfile').matchAll(/^FROM quay\.io\/keycloak\/keycloak:(\S+)/gm)];
    expect(productionImages.map((match) => match[1])).toEqual([KEYCLOAK_VERSION, KEYCLOAK_VERSION]);
    expect(read('deploy/compose/compose.yaml')).toContain(`image: iam-keycloak:${KEYCLOAK_VERSION}\n`);
  });

  it('builds the image on the Node version the project brings (the `node` dev dependency)', () => {
    const { devDependencies } = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
    const images = [...read('Dockerfile').matchAll(/^FROM node:(\S+)/gm)].map((match) => match[1]);
    expect(images).toEqual([`${devDependencies.node}-bookworm-slim`, `${devDependencies.node}-bookworm-slim`]);
  });

  it('pins every image of the production compose to a version', () => {
    const images = [...read('deploy/compose/compose.yaml').matchAll(/^\s+image: (\S+)/gm)].map((match) => match[1]!);
    expect(images.length).toBeGreaterThanOrEqual(5);
    for (const image of images) expect(image, image).toMatch(/:(\$\{GATEWAY_VERSION:-)?\d+\.\d+/);
  });
});

describe('the catalog every way of deploying ships', () => {
  it('is the built-in catalog, valid for IAM_CATALOG_FILE, in the Kubernetes ConfigMap and by default in the production compose', () => {
    const manifests = parseAllDocuments(read('deploy/kubernetes/gateway.yaml')).map((document) => document.toJS());
    const configMap = manifests.find((manifest) => manifest.kind === 'ConfigMap' && manifest.metadata.name === 'iam-gateway-catalog');
    expect(parseCatalog(configMap.data['catalog.yaml'], 'gateway.yaml')).toEqual({ catalog: DEFAULT_CATALOG, problems: [] });
    const mounted = /\$\{CATALOG_FILE:-([^}]+)\}:\/etc\/iam-gateway\/catalog\.yaml/.exec(read('deploy/compose/compose.yaml'));
    expect(readCatalogFile(fileURLToPath(new URL(`../../deploy/compose/${mounted![1]}`, import.meta.url)))).toEqual({
      catalog: DEFAULT_CATALOG,
      problems: [],
    });
  });
});

/**
 * Compose's own validation of both files (Debian's `docker-compose`, or Docker's `docker
 * compose` plugin): the production file with the example environment, since it refuses to
 * start without its secrets.
 */
describe('the compose files', () => {
  const compose = composeCommand();

  it.each([
    ['docker-compose.yml', []],
    ['deploy/compose/compose.yaml', ['--env-file', fileURLToPath(new URL('../../deploy/compose/env.example', import.meta.url))]],
  ])('%s is valid for Compose', (file, options) => {
    const path = fileURLToPath(new URL(`../../${file}`, import.meta.url));
    const result = spawnSync(compose[0]!, [...compose.slice(1), ...options, '--file', path, 'config', '--quiet'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('refuses to start the production stack without its secrets', () => {
    const path = fileURLToPath(new URL('../../deploy/compose/compose.yaml', import.meta.url));
    const result = spawnSync(compose[0]!, [...compose.slice(1), '--file', path, 'config', '--quiet'], {
      encoding: 'utf8',
      // Only what the shell has: no .env beside the file.
      env: { PATH: process.env.PATH },
      cwd: tmpdir(),
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/set (API_HOST|POSTGRES_PASSWORD|AUTH_HOST) in \.env/);
  });
});

function composeCommand(): string[] {
  for (const candidate of [['docker-compose'], ['docker', 'compose']]) {
    if (spawnSync(candidate[0]!, [...candidate.slice(1), 'version'], { encoding: 'utf8' }).status === 0) return candidate;
  }
  throw new Error(
    "Neither docker-compose nor Docker's compose plugin found: install Debian's docker-compose (apt-get install docker-compose).",
  );
}
