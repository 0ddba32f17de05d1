import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from '../../context.js';
import { nodesWithId } from './node.lookup.js';
import { NodeInterface } from './node.type.js';

@Resolver()
export class NodeResolver {
  /**
   * Answers every object the id names; the permission table keeps the first the caller may
   * see, or null (src/permissions.ts, `firstVisibleNode`).
   */
  @Query(() => NodeInterface, {
    nullable: true,
    description:
      'Refetch any object by its id, under the same rule as the query that lists it; null when it does not exist or the caller may not see it.',
  })
  node(
    @Arg('id', () => ID, { description: "The object's id, as any other field gave it." }) id: string,
    @Ctx() { loaders }: GatewayContext,
  ) {
    return nodesWithId(loaders, id);
  }
}
