import { JSONObjectResolver } from 'graphql-scalars';
import { Field, InputType, Int, registerEnumType } from 'type-graphql';
import { NewDirectoryUserInput } from './user.input.js';

/** The most users one importUsers call takes; more is refused before anything is looked at. */
export const MAX_IMPORTED_USERS = 1000;

export enum ImportConflict {
  SKIP = 'SKIP',
  UPDATE = 'UPDATE',
  FAIL = 'FAIL',
}
registerEnumType(ImportConflict, {
  name: 'ImportConflict',
  description: 'What importUsers does with a user whose email the realm already has.',
  valuesConfig: {
    SKIP: { description: 'Leave the existing user as it is.' },
    UPDATE: {
      description:
        "Write the given names and codes over the existing user's and add the given roles and groups. It disables the user when enabled is false and states the address verified when emailVerified is true, but never re-enables nor un-verifies; a password or hash is not applied to an existing user.",
    },
    FAIL: { description: 'Answer the item FAILED with CONFLICT.' },
  },
});

@InputType('PasswordHashInput', { description: "A password hash from another system, in one of Keycloak's credential formats." })
export class PasswordHashInput {
  @Field(() => String, { description: 'As Keycloak names it: pbkdf2, pbkdf2-sha256, pbkdf2-sha512 or argon2.' })
  algorithm: string;

  @Field(() => String, { description: 'Base64.' })
  hash: string;

  @Field(() => String, { nullable: true, description: 'Base64.' })
  salt?: string | null;

  @Field(() => Int, { nullable: true, description: 'The iterations (argon2: its time cost).' })
  iterations?: number | null;

  @Field(() => JSONObjectResolver, {
    nullable: true,
    description: "Algorithm parameters beyond these (argon2's memory, parallelism, version, type, hash length).",
  })
  parameters?: Record<string, unknown> | null;
}

@InputType('ImportUserInput', { description: 'One user of an import.' })
export class ImportUserInput extends NewDirectoryUserInput {
  @Field(() => Boolean, { nullable: true, defaultValue: true, description: 'Whether the user may sign in.' })
  enabled?: boolean | null;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'States that the address is proven. ROLE_ADMIN only.' })
  emailVerified?: boolean | null;

  @Field(() => String, { nullable: true, description: "A password, checked against the realm's password policy." })
  password?: string | null;

  @Field(() => PasswordHashInput, {
    nullable: true,
    description: 'A password hash from another system, so that users keep their passwords.',
  })
  passwordHash?: PasswordHashInput | null;
}

@InputType('ImportUsersInput', { description: `Up to ${MAX_IMPORTED_USERS} users to create or update.` })
export class ImportUsersInput {
  @Field(() => [ImportUserInput], { description: `At most ${MAX_IMPORTED_USERS}.` })
  users: ImportUserInput[];

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Write nothing; answer what would happen.' })
  dryRun?: boolean | null;

  @Field(() => ImportConflict, {
    nullable: true,
    defaultValue: ImportConflict.SKIP,
    description: 'What to do with a user whose email already exists.',
  })
  onConflict?: ImportConflict | null;

  @Field(() => Boolean, {
    nullable: true,
    defaultValue: true,
    description: 'Email every new user who has neither a password nor a hash a link to set one.',
  })
  sendPasswordSetupEmail?: boolean | null;
}
