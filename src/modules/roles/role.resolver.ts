import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { CreateRoleInput, UpdateRoleInput } from './role.input.js';
import { displayName, PrivilegeType, RolePayloadType, RoleType, type RoleRecord } from './role.type.js';

@Resolver(() => RoleType)
export class RoleResolver {
  @Query(() => [RoleType], { description: 'All roles (role_*). ROLE_ADMIN or PRIV_USER_MANAGEMENT.' })
  roles(@Ctx() { services }: GatewayContext) {
    return services.roles.list('ROLE');
  }

  @Query(() => RoleType, { nullable: true, description: 'One role by id; null when there is none. ROLE_ADMIN or PRIV_USER_MANAGEMENT.' })
  async role(@Arg('id', () => ID, { description: "The role's id (its Keycloak id)." }) id: string, @Ctx() { loaders }: GatewayContext) {
    const role = await loaders.roleById.load(id);
    return role?.kind === 'ROLE' ? role : null;
  }

  @Mutation(() => RolePayloadType, { description: 'Creates a realm role. ROLE_ADMIN.' })
  async createRole(
    @Arg('input', () => CreateRoleInput, { description: 'The new role.' }) input: CreateRoleInput,
    @Ctx() context: GatewayContext,
  ) {
    const role = await context.services.roles.create(input, principalOf(context).userId);
    return { ...message(`Role ${role.name} created`), role };
  }

  @Mutation(() => RolePayloadType, { description: "Changes a role's description and privileges. ROLE_ADMIN." })
  async updateRole(
    @Arg('id', () => ID, { description: 'The role to change.' }) id: string,
    @Arg('input', () => UpdateRoleInput, { description: 'The changes.' }) input: UpdateRoleInput,
    @Ctx() context: GatewayContext,
  ) {
    const role = await context.services.roles.update(id, input, principalOf(context).userId);
    return { ...message(`Role ${role.name} updated`), role };
  }

  @Mutation(() => MessagePayloadType, { description: 'CONFLICT while the role is assigned to any user or group.' })
  async deleteRole(@Arg('id', () => ID, { description: 'The role to delete.' }) id: string, @Ctx() context: GatewayContext) {
    const role = await context.services.roles.delete(id, principalOf(context).userId);
    return message(`Role ${role.name} deleted`);
  }

  @FieldResolver(() => String, { description: 'The name without its role_ prefix.' })
  displayName(@Root() role: RoleRecord): string {
    return displayName(role.name);
  }

  @FieldResolver(() => Boolean, { description: 'Whether the role includes other roles or privileges.' })
  async composite(@Root() role: RoleRecord, @Ctx() { loaders }: GatewayContext): Promise<boolean> {
    return (await loaders.privilegesByRoleId.load(role.id)).length > 0;
  }

  @FieldResolver(() => [PrivilegeType], { description: 'Privileges the role grants directly.' })
  privileges(@Root() role: RoleRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.privilegesByRoleId.load(role.id);
  }

  @FieldResolver(() => Int, { description: 'Users holding the role directly.' })
  userCount(@Root() role: RoleRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.userCountByRoleId.load(role.id);
  }
}

@Resolver(() => PrivilegeType)
export class PrivilegeResolver {
  @Query(() => [PrivilegeType], { description: 'All privileges (priv_*). They are predefined and read-only.' })
  privileges(@Ctx() { services }: GatewayContext) {
    return services.roles.list('PRIVILEGE');
  }

  @FieldResolver(() => String, { description: 'The name without its priv_ prefix.' })
  displayName(@Root() privilege: RoleRecord): string {
    return displayName(privilege.name);
  }
}
