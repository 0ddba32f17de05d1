import type { LinkChanges } from '../roles/links.js';
import { changeLinked, linked, MirrorTables, moveLinks, removeWhere } from '../roles/roles.queries.fake.js';
import type { RoleRecord } from '../roles/role.type.js';
import type { GroupServiceQueries } from './group.service.js';
import type { GroupRecord } from './group.type.js';

/** The groups queries the group rules use, on MirrorTables (shared with FakeRolesQueries). */
export class FakeGroupsQueries implements GroupServiceQueries {
  constructor(readonly tables: MirrorTables = new MirrorTables()) {}

  within(): FakeGroupsQueries {
    return this;
  }

  async list(): Promise<GroupRecord[]> {
    return [...this.tables.groups.values()].map(({ id, name }) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  }

  async findByIds(ids: readonly string[]): Promise<GroupRecord[]> {
    return ids.flatMap((id) => {
      const group = this.tables.groups.get(id);
      return group ? [{ id: group.id, name: group.name }] : [];
    });
  }

  async isTopLevelNameTaken(name: string): Promise<boolean> {
    return [...this.tables.groups.values()].some((group) => group.name === name && group.parentId === null);
  }

  async rolesOf(groupId: string): Promise<RoleRecord[]> {
    return linked(this.tables.groupRoles, groupId).flatMap((id) => {
      const role = this.tables.roles.get(id);
      return role ? [{ ...role }] : [];
    });
  }

  async memberIdsOf(groupId: string): Promise<string[]> {
    return this.tables.userGroups.filter(([, group]) => group === groupId).map(([user]) => user);
  }

  async upsert(group: { id: string; name: string; parentId: string | null }): Promise<void> {
    this.tables.failIf('upsert group');
    this.tables.groups.set(group.id, { ...group });
  }

  async delete(groupId: string): Promise<void> {
    this.tables.failIf('delete group');
    this.tables.groups.delete(groupId);
    removeWhere(this.tables.groupRoles, ([group]) => group === groupId);
    removeWhere(this.tables.userGroups, ([, group]) => group === groupId);
  }

  async changeId(groupId: string, newId: string): Promise<void> {
    const group = this.tables.groups.get(groupId);
    if (!group) return;
    this.tables.groups.delete(groupId);
    this.tables.groups.set(newId, { ...group, id: newId });
    moveLinks(this.tables.groupRoles, groupId, newId);
    moveLinks(this.tables.userGroups, groupId, newId);
  }

  async changeRoles(groupId: string, changes: LinkChanges<{ id: string }>): Promise<void> {
    this.tables.failIf('change group roles');
    changeLinked(this.tables.groupRoles, groupId, changes);
  }

  async changeMembers(groupId: string, userIds: LinkChanges<{ id: string }>): Promise<void> {
    this.tables.failIf('change members');
    // user_groups rows are (user, group): flip the changes onto that side.
    for (const { id } of userIds.add) changeLinked(this.tables.userGroups, id, { add: [{ id: groupId }], remove: [] });
    for (const { id } of userIds.remove) changeLinked(this.tables.userGroups, id, { add: [], remove: [{ id: groupId }] });
  }
}
