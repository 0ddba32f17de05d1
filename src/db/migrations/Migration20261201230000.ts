import { Migration } from '@mikro-orm/migrations';

/**
 * Revocation (src/admission.ts): every request checks the caller's mirror record and
 * effective roles, cached per process and dropped when PostgreSQL announces a change.
 * - `deleted_users` remembers whom the gateway saw deleted, so that a token issued before
 *   the deletion never brings the record back.
 * - Every table that changes someone's effective roles announces it on `users_changed`,
 *   like the `users` rows do: a user's own links name the user; a change to a group, a
 *   role or their links (which reaches any number of users) announces `*`, once per
 *   statement, and the processes then drop every cached caller.
 */
export class Migration20261201230000 extends Migration {
  override name = 'Migration20261201230000';

  override up(): void | Promise<void> {
    this.addSql(`create table "deleted_users" ("id" uuid not null, "deleted_at" timestamptz not null, primary key ("id"));`);

    this.addSql(`create function "user_links_announce_change"() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' then perform pg_notify('users_changed', old.user_id::text); end if;
  if tg_op <> 'DELETE' then perform pg_notify('users_changed', new.user_id::text); end if;
  return null;
end $$;`);
    for (const table of USER_LINKS) {
      this.addSql(
        `create trigger "${table}_announce_change" after insert or update or delete on "${table}" for each row execute function "user_links_announce_change"();`,
      );
    }

    this.addSql(`create function "directory_announce_change"() returns trigger language plpgsql as $$
begin
  perform pg_notify('users_changed', '*');
  return null;
end $$;`);
    for (const table of DIRECTORY) {
      this.addSql(
        `create trigger "${table}_announce_change" after insert or update or delete or truncate on "${table}" for each statement execute function "directory_announce_change"();`,
      );
    }
  }

  override down(): void | Promise<void> {
    for (const table of [...USER_LINKS, ...DIRECTORY]) this.addSql(`drop trigger "${table}_announce_change" on "${table}";`);
    this.addSql(`drop function "directory_announce_change"();`);
    this.addSql(`drop function "user_links_announce_change"();`);
    this.addSql(`drop table if exists "deleted_users" cascade;`);
  }
}

/** A user's own links: a change names the user. */
const USER_LINKS = ['user_roles', 'user_groups'];
/** Groups (their parents), roles (their names) and what links them: a change may reach anyone. */
const DIRECTORY = ['realm_roles', 'role_privileges', 'role_composites', 'groups', 'group_roles'];
