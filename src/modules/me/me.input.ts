import { Field, InputType } from 'type-graphql';
import { checkProfile, checkUsernameIsEmail } from '../users/user.input.js';
import type { UserRecord } from '../users/user.type.js';

@InputType('UpdateProfileInput')
export class UpdateProfileInput {
  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true })
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  lastName?: string | null;

  @Field(() => String, { nullable: true })
  username?: string | null;
}

/** The caller's profile after the edit: absent fields keep their value. */
export function editedProfile(current: UserRecord, input: UpdateProfileInput) {
  const profile = {
    email: input.email ?? current.email,
    firstName: input.firstName ?? current.firstName,
    lastName: input.lastName ?? current.lastName,
  };
  checkUsernameIsEmail(checkProfile(profile), input.username, profile.email).throwIfAny();
  return profile;
}
