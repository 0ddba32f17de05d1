import { Query, Resolver } from 'type-graphql';

@Resolver()
export class SystemResolver {
  @Query(() => String, { description: 'No authentication. Liveness probe for clients.' })
  publicHello(): string {
    return 'Hello from the IAM gateway';
  }
}
