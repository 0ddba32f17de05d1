import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType('Dashboard', { description: "Counts for an administrator's dashboard. ROLE_ADMIN." })
export class DashboardType {
  @Field(() => Int, { description: 'Users in the realm.' })
  userCount: number;

  @Field(() => Int, { description: 'Roles (role_*); privileges are not counted.' })
  roleCount: number;

  @Field(() => Int, { description: 'Groups in the realm.' })
  groupCount: number;

  @Field(() => Int, { description: 'Tenants.' })
  tenantCount: number;

  @Field(() => Int, { description: 'Users whose record has not reached Keycloak yet (sync PENDING or FAILED).' })
  pendingSyncCount: number;
}
