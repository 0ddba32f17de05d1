import pg from 'pg';
import { inject } from 'vitest';
import { prepareBackends } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { keycloakAdmin } from './keycloak.js';

export interface IsolatedBackends {
  /** The test configuration, pointed at this realm and database. */
  config: Config;
  realm: string;
  /** Direct SQL against this database. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Deletes the realm and drops the database. */
  close(): Promise<void>;
}

/**
 * A realm and a database of their own, provisioned and migrated like the shared ones, for
 * tests whose subject rewrites whatever it finds (the reconciler mirrors every user and
 * group of its realm): in the shared realm they would undo what other test files arrange.
 */
export async function isolatedBackends(
  name: string,
  configure: (config: Config) => Config = (config) => config,
): Promise<IsolatedBackends> {
  const base = inject('config');
  const realm = `${base.keycloak.realm}-${name}`;
  const url = new URL(base.databaseUrl);
  const database = `${url.pathname.slice(1)}_${name.replace(/\W/g, '_')}`;
  const admin = new URL(base.databaseUrl);
  admin.pathname = '/postgres';
  const run = async (connectionString: string, text: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      return (await client.query(text, params)).rows;
    } finally {
      await client.end();
    }
  };
  await run(admin.toString(), `drop database if exists "${database}" with (force)`);
  await run(admin.toString(), `create database "${database}"`);
  await keycloakAdmin('DELETE', '', undefined, realm);
  url.pathname = `/${database}`;
  const config: Config = configure({ ...base, databaseUrl: url.toString(), keycloak: { ...base.keycloak, realm } });
  await prepareBackends(config, createLogger({ level: 'silent' }));
  return {
    config,
    realm,
    sql: (text, params = []) => run(config.databaseUrl, text, params) as never,
    async close() {
      await keycloakAdmin('DELETE', '', undefined, realm);
      await run(admin.toString(), `drop database if exists "${database}" with (force)`);
    },
  };
}
