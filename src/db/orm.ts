import 'reflect-metadata';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { MIGRATIONS } from './migrations/index.js';

/** The entity classes to map: the composition root's list (src/database.ts), as the database layer knows no feature. */
export type Entities = NonNullable<Options['entities']>;

/**
 * MikroORM's options for the gateway's database. Migrations are listed in code rather
 * than discovered by a file glob, so the same list runs from compiled JavaScript and
 * under vitest.
 */
export function ormOptions(databaseUrl: string, entities: Entities, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    // Legacy decorators (as type-graphql uses) with types read from emitted metadata.
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS,
      path: 'src/db/migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    pool: { min: 0, max: 10 },
    // No JIT compilation: the gateway's statements are short, but PostgreSQL estimates a
    // recursive CTE (effective roles) at over a million rows once the mirror is large, and
    // then spent 30-70 ms compiling it on every request (npm run bench -- --scale, 1M users).
    // A connection PostgreSQL (or a proxy before it) accepts and then never answers would
    // otherwise be waited for forever: its request hangs, and stopping waits for it.
    driverOptions: { options: '-c jit=off', connectionTimeoutMillis: 10_000 },
    ...overrides,
  });
}

export type Orm = MikroORM;

export function openOrm(databaseUrl: string, entities: Entities, overrides: Partial<Options> = {}): Promise<Orm> {
  return MikroORM.init(ormOptions(databaseUrl, entities, overrides));
}

/** Applies every pending migration; safe to call at every start. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((migration) => migration.name);
}
