import { Field, InputType } from 'type-graphql';
import { checkProfile, checkUsernameIsEmail } from '../users/user.input.js';
import type { UserRecord } from '../users/user.type.js';
import type { OwnProfile } from '../users/user.service.js';

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

/**
 * The fields the edit gives, once the profile they make with the current values of the
 * others follows the rules: absent (or null) fields keep their value.
 */
export function editedProfile(current: UserRecord, input: UpdateProfileInput): OwnProfile {
  const profile = {
    email: input.email ?? current.email,
    firstName: input.firstName ?? current.firstName,
    lastName: input.lastName ?? current.lastName,
  };
  checkUsernameIsEmail(checkProfile(profile), input.username, profile.email).throwIfAny();
  return {
    ...(input.email != null && { email: input.email }),
    ...(input.firstName != null && { firstName: input.firstName }),
    ...(input.lastName != null && { lastName: input.lastName }),
  };
}
