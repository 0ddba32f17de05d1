import { JSONObjectResolver } from 'graphql-scalars';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { FieldErrors } from '../../errors.js';
import { MutationOutcome } from '../system/message.type.js';
import { UserType, type UserRecord } from './user.type.js';

export enum ImportStatus {
  CREATED = 'CREATED',
  UPDATED = 'UPDATED',
  SKIPPED = 'SKIPPED',
  FAILED = 'FAILED',
}
registerEnumType(ImportStatus, {
  name: 'ImportStatus',
  description: 'What importUsers did (with dryRun: would do) with one user.',
  valuesConfig: {
    CREATED: { description: 'A new user.' },
    UPDATED: { description: 'An existing user, changed (onConflict UPDATE).' },
    SKIPPED: { description: 'An existing user left as it is (onConflict SKIP, or UPDATE with nothing to change).' },
    FAILED: { description: 'Nothing was written for this user: see error.' },
  },
});

/** Why one user of an import failed. */
export interface ImportFailure {
  code: string;
  message: string;
  fieldErrors?: FieldErrors;
}

/** One user's outcome, in input order. */
export interface ImportItemResult {
  index: number;
  email: string;
  status: ImportStatus;
  user?: UserRecord;
  error?: ImportFailure;
}

export interface ImportOutcome {
  dryRun: boolean;
  results: ImportItemResult[];
}

@ObjectType('ImportError', { description: 'Why one user of an import failed.' })
export class ImportErrorType {
  @Field(() => String, { description: 'The error code, as in GraphQL errors (BAD_USER_INPUT, CONFLICT, FORBIDDEN...).' })
  code: string;

  @Field(() => String, { description: 'What went wrong, for people; never a password, hash or salt.' })
  message: string;

  @Field(() => JSONObjectResolver, { nullable: true, description: 'The problem of each field, by field name.' })
  fieldErrors?: FieldErrors;
}

@ObjectType('ImportUserResult', { description: 'What happened to one user of an import.' })
export class ImportUserResultType {
  @Field(() => Int, { description: "The user's position in the input, from 0." })
  index: number;

  @Field(() => String, { description: 'The email as given, trimmed and lower-cased.' })
  email: string;

  @Field(() => ImportStatus, { description: 'With dryRun: what would happen.' })
  status: ImportStatus;

  @Field(() => UserType, {
    nullable: true,
    description: 'The user created, updated or skipped; null with dryRun for a new user, and for a failure.',
  })
  user?: UserRecord;

  @Field(() => ImportErrorType, { nullable: true, description: 'Why nothing was written for this user; null unless FAILED.' })
  error?: ImportFailure;
}

@ObjectType('ImportUsersPayload', { description: 'The outcome of importUsers.' })
export class ImportUsersPayloadType extends MutationOutcome {
  @Field(() => Boolean, { description: 'Whether nothing was written: the results say what would happen.' })
  dryRun: boolean;

  @Field(() => Int, { description: 'Results CREATED.' })
  created: number;

  @Field(() => Int, { description: 'Results UPDATED.' })
  updated: number;

  @Field(() => Int, { description: 'Results SKIPPED.' })
  skipped: number;

  @Field(() => Int, { description: 'Results FAILED.' })
  failed: number;

  @Field(() => [ImportUserResultType], { description: 'One result per input user, in input order.' })
  results: ImportItemResult[];
}
