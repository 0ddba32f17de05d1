import pg from 'pg';
import type { Config } from '../../src/config.js';

/**
 * Every test run starts from an empty realm and, when the stack owns the test database,
 * an empty schema: results never depend on what an earlier run left behind.
 */
export async function resetTestBackends(config: Config, options: { ownDatabase: boolean }): Promise<void> {
  if (config.keycloak.masterAdmin) await deleteRealm(config);
  if (options.ownDatabase) {
    const client = new pg.Client({ connectionString: config.databaseUrl });
    await client.connect();
    try {
      await client.query('drop schema if exists public cascade; create schema public;');
    } finally {
      await client.end();
    }
  }
}

async function deleteRealm(config: Config): Promise<void> {
  const { url, realm, masterAdmin } = config.keycloak;
  if (realm === 'master') throw new Error('refusing to delete the master realm');
  const tokenResponse = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'admin-cli',
      username: masterAdmin!.username,
      password: masterAdmin!.password,
    }),
  });
  if (!tokenResponse.ok) throw new Error(`master admin login failed: ${tokenResponse.status}`);
  const { access_token } = (await tokenResponse.json()) as { access_token: string };
  const response = await fetch(`${url}/admin/realms/${encodeURIComponent(realm)}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${access_token}` },
  });
  if (!response.ok && response.status !== 404) throw new Error(`deleting realm ${realm} failed: ${response.status}`);
}
