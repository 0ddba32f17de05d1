import { Field, ID, InputType } from 'type-graphql';
import { InputCheck } from '../../validation.js';

@InputType('LoginInput', { description: 'Credentials for login.' })
export class LoginInput {
  @Field(() => String, { description: 'Username or email.' })
  username: string;

  @Field(() => String, { description: 'The password.' })
  password: string;

  @Field(() => ID, {
    nullable: true,
    description:
      "Realm tenancy: sign in to this tenant's own realm, where its members' accounts live. Without it, or in shared tenancy, the gateway's realm.",
  })
  tenantId?: string | null;
}

/** Only the shape: whether the credentials are right is Keycloak's answer alone. */
export function checkLogin(input: LoginInput): void {
  new InputCheck()
    .require('username', input.username, 'Username or email')
    .maxLength('username', input.username, 255)
    .require('password', input.password, 'Password')
    .throwIfAny();
}
