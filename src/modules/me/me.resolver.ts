import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserPayloadType } from '../users/user.type.js';
import { editedProfile, UpdateProfileInput } from './me.input.js';
import { loadMe } from './me.service.js';
import { MeType } from './me.type.js';

/** The caller and their own account. */
@Resolver(() => MeType)
export class MeResolver {
  @Query(() => MeType, { description: 'The caller: profile, tenant memberships, effective roles and privileges.' })
  me(@Ctx() context: GatewayContext): Promise<MeType> {
    return loadMe(principalOf(context), context);
  }

  /** Email and names change in Keycloak first, then locally; a new email is unverified until Keycloak's link is followed. */
  @Mutation(() => UserPayloadType, {
    description: "Changes the caller's own email, names or username. Any authenticated caller; email changes are rate limited.",
  })
  async updateMyProfile(
    @Arg('input', () => UpdateProfileInput, { description: 'Only the fields given change.' }) input: UpdateProfileInput,
    @Ctx() context: GatewayContext,
  ) {
    const { user: current } = await context.caller();
    const user = await context.services.users.updateOwnProfile(current, editedProfile(current, input));
    const verify = user.email !== current.email ? ': follow the link emailed to the new address to verify it' : '';
    return { ...message(`Profile updated${verify}`), user };
  }

  @Mutation(() => MessagePayloadType, { description: "Deletes the caller's own account. Any authenticated caller." })
  async deleteMyAccount(@Ctx() context: GatewayContext) {
    const { user } = await context.caller();
    await context.services.users.deleteOwnAccount(user.id);
    return message('Your account has been deleted');
  }
}
