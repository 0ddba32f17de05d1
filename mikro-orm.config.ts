/**
 * For MikroORM's CLI, run on the compiled file (dist/mikro-orm.config.js) with
 * MIKRO_ORM_CLI_PREFER_TS=0: the CLI's TypeScript loaders emit no decorator metadata.
 */
import { databaseOptions } from './src/database.js';

export default databaseOptions(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/iam_gateway');
