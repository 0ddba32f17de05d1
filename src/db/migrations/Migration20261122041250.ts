import { Migration } from '@mikro-orm/migrations';

export class Migration20261122041250 extends Migration {
  override name = 'Migration20261122041250';

  override up(): void | Promise<void> {
    this.addSql(`alter table "tenants" add "realm" varchar(255) null;`);
    this.addSql(`alter table "tenants" add constraint "tenants_realm_unique" unique ("realm");`);

    this.addSql(`alter table "users" drop constraint "users_email_unique";`);
    this.addSql(`alter table "users" drop constraint "users_username_unique";`);
    this.addSql(`alter table "users" add "realm" varchar(255) null;`);
    this.addSql(`create unique index "users_realm_username_unique" on "users" ("realm", "username") where realm is not null;`);
    this.addSql(`create unique index "users_realm_email_unique" on "users" ("realm", "email") where realm is not null;`);
    this.addSql(`create unique index "users_email_unique" on "users" ("email") where realm is null;`);
    this.addSql(`create unique index "users_username_unique" on "users" ("username") where realm is null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "tenants" drop constraint "tenants_realm_unique";`);
    this.addSql(`alter table "tenants" drop column "realm";`);

    this.addSql(`drop index "users_realm_username_unique";`);
    this.addSql(`drop index "users_realm_email_unique";`);
    this.addSql(`drop index "users_username_unique";`);
    this.addSql(`drop index "users_email_unique";`);
    this.addSql(`alter table "users" drop column "realm";`);
    this.addSql(`alter table "users" add constraint "users_username_unique" unique ("username");`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);
  }
}
