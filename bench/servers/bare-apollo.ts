/**
 * Baseline of workload 1: a bare Apollo Server 5 (its standalone node:http server) answering
 * a tiny query with a constant resolver. Everything the gateway adds (token verification,
 * context, permissions, the database) is missing here, on purpose.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { announce } from './child.js';

const server = new ApolloServer({
  typeDefs: 'type Query { hello: String! }',
  resolvers: { Query: { hello: () => 'world' } },
});
const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
announce(url);
