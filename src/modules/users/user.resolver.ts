import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { MessagePayloadType, message } from '../system/message.type.js';
import { CreateUserInput, UpdateUserInput } from './user.input.js';
import { GroupType } from '../groups/group.type.js';
import { PrivilegeType, RoleType } from '../roles/role.type.js';
import type { UserPage } from './user.service.js';
import { UserAttributeType, UserConnectionType, UserFilterInput, UserPayloadType, UserType, type UserRecord } from './user.type.js';

@Resolver(() => UserType)
export class UserResolver {
  @Query(() => UserType, { nullable: true })
  user(@Arg('id', () => ID) id: string, @Ctx() { loaders }: GatewayContext) {
    return loaders.userById.load(id);
  }

  @Query(() => UserConnectionType)
  users(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => UserFilterInput, { nullable: true }) filter: UserFilterInput | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.users.list(first, after, filter ?? {});
  }

  @Mutation(() => UserPayloadType)
  async createUser(@Arg('input', () => CreateUserInput) input: CreateUserInput, @Ctx() context: GatewayContext) {
    const user = await context.services.users.create(input, principalOf(context).userId);
    return { message: `User ${user.email} created`, timestamp: new Date(), user };
  }

  @Mutation(() => UserPayloadType)
  async updateUser(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateUserInput) input: UpdateUserInput,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.users.update(id, input, principalOf(context).userId);
    return { message: `User ${user.email} updated`, timestamp: new Date(), user };
  }

  @Mutation(() => MessagePayloadType)
  async deleteUser(@Arg('id', () => ID) id: string, @Ctx() context: GatewayContext) {
    const user = await context.services.users.delete(id, principalOf(context).userId);
    return message(`User ${user.email} deleted`);
  }

  @Mutation(() => MessagePayloadType)
  async setUserPassword(
    @Arg('userId', () => ID) userId: string,
    @Arg('password', () => String) password: string,
    @Arg('temporary', () => Boolean, { nullable: true, defaultValue: false }) temporary: boolean | null,
    @Ctx() context: GatewayContext,
  ) {
    const user = await context.services.users.setPassword(userId, password, temporary ?? false, principalOf(context).userId);
    return message(`Password of ${user.email} set${temporary ? '; it must be changed at the next login' : ''}`);
  }

  @FieldResolver(() => [UserAttributeType])
  attributes(@Root() user: UserRecord): UserAttributeType[] {
    return Object.entries(user.attributes).map(([name, values]) => ({ name, values }));
  }

  @FieldResolver(() => [RoleType], { description: 'Realm roles (role_*) assigned to the user directly.' })
  roles(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.rolesByUserId.load(user.id);
  }

  @FieldResolver(() => [GroupType])
  groups(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return loaders.groupsByUserId.load(user.id);
  }

  @FieldResolver(() => [PrivilegeType], {
    description: 'Privileges the user holds, as in their token: directly, through roles (composites included), groups and parent groups.',
  })
  async effectivePrivileges(@Root() user: UserRecord, @Ctx() { loaders }: GatewayContext) {
    return (await loaders.effectiveRolesByUserId.load(user.id)).filter((role) => role.kind === 'PRIVILEGE');
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
  @FieldResolver(() => Int)
  totalCount(@Root() page: UserPage): Promise<number> {
    return page.countTotal();
  }
}
