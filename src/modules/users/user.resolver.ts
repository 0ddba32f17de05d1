import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { MessagePayloadType, message } from '../system/message.type.js';
import { CreateUserInput, UpdateUserInput } from './user.input.js';
import { GroupType } from '../groups/group.type.js';
import { PrivilegeType, RoleType } from '../roles/role.type.js';
import { grantsOf, PrivilegeGrantType } from '../roles/grant.type.js';
import type { UserPage } from './user.service.js';
import {
  ConnectionArgs,
  pageWindowOf,
  UserAttributeType,
  UserConnectionType,
  UserFilterInput,
  UserPayloadType,
  UserType,
  type UserRecord,
} from './user.type.js';

@Resolver(() => UserType)
export class UserResolver {
  @Query(() => UserType, { nullable: true, description: 'One user by id; null when there is none. ROLE_ADMIN or PRIV_USER_MANAGEMENT.' })
  user(@Arg('id', () => ID, { description: "The user's id (its Keycloak id)." }) id: string, @Ctx() { loaders }: GatewayContext) {
    return loaders.userById.load(id);
  }

  @Query(() => UserConnectionType, {
    description:
      'Forward (first, after) or backward (last, before) pages. Users in order of creation, oldest first. ROLE_ADMIN or PRIV_USER_MANAGEMENT.',
  })
  users(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg('filter', () => UserFilterInput, { nullable: true, description: 'Only the users that match every given criterion.' })
    filter: UserFilterInput | null,
    @Ctx() { services }: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return services.users.list(pageWindowOf(page, info), filter ?? {});
  }

  @Mutation(() => UserPayloadType, {
    description: 'Creates a user with a password. ROLE_ADMIN, or PRIV_USER_MANAGEMENT granting nothing it does not hold itself.',
  })
  async createUser(
    @Arg('input', () => CreateUserInput, { description: 'The new user.' }) input: CreateUserInput,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.users.create(input, principalOf(context).userId);
    return { message: `User ${user.email} created`, timestamp: new Date(), user };
  }

  @Mutation(() => UserPayloadType, {
    description: 'Changes a user. ROLE_ADMIN, or PRIV_USER_MANAGEMENT for a user holding nothing the caller does not.',
  })
  async updateUser(
    @Arg('id', () => ID, { description: 'The user to change.' }) id: string,
    @Arg('input', () => UpdateUserInput, { description: 'The changes.' }) input: UpdateUserInput,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.users.update(id, input, principalOf(context).userId);
    return { message: `User ${user.email} updated`, timestamp: new Date(), user };
  }

  @Mutation(() => MessagePayloadType, {
    description:
      'Deletes a user from Keycloak and the gateway. ROLE_ADMIN, or PRIV_USER_MANAGEMENT for a user holding nothing the caller does not.',
  })
  async deleteUser(@Arg('id', () => ID, { description: 'The user to delete.' }) id: string, @Ctx() context: GatewayContext) {
    const user = await context.services.users.delete(id, principalOf(context).userId);
    return message(`User ${user.email} deleted`);
  }

  @Mutation(() => MessagePayloadType, {
    description: "Sets a user's password. ROLE_ADMIN, or PRIV_USER_MANAGEMENT for a user holding nothing the caller does not.",
  })
  async setUserPassword(
    @Arg('userId', () => ID, { description: 'The user whose password is set.' }) userId: string,
    @Arg('password', () => String, { description: "The new password, checked against the realm's password policy." }) password: string,
    @Arg('temporary', () => Boolean, {
      nullable: true,
      defaultValue: false,
      description: 'When true, the user must change it at the next sign-in.',
    })
    temporary: boolean | null,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.users.setPassword(userId, password, temporary ?? false, principalOf(context).userId);
    return message(`Password of ${user.email} set${temporary ? '; it must be changed at the next login' : ''}`);
  }

  @FieldResolver(() => [UserAttributeType], { description: 'Keycloak user attributes, by name.' })
  attributes(@Root() user: UserRecord): UserAttributeType[] {
    return Object.entries(user.attributes).map(([name, values]) => ({ name, values }));
  }

  @FieldResolver(() => [RoleType], { description: 'Realm roles (role_*) assigned to the user directly.' })
  roles(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.rolesByUserId.load(user.id);
  }

  @FieldResolver(() => [GroupType], { description: 'Groups the user is a member of directly.' })
  groups(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.groupsByUserId.load(user.id);
  }

  @FieldResolver(() => [PrivilegeType], {
    description: 'Privileges the user holds, as in their token: directly, through roles (composites included), groups and parent groups.',
  })
  async effectivePrivileges(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.effectiveRolesByUserId.load(user.id)).filter((role) => role.kind === 'PRIVILEGE');
  }

  @FieldResolver(() => [PrivilegeGrantType], {
    description:
      'Every privilege the user holds (those of effectivePrivileges), each with every path that grants it: directly, a role, a composite role chain, a group, a parent group.',
  })
  async privilegeGrants(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return grantsOf(await loaders.grantPathsByUserId.load(user.id));
  }

  @FieldResolver(() => String, { nullable: true, description: 'Shortcut for the entity_code attribute.' })
  entityCode(@Root() user: UserRecord): string | null {
    return user.attributes.entity_code?.[0] ?? null;
  }

  @FieldResolver(() => String, { nullable: true, description: 'Shortcut for the country_code attribute.' })
  countryCode(@Root() user: UserRecord): string | null {
    return user.attributes.country_code?.[0] ?? null;
  }
}

@Resolver(() => UserConnectionType)
export class UserConnectionResolver {
  @FieldResolver(() => Int, { description: 'How many users match the filter, on every page; counted only when asked for.' })
  totalCount(@Root() page: UserPage): Promise<number> {
    return page.countTotal();
  }
}
