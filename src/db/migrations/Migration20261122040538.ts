import { Migration } from '@mikro-orm/migrations';

export class Migration20261122040538 extends Migration {
  override name = 'Migration20261122040538';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "idempotency_keys" ("caller" varchar(255) not null, "key" varchar(255) not null, "request_hash" varchar(64) not null, "status" varchar(16) not null, "response" jsonb null, "created_at" timestamptz not null, "expires_at" timestamptz not null, primary key ("caller", "key"));`,
    );
    this.addSql(`create index "idempotency_keys_expires_at_index" on "idempotency_keys" ("expires_at");`);

    this.addSql(
      `create table "job_leases" ("name" varchar(64) not null, "holder" varchar(128) not null, "lease_until" timestamptz not null, "last_run_at" timestamptz null, primary key ("name"));`,
    );

    this.addSql(
      `create table "user_sync" ("user_id" uuid not null, "action" varchar(64) not null, "actor_id" uuid null, "attempts" int not null default 0, "next_at" timestamptz not null, "lease_until" timestamptz null, "last_error" text null, "created_at" timestamptz not null, primary key ("user_id"));`,
    );
    this.addSql(`create index "user_sync_next_at_index" on "user_sync" ("next_at");`);

    this.addSql(
      `alter table "user_sync" add constraint "user_sync_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "idempotency_keys" cascade;`);
    this.addSql(`drop table if exists "job_leases" cascade;`);
    this.addSql(`drop table if exists "user_sync" cascade;`);
  }
}
