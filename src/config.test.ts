import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const MINIMAL = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/iam_gateway',
  KEYCLOAK_URL: 'http://localhost:8180/',
  KEYCLOAK_API_CLIENT_SECRET: 'secret',
};

describe('loadConfig', () => {
  it('fills sensible defaults around the three required variables', () => {
    const config = loadConfig(MINIMAL);
    expect(config).toMatchObject({
      environment: 'production',
      http: { port: 4000 },
      keycloak: { url: 'http://localhost:8180', realm: 'iam', apiClientId: 'iam-gateway', masterAdmin: undefined },
      publicUrl: 'http://localhost:4000',
      tenancyMode: 'shared',
    });
  });

  it('TENANCY_MODE=realm needs the master admin, which alone may create realms', () => {
    expect(() => loadConfig({ ...MINIMAL, TENANCY_MODE: 'realm' })).toThrow(
      /TENANCY_MODE=realm .* set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD/,
    );
    const config = loadConfig({ ...MINIMAL, TENANCY_MODE: 'realm', KEYCLOAK_ADMIN_USERNAME: 'admin', KEYCLOAK_ADMIN_PASSWORD: 'admin' });
    expect(config.tenancyMode).toBe('realm');
  });

  it('reports every problem at once, in words a person can act on, without echoing secrets', () => {
    let error: unknown;
    try {
      loadConfig({
        KEYCLOAK_URL: 'localhost:8180',
        REDIS_URL: 'tcp://user:hunter3@redis:6379',
        PORT: 'eighty',
        APP_ENV: 'staging',
        KEYCLOAK_ADMIN_PASSWORD: 'hunter2',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems).toEqual([
      'APP_ENV must be one of development, production (got "staging")',
      'PORT must be a port number between 0 and 65535 (got "eighty")',
      'KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD go together: set both or neither',
      'KEYCLOAK_URL must start with http:// or https:// (got localhost://…)',
      'DATABASE_URL is required',
      'KEYCLOAK_API_CLIENT_SECRET is required',
      'REDIS_URL must start with redis:// or rediss:// (got tcp://…)',
    ]);
    expect(message).toContain('.env.example');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('hunter3');
  });

  it('I1: the frontend client is sent back to exact pages only: ${PUBLIC_URL}/callback unless FRONTEND_REDIRECT_URIS lists others', () => {
    expect(loadConfig(MINIMAL).keycloak).toMatchObject({
      frontendRedirectUris: ['http://localhost:4000/callback'],
      acceptedClientIds: ['iam-gateway', 'iam-frontend'],
    });
    const listed = loadConfig({ ...MINIMAL, FRONTEND_REDIRECT_URIS: 'https://app.example.com/callback, http://localhost:5173/cb' });
    expect(listed.keycloak.frontendRedirectUris).toEqual(['https://app.example.com/callback', 'http://localhost:5173/cb']);
    for (const pattern of ['http://localhost:4000/*', 'https://app.example.com/cb#x', 'javascript:alert(1)', 'not a url']) {
      expect(() => loadConfig({ ...MINIMAL, FRONTEND_REDIRECT_URIS: pattern }), pattern).toThrow(
        /FRONTEND_REDIRECT_URIS must list exact http\(s\) URLs/,
      );
    }
  });
});
