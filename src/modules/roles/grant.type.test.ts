import { describe, expect, it } from 'vitest';
import { grantsOf } from './grant.type.js';
import type { GrantStepRecord } from './roles.queries.js';
import type { RoleRecord } from './role.type.js';

const privilege = (name: string): RoleRecord => ({ id: `id-${name}`, name, kind: 'PRIVILEGE', description: null });
const step = (kind: GrantStepRecord['kind'], name: string): GrantStepRecord => ({ kind, id: `id-${name}`, name });

describe('grantsOf', () => {
  it('gives each privilege once, by name, with every path: shortest first, then by the names along the way', () => {
    const read = privilege('priv_read');
    const write = privilege('priv_write');
    const rows = [
      { ...write, steps: [step('GROUP', 'team'), step('PRIVILEGE', 'priv_write')] },
      { ...read, steps: [step('GROUP', 'child'), step('GROUP', 'parent'), step('ROLE', 'role_reader'), step('PRIVILEGE', 'priv_read')] },
      { ...read, steps: [step('ROLE', 'role_reader'), step('PRIVILEGE', 'priv_read')] },
      { ...read, steps: [step('GROUP', 'team'), step('ROLE', 'role_reader'), step('PRIVILEGE', 'priv_read')] },
      { ...read, steps: [step('PRIVILEGE', 'priv_read')] },
      { ...read, steps: [step('ROLE', 'role_chain'), step('ROLE', 'role_reader'), step('PRIVILEGE', 'priv_read')] },
    ];
    const names = (grants: ReturnType<typeof grantsOf>) =>
      grants.map((grant) => [grant.privilege.name, grant.paths.map((path) => path.steps.map((s) => s.name).join(' > '))]);

    expect(names(grantsOf(rows))).toEqual([
      [
        'priv_read',
        [
          'priv_read',
          'role_reader > priv_read',
          'role_chain > role_reader > priv_read',
          'team > role_reader > priv_read',
          'child > parent > role_reader > priv_read',
        ],
      ],
      ['priv_write', ['team > priv_write']],
    ]);
    // The order does not depend on the order of the rows.
    expect(names(grantsOf([...rows].reverse()))).toEqual(names(grantsOf(rows)));
    expect(grantsOf(rows)[0]!.privilege).toEqual(read);
  });

  it('gives nothing for a user who holds no privilege', () => {
    expect(grantsOf([])).toEqual([]);
  });
});
