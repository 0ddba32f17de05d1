import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** Direct SQL against the test database, to check what the gateway stored. */
export async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: inject('config').databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/**
 * Makes PostgreSQL refuse to insert or delete the rows of `table` whose `column` equals
 * `value`, for the duration of `run`: a local failure after Keycloak succeeded. The trigger
 * is this call's own, so that test files refusing writes at once do not replace or drop
 * each other's, and it touches no other row.
 */
export function refusingWrites<T>(
  operation: 'insert' | 'delete',
  table: string,
  column: string,
  value: string,
  run: () => Promise<T>,
): Promise<T> {
  return refusingWritesIn(sql, operation, table, column, value, run);
}

/** refusingWrites in the database `on` reaches (an isolated one, test/support/isolated.ts). */
export async function refusingWritesIn<T>(
  on: (text: string, params?: unknown[]) => Promise<unknown>,
  operation: 'insert' | 'delete',
  table: string,
  column: string,
  value: string,
  run: () => Promise<T>,
): Promise<T> {
  const trigger = `refuse_${operation}_${randomUUID().replaceAll('-', '')}`;
  const row = operation === 'insert' ? 'new' : 'old';
  await on(`create function ${trigger}() returns trigger language plpgsql as $$
    begin if ${row}.${column} = '${value.replaceAll("'", "''")}' then raise exception 'injected failure'; end if; return ${row}; end $$`);
  await on(`create trigger ${trigger} before ${operation} on ${table} for each row execute function ${trigger}()`);
  try {
    return await run();
  } finally {
    await on(`drop trigger if exists ${trigger} on ${table}`);
    await on(`drop function if exists ${trigger}()`);
  }
}
