import { Migration } from '@mikro-orm/migrations';

/**
 * Identity events: a transactional outbox filled by the database itself (src/events/outbox.ts
 * says how it is read).
 *
 * Triggers rather than calls in each service: every writer of the mirror (a mutation, the
 * sync job, the reconciler, the directory sync, a login mirroring its user, a feature added
 * later) changes these tables, and a trigger runs in the very transaction of the change, so
 * no writer can forget its event and no event outlives a rolled-back change.
 *
 * - A BEFORE row trigger on each mirror table "touches" the subjects the row belongs to
 *   (an aspect and a key: the user, a user's roles, a group's members...): the first touch
 *   of a subject in a transaction inserts a pending event holding the subject's state before
 *   the transaction changed it; later touches of the same subject add nothing.
 * - At commit, a deferred constraint trigger reads each pending subject's state after the
 *   transaction and names the change (USER_CREATED, USER_ROLES_CHANGED...), or deletes the
 *   event when nothing changed in the end: a reconciler rewriting what the gateway already
 *   wrote reports nothing. It then NOTIFYs `identity_events_pending` (delivered on commit).
 * - The origin and actor come from transaction-local settings (`iam.event_origin`,
 *   `iam.event_actor`) that the journal and the jobs set; a change made without them is the
 *   mirror catching up with Keycloak (the reconciler, the directory sync, a login): KEYCLOAK.
 * - `position` stays null until the relay (src/events/outbox.ts) numbers committed events
 *   in the order it sees them: commit order, not insert order.
 *
 * States are built from named columns only: never a token hash, password or secret.
 */
export class Migration20261204230000 extends Migration {
  override name = 'Migration20261204230000';

  override up(): void | Promise<void> {
    this.addSql(`create table "identity_events" (
  "id" uuid not null default gen_random_uuid(),
  "seq" bigint generated always as identity,
  "position" bigint null,
  "tx_id" bigint not null,
  "aspect" varchar(32) not null,
  "subject_key" text not null,
  "type" varchar(64) null,
  "occurred_at" timestamptz not null,
  "origin" varchar(16) not null,
  "actor_id" uuid null,
  "subject_type" varchar(32) not null,
  "subject_id" varchar(255) not null,
  "tenant_id" uuid null,
  "before" jsonb null,
  "after" jsonb null,
  primary key ("id"),
  constraint "identity_events_position_unique" unique ("position"));`);
    this.addSql(
      `create unique index "identity_events_pending_idx" on "identity_events" ("tx_id", "aspect", "subject_key") where "position" is null;`,
    );
    this.addSql(`create index "identity_events_unrelayed_idx" on "identity_events" ("seq") where "position" is null;`);
    this.addSql(`create index "identity_events_subject_idx" on "identity_events" ("subject_id", "position");`);
    this.addSql(`create index "identity_events_tenant_idx" on "identity_events" ("tenant_id", "position");`);

    this.addSql(`create function "identity_state"(p_aspect text, p_key text) returns jsonb language sql stable as $$
  select case p_aspect
    when 'user' then (
      select jsonb_build_object('id', u.id, 'username', u.username, 'email', u.email, 'firstName', u.first_name,
        'lastName', u.last_name, 'enabled', u.enabled, 'emailVerified', u.email_verified, 'attributes', u.attributes,
        'realm', u.realm, 'createdAt', u.created_at)
      from users u where u.id = p_key::uuid)
    when 'user_roles' then (
      select jsonb_build_object('roles', coalesce((
        select jsonb_agg(jsonb_build_object('id', r.id, 'name', r.name) order by r.name, r.id)
        from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = u.id), '[]'::jsonb))
      from users u where u.id = p_key::uuid)
    when 'user_groups' then (
      select jsonb_build_object('groups', coalesce((
        select jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name) order by g.name, g.id)
        from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = u.id), '[]'::jsonb))
      from users u where u.id = p_key::uuid)
    when 'group_members' then (
      select jsonb_build_object('memberIds', coalesce((
        select jsonb_agg(ug.user_id order by ug.user_id) from user_groups ug where ug.group_id = g.id), '[]'::jsonb))
      from groups g where g.id = p_key::uuid)
    when 'role' then (
      select jsonb_build_object('id', r.id, 'name', r.name, 'kind', r.kind, 'description', r.description,
        'privilegeIds', coalesce((select jsonb_agg(p.privilege_id order by p.privilege_id) from role_privileges p where p.role_id = r.id), '[]'::jsonb),
        'compositeIds', coalesce((select jsonb_agg(c.child_id order by c.child_id) from role_composites c where c.role_id = r.id), '[]'::jsonb))
      from realm_roles r where r.id = p_key::uuid)
    when 'group' then (
      select jsonb_build_object('id', g.id, 'name', g.name, 'parentId', g.parent_id,
        'roleIds', coalesce((select jsonb_agg(gr.role_id order by gr.role_id) from group_roles gr where gr.group_id = g.id), '[]'::jsonb))
      from groups g where g.id = p_key::uuid)
    when 'tenant' then (
      select jsonb_build_object('id', t.id, 'name', t.name, 'realm', t.realm, 'createdAt', t.created_at)
      from tenants t where t.id = p_key::uuid)
    when 'membership' then (
      select jsonb_build_object('tenantId', m.tenant_id, 'userId', m.user_id, 'role', m.role, 'joinedAt', m.joined_at)
      from memberships m where m.tenant_id = split_part(p_key, ':', 1)::uuid and m.user_id = split_part(p_key, ':', 2)::uuid)
    when 'invitation' then (
      select jsonb_build_object('id', i.id, 'tenantId', i.tenant_id, 'email', i.email, 'role', i.role, 'status', i.status,
        'invitedBy', i.invited_by, 'createdAt', i.created_at, 'expiresAt', i.expires_at, 'acceptedAt', i.accepted_at)
      from invitations i where i.id = p_key::uuid)
  end
$$;`);

    this.addSql(`create function "identity_event_type"(aspect text, before jsonb, after jsonb) returns text language sql immutable as $$
  select case
    when before is not distinct from after then null
    when aspect in ('user_roles', 'user_groups', 'group_members') then
      -- A list whose owner came or went is told by the owner's own event.
      case when before is null or after is null then null
        else case aspect when 'user_roles' then 'USER_ROLES_CHANGED' when 'user_groups' then 'USER_GROUPS_CHANGED'
          else 'GROUP_MEMBERS_CHANGED' end end
    when aspect = 'invitation' and before is not null and after is not null and after->>'status' is distinct from before->>'status'
      and after->>'status' in ('ACCEPTED', 'REVOKED') then 'INVITATION_' || (after->>'status')
    else upper(aspect) || case when before is null then '_CREATED' when after is null then '_DELETED' else '_UPDATED' end
  end
$$;`);

    this.addSql(`create function "identity_touch"(p_aspect text, p_key text, p_subject_type text, p_subject_id text, p_tenant_id uuid)
returns void language plpgsql as $$
declare
  tx bigint := pg_current_xact_id()::text::bigint;
begin
  -- The state before the transaction is the one seen at its first touch: later ones add nothing.
  if exists (select 1 from identity_events e where e.tx_id = tx and e.aspect = p_aspect and e.subject_key = p_key and e.position is null) then
    return;
  end if;
  insert into identity_events (tx_id, aspect, subject_key, occurred_at, origin, actor_id, subject_type, subject_id, tenant_id, before)
  values (tx, p_aspect, p_key, statement_timestamp(),
    coalesce(nullif(current_setting('iam.event_origin', true), ''), 'KEYCLOAK'),
    nullif(current_setting('iam.event_actor', true), '')::uuid,
    p_subject_type, p_subject_id, p_tenant_id, identity_state(p_aspect, p_key))
  on conflict (tx_id, aspect, subject_key) where position is null do nothing;
end $$;`);

    // One trigger function per table: which subjects a row of it belongs to.
    const touches: Record<string, string> = {
      users: `perform identity_touch('user', r.id::text, 'User', r.id::text, (select t.id from tenants t where t.realm = r.realm));`,
      user_roles: `perform identity_touch('user_roles', r.user_id::text, 'User', r.user_id::text, null);`,
      user_groups: `perform identity_touch('user_groups', r.user_id::text, 'User', r.user_id::text, null);
    perform identity_touch('group_members', r.group_id::text, 'Group', r.group_id::text, null);`,
      realm_roles: `perform identity_touch('role', r.id::text, 'Role', r.id::text, null);`,
      role_privileges: `perform identity_touch('role', r.role_id::text, 'Role', r.role_id::text, null);`,
      role_composites: `perform identity_touch('role', r.role_id::text, 'Role', r.role_id::text, null);`,
      groups: `perform identity_touch('group', r.id::text, 'Group', r.id::text, null);`,
      group_roles: `perform identity_touch('group', r.group_id::text, 'Group', r.group_id::text, null);`,
      tenants: `perform identity_touch('tenant', r.id::text, 'Tenant', r.id::text, r.id);`,
      memberships: `perform identity_touch('membership', r.tenant_id || ':' || r.user_id, 'Membership', r.user_id::text, r.tenant_id);`,
      invitations: `perform identity_touch('invitation', r.id::text, 'Invitation', r.id::text, r.tenant_id);`,
    };
    // A role or group that goes (or changes its id) takes itself from its holders' lists, by
    // cascade once its row is gone: their lists are touched first, while it is still there.
    const leaving: Record<string, string> = {
      realm_roles: `perform identity_touch('user_roles', ur.user_id::text, 'User', ur.user_id::text, null) from user_roles ur where ur.role_id = old.id;`,
      groups: `perform identity_touch('user_groups', ug.user_id::text, 'User', ug.user_id::text, null) from user_groups ug where ug.group_id = old.id;`,
    };
    for (const [table, touch] of Object.entries(touches)) {
      const leaves = leaving[table]
        ? `if tg_op = 'DELETE' then ${leaving[table]} elsif old.id is distinct from new.id then ${leaving[table]} end if;`
        : '';
      this.addSql(`create function "${table}_identity_touch"() returns trigger language plpgsql as $$
declare
  r record;
begin
  if tg_op <> 'INSERT' then r := old; ${touch} ${leaves} end if;
  if tg_op <> 'DELETE' then r := new; ${touch} end if;
  if tg_op = 'DELETE' then return old; end if;
  return new;
end $$;`);
      this.addSql(
        `create trigger "${table}_identity_touch" before insert or update or delete on "${table}" for each row execute function "${table}_identity_touch"();`,
      );
    }

    this.addSql(`create function "identity_events_settle"() returns trigger language plpgsql as $$
declare
  state jsonb;
  name text;
begin
  if new.type is null then
    state := identity_state(new.aspect, new.subject_key);
    name := identity_event_type(new.aspect, new.before, state);
    if name is null then
      delete from identity_events where id = new.id;
      return null;
    end if;
    update identity_events set type = name, after = state where id = new.id;
  end if;
  perform pg_notify('identity_events_pending', '');
  return null;
end $$;`);
    this.addSql(
      `create constraint trigger "identity_events_settle" after insert on "identity_events" deferrable initially deferred for each row execute function "identity_events_settle"();`,
    );
  }

  override down(): void | Promise<void> {
    for (const table of [
      'users',
      'user_roles',
      'user_groups',
      'realm_roles',
      'role_privileges',
      'role_composites',
      'groups',
      'group_roles',
      'tenants',
      'memberships',
      'invitations',
    ]) {
      this.addSql(`drop trigger "${table}_identity_touch" on "${table}";`);
      this.addSql(`drop function "${table}_identity_touch"();`);
    }
    this.addSql(`drop table if exists "identity_events" cascade;`);
    this.addSql(`drop function "identity_events_settle"();`);
    this.addSql(`drop function "identity_touch"(text, text, text, text, uuid);`);
    this.addSql(`drop function "identity_event_type"(text, jsonb, jsonb);`);
    this.addSql(`drop function "identity_state"(text, text);`);
  }
}
