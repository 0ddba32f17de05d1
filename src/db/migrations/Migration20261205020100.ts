import { Migration } from '@mikro-orm/migrations';

/** identity_events_settle as Migration20261204230000 made it, with `named` for how a named event is written. */
const settle = (named: string) => `create or replace function "identity_events_settle"() returns trigger language plpgsql as $$
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
    ${named}
  end if;
  perform pg_notify('identity_events_pending', '');
  return null;
end $$;`;

const AS_BEFORE = `update identity_events set type = name, after = state where id = new.id;`;

/**
 * GROUP_MEMBERS_CHANGED tells what changed, not the whole member list twice (ATTACK3-3,
 * test/integration/attack-3.test.ts).
 *
 * Its before and after held every member's id: with N members, each join or leave wrote
 * about 2 × N × 40 bytes to identity_events and sent as much to every webhook endpoint and
 * subscriber, so a group growing to N one member at a time cost O(N²). A group's members are
 * now told as their count before, and after it the count with the ids that joined and left:
 * the size of the change. The full list is still read once a transaction while it is pending
 * (the state at its first touch), and settled into the change at commit. Events already
 * written keep their shape.
 */
export class Migration20261205020100 extends Migration {
  override name = 'Migration20261205020100';

  override up(): void | Promise<void> {
    this.addSql(`create function "identity_members_change"(before jsonb, after jsonb) returns jsonb language sql immutable as $$
  select jsonb_build_object(
    'memberCount', jsonb_array_length(after->'memberIds'),
    'addedMemberIds', coalesce((select jsonb_agg(id order by id) from (
      select jsonb_array_elements_text(after->'memberIds') except select jsonb_array_elements_text(before->'memberIds')) as added(id)), '[]'::jsonb),
    'removedMemberIds', coalesce((select jsonb_agg(id order by id) from (
      select jsonb_array_elements_text(before->'memberIds') except select jsonb_array_elements_text(after->'memberIds')) as removed(id)), '[]'::jsonb))
$$;`);
    this.addSql(
      settle(`if new.aspect = 'group_members' then
      update identity_events set type = name,
        before = jsonb_build_object('memberCount', jsonb_array_length(new.before->'memberIds')),
        after = identity_members_change(new.before, state)
      where id = new.id;
    else
      ${AS_BEFORE}
    end if;`),
    );
  }

  override down(): void | Promise<void> {
    this.addSql(settle(AS_BEFORE));
    this.addSql(`drop function "identity_members_change"(jsonb, jsonb);`);
  }
}
