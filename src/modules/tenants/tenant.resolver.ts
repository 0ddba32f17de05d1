import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { ADMIN_ROLE } from '../../keycloak/realm-catalog.js';
import { MeType } from '../me/me.type.js';
import { UserType, type UserRecord } from '../users/user.type.js';
import {
  CreateTenantInput,
  TenantMembershipType,
  TenantPayloadType,
  TenantType,
  type MembershipRecord,
  type TenantRecord,
} from './tenant.type.js';

@Resolver(() => TenantType)
export class TenantResolver {
  @Query(() => TenantType, { nullable: true, description: 'One tenant by id. ROLE_ADMIN, or a member of the tenant.' })
  tenant(@Arg('id', () => ID, { description: "The tenant's id." }) id: string, @Ctx() { loaders }: GatewayContext) {
    return loaders.tenantById.load(id);
  }

  @Query(() => [TenantType], { description: 'ROLE_ADMIN sees every tenant; anyone else the tenants they belong to.' })
  async tenants(@Ctx() context: GatewayContext) {
    const { principal } = await context.caller();
    return principal.roles.includes(ADMIN_ROLE) ? context.services.tenants.listAll() : context.services.tenants.listFor(principal.userId);
  }

  @Mutation(() => TenantPayloadType, { description: 'Creates a tenant owned by the caller. Any authenticated caller, within limits.' })
  async createTenant(
    @Arg('input', () => CreateTenantInput, { description: 'The new tenant.' }) input: CreateTenantInput,
    @Ctx() context: GatewayContext,
  ) {
    // The owner's membership needs the caller's local record, which admission made sure of.
    const { user } = await context.caller();
    const { tenant, owner } = await context.services.tenants.create(input, user);
    // Realm tenancy: the owner is the caller's new account in the tenant's realm, whose eyes the answer is read with too.
    context.ownAccount = { userId: owner.id, roles: [], privileges: [] };
    return { message: `Tenant ${tenant.name} created`, timestamp: new Date(), tenant };
  }

  @FieldResolver(() => [TenantMembershipType], { description: "The tenant's members. Its members, or ROLE_ADMIN." })
  members(@Root() tenant: TenantRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.membershipsByTenantId.load(tenant.id);
  }
}

@Resolver(() => TenantMembershipType)
export class TenantMembershipResolver {
  @FieldResolver(() => TenantType, { description: 'The tenant.' })
  tenant(@Root() membership: MembershipRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.tenantById.load(membership.tenantId);
  }

  @FieldResolver(() => UserType, { description: 'The member.' })
  user(@Root() membership: MembershipRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.userById.load(membership.userId);
  }
}

@Resolver(() => UserType)
export class UserTenantsResolver {
  @FieldResolver(() => [TenantMembershipType], {
    description:
      "The user's tenant memberships: all of them for the user themself and user managers, otherwise only tenants the viewer shares with the user.",
  })
  tenants(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.membershipsByUserId.load(user.id);
  }
}

@Resolver(() => MeType)
export class MeTenantsResolver {
  @FieldResolver(() => [TenantMembershipType], { description: "The caller's memberships, one per tenant." })
  tenants(@Root() me: MeType, @Ctx() { loaders }: GatewayContext) {
    return loaders.membershipsByUserId.load(me.user.id);
  }

  @FieldResolver(() => TenantType, { nullable: true, description: 'Chosen by the X-Tenant-ID request header; null when none is chosen.' })
  async currentTenant(@Root() me: MeType, @Ctx() { loaders, requestedTenantId }: GatewayContext) {
    if (!requestedTenantId) return null;
    const memberships = await loaders.membershipsByUserId.load(me.user.id);
    // The permission rules already refused a tenant the caller does not belong to.
    if (!memberships.some((membership) => membership.tenantId === requestedTenantId)) {
      throw new AppError('FORBIDDEN', 'X-Tenant-ID names a tenant you are not a member of');
    }
    return loaders.tenantById.load(requestedTenantId);
  }
}
