import { Arg, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserType, type UserRecord } from '../users/user.type.js';
import { CredentialType, RequiredActionEnum, type RequiredAction } from './credential.type.js';

@Resolver(() => UserType)
export class UserCredentialsResolver {
  /**
   * A live Keycloak read, the one exception to "reads come from the mirror": the gateway
   * keeps no copy of credentials. Users enrol OTP devices and passkeys on Keycloak's own
   * pages, which no admin event announces, so a copy would lag behind every enrolment; and
   * a second store of what protects each account is one more thing to leak. The request's
   * loader asks once per user, a few calls at a time (credential.loader.ts).
   */
  @FieldResolver(() => [CredentialType], {
    description: "The user's credentials (password, OTP devices, passkeys), without secrets. ROLE_ADMIN or PRIV_USER_MANAGEMENT.",
  })
  credentials(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.credentialsByUser.load(user);
  }
}

@Resolver()
export class CredentialResolver {
  @Mutation(() => MessagePayloadType, {
    description:
      'Remove one credential (an OTP device, a passkey) so that the user enrols again. Never the password: use setUserPassword or requireUserActions.',
  })
  async removeUserCredential(
    @Arg('userId', () => ID, { description: 'The user whose credential is removed.' }) userId: string,
    @Arg('credentialId', () => ID, { description: 'The credential, as User.credentials lists it.' }) credentialId: string,
    @Ctx() context: GatewayContext,
  ) {
    const { user, credential, enrolsAgain } = await context.services.credentials.remove(userId, credentialId, principalOf(context).userId);
    const next = enrolsAgain ? `; ${user.email} enrols a new one at the next sign-in` : '';
    return message(`The ${credential.type} credential of ${user.email} was removed and their sessions ended${next}`);
  }

  @Mutation(() => MessagePayloadType, {
    description: 'Ask the user to perform actions at the next sign-in; with sendEmail, Keycloak emails a link to do them now.',
  })
  async requireUserActions(
    @Arg('userId', () => ID, { description: 'The user who must perform the actions.' }) userId: string,
    @Arg('actions', () => [RequiredActionEnum], { description: 'What the user must do; added to what they must do already.' })
    actions: RequiredAction[],
    @Arg('sendEmail', () => Boolean, {
      nullable: true,
      defaultValue: true,
      description: 'When true, Keycloak emails the user a link to perform the actions now.',
    })
    sendEmail: boolean | null,
    @Ctx() context: GatewayContext,
  ) {
    const emailed = sendEmail ?? true;
    const { user, actions: required } = await context.services.credentials.requireActions(
      userId,
      actions,
      emailed,
      principalOf(context).userId,
    );
    return message(`${user.email} must ${required.join(', ')} at the next sign-in${emailed ? '; an email with a link is on its way' : ''}`);
  }
}
