import { Ctx, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { DashboardType } from './dashboard.type.js';

@Resolver()
export class DashboardResolver {
  @Query(() => DashboardType, { description: 'Counts for an admin dashboard (ROLE_ADMIN).' })
  dashboard(@Ctx() { services }: GatewayContext): Promise<DashboardType> {
    return services.dashboard.counts();
  }
}
