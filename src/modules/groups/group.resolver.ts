import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { DEFAULT_PAGE_SIZE } from '../../db/pagination.js';
import { principalOf, type GatewayContext } from '../../context.js';
import { PrivilegeType, RoleType } from '../roles/role.type.js';
import { message, MessagePayloadType } from '../system/message.type.js';
import { UserConnectionType } from '../users/user.type.js';
import { CreateGroupInput, UpdateGroupRolesPrivilegesInput, UpdateGroupUsersInput } from './group.input.js';
import { GroupPayloadType, GroupType, type GroupRecord } from './group.type.js';

@Resolver(() => GroupType)
export class GroupResolver {
  @Query(() => [GroupType], { description: 'All groups. ROLE_ADMIN or PRIV_USER_MANAGEMENT.' })
  groups(@Ctx() { services }: GatewayContext) {
    return services.groups.list();
  }

  @Query(() => GroupType, { nullable: true, description: 'One group by id; null when there is none. ROLE_ADMIN or PRIV_USER_MANAGEMENT.' })
  group(@Arg('id', () => ID, { description: "The group's id (its Keycloak id)." }) id: string, @Ctx() { loaders }: GatewayContext) {
    return loaders.groupById.load(id);
  }

  @Mutation(() => GroupPayloadType, { description: 'Creates a group. ROLE_ADMIN.' })
  async createGroup(
    @Arg('input', () => CreateGroupInput, { description: 'The new group.' }) input: CreateGroupInput,
    @Ctx() context: GatewayContext,
  ) {
    const group = await context.services.groups.create(input, principalOf(context).userId);
    return { ...message(`Group ${group.name} created`), group };
  }

  @Mutation(() => MessagePayloadType, { description: "Adds and removes a group's members. ROLE_ADMIN." })
  async updateGroupUsers(
    @Arg('id', () => ID, { description: 'The group to change.' }) id: string,
    @Arg('input', () => UpdateGroupUsersInput, { description: 'The members to add and to remove.' }) input: UpdateGroupUsersInput,
    @Ctx() context: GatewayContext,
  ) {
    const group = await context.services.groups.updateUsers(id, input, principalOf(context).userId);
    return message(`Users of group ${group.name} updated`);
  }

  @Mutation(() => MessagePayloadType, { description: 'Adds and removes the roles and privileges a group grants. ROLE_ADMIN.' })
  async updateGroupRolesPrivileges(
    @Arg('id', () => ID, { description: 'The group to change.' }) id: string,
    @Arg('input', () => UpdateGroupRolesPrivilegesInput, { description: 'The roles and privileges to add and to remove.' })
    input: UpdateGroupRolesPrivilegesInput,
    @Ctx() context: GatewayContext,
  ) {
    const group = await context.services.groups.updateRolesPrivileges(id, input, principalOf(context).userId);
    return message(`Roles and privileges of group ${group.name} updated`);
  }

  @Mutation(() => MessagePayloadType, { description: 'Deletes a group; its members keep their own roles. ROLE_ADMIN.' })
  async deleteGroup(@Arg('id', () => ID, { description: 'The group to delete.' }) id: string, @Ctx() context: GatewayContext) {
    const group = await context.services.groups.delete(id, principalOf(context).userId);
    return message(`Group ${group.name} deleted`);
  }

  @FieldResolver(() => Int, { description: 'How many users are direct members.' })
  userCount(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.userCountByGroupId.load(group.id);
  }

  @FieldResolver(() => [RoleType], { description: 'Roles the group grants its members.' })
  async roles(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.rolesByGroupId.load(group.id)).filter((role) => role.kind === 'ROLE');
  }

  @FieldResolver(() => [PrivilegeType], { description: 'Privileges the group grants its members directly.' })
  async privileges(@Root() group: GroupRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.rolesByGroupId.load(group.id)).filter((role) => role.kind === 'PRIVILEGE');
  }

  @FieldResolver(() => UserConnectionType, { description: "The group's members, a page at a time. ROLE_ADMIN or PRIV_USER_MANAGEMENT." })
  users(
    @Root() group: GroupRecord,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1 to 200.' }) first: number | null,
    @Arg('after', () => String, { nullable: true, description: 'The endCursor of the previous page: the page after it.' }) after:
      | string
      | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.users.list({ first: first ?? DEFAULT_PAGE_SIZE, after }, { groupId: group.id });
  }
}
