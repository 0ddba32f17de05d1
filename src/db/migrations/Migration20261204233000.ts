import { Migration } from '@mikro-orm/migrations';

/**
 * The user list at a million users (issue 16, `npm run bench -- --scale`):
 * - `search` matches `%fragment%` in email, username, first and last name (ILIKE), which no
 *   b-tree serves (a leading wildcard), so every search read the whole table. One trigram
 *   GIN index over the four columns serves each of the four ILIKEs (pg_trgm: a trusted
 *   extension, so the database's owner may create it).
 * - The unfiltered `totalCount` (and the dashboard's user count) counted every row: 0.2 s
 *   at a million. `users_count` keeps the number, moved by statement triggers on `users`
 *   with the rows each statement inserted or deleted; sixteen slots (by backend), summed on
 *   read, so that concurrent sign-ups do not queue on one row. It starts from a count taken
 *   while writes to `users` wait.
 * Built inside the migration's transaction: on an existing mirror of a million users, writes
 * to `users` wait for it (about half a minute).
 */
export class Migration20261204233000 extends Migration {
  override name = 'Migration20261204233000';

  override up(): void | Promise<void> {
    this.addSql('create extension if not exists pg_trgm;');
    this.addSql('create table "users_count" ("slot" smallint not null, "count" bigint not null, primary key ("slot"));');
    this.addSql('lock table "users" in share mode;');
    this.addSql('insert into "users_count" ("slot", "count") select 0, count(*) from "users";');
    this.addSql(`create function "users_count_change"() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from users_count;
  elsif tg_op = 'INSERT' then
    insert into users_count (slot, count) select pg_backend_pid() % 16, count(*) from new_rows having count(*) > 0
      on conflict (slot) do update set count = users_count.count + excluded.count;
  else
    insert into users_count (slot, count) select pg_backend_pid() % 16, -count(*) from old_rows having count(*) > 0
      on conflict (slot) do update set count = users_count.count + excluded.count;
  end if;
  return null;
end $$;`);
    this.addSql(
      'create trigger "users_count_insert" after insert on "users" referencing new table as new_rows for each statement execute function "users_count_change"();',
    );
    this.addSql(
      'create trigger "users_count_delete" after delete on "users" referencing old table as old_rows for each statement execute function "users_count_change"();',
    );
    this.addSql(
      'create trigger "users_count_truncate" after truncate on "users" for each statement execute function "users_count_change"();',
    );
    this.addSql(
      'create index "users_search_trgm_idx" on "users" using gin ("email" gin_trgm_ops, "username" gin_trgm_ops, "first_name" gin_trgm_ops, "last_name" gin_trgm_ops);',
    );
  }

  override down(): void | Promise<void> {
    this.addSql('drop table "users_count";');
    this.addSql('drop trigger "users_count_insert" on "users";');
    this.addSql('drop trigger "users_count_delete" on "users";');
    this.addSql('drop trigger "users_count_truncate" on "users";');
    this.addSql('drop function "users_count_change"();');
    this.addSql('drop index "users_search_trgm_idx";');
  }
}
