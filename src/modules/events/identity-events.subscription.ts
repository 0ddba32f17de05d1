import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Resolver, Root, Subscription } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import type { EventFilter, IdentityEventRow } from '../../events/outbox.js';
import { EventFilterInput, IdentityEventType } from './events.type.js';

@Resolver()
export class IdentityEventsSubscriptionResolver {
  @Subscription(() => IdentityEventType, {
    description:
      "Identity events as they commit, under the same rules as Query.events. Served over graphql-ws on the GraphQL path; the access token goes in connection_init's payload as {authorization: 'Bearer ...'}, and the connection closes when it expires.",
    subscribe: ({ args, context, info }) => liveEvents(args as { filter?: EventFilter | null }, context as GatewayContext, info),
  })
  identityEvents(
    @Root() event: IdentityEventRow,
    @Arg('filter', () => EventFilterInput, { nullable: true, description: 'Only the events that match every criterion given.' })
    _filter?: EventFilterInput | null,
  ): IdentityEventRow {
    return event;
  }
}

/**
 * The permission table's rule for a subscription field runs where graphql-middleware puts
 * it: on the field's resolve, which runs once per event (src/permissions.ts) with the caller
 * renewed each time. It is asked once more here, through that same wrapped resolve, before
 * anything is streamed: a caller refused now gets the refusal instead of a subscription.
 */
async function liveEvents(
  args: { filter?: EventFilter | null },
  context: GatewayContext,
  info: GraphQLResolveInfo,
): Promise<AsyncIterable<IdentityEventRow>> {
  const refusal: unknown = await info.parentType.getFields()[info.fieldName]!.resolve!(null, args, context, info);
  if (refusal instanceof Error) throw refusal;
  return renewedForEach(context.liveEvents.subscribe(args.filter ?? {}), context);
}

/**
 * Each event is resolved, and its rule asked, for the caller as they are now (GatewayContext.renew).
 * Not an async generator: one waiting for the next event cannot be returned until an event
 * comes, so a closed connection would leave its subscriber in the stream.
 */
function renewedForEach(events: AsyncIterableIterator<IdentityEventRow>, context: GatewayContext): AsyncIterableIterator<IdentityEventRow> {
  return {
    async next() {
      const result = await events.next();
      if (!result.done) context.renew();
      return result;
    },
    return: () => events.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
