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
  @Query(() => [InvitationType], { description: "A tenant's invitations. ROLE_ADMIN, or the tenant's OWNER or ADMIN." })
  invitations(
    @Arg('tenantId', () => ID, { description: 'The tenant whose invitations are listed.' }) tenantId: string,
    @Arg('status', () => InvitationStatusEnum, { nullable: true, description: 'Only invitations in this status; all when left out.' })
    status: InvitationStatus | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.invitations.list(tenantId, status);
  }

  @Mutation(() => InvitationPayloadType, {
    description: "Invites someone by email to a tenant. ROLE_ADMIN, the tenant's OWNER, or its ADMIN for roles other than OWNER.",
  })
  async createInvitation(
    @Arg('input', () => CreateInvitationInput, { description: 'The invitation.' }) input: CreateInvitationInput,
    @Ctx() context: GatewayContext,
  ) {
    const { invitation, token, emailed } = await context.services.invitations.create(input, principalOf(context).userId);
    const text = emailed
      ? `Invitation sent to ${invitation.email}`
      : `Invitation created for ${invitation.email}, but the email could not be sent: share the token yourself`;
    return { ...message(text), invitation, token };
  }

  @Mutation(() => MessagePayloadType, { description: "Withdraws a pending invitation. ROLE_ADMIN, or the tenant's OWNER or ADMIN." })
  async revokeInvitation(@Arg('id', () => ID, { description: 'The invitation to revoke.' }) id: string, @Ctx() context: GatewayContext) {
    await context.services.invitations.revoke(id, principalOf(context).userId);
    return message('Invitation revoked');
  }

  @Mutation(() => AcceptInvitationPayloadType, {
    description:
      "No authentication to create a new account (names required). An invitation to an email that already has an account is accepted only with that account's access token.",
  })
  async acceptInvitation(
    @Arg('input', () => AcceptInvitationInput, {
      description: "The invitation's token and, for an invitee without an account, names and an optional password.",
    })
    input: AcceptInvitationInput,
    @Ctx() context: GatewayContext,
  ) {
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

  @FieldResolver(() => TenantType, { description: 'The tenant the invitation is for.' })
  tenant(@Root() invitation: InvitationRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.tenantById.load(invitation.tenantId);
  }

  @FieldResolver(() => UserType, { nullable: true, description: 'Who invited; null when that user no longer exists.' })
  invitedBy(@Root() invitation: InvitationRecord, @Ctx() { loaders }: GatewayContext) {
    return invitation.invitedBy ? loaders.userById.load(invitation.invitedBy) : null;
  }
}

@Resolver(() => TenantType)
export class TenantInvitationsResolver {
  @FieldResolver(() => [InvitationType], { description: "The tenant's invitations. Its OWNER or ADMIN, or ROLE_ADMIN." })
  invitations(
    @Root() tenant: TenantRecord,
    @Arg('status', () => InvitationStatusEnum, { nullable: true, description: 'Only invitations in this status; all when left out.' })
    status: InvitationStatus | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.invitations.list(tenant.id, status);
  }
}
