import { Migration } from '@mikro-orm/migrations';

export class Migration20261122033233 extends Migration {
  override name = 'Migration20261122033233';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "audit_events" ("id" uuid not null, "at" timestamptz not null, "actor_id" uuid null, "action" varchar(64) not null, "target_type" varchar(32) not null, "target_id" varchar(255) null, "tenant_id" uuid null, "status" varchar(16) not null default 'PENDING', "details" jsonb null, "error" text null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "audit_events_status_at_idx" on "audit_events" ("status", "at");`);
    this.addSql(`create index "audit_events_at_id_idx" on "audit_events" ("at", "id");`);

    this.addSql(`create table "groups" ("id" uuid not null, "name" varchar(255) not null, primary key ("id"));`);
    this.addSql(`alter table "groups" add constraint "groups_name_unique" unique ("name");`);

    this.addSql(
      `create table "realm_roles" ("id" uuid not null, "name" varchar(255) not null, "kind" varchar(16) not null, "description" text null, primary key ("id"));`,
    );
    this.addSql(`alter table "realm_roles" add constraint "realm_roles_name_unique" unique ("name");`);

    this.addSql(`create table "group_roles" ("group_id" uuid not null, "role_id" uuid not null, primary key ("group_id", "role_id"));`);
    this.addSql(`create index "group_roles_role_id_index" on "group_roles" ("role_id");`);

    this.addSql(
      `create table "role_privileges" ("role_id" uuid not null, "privilege_id" uuid not null, primary key ("role_id", "privilege_id"));`,
    );
    this.addSql(`create index "role_privileges_privilege_id_index" on "role_privileges" ("privilege_id");`);

    this.addSql(`create table "user_groups" ("user_id" uuid not null, "group_id" uuid not null, primary key ("user_id", "group_id"));`);
    this.addSql(`create index "user_groups_group_id_index" on "user_groups" ("group_id");`);

    this.addSql(`create table "user_roles" ("user_id" uuid not null, "role_id" uuid not null, primary key ("user_id", "role_id"));`);
    this.addSql(`create index "user_roles_role_id_index" on "user_roles" ("role_id");`);

    this.addSql(
      `alter table "group_roles" add constraint "group_roles_group_id_foreign" foreign key ("group_id") references "groups" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "group_roles" add constraint "group_roles_role_id_foreign" foreign key ("role_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "role_privileges" add constraint "role_privileges_role_id_foreign" foreign key ("role_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "role_privileges" add constraint "role_privileges_privilege_id_foreign" foreign key ("privilege_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "user_groups" add constraint "user_groups_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "user_groups" add constraint "user_groups_group_id_foreign" foreign key ("group_id") references "groups" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "user_roles" add constraint "user_roles_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "user_roles" add constraint "user_roles_role_id_foreign" foreign key ("role_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "group_roles" drop constraint "group_roles_group_id_foreign";`);
    this.addSql(`alter table "user_groups" drop constraint "user_groups_group_id_foreign";`);
    this.addSql(`alter table "group_roles" drop constraint "group_roles_role_id_foreign";`);
    this.addSql(`alter table "role_privileges" drop constraint "role_privileges_role_id_foreign";`);
    this.addSql(`alter table "role_privileges" drop constraint "role_privileges_privilege_id_foreign";`);
    this.addSql(`alter table "user_roles" drop constraint "user_roles_role_id_foreign";`);

    this.addSql(`drop table if exists "audit_events" cascade;`);
    this.addSql(`drop table if exists "groups" cascade;`);
    this.addSql(`drop table if exists "realm_roles" cascade;`);
    this.addSql(`drop table if exists "group_roles" cascade;`);
    this.addSql(`drop table if exists "role_privileges" cascade;`);
    this.addSql(`drop table if exists "user_groups" cascade;`);
    this.addSql(`drop table if exists "user_roles" cascade;`);
  }
}
