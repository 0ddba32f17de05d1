import { Field, ID, InputType } from 'type-graphql';
import { InputCheck, someOf } from '../../validation.js';

// The abstract inputs below are decorated only so that type-graphql passes their fields on
// to the inputs that extend them; no operation takes them, so the schema does not show them.

/** The email and names every account has. */
@InputType()
export abstract class PersonInput {
  @Field(() => String, { description: 'The email address, unique in the realm.' })
  email: string;

  @Field(() => String, { description: 'Given name.' })
  firstName: string;

  @Field(() => String, { description: 'Family name.' })
  lastName: string;
}

/** A person with the attributes an administrator manages. */
@InputType()
abstract class DirectoryPersonInput extends PersonInput {
  @Field(() => String, {
    nullable: true,
    description: 'Stored as the entity_code attribute.',
  })
  entityCode?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Stored as the country_code attribute.',
  })
  countryCode?: string | null;
}

/** A user an administrator adds, with the roles and groups it starts with. */
@InputType()
export abstract class NewDirectoryUserInput extends DirectoryPersonInput {
  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Roles to assign directly.' })
  roleIds?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Groups to join.' })
  groupIds?: string[] | null;
}

@InputType('CreateUserInput', { description: 'A new user with a password.' })
export class CreateUserInput extends NewDirectoryUserInput {
  @Field(() => String, { description: "The initial password, checked against the realm's password policy." })
  password: string;

  @Field(() => Boolean, { nullable: true, defaultValue: true, description: 'Whether the user may sign in.' })
  enabled?: boolean | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'States that the address is proven. ROLE_ADMIN only.' })
  emailVerified?: boolean | null;
}

/**
 * An administrator's update: a field left out (or null) keeps its value, and an empty
 * entityCode or countryCode removes the attribute.
 */
@InputType('UpdateUserInput', { description: 'Changes to a user: only the fields given change.' })
export class UpdateUserInput {
  @Field(() => String, { nullable: true, description: 'A new email address, unique in the realm; unchanged when left out.' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'A new given name; unchanged when left out.' })
  firstName?: string | null;

  @Field(() => String, { nullable: true, description: 'A new family name; unchanged when left out.' })
  lastName?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The entity_code attribute; unchanged when left out, removed when empty.',
  })
  entityCode?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The country_code attribute; unchanged when left out, removed when empty.',
  })
  countryCode?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Whether the user may sign in; unchanged when left out.' })
  enabled?: boolean | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Whether the address is proven; unchanged when left out. Only ROLE_ADMIN sets it to true.',
  })
  emailVerified?: boolean | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Roles to assign directly.' })
  roleIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Directly assigned roles to take away.' })
  roleIdsToRemove?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Groups to join.' })
  groupIdsToAdd?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [], description: 'Groups to leave.' })
  groupIdsToRemove?: string[] | null;
}

type ProfileInput = PersonInput & Pick<DirectoryPersonInput, 'entityCode' | 'countryCode'>;

/** The rules every account's fields follow; callers add their own checks before `throwIfAny`. */
export function checkProfile(input: ProfileInput): InputCheck {
  return checkProfileFields(input, true);
}

/** The rules of the profile fields given; with `every`, email and names must be given. */
function checkProfileFields(input: { [Field in keyof ProfileInput]?: ProfileInput[Field] | null }, every: boolean): InputCheck {
  const check = new InputCheck();
  if (every || input.email != null) check.email('email', input.email);
  if (every || input.firstName != null) check.require('firstName', input.firstName, 'First name');
  if (every || input.lastName != null) check.require('lastName', input.lastName, 'Last name');
  return check
    .maxLength('firstName', input.firstName, 255)
    .maxLength('lastName', input.lastName, 255)
    .maxLength('entityCode', input.entityCode, 64)
    .maxLength('countryCode', input.countryCode, 8);
}

export function checkCreateUser(input: CreateUserInput): void {
  checkProfile(input).password('password', input.password).throwIfAny();
}

/** The fields an update gives follow the rules every account's fields follow. */
export function checkUpdateUser(input: UpdateUserInput): void {
  const check = checkProfileFields(input, false);
  // Adding and removing the same id has no meaning an administrator could have intended.
  for (const [field, add, remove] of [
    ['roleIdsToRemove', input.roleIdsToAdd, input.roleIdsToRemove],
    ['groupIdsToRemove', input.groupIdsToAdd, input.groupIdsToRemove],
  ] as const) {
    const both = (remove ?? []).filter((id) => add?.includes(id));
    if (both.length > 0) check.fail(field, `must not repeat ids that are also to be added: ${someOf(both)}`);
  }
  check.throwIfAny();
}

export function checkSetPassword(password: string): void {
  new InputCheck().password('password', password).throwIfAny();
}

/** The realm logs users in by email (registrationEmailAsUsername): a different username cannot be kept. */
export function checkUsernameIsEmail(check: InputCheck, username: string | null | undefined, email: string): InputCheck {
  if (username && username.trim().toLowerCase() !== email.trim().toLowerCase()) {
    check.fail('username', 'this realm uses the email as the username: leave it out, or change the email');
  }
  return check;
}
