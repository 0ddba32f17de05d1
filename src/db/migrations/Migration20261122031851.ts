import { Migration } from '@mikro-orm/migrations';

export class Migration20261122031851 extends Migration {
  override name = 'Migration20261122031851';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "users" ("id" uuid not null, "username" varchar(255) not null, "email" varchar(255) not null, "first_name" varchar(255) not null, "last_name" varchar(255) not null, "enabled" boolean not null default true, "email_verified" boolean not null default false, "attributes" jsonb not null, "sync_status" varchar(16) not null default 'SYNCED', "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "users" add constraint "users_username_unique" unique ("username");`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);
    this.addSql(`create index "users_created_at_id_idx" on "users" ("created_at", "id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "users" cascade;`);
  }
}
