import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { ideSettings, pageHeaders } from './ide.js';

const DEVELOPMENT = {
  APP_ENV: 'development',
  DATABASE_URL: 'postgres://localhost/iam',
  KEYCLOAK_URL: 'http://keycloak.internal:8080',
  KEYCLOAK_PUBLIC_URL: 'http://localhost:8180',
  KEYCLOAK_API_CLIENT_SECRET: 'secret',
  PUBLIC_URL: 'http://localhost:4000',
};

describe('the IDE', () => {
  it("signs in through the frontend client, back at the gateway's /callback, which the configuration makes a redirect URI", () => {
    expect(ideSettings(loadConfig(DEVELOPMENT))).toEqual({
      authority: 'http://localhost:8180/realms/iam',
      clientId: 'iam-frontend',
      redirectUri: 'http://localhost:4000/callback',
      postLogoutRedirectUri: 'http://localhost:4000/',
    });
  });

  it('offers no sign-in, and says why, when the gateway is not one of the frontends', () => {
    const settings = ideSettings(loadConfig({ ...DEVELOPMENT, FRONTEND_URLS: 'http://localhost:5173' }));
    expect(settings).toMatchObject({ redirectUri: null, postLogoutRedirectUri: null });
    expect(settings.signInUnavailable).toContain('http://localhost:4000/callback is not a redirect URI of client iam-frontend');
  });

  it("lets the page run only the gateway's scripts and talk only to the gateway and Keycloak's public address", () => {
    const policy = pageHeaders(loadConfig(DEVELOPMENT))['content-security-policy']!;
    expect(policy).toContain("script-src 'self';");
    expect(policy).toContain("connect-src 'self' http://localhost:8180;");
    expect(policy).not.toContain('unsafe-eval');
    expect(policy).toContain("frame-ancestors 'none'");
  });
});
