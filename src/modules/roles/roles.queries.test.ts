import { describe, expect, it } from 'vitest';
import { holdersCondition } from './roles.queries.js';

describe('holdersCondition', () => {
  const reach = { roleIds: ['r1', 'r2'], groupIds: ['g1'], common: true };

  it('checks each user through the primary keys when walking, and collects the holders through the role_id and group_id indexes otherwise', () => {
    expect(holdersCondition(reach, 'walk')).toEqual({
      clause:
        'exists (select 1 from user_roles ur where ur.user_id = u.id and ur.role_id in (?) union all ' +
        'select 1 from user_groups ug where ug.user_id = u.id and ug.group_id in (?))',
      params: [['r1', 'r2'], ['g1']],
    });
    expect(holdersCondition(reach, 'collect')).toEqual({
      clause:
        'u.id in (select ur.user_id from user_roles ur where ur.role_id in (?) union all select ug.user_id from user_groups ug where ug.group_id in (?))',
      params: [['r1', 'r2'], ['g1']],
    });
  });

  it('leaves out a side with no ids, and matches no one when nothing reaches the privilege', () => {
    expect(holdersCondition({ ...reach, groupIds: [] }, 'collect')).toEqual({
      clause: 'u.id in (select ur.user_id from user_roles ur where ur.role_id in (?))',
      params: [['r1', 'r2']],
    });
    expect(holdersCondition({ ...reach, roleIds: [] }, 'walk')).toEqual({
      clause: 'exists (select 1 from user_groups ug where ug.user_id = u.id and ug.group_id in (?))',
      params: [['g1']],
    });
    expect(holdersCondition({ roleIds: [], groupIds: [], common: false }, 'walk')).toEqual({ clause: 'false', params: [] });
  });

  it('without the groups named, walks each user’s groups up through their parents, and collects the groups in the statement itself', () => {
    const unnamed = { roleIds: ['r1', 'r2'], groupIds: null, common: true };
    const walk = holdersCondition(unnamed, 'walk');
    expect(walk.params).toEqual([
      ['r1', 'r2'],
      ['r1', 'r2'],
    ]);
    expect(walk.clause).toMatch(/^exists \(/);
    expect(walk.clause).toContain('select ug.group_id from user_groups ug where ug.user_id = u.id');
    expect(walk.clause).toContain('where id = up.group_id and parent_id is not null');
    const collect = holdersCondition(unnamed, 'collect');
    expect(collect.params).toEqual([
      ['r1', 'r2'],
      ['r1', 'r2'],
    ]);
    expect(collect.clause).toMatch(/^u\.id in \(with recursive reached_groups/);
    expect(collect.clause).not.toContain('u.id =');
  });
});
