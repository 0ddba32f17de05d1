import { Arg, Ctx, Int, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { DEFAULT_PAGE_SIZE } from '../../db/pagination.js';
import { EventFilterInput, IdentityEventConnectionType } from './events.type.js';

@Resolver()
export class EventsResolver {
  @Query(() => IdentityEventConnectionType, {
    description:
      "Identity events in commit order: every change to users, roles, groups, tenants, memberships and invitations, made through the gateway or in Keycloak directly. ROLE_ADMIN sees all; a tenant's OWNER or ADMIN sees that tenant's.",
  })
  events(
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1 to 200.' }) first: number | null,
    @Arg('after', () => String, {
      nullable: true,
      description: 'The last cursor the caller handled: the events committed after it. None: from the first event.',
    })
    after: string | null,
    @Arg('filter', () => EventFilterInput, { nullable: true, description: 'Only the events that match every given criterion.' })
    filter: EventFilterInput | null,
    @Ctx() { services }: GatewayContext,
  ) {
    return services.events.list(first ?? DEFAULT_PAGE_SIZE, after, filter ?? {});
  }
}
