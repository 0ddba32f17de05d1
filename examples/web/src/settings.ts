/**
 * Where the app finds the gateway and Keycloak: Vite's environment (VITE_*, from the shell or
 * a .env file beside vite.config.ts), defaulting to the stack `npm run dev` starts.
 */
export const settings = {
  gatewayUrl: import.meta.env.VITE_GATEWAY_URL || 'http://localhost:4000/graphql',
  oidcAuthority: import.meta.env.VITE_OIDC_AUTHORITY || 'http://localhost:8180/realms/iam',
  oidcClientId: import.meta.env.VITE_OIDC_CLIENT_ID || 'iam-frontend',
};
