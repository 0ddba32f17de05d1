import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { UndoLog } from '../../journal/journal.js';
import type { LinkChanges } from '../roles/links.js';
import { changeSet, describe } from '../roles/roles.directory.fake.js';
import type { RoleRef } from '../roles/role.type.js';
import type { GroupRecord, GroupState } from './group.type.js';
import type { GroupsDirectory } from './groups.directory.js';

interface FakeGroup {
  id: string;
  name: string;
  parentId: string | null;
  roleIds: Set<string>;
  memberIds: Set<string>;
}

/**
 * Keycloak's groups in memory, for unit tests: the same interface, the same undos.
 * `failing` names calls that throw once; `calls` lists the writes made, undos included;
 * `sessionsEnded` the users whose sessions were ended.
 */
export class FakeGroupsDirectory implements GroupsDirectory {
  readonly groups = new Map<string, FakeGroup>();
  readonly failing = new Set<string>();
  readonly calls: string[] = [];
  readonly sessionsEnded: string[] = [];

  async create(name: string, roles: readonly RoleRef[], undo: UndoLog): Promise<string> {
    const id = this.createGroup(name, roles, []);
    undo.push(`delete group ${name}`, async () => this.deleteGroup(id));
    return id;
  }

  async changeRoles({ id, name }: GroupRecord, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    changeSet(this.write(`change roles of ${name}`, id, describe(roles)).roleIds, roles, undo, `roles of ${name}`);
  }

  async changeMembers({ id, name }: GroupRecord, userIds: LinkChanges<{ id: string }>, undo: UndoLog): Promise<void> {
    const group = this.group(id);
    // One call per member, as Keycloak takes them: a failure stops halfway.
    for (const user of userIds.add) {
      this.write(`add ${user.id} to ${name}`, id);
      changeSet(group.memberIds, { add: [user], remove: [] }, undo, `member ${user.id} of ${name}`);
    }
    for (const user of userIds.remove) {
      this.write(`remove ${user.id} from ${name}`, id);
      changeSet(group.memberIds, { add: [], remove: [user] }, undo, `member ${user.id} of ${name}`);
    }
  }

  async delete(
    group: GroupRecord,
    roles: readonly RoleRef[],
    memberIds: readonly string[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void> {
    this.write(`delete group ${group.name}`, group.id);
    this.deleteGroup(group.id);
    undo.push(`re-create group ${group.name}`, async () => recreated(this.createGroup(group.name, roles, memberIds)));
  }

  async endSessions(userId: string): Promise<void> {
    this.sessionsEnded.push(userId);
  }

  async changeUserGroups(userId: string, groups: LinkChanges<GroupRecord>, undo: UndoLog): Promise<void> {
    for (const group of groups.add) {
      this.write(`add ${userId} to ${group.name}`, group.id);
      changeSet(this.group(group.id).memberIds, { add: [{ id: userId }], remove: [] }, undo, `member ${userId} of ${group.name}`);
    }
    for (const group of groups.remove) {
      this.write(`remove ${userId} from ${group.name}`, group.id);
      changeSet(this.group(group.id).memberIds, { add: [], remove: [{ id: userId }] }, undo, `member ${userId} of ${group.name}`);
    }
  }

  async groupIdsOfUser(userId: string): Promise<string[]> {
    return [...this.groups.values()].filter((group) => group.memberIds.has(userId)).map((group) => group.id);
  }

  async memberIdsOf(groupId: string): Promise<Set<string>> {
    return new Set(this.groups.get(groupId)?.memberIds);
  }

  async list(): Promise<Map<string, GroupState>> {
    return new Map([...this.groups.keys()].map((id) => [id, this.stateOf(id)!]));
  }

  async read(id: string): Promise<GroupState | null> {
    return this.stateOf(id);
  }

  private stateOf(id: string): GroupState | null {
    const group = this.groups.get(id);
    return group ? { id, name: group.name, parentId: group.parentId, roleIds: [...group.roleIds].sort() } : null;
  }

  private createGroup(name: string, roles: readonly RoleRef[], memberIds: readonly string[]): string {
    this.fail(`create group ${name}`);
    if ([...this.groups.values()].some((group) => group.name === name && group.parentId === null)) {
      throw new AppError('CONFLICT', `Top level group named '${name}' already exists.`);
    }
    const id = randomUUID();
    this.groups.set(id, { id, name, parentId: null, roleIds: new Set(roles.map((role) => role.id)), memberIds: new Set(memberIds) });
    this.calls.push(`create group ${name}`);
    return id;
  }

  private deleteGroup(id: string): void {
    const group = this.groups.get(id);
    for (const other of this.groups.values()) if (other.parentId === id) this.deleteGroup(other.id);
    this.groups.delete(id);
    this.calls.push(`delete group ${group?.name ?? id}`);
  }

  private group(id: string): FakeGroup {
    const group = this.groups.get(id);
    if (!group) throw new AppError('NOT_FOUND', `Could not find group by id ${id}`);
    return group;
  }

  /** The group a write names, after the failure planned for that write, if any. */
  private write(call: string, id: string, details?: string): FakeGroup {
    this.fail(call);
    const group = this.group(id);
    this.calls.push(details ? `${call}: ${details}` : call);
    return group;
  }

  private fail(call: string): void {
    if (this.failing.delete(call)) throw new Error(`Keycloak failed: ${call}`);
  }
}
