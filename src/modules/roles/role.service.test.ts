import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FakeJournal } from '../../journal/journal.fake.js';
import { RoleService } from './role.service.js';
import type { RoleRecord } from './role.type.js';
import { FakeRolesDirectory } from './roles.directory.fake.js';
import { FakeRolesQueries, MirrorTables } from './roles.queries.fake.js';
import { failure } from '../../../test/support/failure.js';

/** A realm and its mirror in step: the privileges and roles provisioning makes, in both. */
function setUp() {
  const directory = new FakeRolesDirectory();
  const tables = new MirrorTables();
  const queries = new FakeRolesQueries(tables);
  const journal = new FakeJournal();
  const mirror = (name: string, compositeIds: string[] = []): RoleRecord => {
    const { id } = directory.seed(name, null, compositeIds);
    const role: RoleRecord = { id, name, kind: name.startsWith('priv_') ? 'PRIVILEGE' : 'ROLE', description: null };
    tables.roles.set(id, role);
    for (const child of compositeIds) tables.rolePrivileges.push([id, child]);
    return role;
  };
  const review = mirror('priv_code_review');
  const billing = mirror('priv_billing');
  const admin = mirror('role_admin');
  const support = mirror('role_support', [review.id]);
  const service = new RoleService({ queries, directory, journal });
  return { service, directory, tables, queries, journal, review, billing, admin, support };
}

describe('RoleService', () => {
  it('createRole prepends role_, makes the role a composite of its privileges in Keycloak, mirrors both and journals SUCCEEDED', async () => {
    const { service, directory, tables, journal, review } = setUp();

    const role = await service.create({ roleName: ' auditor ', description: ' Reads ', privilegeIds: [review.id] }, 'actor-1');

    expect(role).toMatchObject({ name: 'role_auditor', kind: 'ROLE', description: 'Reads' });
    expect([...directory.roles.get(role.id)!.compositeIds]).toEqual([review.id]);
    expect(tables.rolePrivileges).toContainEqual([role.id, review.id]);
    expect(journal.entries).toEqual([
      expect.objectContaining({ action: 'ROLE_CREATE', targetId: role.id, actorId: 'actor-1', status: 'SUCCEEDED' }),
    ]);
  });

  it('createRole answers CONFLICT for a name the mirror knows, before any Keycloak call', async () => {
    const { service, directory, journal } = setUp();

    const error = await failure(service.create({ roleName: 'support' }, null));

    expect(error.code).toBe('CONFLICT');
    expect(directory.calls).toEqual([]);
    expect(journal.entries).toEqual([]);
  });

  it('createRole answers NOT_FOUND for an unknown privilege id and BAD_USER_INPUT for a role given as a privilege', async () => {
    const { service, directory, support } = setUp();

    expect((await failure(service.create({ roleName: 'x', privilegeIds: [randomUUID()] }, null))).code).toBe('NOT_FOUND');
    const wrongKind = await failure(service.create({ roleName: 'x', privilegeIds: [support.id] }, null));
    expect(wrongKind.code).toBe('BAD_USER_INPUT');
    expect(wrongKind.message).toContain('role_support');
    expect(directory.calls).toEqual([]);
  });

  it('createRole deletes the new Keycloak role when the mirror refuses it: COMPENSATED', async () => {
    const { service, directory, tables, journal } = setUp();
    tables.failing.add('upsert role');

    await expect(service.create({ roleName: 'auditor' }, null)).rejects.toThrow();

    expect([...directory.roles.values()].map((role) => role.name)).not.toContain('role_auditor');
    expect(journal.entries.at(-1)?.status).toBe('COMPENSATED');
  });

  it('updateRole changes only what is given: the description alone, then a privilege alone', async () => {
    const { service, directory, billing, support } = setUp();

    await service.update(support.id, { description: 'Helps' }, null);
    const role = await service.update(support.id, { privilegeIdsToAdd: [billing.id] }, null);

    expect(role.description).toBe('Helps');
    // The description alone changes no privilege: the privileges' call has nothing to send.
    expect(directory.calls).toEqual([
      'set description of role_support',
      'change privileges of role_support',
      'change privileges of role_support: +priv_billing',
    ]);
  });

  it('updateRole sends only real changes: a privilege already held is not added again, one not held is not removed', async () => {
    const { service, directory, tables, review, billing, support } = setUp();

    const role = await service.update(
      support.id,
      { description: 'Helps', privilegeIdsToAdd: [review.id, billing.id], privilegeIdsToRemove: [] },
      null,
    );
    await service.update(support.id, { privilegeIdsToAdd: [], privilegeIdsToRemove: [billing.id, billing.id] }, null);

    expect(role.description).toBe('Helps');
    expect(directory.calls).toEqual([
      'set description of role_support',
      'change privileges of role_support: +priv_billing',
      'change privileges of role_support: -priv_billing',
    ]);
    expect([...directory.roles.get(support.id)!.compositeIds]).toEqual([review.id]);
    expect(tables.rolePrivileges.filter(([role]) => role === support.id)).toEqual([[support.id, review.id]]);
  });

  it('updateRole restores the description in Keycloak when changing the privileges fails: FAILED, mirror unchanged', async () => {
    const { service, directory, tables, journal, billing, support } = setUp();
    directory.failing.add('change privileges of role_support');

    await expect(
      service.update(support.id, { description: 'New', privilegeIdsToAdd: [billing.id], privilegeIdsToRemove: [] }, null),
    ).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });

    expect(directory.roles.get(support.id)!.description).toBeNull();
    expect(tables.roles.get(support.id)!.description).toBeNull();
    expect(journal.entries.at(-1)?.status).toBe('FAILED');
  });

  it('updateRole refuses a privilege id: privileges are read-only', async () => {
    const { service, review } = setUp();

    const error = await failure(service.update(review.id, { description: 'x', privilegeIdsToAdd: [], privilegeIdsToRemove: [] }, null));

    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toContain('priv_code_review is a privilege');
  });

  it('deleteRole answers CONFLICT naming how many users and groups hold the role, and deletes nothing', async () => {
    const { service, directory, tables, support } = setUp();
    tables.userRoles.push([randomUUID(), support.id], [randomUUID(), support.id]);
    tables.groupRoles.push([randomUUID(), support.id]);

    const error = await failure(service.delete(support.id, null));

    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('Role role_support is assigned to 2 users and 1 group; remove it from them first');
    expect(directory.roles.has(support.id)).toBe(true);
  });

  it('deleteRole refuses role_admin: the gateway depends on it', async () => {
    const { service, directory, admin } = setUp();

    expect((await failure(service.delete(admin.id, null))).code).toBe('CONFLICT');
    expect(directory.calls).toEqual([]);
  });

  it('deleteRole removes the role from Keycloak and the mirror', async () => {
    const { service, directory, tables, journal, support } = setUp();

    await service.delete(support.id, 'actor-1');

    expect(directory.roles.has(support.id)).toBe(false);
    expect(tables.roles.has(support.id)).toBe(false);
    expect(journal.entries.at(-1)).toMatchObject({
      action: 'ROLE_DELETE',
      status: 'SUCCEEDED',
      details: { privileges: ['priv_code_review'] },
    });
  });

  it('deleteRole re-creates the role with its privileges when the local delete fails, and the mirror follows its new id: COMPENSATED', async () => {
    const { service, directory, tables, journal, review, support } = setUp();
    tables.failing.add('delete role');

    await expect(service.delete(support.id, null)).rejects.toThrow();

    const [again] = [...directory.roles.values()].filter((role) => role.name === 'role_support');
    expect(again!.id).not.toBe(support.id);
    expect([...again!.compositeIds]).toEqual([review.id]);
    expect(tables.roles.get(again!.id)).toMatchObject({ name: 'role_support' });
    expect(tables.rolePrivileges).toContainEqual([again!.id, review.id]);
    expect(journal.entries.at(-1)?.status).toBe('COMPENSATED');
  });
});
