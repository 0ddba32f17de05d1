import { Field, ID, InputType } from 'type-graphql';
import { checkTenantName } from '../tenants/tenant.service.js';
import { checkProfile, checkUsernameIsEmail } from '../users/user.input.js';

@InputType('SignupInput')
export class SignupInput {
  @Field(() => String)
  email: string;

  @Field(() => String)
  password: string;

  @Field(() => String)
  firstName: string;

  @Field(() => String)
  lastName: string;

  @Field(() => String, { nullable: true, description: 'Only where the realm allows usernames other than the email.' })
  username?: string | null;

  @Field(() => String, { nullable: true, description: 'Creates a tenant owned by the new user.' })
  accountName?: string | null;
}

@InputType('RegisterUserInput')
export class RegisterUserInput {
  @Field(() => String)
  email: string;

  @Field(() => String)
  firstName: string;

  @Field(() => String)
  lastName: string;

  @Field(() => String, { nullable: true })
  entityCode?: string | null;

  @Field(() => String, { nullable: true })
  countryCode?: string | null;

  @Field(() => [ID], { nullable: true, defaultValue: [] })
  roleIds?: string[] | null;

  @Field(() => [ID], { nullable: true, defaultValue: [] })
  groupIds?: string[] | null;
}

export function checkSignup(input: SignupInput): void {
  const check = checkUsernameIsEmail(checkProfile(input).password('password', input.password), input.username, input.email);
  if (input.accountName !== undefined && input.accountName !== null) checkTenantName(check, 'accountName', input.accountName);
  check.throwIfAny();
}

export function checkRegisterUser(input: RegisterUserInput): void {
  checkProfile(input)
    .ids('roleIds', input.roleIds, 'role')
    .ids('groupIds', input.groupIds, 'group')
    .throwIfAny();
}
