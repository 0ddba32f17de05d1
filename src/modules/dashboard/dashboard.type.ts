import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType('Dashboard')
export class DashboardType {
  @Field(() => Int)
  userCount: number;

  @Field(() => Int, { description: 'Roles (role_*); privileges are not counted.' })
  roleCount: number;

  @Field(() => Int)
  groupCount: number;

  @Field(() => Int)
  tenantCount: number;

  @Field(() => Int, { description: 'Users whose record has not reached Keycloak yet (sync PENDING or FAILED).' })
  pendingSyncCount: number;
}
