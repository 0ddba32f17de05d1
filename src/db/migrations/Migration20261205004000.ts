import { Migration } from '@mikro-orm/migrations';

/** The trigger function on `table` that records identity events (Migration20261204230000), with `leaving` for an old row. */
const touchFunction = (
  table: string,
  touch: string,
  leaving: string,
) => `create or replace function "${table}_identity_touch"() returns trigger language plpgsql as $$
declare
  r record;
begin
  if tg_op <> 'INSERT' then r := old; ${touch} ${leaving} end if;
  if tg_op <> 'DELETE' then r := new; ${touch} end if;
  if tg_op = 'DELETE' then return old; end if;
  return new;
end $$;`;

const ROLE_TOUCH = `perform identity_touch('role', r.id::text, 'Role', r.id::text, null);`;
const GROUP_TOUCH = `perform identity_touch('group', r.id::text, 'Group', r.id::text, null);`;

/** Touches `statement` when the old row goes or changes its id (`new` is unset in a DELETE: no `or`). */
const whenLeaving = (statement: string) =>
  `if tg_op = 'DELETE' then ${statement} elsif old.id is distinct from new.id then ${statement} end if;`;

/**
 * A role or group that goes (or changes its id) takes itself from its holders' lists, by
 * cascade once its row is gone, when the lists (which name their roles and groups) no longer
 * can: its holders' lists are touched first, while it is still there, so that each holder
 * gets its USER_ROLES_CHANGED or USER_GROUPS_CHANGED.
 */
export class Migration20261205004000 extends Migration {
  override name = 'Migration20261205004000';

  override up(): void | Promise<void> {
    this.addSql(
      touchFunction(
        'realm_roles',
        ROLE_TOUCH,
        whenLeaving(
          `perform identity_touch('user_roles', ur.user_id::text, 'User', ur.user_id::text, null) from user_roles ur where ur.role_id = old.id;`,
        ),
      ),
    );
    this.addSql(
      touchFunction(
        'groups',
        GROUP_TOUCH,
        whenLeaving(
          `perform identity_touch('user_groups', ug.user_id::text, 'User', ug.user_id::text, null) from user_groups ug where ug.group_id = old.id;`,
        ),
      ),
    );
  }

  override down(): void | Promise<void> {
    this.addSql(touchFunction('realm_roles', ROLE_TOUCH, ''));
    this.addSql(touchFunction('groups', GROUP_TOUCH, ''));
  }
}
