import { Field, ObjectType } from 'type-graphql';
import { UserType, type UserRecord } from '../users/user.type.js';

@ObjectType('Me')
export class MeType {
  @Field(() => UserType)
  user: UserRecord;

  @Field(() => [String], { description: 'Effective realm roles (role_*), as in the access token.' })
  roles: string[];

  @Field(() => [String], { description: 'Effective privileges (priv_*), through roles and groups.' })
  privileges: string[];
}
