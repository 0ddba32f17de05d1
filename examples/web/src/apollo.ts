import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { relayStylePagination } from '@apollo/client/utilities';
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

export const client = new ApolloClient({
  link: ApolloLink.from([withToken, new HttpLink({ uri: settings.gatewayUrl })]),
  cache: new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          users: relayStylePagination(['filter']),
          auditEvents: relayStylePagination(['filter']),
        },
      },
    },
  }),
});
