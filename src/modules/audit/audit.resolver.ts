import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import type { Page } from '../../db/pagination.js';
import { AuditEventConnectionType, AuditEventFilterInput, type AuditEventRecord } from './audit-event.type.js';

@Resolver(() => AuditEventConnectionType)
export class AuditEventResolver {
  @Query(() => AuditEventConnectionType, { description: 'Audit trail of every write (ROLE_ADMIN or ROLE_MANAGER).' })
  auditEvents(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50, description: 'Page size, 1 to 200 (forward paging).' }) first: number,
    @Arg('after', () => String, { nullable: true, description: 'The endCursor of the previous page: the page after it (forward paging).' })
    after: string | null,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true, description: 'Only the events that match every given criterion.' })
    filter: AuditEventFilterInput | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.audit.list(first, after, filter ?? {});
  }

  @FieldResolver(() => Int, { description: 'How many events match the filter, on every page; counted only when asked for.' })
  totalCount(@Root() page: Page<AuditEventRecord>): Promise<number> {
    return page.countTotal();
  }
}
