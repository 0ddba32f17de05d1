/**
 * Writes a migration for the difference between the entities and the database named by
 * DATABASE_URL (default: the local development database). Run with `npm run migration:create`,
 * then add the new class to src/db/migrations/index.ts.
 */
import { openDatabase } from '../src/database.js';
import { migrate } from '../src/db/orm.js';

const orm = await openDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/iam_gateway');
try {
  await migrate(orm);
  const result = await orm.migrator.create();
  console.log(result.fileName ? `wrote src/db/migrations/${result.fileName}` : 'no changes: nothing to write');
} finally {
  await orm.close();
}
