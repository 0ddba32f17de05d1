import type { Principal } from '../../auth/token-verifier.js';
import { admit } from '../../admission.js';
import type { GatewayContext } from '../../context.js';
import type { MeType } from './me.type.js';

/**
 * The `me` answer for a verified principal: the record and roles as the gateway admits
 * them (src/admission.ts), the record mirrored from Keycloak on first sight.
 * The `me` query passes the request's caller; `login` and `refreshToken` pass the principal
 * of the tokens they just obtained, as their request carries none: so everything here must
 * come from `principal`, never `context.principal`.
 */
export async function loadMe(principal: Principal, context: GatewayContext): Promise<MeType> {
  const caller = principal === context.principal ? await context.caller() : await admit(principal, context);
  return { id: caller.user.id, user: caller.user, roles: caller.principal.roles, privileges: caller.principal.privileges };
}
