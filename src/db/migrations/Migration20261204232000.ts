import { Migration } from '@mikro-orm/migrations';

/**
 * Where the admin-events reader (src/jobs/admin-events.ts) stopped in each realm: the time
 * it read up to (Keycloak's milliseconds) and the ids of the events it applied in the
 * window it reads again, so that events of one millisecond, or committed late, are neither
 * lost nor applied twice.
 *
 * And the index the reconciler's full comparison walks the mirror by: usernames in bytewise
 * order, range by range, as it pages through Keycloak's users (src/jobs/reconciler.ts).
 */
export class Migration20261204232000 extends Migration {
  override name = 'Migration20261204232000';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "admin_event_checkpoints" ("realm" varchar(255) not null, "read_until" bigint not null, "seen_ids" jsonb not null default '[]', "updated_at" timestamptz not null, primary key ("realm"));`,
    );
    this.addSql(`create index "users_username_bytewise_index" on "users" ("username" collate "C", "id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "users_username_bytewise_index";`);
    this.addSql(`drop table if exists "admin_event_checkpoints" cascade;`);
  }
}
