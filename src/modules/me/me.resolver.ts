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

  /** Seed 000: email and names change in Keycloak first, then locally. */
  @Mutation(() => UserPayloadType)
  async updateMyProfile(@Arg('input', () => UpdateProfileInput) input: UpdateProfileInput, @Ctx() context: GatewayContext) {
    const { user: current } = await loadMe(principalOf(context), context);
    const profile = editedProfile(current, input);
    const user = await context.services.users.update(current.id, { ...profile, ...NO_LINK_CHANGES }, current.id);
    return { ...message('Profile updated'), user };
  }

  @Mutation(() => MessagePayloadType)
  async deleteMyAccount(@Ctx() context: GatewayContext) {
    const { user } = await loadMe(principalOf(context), context);
    await context.services.users.deleteOwnAccount(user.id);
    return message('Your account has been deleted');
  }
}

const NO_LINK_CHANGES = { roleIdsToAdd: [], roleIdsToRemove: [], groupIdsToAdd: [], groupIdsToRemove: [] };
