import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { PrivilegeType, RoleType } from '../roles/role.type.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserConnectionType } from '../users/user.type.js';
import { CreateGroupInput, UpdateGroupRolesPrivilegesInput, UpdateGroupUsersInput } from './group.input.js';
import { GroupPayloadType, GroupType, type GroupRecord } from './group.type.js';

@Resolver(() => GroupType)
export class GroupResolver {
  @Query(() => [GroupType])
  groups(@Ctx() { services }: GatewayContext) {
    return services.groups.list();
  }

  @Query(() => GroupType, { nullable: true })
  group(@Arg('id', () => ID) id: string, @Ctx() { loaders }: GatewayContext) {
    return loaders.groupById.load(id);
  }

  @Mutation(() => GroupPayloadType)
  async createGroup(@Arg('input', () => CreateGroupInput) input: CreateGroupInput, @Ctx() context: GatewayContext) {
    const group = await context.services.groups.create(input, principalOf(context).userId);
    return { ...message(`Group ${group.name} created`), group };
  }

  @Mutation(() => MessagePayloadType)
  async updateGroupUsers(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateGroupUsersInput) input: UpdateGroupUsersInput,
    @Ctx() context: GatewayContext,
  ) {
    const group = await context.services.groups.updateUsers(id, input, principalOf(context).userId);
    return message(`Users of group ${group.name} updated`);
  }

  @Mutation(() => MessagePayloadType)
  async updateGroupRolesPrivileges(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateGroupRolesPrivilegesInput) input: UpdateGroupRolesPrivilegesInput,
    @Ctx() context: GatewayContext,
  ) {
    const group = await context.services.groups.updateRolesPrivileges(id, input, principalOf(context).userId);
    return message(`Roles and privileges of group ${group.name} updated`);
  }

  @Mutation(() => MessagePayloadType)
  async deleteGroup(@Arg('id', () => ID) id: string, @Ctx() context: GatewayContext) {
    const group = await context.services.groups.delete(id, principalOf(context).userId);
    return message(`Group ${group.name} deleted`);
  }

  @FieldResolver(() => Int)
  userCount(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.userCountByGroupId.load(group.id);
  }

  @FieldResolver(() => [RoleType])
  async roles(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.rolesByGroupId.load(group.id)).filter((role) => role.kind === 'ROLE');
  }

  @FieldResolver(() => [PrivilegeType])
  async privileges(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.rolesByGroupId.load(group.id)).filter((role) => role.kind === 'PRIVILEGE');
  }

  @FieldResolver(() => UserConnectionType)
  users(
    @Root() group: GroupRecord,
    @Arg('first', () => Int, { nullable: true, defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.users.list(first, after, { groupId: group.id });
  }
}
