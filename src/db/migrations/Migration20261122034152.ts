import { Migration } from '@mikro-orm/migrations';

export class Migration20261122034152 extends Migration {
  override name = 'Migration20261122034152';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "invitations" ("id" uuid not null, "tenant_id" uuid not null, "email" varchar(255) not null, "role" varchar(16) not null, "token_hash" varchar(64) not null, "status" varchar(16) not null default 'PENDING', "invited_by" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "accepted_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`alter table "invitations" add constraint "invitations_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "invitations_tenant_id_status_index" on "invitations" ("tenant_id", "status");`);

    this.addSql(
      `alter table "invitations" add constraint "invitations_tenant_id_foreign" foreign key ("tenant_id") references "tenants" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "invitations" cascade;`);
  }
}
