import { Migration } from '@mikro-orm/migrations';

/**
 * When every session of a user was last ended (src/modules/sessions/sessions-end.entity.ts).
 * A change announces the user on `users_changed` through the trigger function the user's
 * role and group links use (Migration20261201230000): every process drops its cached
 * caller, so the user's earlier access tokens are refused at their next request, whichever
 * process it reaches.
 */
export class Migration20261204225500 extends Migration {
  override name = 'Migration20261204225500';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "user_sessions_ended" ("user_id" uuid not null, "refused_before" timestamptz not null, "checked_until" timestamptz not null, "ended_at" timestamptz not null, primary key ("user_id"));`,
    );
    this.addSql(
      `alter table "user_sessions_ended" add constraint "user_sessions_ended_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `create trigger "user_sessions_ended_announce_change" after insert or update or delete on "user_sessions_ended" for each row execute function "user_links_announce_change"();`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "user_sessions_ended" cascade;`);
  }
}
