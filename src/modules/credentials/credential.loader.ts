import DataLoader from 'dataloader';
import pLimit from 'p-limit';
import type { UserRecord } from '../users/user.type.js';
import type { CredentialService } from './credential.service.js';
import type { CredentialRecord } from './credential.type.js';

/**
 * Keycloak calls in flight at once for one request's credentials. Keycloak has no call that
 * lists several users' credentials: a page of 100 users asks 100 times, four at a time,
 * rather than flooding Keycloak with 100 calls at once.
 */
const MAX_CONCURRENT_CALLS = 4;

/**
 * Per-request loaders: each user's credentials are asked of Keycloak once per request,
 * however many times (aliases, nesting) the request names them. A user whose call fails
 * gets the error on its own field; the others still get theirs.
 */
export function createCredentialLoaders(credentials: Pick<CredentialService, 'list'>) {
  const inFlight = pLimit(MAX_CONCURRENT_CALLS);
  return {
    credentialsByUser: new DataLoader<Pick<UserRecord, 'id' | 'realm'>, CredentialRecord[], string>(
      (users) => Promise.all(users.map((user) => inFlight(() => credentials.list(user)).catch((error: Error) => error))),
      { cacheKeyFn: (user) => user.id },
    ),
  };
}
