import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserPayloadType } from '../users/user.type.js';
import { RegisterUserInput, SignupInput } from './onboarding.input.js';
import { SignupPayloadType } from './onboarding.type.js';

@Resolver()
export class OnboardingResolver {
  @Mutation(() => SignupPayloadType, { description: 'Self-service sign-up: Keycloak user, optional tenant (accountName), tokens.' })
  async signup(
    @Arg('input', () => SignupInput, { description: 'The new user and, optionally, the tenant to create.' }) input: SignupInput,
    @Ctx() context: GatewayContext,
  ) {
    const { user, tenant, tokens } = await context.services.onboarding.signup(input);
    // The new account reads its own answer; it holds no role that would widen what it may read.
    context.ownAccount = { userId: user.id, roles: [], privileges: [] };
    return { ...message(`Welcome, ${user.firstName}`), user, tenant, tokens };
  }

  @Mutation(() => UserPayloadType, { description: 'Admin registers a user without a password; Keycloak emails a password-setup link.' })
  async registerUser(
    @Arg('input', () => RegisterUserInput, { description: 'The new user.' }) input: RegisterUserInput,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.onboarding.registerUser(input, principalOf(context).userId);
    const next =
      user.syncStatus === 'PENDING'
        ? 'Keycloak is unreachable: the account and its password-setup email will follow as soon as it answers'
        : 'a password-setup email is on its way';
    return { ...message(`User ${user.email} registered; ${next}`), user };
  }

  @Mutation(() => MessagePayloadType, {
    description:
      'Emails a user a link to set a password. ROLE_ADMIN, or PRIV_USER_MANAGEMENT for a user holding nothing the caller does not.',
  })
  async sendPasswordSetupEmail(
    @Arg('userId', () => ID, { description: 'The user to email.' }) userId: string,
    @Ctx() context: GatewayContext,
  ) {
    await context.services.onboarding.sendPasswordSetupEmail(userId, principalOf(context).userId);
    return message('Password-setup email sent');
  }

  @Mutation(() => MessagePayloadType, { description: 'Always the same answer, whether or not the email is known.' })
  async resetPassword(
    @Arg('email', () => String, { description: 'The address of the account whose password is forgotten.' }) email: string,
    @Arg('tenantId', () => ID, {
      nullable: true,
      description: "Realm tenancy: the account in this tenant's own realm. Without it, or in shared tenancy, the gateway's realm.",
    })
    tenantId: string | null,
    @Ctx() { services }: GatewayContext,
  ) {
    await services.onboarding.resetPassword(email, tenantId);
    return message('If a user with this email exists, a password reset email has been sent.');
  }
}
