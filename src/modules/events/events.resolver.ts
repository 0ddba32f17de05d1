import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, Info, Int, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { DEFAULT_PAGE_SIZE } from '../../db/pagination.js';
import { pageWindowOf } from '../users/user.type.js';
import { EventFilterInput, IdentityEventConnectionType } from './events.type.js';

@Resolver()
export class EventsResolver {
  @Query(() => IdentityEventConnectionType, {
    description:
      "Identity events in commit order: every change to users, roles, groups, tenants, memberships and invitations, made through the gateway or in Keycloak directly. Forward (first, after) from the first event, as a consumer polls; or backward (last, before) from the newest, as a screen shows them. ROLE_ADMIN sees all; a tenant's OWNER or ADMIN sees that tenant's.",
  })
  events(
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1 to 200.' }) first: number | null,
    @Arg('after', () => String, {
      nullable: true,
      description: 'The last cursor the caller handled: the events committed after it. None: from the first event.',
    })
    after: string | null,
    @Arg('last', () => Int, {
      nullable: true,
      description: 'Page size, 1 to 200, counted back from before, or from the newest event (backward paging). Not with first or after.',
    })
    last: number | null,
    @Arg('before', () => String, {
      nullable: true,
      description: 'The startCursor of a page read backward: the events committed before it. Not with first or after.',
    })
    before: string | null,
    @Arg('filter', () => EventFilterInput, { nullable: true, description: 'Only the events that match every given criterion.' })
    filter: EventFilterInput | null,
    @Ctx() { services }: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return services.events.list(pageWindowOf({ first, after, last, before }, info), filter ?? {});
  }
}
