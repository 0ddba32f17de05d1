import { Arg, Ctx, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import type { Page } from '../../db/pagination.js';
import { AuditEventConnectionType, AuditEventFilterInput, type AuditEventRecord } from './audit-event.type.js';

@Resolver(() => AuditEventConnectionType)
export class AuditEventResolver {
  @Query(() => AuditEventConnectionType, { description: 'Audit trail of every write (ROLE_ADMIN or ROLE_MANAGER).' })
  auditEvents(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true }) filter: AuditEventFilterInput | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.audit.list(first, after, filter ?? {});
  }

  @FieldResolver(() => Int)
  totalCount(@Root() page: Page<AuditEventRecord>): Promise<number> {
    return page.countTotal();
  }
}
