import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, Info, Int, Query, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { type Page, pageWindow } from '../../db/pagination.js';
import { argumentGiven } from '../../validation.js';
import { AuditEventConnectionType, AuditEventFilterInput, type AuditEventRecord } from './audit-event.type.js';

@Resolver(() => AuditEventConnectionType)
export class AuditEventResolver {
  @Query(() => AuditEventConnectionType, { description: 'Audit trail of every write (ROLE_ADMIN or ROLE_MANAGER).' })
  auditEvents(
    @Arg('first', () => Int, { nullable: true, defaultValue: 50, description: 'Page size, 1 to 200 (forward paging).' }) first: number,
    @Arg('after', () => String, { nullable: true, description: 'The endCursor of the previous page: the page after it (forward paging).' })
    after: string | null,
    @Arg('last', () => Int, {
      nullable: true,
      description: 'Page size, 1 to 200, counted back from before, or from the end of the list (backward paging). Not with first or after.',
    })
    last: number | null,
    @Arg('before', () => String, {
      nullable: true,
      description: 'The startCursor of the next page: the page before it (backward paging). Not with first or after.',
    })
    before: string | null,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true, description: 'Only the events that match every given criterion.' })
    filter: AuditEventFilterInput | null,
    @Ctx() { services }: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const firstGiven = argumentGiven(info, 'first') && first !== null;
    return services.audit.list(pageWindow({ first, firstGiven, after, last, before }), filter ?? {});
  }

  @FieldResolver(() => Int, { description: 'How many events match the filter, on every page; counted only when asked for.' })
  totalCount(@Root() page: Page<AuditEventRecord>): Promise<number> {
    return page.countTotal();
  }
}
