import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type GroupRepresentation from '@keycloak/keycloak-admin-client/lib/defs/groupRepresentation.js';
import { endSessions, type UndoLog } from '../../journal/journal.js';
import type { LinkChanges } from '../roles/links.js';
import { applyLinkChanges, isManaged, pagedIds, toMapping, unlessVanished } from '../roles/roles.directory.js';
import type { RoleRef } from '../roles/role.type.js';
import type { GroupRecord, GroupState } from './group.type.js';

/**
 * The only code that calls Keycloak about groups: the groups themselves, their role
 * mappings and their members. Every write registers its undo on the journal's UndoLog as
 * soon as it succeeded.
 */
export interface GroupsDirectory {
  /** Creates a top-level group with its role mappings; its undo deletes it. Returns its id. */
  create(name: string, roles: readonly RoleRef[], undo: UndoLog): Promise<string>;
  changeRoles(group: GroupRecord, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void>;
  changeMembers(group: GroupRecord, userIds: LinkChanges<{ id: string }>, undo: UndoLog): Promise<void>;
  /**
   * Deletes the group. Keycloak cannot bring a group back under its old id, so the undo
   * makes it again (name, role mappings, members) and hands the new id to `recreated`.
   */
  delete(
    group: GroupRecord,
    roles: readonly RoleRef[],
    memberIds: readonly string[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void>;
  /**
   * Ends every session of a user who lost a group's roles (src/journal/journal.ts,
   * endSessions). Nothing to undo.
   */
  endSessions(userId: string): Promise<void>;

  /** Puts a user into groups and takes them out (one call per group, additions first). */
  changeUserGroups(userId: string, groups: LinkChanges<GroupRecord>, undo: UndoLog): Promise<void>;
  /** Ids of the groups Keycloak has a user in. */
  groupIdsOfUser(userId: string): Promise<string[]>;
  /** Ids of a group's members. */
  memberIdsOf(groupId: string): Promise<Set<string>>;

  /** Every group, subgroups at any depth included, with its role mappings. */
  list(): Promise<Map<string, GroupState>>;
  /** The group as Keycloak holds it now; null when it is gone. */
  read(id: string): Promise<GroupState | null>;
}

/** Keycloak lists a group's subgroups ten at a time unless told otherwise. */
const SUBGROUP_PAGE = 100;

/** The groups directory on a Keycloak realm. */
export class KeycloakGroupsDirectory implements GroupsDirectory {
  constructor(private readonly keycloak: KeycloakAdminClient) {}

  create(name: string, roles: readonly RoleRef[], undo: UndoLog): Promise<string> {
    return this.createGroup(name, roles, [], undo);
  }

  changeRoles({ id, name }: GroupRecord, roles: LinkChanges<RoleRef>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      `roles of ${name}`,
      roles,
      (items) => this.keycloak.groups.addRealmRoleMappings({ id, roles: items.map(toMapping) }),
      (items) => this.keycloak.groups.delRealmRoleMappings({ id, roles: items.map(toMapping) }),
    );
  }

  changeMembers({ id, name }: GroupRecord, userIds: LinkChanges<{ id: string }>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      `members of ${name}`,
      userIds,
      ([user]) => this.keycloak.users.addToGroup({ id: user!.id, groupId: id }),
      ([user]) => this.keycloak.users.delFromGroup({ id: user!.id, groupId: id }),
      // Keycloak adds and removes members one per call.
      { oneByOne: true },
    );
  }

  async delete(
    group: GroupRecord,
    roles: readonly RoleRef[],
    memberIds: readonly string[],
    undo: UndoLog,
    recreated: (newId: string) => Promise<void>,
  ): Promise<void> {
    await this.keycloak.groups.del({ id: group.id });
    undo.push(`re-create group ${group.name}`, async () => recreated(await this.createGroup(group.name, roles, memberIds)));
  }

  endSessions(userId: string): Promise<void> {
    return endSessions(this.keycloak, userId);
  }

  changeUserGroups(userId: string, groups: LinkChanges<GroupRecord>, undo: UndoLog): Promise<void> {
    return applyLinkChanges(
      undo,
      'groups of the user',
      groups,
      ([group]) => this.keycloak.users.addToGroup({ id: userId, groupId: group!.id }),
      ([group]) => this.keycloak.users.delFromGroup({ id: userId, groupId: group!.id }),
      { oneByOne: true },
    );
  }

  async groupIdsOfUser(userId: string): Promise<string[]> {
    return (await this.keycloak.users.listGroups({ id: userId, briefRepresentation: true })).map((group) => group.id!);
  }

  memberIdsOf(groupId: string): Promise<Set<string>> {
    return pagedIds((first, max) => this.keycloak.groups.listMembers({ id: groupId, first, max, briefRepresentation: true }));
  }

  async list(): Promise<Map<string, GroupState>> {
    const listed: { id: string; name: string; parentId: string | null }[] = [];
    let level = (await this.keycloak.groups.find({ briefRepresentation: true, max: 10_000 })).map((group) => ({
      ...group,
      parentId: null as string | null,
    }));
    while (level.length > 0) {
      listed.push(...level.map((group) => ({ id: group.id!, name: group.name!, parentId: group.parentId })));
      const parents = level.filter((group) => group.subGroupCount !== 0);
      level = (await Promise.all(parents.map((parent) => this.subGroups(parent.id!)))).flat();
    }
    const described = await Promise.all(listed.map((group) => this.describe(group.id, group.name, group.parentId)));
    return new Map(described.flatMap((group) => (group ? [[group.id, group] as const] : [])));
  }

  async read(id: string): Promise<GroupState | null> {
    const group = await unlessVanished(this.keycloak.groups.findOne({ id }));
    return group ? this.describe(id, group.name!, group.parentId ?? null) : null;
  }

  /** Creates a top-level group in Keycloak with its role mappings and members; returns its id. */
  private async createGroup(name: string, roles: readonly RoleRef[], memberIds: readonly string[], undo?: UndoLog): Promise<string> {
    const { id } = await this.keycloak.groups.create({ name });
    // Deleting the group also drops the mappings and memberships added below: one undo covers every step.
    undo?.push(`delete group ${name}`, () => this.keycloak.groups.del({ id }));
    if (roles.length > 0) await this.keycloak.groups.addRealmRoleMappings({ id, roles: roles.map(toMapping) });
    for (const memberId of memberIds) await this.keycloak.users.addToGroup({ id: memberId, groupId: id });
    return id;
  }

  /** A group's direct subgroups, every page of them; none when the group vanished meanwhile. */
  private async subGroups(parentId: string) {
    const subgroups: (GroupRepresentation & { parentId: string })[] = [];
    for (let first = 0; ; first += SUBGROUP_PAGE) {
      const page =
        (await unlessVanished(this.keycloak.groups.listSubGroups({ parentId, first, max: SUBGROUP_PAGE, briefRepresentation: true }))) ??
        [];
      subgroups.push(...page.map((group) => ({ ...group, parentId })));
      if (page.length < SUBGROUP_PAGE) return subgroups;
    }
  }

  private async describe(id: string, name: string, parentId: string | null): Promise<GroupState | null> {
    const roles = await unlessVanished(this.keycloak.groups.listRealmRoleMappings({ id }));
    if (roles === null) return null;
    return {
      id,
      name,
      parentId,
      roleIds: roles
        .filter((role) => isManaged(role.name))
        .map((role) => role.id!)
        .sort(),
    };
  }
}
