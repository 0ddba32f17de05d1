import { Migration } from '@mikro-orm/migrations';

/** The trigger function on `users` that records identity events, its user's tenant being `tenant`. */
const usersTouch = (tenant: string) => `create or replace function "users_identity_touch"() returns trigger language plpgsql as $$
declare
  r record;
begin
  if tg_op <> 'INSERT' then r := old; perform identity_touch('user', r.id::text, 'User', r.id::text, ${tenant}); end if;
  if tg_op <> 'DELETE' then r := new; perform identity_touch('user', r.id::text, 'User', r.id::text, ${tenant}); end if;
  if tg_op = 'DELETE' then return old; end if;
  return new;
end $$;`;

/**
 * A user's identity events belong to no tenant, as their roles' and groups' already do.
 *
 * In realm tenancy they named the tenant whose realm the account lives in, so the tenant's
 * OWNER and ADMIN read them in `events` and `identityEvents`: every account of the realm,
 * member or not, with its attributes, `enabled` and `emailVerified`, which the API shows them
 * of no one but themselves (I6: co-members see id, name, email and tenant role). The
 * tenant's own events (the tenant, its memberships, its invitations) keep their tenant
 * (ATTACK2-15, test/integration/attack-2.test.ts).
 */
export class Migration20261205002500 extends Migration {
  override name = 'Migration20261205002500';

  override up(): void | Promise<void> {
    this.addSql(usersTouch('null'));
    this.addSql(`update "identity_events" set "tenant_id" = null where "subject_type" = 'User' and "tenant_id" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(usersTouch('(select t.id from tenants t where t.realm = r.realm)'));
  }
}
