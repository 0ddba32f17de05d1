import { Migration } from '@mikro-orm/migrations';

/**
 * What effective roles need from the mirror, as Keycloak computes them for a token:
 * subgroups with their parent (a member of a subgroup holds its ancestors' roles), and
 * the composite links beyond role → privilege (a role composed of roles, a privilege
 * composed of anything), both of which Keycloak's console can make.
 */
export class Migration20261201222425 extends Migration {
  override name = 'Migration20261201222425';

  override up(): void | Promise<void> {
    this.addSql(`create table "role_composites" ("role_id" uuid not null, "child_id" uuid not null, primary key ("role_id", "child_id"));`);
    this.addSql(`create index "role_composites_child_id_index" on "role_composites" ("child_id");`);
    this.addSql(
      `alter table "role_composites" add constraint "role_composites_role_id_foreign" foreign key ("role_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "role_composites" add constraint "role_composites_child_id_foreign" foreign key ("child_id") references "realm_roles" ("id") on update cascade on delete cascade;`,
    );

    // Keycloak keeps names unique among siblings only: a subgroup may share a top-level group's name.
    this.addSql(`alter table "groups" drop constraint "groups_name_unique";`);
    this.addSql(`alter table "groups" add "parent_id" uuid null;`);
    this.addSql(
      `alter table "groups" add constraint "groups_parent_id_foreign" foreign key ("parent_id") references "groups" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(`create unique index "groups_parent_id_name_unique" on "groups" ("parent_id", "name") nulls not distinct;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "role_composites" cascade;`);
    this.addSql(`delete from "groups" where "parent_id" is not null;`);
    this.addSql(`drop index "groups_parent_id_name_unique";`);
    this.addSql(`alter table "groups" drop constraint "groups_parent_id_foreign";`);
    this.addSql(`alter table "groups" drop column "parent_id";`);
    this.addSql(`alter table "groups" add constraint "groups_name_unique" unique ("name");`);
  }
}
