import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { loadMe } from '../me/me.service.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { LoginInput } from './auth.input.js';
import type { SignedIn } from './auth.service.js';
import { AuthPayloadType } from './auth.type.js';

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayloadType, {
    description:
      'Username-or-email and password, checked by Keycloak; denied if the local record is disabled, created from the token when missing.',
  })
  async login(
    @Arg('input', () => LoginInput, { description: 'The credentials.' }) input: LoginInput,
    @Ctx() context: GatewayContext,
  ): Promise<AuthPayloadType> {
    return payload(await context.services.auth.login(input), context);
  }

  @Mutation(() => AuthPayloadType, { description: 'New tokens for a refresh token. No authentication: the refresh token is the proof.' })
  async refreshToken(
    @Arg('refreshToken', () => String, { description: 'The refresh token from an earlier login, signup or refresh.' }) refreshToken: string,
    @Ctx() context: GatewayContext,
  ): Promise<AuthPayloadType> {
    return payload(await context.services.auth.refresh(refreshToken), context);
  }

  @Mutation(() => MessagePayloadType, {
    description: 'Ends the session of the refresh token. Any authenticated caller, for its own session.',
  })
  async logout(
    @Arg('refreshToken', () => String, { description: 'The refresh token of the session to end.' }) refreshToken: string,
    @Ctx() context: GatewayContext,
  ): Promise<MessagePayloadType> {
    await context.services.auth.logout(principalOf(context), refreshToken);
    return message('Signed out: the session has ended.');
  }
}

/** `me` exactly as the me query answers it, for the user the new tokens name, who reads it. */
async function payload({ tokens, principal }: SignedIn, context: GatewayContext): Promise<AuthPayloadType> {
  const me = await loadMe(principal, context);
  // With the roles the gateway admits (token and mirror both), as the rules would with the new token.
  context.ownAccount = { userId: me.user.id, roles: me.roles, privileges: me.privileges };
  return { tokens, me };
}
