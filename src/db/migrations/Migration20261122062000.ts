import { Migration } from '@mikro-orm/migrations';

/**
 * Every change to a user row, whoever makes it (a gateway process, its jobs, psql),
 * announces the user's id on the `users_changed` channel once its transaction commits:
 * the processes' caches of user records (src/modules/users/user-record-cache.ts) listen.
 * An id change (the sync job adopting a Keycloak id) announces both ids.
 */
export class Migration20261122062000 extends Migration {
  override name = 'Migration20261122062000';

  override up(): void | Promise<void> {
    this.addSql(`create function "users_announce_change"() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' then perform pg_notify('users_changed', old.id::text); end if;
  if tg_op <> 'DELETE' then perform pg_notify('users_changed', new.id::text); end if;
  return null;
end $$;`);
    this.addSql(
      `create trigger "users_announce_change" after insert or update or delete on "users" for each row execute function "users_announce_change"();`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop trigger "users_announce_change" on "users";`);
    this.addSql(`drop function "users_announce_change"();`);
  }
}
