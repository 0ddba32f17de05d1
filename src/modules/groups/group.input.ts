import { Field, ID, InputType } from 'type-graphql';
import { InputCheck } from '../../validation.js';
import { checkIdChanges } from '../roles/role.input.js';

@InputType('CreateGroupInput', { description: 'A new group.' })
export class CreateGroupInput {
  @Field(() => String, { description: "The group's name, unique in the realm." })
  groupName: string;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Roles the group grants its members.' })
  roleIds?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges the group grants its members.' })
  privilegeIds?: string[] | null;
}

@InputType('UpdateGroupUsersInput', { description: 'Members to add to and remove from a group.' })
export class UpdateGroupUsersInput {
  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Users to add.' })
  userIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Users to remove.' })
  userIdsToRemove?: string[] | null;
}

@InputType('UpdateGroupRolesPrivilegesInput', { description: 'Roles and privileges a group starts or stops granting.' })
export class UpdateGroupRolesPrivilegesInput {
  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Roles to add.' })
  roleIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Roles to remove.' })
  roleIdsToRemove?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges to add.' })
  privilegeIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges to remove.' })
  privilegeIdsToRemove?: string[] | null;
}

// Keycloak stores group names in a 255-character column.
const MAX_NAME = 255;

export function checkCreateGroup(input: CreateGroupInput): void {
  const check = new InputCheck()
    .require('groupName', input.groupName, 'Group name')
    .maxLength('groupName', input.groupName?.trim(), MAX_NAME);
  // Keycloak names a group by its path, "/parent/child": a "/" in a name would read as nesting (I3).
  if (input.groupName?.includes('/')) check.fail('groupName', 'must not contain "/"');
  check.throwIfAny();
}

export function checkUpdateGroupUsers(input: UpdateGroupUsersInput): void {
  checkIdChanges(new InputCheck(), ['userIdsToAdd', input.userIdsToAdd], ['userIdsToRemove', input.userIdsToRemove]).throwIfAny();
}

export function checkUpdateGroupRolesPrivileges(input: UpdateGroupRolesPrivilegesInput): void {
  const check = new InputCheck();
  checkIdChanges(check, ['roleIdsToAdd', input.roleIdsToAdd], ['roleIdsToRemove', input.roleIdsToRemove]);
  checkIdChanges(check, ['privilegeIdsToAdd', input.privilegeIdsToAdd], ['privilegeIdsToRemove', input.privilegeIdsToRemove]);
  check.throwIfAny();
}
