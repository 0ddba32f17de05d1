import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { admittedPrincipal, principalOf, type GatewayContext } from '../../context.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { TenantType, type TenantRecord } from '../tenants/tenant.type.js';
import { UserType } from '../users/user.type.js';
import {
  AcceptInvitationInput,
  AcceptInvitationPayloadType,
  CreateInvitationInput,
  InvitationPayloadType,
  InvitationStatusEnum,
  InvitationType,
  type InvitationRecord,
  type InvitationStatus,
} from './invitation.type.js';

@Resolver(() => InvitationType)
export class InvitationResolver {
  @Query(() => [InvitationType])
  invitations(
    @Arg('tenantId', () => ID) tenantId: string,
    @Arg('status', () => InvitationStatusEnum, { nullable: true }) status: InvitationStatus | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.invitations.list(tenantId, status);
  }

  @Mutation(() => InvitationPayloadType)
  async createInvitation(@Arg('input', () => CreateInvitationInput) input: CreateInvitationInput, @Ctx() context: GatewayContext) {
    const { invitation, token, emailed } = await context.services.invitations.create(input, principalOf(context).userId);
    const text = emailed
      ? `Invitation sent to ${invitation.email}`
      : `Invitation created for ${invitation.email}, but the email could not be sent: share the token yourself`;
    return { ...message(text), invitation, token };
  }

  @Mutation(() => MessagePayloadType)
  async revokeInvitation(@Arg('id', () => ID) id: string, @Ctx() context: GatewayContext) {
    await context.services.invitations.revoke(id, principalOf(context).userId);
    return message('Invitation revoked');
  }

  @Mutation(() => AcceptInvitationPayloadType, {
    description:
      "No authentication to create a new account (names required). An invitation to an email that already has an account is accepted only with that account's access token.",
  })
  async acceptInvitation(@Arg('input', () => AcceptInvitationInput) input: AcceptInvitationInput, @Ctx() context: GatewayContext) {
    const { user, tenant, role, created } = await context.services.invitations.accept(input, await admittedPrincipal(context));
    if (created) context.newAccountId = user.id;
    return {
      ...message(
        created
          ? `Invitation accepted. Follow the link Keycloak emailed to ${user.email} to verify the address, then log in to access ${tenant.name}.`
          : `Invitation accepted: you are now a member of ${tenant.name}.`,
      ),
      user,
      tenant,
      role,
      // A new account signs in first; a signed-in member already is.
      redirectToKeycloak: created,
      keycloakLoginHint: user.email,
    };
  }

  @FieldResolver(() => TenantType)
  tenant(@Root() invitation: InvitationRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.tenantById.load(invitation.tenantId);
  }

  @FieldResolver(() => UserType, { nullable: true })
  invitedBy(@Root() invitation: InvitationRecord, @Ctx() { loaders }: GatewayContext) {
    return invitation.invitedBy ? loaders.userById.load(invitation.invitedBy) : null;
  }
}

@Resolver(() => TenantType)
export class TenantInvitationsResolver {
  @FieldResolver(() => [InvitationType])
  invitations(
    @Root() tenant: TenantRecord,
    @Arg('status', () => InvitationStatusEnum, { nullable: true }) status: InvitationStatus | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.invitations.list(tenant.id, status);
  }
}
