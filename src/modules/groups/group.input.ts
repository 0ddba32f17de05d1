import { Field, ID, InputType } from 'type-graphql';
import { InputCheck } from '../../validation.js';
import { checkIdChanges } from '../roles/role.input.js';

@InputType('CreateGroupInput')
export class CreateGroupInput {
  @Field(() => String)
  groupName: string;

  @Field(() => [ID], { nullable: true, defaultValue: [] })
  roleIds?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [] })
  privilegeIds?: string[] | null;
}

@InputType('UpdateGroupUsersInput')
export class UpdateGroupUsersInput {
  @Field(() => [ID])
  userIdsToAdd: string[];

  @Field(() => [ID])
  userIdsToRemove: string[];
}

@InputType('UpdateGroupRolesPrivilegesInput')
export class UpdateGroupRolesPrivilegesInput {
  @Field(() => [ID])
  roleIdsToAdd: string[];

  @Field(() => [ID])
  roleIdsToRemove: string[];

  @Field(() => [ID])
  privilegeIdsToAdd: string[];

  @Field(() => [ID])
  privilegeIdsToRemove: string[];
}

// Keycloak stores group names in a 255-character column.
const MAX_NAME = 255;

export function checkCreateGroup(input: CreateGroupInput): void {
  new InputCheck()
    .require('groupName', input.groupName, 'Group name')
    .maxLength('groupName', input.groupName?.trim(), MAX_NAME)
    .ids('roleIds', input.roleIds, 'role')
    .ids('privilegeIds', input.privilegeIds, 'privilege')
    .throwIfAny();
}

export function checkUpdateGroupUsers(input: UpdateGroupUsersInput): void {
  checkIdChanges(new InputCheck(), 'user', ['userIdsToAdd', input.userIdsToAdd], ['userIdsToRemove', input.userIdsToRemove]).throwIfAny();
}

export function checkUpdateGroupRolesPrivileges(input: UpdateGroupRolesPrivilegesInput): void {
  const check = new InputCheck();
  checkIdChanges(check, 'role', ['roleIdsToAdd', input.roleIdsToAdd], ['roleIdsToRemove', input.roleIdsToRemove]);
  checkIdChanges(check, 'privilege', ['privilegeIdsToAdd', input.privilegeIdsToAdd], ['privilegeIdsToRemove', input.privilegeIdsToRemove]);
  check.throwIfAny();
}
