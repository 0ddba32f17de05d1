import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/database.js';
import { migrate } from '../../src/db/orm.js';
import { ensureDatabase, withDatabase } from '../../src/stack/postgres.js';

/**
 * The users' count the triggers keep (users_count, Migration20261204230000) is what
 * `totalCount` and the dashboard answer without a filter: it must equal count(*) whatever
 * writes the rows. In a database of its own, so that no other test's users move it.
 */
describe('the users count kept by triggers', () => {
  const base = inject('config').databaseUrl;
  const database = `${new URL(base).pathname.slice(1)}_users_count`;
  const url = withDatabase(base, database);
  const clients: pg.Client[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  };
  const counts = async (db: pg.Client) =>
    (
      await db.query<{ kept: number; counted: number }>(
        'select (select coalesce(sum(count), 0)::int from users_count) as kept, (select count(*)::int from users) as counted',
      )
    ).rows[0]!;
  const insertUsers = (db: pg.Client, n: number) =>
    db.query(
      `insert into users (id, username, email, first_name, last_name, attributes, created_at, updated_at)
       select gen_random_uuid(), 'u-' || x || '-' || $2, 'u-' || x || '-' || $2 || '@count.test', 'F', 'L', '{}', now(), now()
         from generate_series(1, $1::int) x`,
      [n, randomUUID()],
    );

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
    await ensureDatabase(base, database);
    const orm = await openDatabase(url);
    try {
      await migrate(orm);
    } finally {
      await orm.close();
    }
  });
  afterAll(async () => {
    for (const client of clients) await client.end();
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
  });

  it('follows inserts, deletes, rolled-back and concurrent transactions, and a truncate', async () => {
    const [a, b] = [await connect(), await connect()];
    await insertUsers(a, 5);
    expect(await counts(a)).toEqual({ kept: 5, counted: 5 });

    // Two transactions adding users at once: neither waits for the other, both count.
    await a.query('begin');
    await b.query('begin');
    await insertUsers(a, 3);
    await insertUsers(b, 4);
    await a.query('commit');
    await b.query('commit');
    expect(await counts(a)).toEqual({ kept: 12, counted: 12 });

    await a.query('begin');
    await insertUsers(a, 7);
    await a.query('rollback');
    expect(await counts(a)).toEqual({ kept: 12, counted: 12 });

    await b.query('delete from users where id in (select id from users order by created_at limit 2)');
    expect(await counts(a)).toEqual({ kept: 10, counted: 10 });
    // A statement that writes no row moves nothing.
    await b.query("delete from users where email = 'nobody@count.test'");
    expect(await counts(a)).toEqual({ kept: 10, counted: 10 });

    await a.query('truncate users cascade');
    expect(await counts(a)).toEqual({ kept: 0, counted: 0 });
    await insertUsers(b, 2);
    expect(await counts(a)).toEqual({ kept: 2, counted: 2 });
  });
});
