import { Migration } from '@mikro-orm/migrations';

export class Migration20261122033736 extends Migration {
  override name = 'Migration20261122033736';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "tenants" ("id" uuid not null, "name" varchar(255) not null, "created_at" timestamptz not null, primary key ("id"));`,
    );

    this.addSql(
      `create table "memberships" ("tenant_id" uuid not null, "user_id" uuid not null, "role" varchar(16) not null, "joined_at" timestamptz not null, primary key ("tenant_id", "user_id"));`,
    );
    this.addSql(`create index "memberships_user_id_index" on "memberships" ("user_id");`);

    this.addSql(
      `alter table "memberships" add constraint "memberships_tenant_id_foreign" foreign key ("tenant_id") references "tenants" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "memberships" add constraint "memberships_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "memberships" drop constraint "memberships_tenant_id_foreign";`);

    this.addSql(`drop table if exists "tenants" cascade;`);
    this.addSql(`drop table if exists "memberships" cascade;`);
  }
}
