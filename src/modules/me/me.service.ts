import type { Principal } from '../../auth/token-verifier.js';
import type { GatewayContext } from '../../context.js';
import { shouldMirrorClaims } from '../users/user.service.js';
import type { MeType } from './me.type.js';

/**
 * The `me` answer for a verified principal, the local record mirrored from its claims on
 * the way (seed 003). The `me` query passes the request's caller; `login` and
 * `refreshToken` pass the principal of the tokens they just obtained, as their request
 * carries none: so everything here must come from `principal`, never `context.principal`.
 * The record comes through the process's cache (src/modules/users/user-record-cache.ts).
 */
export async function loadMe(principal: Principal, context: GatewayContext): Promise<MeType> {
  const known = await context.userRecords.get(principal.userId, (id) => context.loaders.userById.load(id));
  if (known && !shouldMirrorClaims(known, principal)) return { user: known, roles: principal.roles, privileges: principal.privileges };
  const user = await context.services.users.mirrorFromPrincipal(principal);
  context.userRecords.forget(principal.userId);
  // The loader may hold the record from before mirroring (or its absence): the rest of the request sees this one.
  context.loaders.userById.clear(principal.userId).prime(principal.userId, user);
  return { user, roles: principal.roles, privileges: principal.privileges };
}
