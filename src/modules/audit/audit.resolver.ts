import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, Info, Int, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import type { Page } from '../../db/pagination.js';
import { ConnectionArgs, pageWindowOf } from '../users/user.type.js';
import { AuditEventConnectionType, AuditEventFilterInput, type AuditEventRecord } from './audit-event.type.js';

@Resolver(() => AuditEventConnectionType)
export class AuditEventResolver {
  @Query(() => AuditEventConnectionType, { description: 'Audit trail of every write (ROLE_ADMIN or ROLE_MANAGER).' })
  auditEvents(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true, description: 'Only the events that match every given criterion.' })
    filter: AuditEventFilterInput | null,
    @Ctx() { services }: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return services.audit.list(pageWindowOf(page, info), filter ?? {});
  }

  @FieldResolver(() => Int, { description: 'How many events match the filter, on every page; counted only when asked for.' })
  totalCount(@Root() page: Page<AuditEventRecord>): Promise<number> {
    return page.countTotal();
  }
}
