import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The example app (`npm run example`): Vite's dev server on :5173, a frontend of the gateway by
 * default in development (FRONTEND_URLS), so Keycloak sends it back to /callback and the
 * gateway answers its CORS preflights. VITE_GATEWAY_URL, VITE_OIDC_AUTHORITY and
 * VITE_OIDC_CLIENT_ID point it elsewhere (src/settings.ts).
 */
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  server: { port: 5173, strictPort: true },
  preview: { port: 5173, strictPort: true },
});
