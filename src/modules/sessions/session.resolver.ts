import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { MeType } from '../me/me.type.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserSessionType } from './session.type.js';

/** Users' Keycloak sessions: read live from Keycloak (session.service.ts says why), ended through the journal. */
@Resolver()
export class SessionResolver {
  @Query(() => [UserSessionType], {
    description: "A user's Keycloak sessions, online and offline (ROLE_ADMIN, or PRIV_USER_MANAGEMENT for users it may manage).",
  })
  userSessions(
    @Arg('userId', () => ID, { description: 'The user whose sessions are listed.' }) userId: string,
    @Ctx() context: GatewayContext,
  ) {
    return context.services.sessions.listOf(userId);
  }

  @Mutation(() => MessagePayloadType, {
    description:
      "End every session of a user, offline ones included: refresh tokens stop working at once and the user's access tokens are refused from the next request.",
  })
  async endUserSessions(
    @Arg('userId', () => ID, { description: 'The user whose sessions end.' }) userId: string,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.sessions.endAllOf(userId, principalOf(context).userId);
    return message(`Every session of ${user.email} ended`);
  }

  @Mutation(() => MessagePayloadType, { description: 'End every session of the caller, this one included.' })
  async signOutEverywhere(@Ctx() context: GatewayContext) {
    const { user } = await context.caller();
    await context.services.sessions.endAll(user, user.id);
    return message('Signed out everywhere: sign in again to continue');
  }
}

@Resolver(() => MeType)
export class MeSessionsResolver {
  @FieldResolver(() => [UserSessionType], { description: "The caller's own sessions." })
  sessions(@Root() me: MeType, @Ctx() context: GatewayContext) {
    return context.services.sessions.list(me.user);
  }
}
