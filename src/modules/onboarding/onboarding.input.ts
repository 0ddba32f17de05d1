import { Field, InputType } from 'type-graphql';
import { checkTenantName } from '../tenants/tenant.service.js';
import { checkProfile, checkUsernameIsEmail, NewDirectoryUserInput, PersonInput } from '../users/user.input.js';

@InputType('SignupInput', { description: 'A self-service sign-up.' })
export class SignupInput extends PersonInput {
  @Field(() => String, { description: "The password, checked against the realm's password policy." })
  password: string;

  @Field(() => String, { nullable: true, description: 'Only where the realm allows usernames other than the email.' })
  username?: string | null;

  @Field(() => String, { nullable: true, description: 'Creates a tenant owned by the new user.' })
  accountName?: string | null;
}

/** Like createUser, without a password: Keycloak emails the user a link to set one. */
@InputType('RegisterUserInput', { description: 'A new user without a password: Keycloak emails a link to set one.' })
export class RegisterUserInput extends NewDirectoryUserInput {}

export function checkSignup(input: SignupInput): void {
  const check = checkUsernameIsEmail(checkProfile(input).password('password', input.password), input.username, input.email);
  if (input.accountName !== undefined && input.accountName !== null) checkTenantName(check, 'accountName', input.accountName);
  check.throwIfAny();
}

export function checkRegisterUser(input: RegisterUserInput): void {
  checkProfile(input).throwIfAny();
}
