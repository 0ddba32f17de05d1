import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { useSyncExternalStore } from 'react';
import { currentAccessToken } from './auth';
import { settings } from './settings';
import { currentTenantId } from './tenant';

// The set-up of docs/frontends.md: the token and the tenant read per request, so a renewed
// token or a switched tenant is used from the next request on.
const withToken = new SetContextLink(async ({ headers }) => {
  const token = await currentAccessToken();
  const tenantId = currentTenantId();
  return {
    headers: {
      ...headers,
      ...(token && { authorization: `Bearer ${token}` }),
      ...(tenantId && { 'x-tenant-id': tenantId }),
    },
  };
});

/**
 * Subscriptions over graphql-ws on the gateway's own /graphql path (ws: for http:, wss: for
 * https:). The token and the tenant go in connection_init's payload, never in the URL.
 *
 * connectionParams is a function, and graphql-ws calls it on every connect, not once: the
 * gateway closes the socket (4403 "Token expired") when the token it was admitted with expires,
 * graphql-ws retries on 4403 (it is not among its fatal close codes), and the new connection
 * asks currentAccessToken() again, which answers the renewed token (or renews an expired one
 * with the refresh token). The subscriptions of the page are sent again on the new socket.
 * test/integration/web-app.test.ts checks this: a gateway that closes the first connection at
 * expiry, a page that keeps receiving events afterwards, on a renewed token.
 * A token missing, invalid or expired at connect is refused with 4401, which graphql-ws does not
 * retry: the subscription ends with an error (the session is over; sign in again). The stored
 * token is renewed a minute before it expires (auth.ts), so a reconnection sends a live one.
 *
 * The connection is lazy: opened by the first subscription and closed when the last one ends,
 * so a page that subscribes after a tenant switch (the switch is on another page) connects
 * with the new tenant.
 */
export const subscriptions = createClient({
  // The token is made ready before the socket opens, not between its opening and
  // connection_init: the gateway closes a socket that sends no connection_init within 3 s
  // (4408), and renewing an expired token is a round trip to Keycloak that can take longer.
  // A slow renewal then cost a refused connection and a growing retry delay each time.
  url: async () => {
    await currentAccessToken();
    return settings.gatewayUrl.replace(/^http/, 'ws');
  },
  // Called once the socket is open: the token made ready above, read from storage.
  connectionParams: async () => {
    const token = await currentAccessToken();
    const tenantId = currentTenantId();
    return {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(tenantId && { 'x-tenant-id': tenantId }),
    };
  },
  // Enough to outlast a gateway restart; the default (5) gives up within a minute.
  retryAttempts: 10,
});

/** Whether the subscription socket is open and admitted now, for pages that say whether they are live. */
let socketOpen = false;
const socketListeners = new Set<() => void>();
const socketChanged = (open: boolean) => {
  socketOpen = open;
  for (const listener of socketListeners) listener();
};
subscriptions.on('connected', () => socketChanged(true));
subscriptions.on('closed', () => socketChanged(false));

export function useSubscriptionSocketOpen(): boolean {
  return useSyncExternalStore(
    (listener) => {
      socketListeners.add(listener);
      return () => socketListeners.delete(listener);
    },
    () => socketOpen,
  );
}

const isSubscription = ({ query }: ApolloLink.Operation) => {
  const definition = getMainDefinition(query);
  return definition.kind === 'OperationDefinition' && definition.operation === OperationTypeNode.SUBSCRIPTION;
};

export const client = new ApolloClient({
  link: ApolloLink.split(
    isSubscription,
    new GraphQLWsLink(subscriptions),
    ApolloLink.from([withToken, new HttpLink({ uri: settings.gatewayUrl })]),
  ),
  cache: new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          users: relayStylePagination(['filter']),
          auditEvents: relayStylePagination(['filter']),
          events: relayStylePagination(['filter']),
        },
      },
    },
  }),
});
