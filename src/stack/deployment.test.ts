import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEYCLOAK_VERSION } from './keycloak-server.js';

describe('the Keycloak version', () => {
  it('is the same for the local stack and docker compose', () => {
    const compose = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    expect(compose).toContain(`quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}\n`);
  });
});
