import { Field, Int, ObjectType } from 'type-graphql';
import { MeType } from '../me/me.type.js';

@ObjectType('TokenSet')
export class TokenSetType {
  @Field(() => String)
  accessToken: string;

  @Field(() => String)
  refreshToken: string;

  @Field(() => Int, { description: 'Seconds.' })
  expiresIn: number;

  @Field(() => Int)
  refreshExpiresIn: number;

  @Field(() => String)
  tokenType: string;
}

@ObjectType('AuthPayload')
export class AuthPayloadType {
  @Field(() => TokenSetType)
  tokens: TokenSetType;

  @Field(() => MeType)
  me: MeType;
}
