import { Field, ObjectType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import { TokenSetType } from '../auth/auth.type.js';
import type { TokenSet } from '../../keycloak/sessions.js';
import { TenantType, type TenantRecord } from '../tenants/tenant.type.js';
import { UserType, type UserRecord } from '../users/user.type.js';

@ObjectType('SignupPayload', { description: 'The answer of signup, read by the new account.' })
export class SignupPayloadType extends MutationOutcome {
  @Field(() => UserType, { description: 'The new user.' })
  user: UserRecord;

  @Field(() => TenantType, { nullable: true, description: 'Present when accountName was given.' })
  tenant: TenantRecord | null;

  @Field(() => TokenSetType, {
    nullable: true,
    description: 'Present when the new user can log in at once (a password was given and no required action blocks it).',
  })
  tokens: TokenSet | null;
}
