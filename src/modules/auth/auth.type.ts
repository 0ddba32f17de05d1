import { Field, Int, ObjectType } from 'type-graphql';
import { MeType } from '../me/me.type.js';

@ObjectType('TokenSet', { description: 'OpenID Connect tokens issued by Keycloak.' })
export class TokenSetType {
  @Field(() => String, { description: 'Send as Authorization: Bearer <accessToken>.' })
  accessToken: string;

  @Field(() => String, { description: 'Exchange it through refreshToken for new tokens; end it with logout.' })
  refreshToken: string;

  @Field(() => Int, { description: 'Seconds.' })
  expiresIn: number;

  @Field(() => Int, { description: 'Seconds until the refresh token expires.' })
  refreshExpiresIn: number;

  @Field(() => String, { description: 'Always Bearer.' })
  tokenType: string;
}

@ObjectType('AuthPayload', { description: 'The answer of login and refreshToken: tokens and the signed-in user.' })
export class AuthPayloadType {
  @Field(() => TokenSetType, { description: 'The new access and refresh tokens.' })
  tokens: TokenSetType;

  @Field(() => MeType, { description: 'The signed-in user.' })
  me: MeType;
}
