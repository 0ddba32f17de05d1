import { Field, ID, ObjectType } from 'type-graphql';
import { UserType, type UserRecord } from '../users/user.type.js';

@ObjectType('Me', { description: 'The caller, as signed in: any authenticated caller reads their own.' })
export class MeType {
  @Field(() => ID, { description: "The caller's user id, so that clients can cache me as an object." })
  id: string;

  @Field(() => UserType, { description: "The caller's own user record." })
  user: UserRecord;

  @Field(() => [String], { description: 'Effective realm roles (role_*), as in the access token.' })
  roles: string[];

  @Field(() => [String], { description: 'Effective privileges (priv_*), through roles and groups.' })
  privileges: string[];
}
