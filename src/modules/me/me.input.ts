import { Field, InputType } from 'type-graphql';
import { checkProfile, checkUsernameIsEmail } from '../users/user.input.js';
import type { UserRecord } from '../users/user.type.js';

@InputType('UpdateProfileInput', { description: "Changes to the caller's own profile; only the fields given change." })
export class UpdateProfileInput {
  @Field(() => String, { nullable: true, description: 'A new email address; the user proves it again.' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'A new given name.' })
  firstName?: string | null;

  @Field(() => String, { nullable: true, description: 'A new family name.' })
  lastName?: string | null;

  @Field(() => String, { nullable: true, description: 'A new username, only where the realm allows usernames other than the email.' })
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
