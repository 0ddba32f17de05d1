import { Field, ID, InputType } from 'type-graphql';
import { MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, ROLE_NAME, ROLE_PREFIX } from '../../keycloak/realm-catalog.js';
import { InputCheck, someOf } from '../../validation.js';

@InputType('CreateRoleInput', { description: 'A new realm role.' })
export class CreateRoleInput {
  @Field(() => String, { description: 'role_ is prepended when missing.' })
  roleName: string;

  @Field(() => String, { nullable: true, description: 'Free text.' })
  description?: string | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges the role grants.' })
  privilegeIds?: string[] | null;
}

@InputType('UpdateRoleInput', { description: 'Changes to a role; only the fields given change.' })
export class UpdateRoleInput {
  @Field(() => String, { nullable: true, description: 'Free text; unchanged when left out.' })
  description?: string | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges the role starts granting.' })
  privilegeIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Privileges the role stops granting.' })
  privilegeIdsToRemove?: string[] | null;
}

/** The stored name: trimmed, with role_ prepended when missing. */
export function roleNameOf(roleName: string): string {
  const name = roleName.trim();
  return name.startsWith(ROLE_PREFIX) ? name : `${ROLE_PREFIX}${name}`;
}

/** The description to store: undefined leaves it unchanged, blank clears it. */
export function descriptionOf(description: string | null | undefined): string | null | undefined {
  return description == null ? undefined : description.trim() || null;
}

export function checkCreateRole(input: CreateRoleInput): void {
  const check = new InputCheck().require('roleName', input.roleName, 'Role name');
  const name = roleNameOf(input.roleName ?? '');
  if (!ROLE_NAME.test(name)) check.fail('roleName', 'must be lower-case letters, digits and underscores, e.g. role_support');
  check.maxLength('roleName', name, MAX_NAME_LENGTH).maxLength('description', input.description, MAX_DESCRIPTION_LENGTH).throwIfAny();
}

export function checkUpdateRole(input: UpdateRoleInput): void {
  const check = new InputCheck().maxLength('description', input.description, MAX_DESCRIPTION_LENGTH);
  checkIdChanges(check, ['privilegeIdsToAdd', input.privilegeIdsToAdd], ['privilegeIdsToRemove', input.privilegeIdsToRemove]);
  check.throwIfAny();
}

/**
 * Checks a pair of id lists that add and remove links: an id in both would be ambiguous.
 * Either list may be left out or null, the GraphQL way of saying "none".
 */
export function checkIdChanges(
  check: InputCheck,
  [addField, add]: [string, readonly string[] | null | undefined],
  [removeField, remove]: [string, readonly string[] | null | undefined],
): InputCheck {
  const both = (add ?? []).filter((id) => remove?.includes(id));
  if (both.length > 0) check.fail(removeField, `must not repeat an id of ${addField}: ${someOf(both)}`);
  return check;
}
